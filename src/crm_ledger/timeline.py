"""Timelines: a contact's or deal's own stored events merged with its activities.

Items come newest first. Each has a sort key, ``<at>\\x01e<version>`` for the record's
own events and ``<at>\\x01a<activity id>`` for activities, where ``at`` is RFC 3339 UTC
text with microseconds (text order is time order). A page holds the `limit` greatest
keys below the cursor, so pages never overlap or skip an item, whatever the mix.

The activities come from a read model the caller passes in (`LinkedActivities`), so
this module depends only on the application layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from crm_ledger.application import CrmApplication
from crm_ledger.domain.activity import stamp

SEP = "\x01"
SKIP = frozenset({"originator_id", "originator_version", "timestamp", "actor", "originator_topic"})

LinkedActivities = Callable[[int, str | None], list[tuple[str, dict[str, Any]]]]
"""``(limit, before_key) -> [(sort key, activity), ...]`` newest first, keys < before."""


@dataclass(frozen=True)
class TimelineEntry:
    """One item of a timeline: a stored event of the record, or an activity about it."""

    key: str
    type: str
    at: str
    actor: str | None
    event: str | None = None
    version: int | None = None
    data: dict[str, Any] | None = None
    activity: dict[str, Any] | None = None


def _data(event: Any) -> dict[str, Any]:
    data = {k: v for k, v in vars(event).items() if k not in SKIP}
    return {k: (str(v) if isinstance(v, UUID) else v) for k, v in data.items()}


def event_entries(events: Iterable[Any]) -> list[TimelineEntry]:
    """The record's domain events as timeline entries (in the order given)."""
    entries = []
    for e in events:
        at = stamp(e.timestamp)
        entries.append(
            TimelineEntry(
                key=f"{at}{SEP}e{e.originator_version:018d}",
                type="event",
                at=at,
                actor=getattr(e, "actor", None),
                event=type(e).__name__,
                version=e.originator_version,
                data=_data(e),
            )
        )
    return entries


def activity_entry(key: str, activity: dict[str, Any]) -> TimelineEntry:
    """An activity (its public state) as a timeline entry."""
    return TimelineEntry(
        key=key,
        type="activity",
        at=str(activity["at"]),
        actor=activity.get("created_by"),
        activity=activity,
    )


def merge_page(
    events: list[TimelineEntry],
    activities: LinkedActivities,
    *,
    limit: int,
    before: str | None,
) -> tuple[list[TimelineEntry], str | None]:
    """The `limit` newest entries sorting below `before`, and the next page's key or None."""
    own = sorted((e for e in events if before is None or e.key < before), key=lambda e: e.key)
    own.reverse()
    linked = [activity_entry(k, a) for k, a in activities(limit + 1, before)]
    merged = sorted([*own[: limit + 1], *linked], key=lambda e: e.key, reverse=True)
    page = merged[:limit]
    next_key = page[-1].key if len(merged) > limit else None
    return page, next_key


def record_timeline(
    crm: CrmApplication,
    record_id: UUID,
    activities: LinkedActivities,
    *,
    limit: int,
    before: str | None,
) -> tuple[list[TimelineEntry], str | None]:
    """One page of the record's timeline (the caller has checked the record exists)."""
    return merge_page(event_entries(crm.history(record_id)), activities, limit=limit, before=before)
