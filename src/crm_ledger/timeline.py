"""Timelines: a contact's or deal's own stored events merged with what is about it.

Items come newest first. Each has a sort key, ``<at>\\x01e<version>`` for the record's
own events, ``<at>\\x01a<activity id>`` for activities, and ``<at>\\x01<letter><id>``
for the other kinds of a contact's timeline (`RELATED`: its service cases, NPS answers
and campaign responses), where ``at`` is RFC 3339 UTC text with microseconds (text
order is time order). A page holds the `limit` greatest keys below the cursor, so pages
never overlap or skip an item, whatever the mix.

What is about the record comes from read models the caller passes in (`Source`), so
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

#: the other kinds of item a contact's timeline shows: type -> (key letter, time field)
RELATED = {
    "case": ("c", "opened_at"),
    "nps": ("n", "answered_at"),
    "campaign_response": ("r", "at"),
}


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
    item: dict[str, Any] | None = None
    """The case, NPS answer or campaign response (for those types)."""


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


Source = Callable[[int, str | None], list[TimelineEntry]]
"""``(limit, before_key) -> entries`` newest first, keys < before (at most `limit`)."""


def activity_source(activities: LinkedActivities) -> Source:
    """The activities of a read model as a timeline source."""
    return lambda limit, before: [activity_entry(k, a) for k, a in activities(limit, before)]


def related_entry(kind: str, item: dict[str, Any]) -> TimelineEntry:
    """A case, NPS answer or campaign response (public JSON) as a timeline entry."""
    letter, field = RELATED[kind]
    at = str(item[field])
    return TimelineEntry(
        key=f"{at}{SEP}{letter}{item['id']}",
        type=kind,
        at=at,
        actor=item.get("created_by"),
        item=item,
    )


def bound_for(letter: str, before: str | None) -> str | None:
    """The bound on an ``<at>\x01<id>`` column (a read model's time key) that keeps,
    with ``column < bound``, exactly the items of the kind of key letter `letter` whose
    timeline key (``<at>\x01<letter><id>``) sorts below `before`: at an earlier time;
    or at the same time, with a smaller letter, or the same letter and a smaller id."""
    if before is None:
        return None
    at, _, tail = before.partition(SEP)
    if not tail or tail[0] < letter:
        return at + SEP  # none of this kind at `at` sorts below `before`
    if tail[0] > letter:
        return at + chr(ord(SEP) + 1)  # all of this kind at `at` do
    return at + SEP + tail[1:]


def keyed_source(kind: str, fetch: Callable[[int, str | None], list[dict[str, Any]]]) -> Source:
    """A source of items of `kind` (a `RELATED` type) read a page at a time: `fetch`
    ``(limit, bound)`` returns up to `limit` items (public JSON) newest first whose time
    key ``<at>\x01<id>`` is below `bound` (all when None), as the read models' list
    queries do."""
    letter, _ = RELATED[kind]
    return lambda limit, before: [
        related_entry(kind, item) for item in fetch(limit, bound_for(letter, before))
    ]


def listed_source(entries: list[TimelineEntry]) -> Source:
    """A source over entries already at hand (few per record: a contact's cases, ...)."""
    ordered = sorted(entries, key=lambda e: e.key, reverse=True)
    return lambda limit, before: [e for e in ordered if before is None or e.key < before][:limit]


def merge_page(
    events: list[TimelineEntry],
    sources: list[Source],
    *,
    limit: int,
    before: str | None,
) -> tuple[list[TimelineEntry], str | None]:
    """The `limit` newest entries sorting below `before`, and the next page's key or None."""
    found = [listed_source(events), *sources]
    merged = sorted(
        (entry for source in found for entry in source(limit + 1, before)),
        key=lambda e: e.key,
        reverse=True,
    )
    page = merged[:limit]
    next_key = page[-1].key if len(merged) > limit else None
    return page, next_key


def record_timeline(
    crm: CrmApplication,
    record_id: UUID,
    sources: list[Source],
    *,
    limit: int,
    before: str | None,
) -> tuple[list[TimelineEntry], str | None]:
    """One page of the record's timeline (the caller has checked the record exists)."""
    return merge_page(event_entries(crm.history(record_id)), sources, limit=limit, before=before)
