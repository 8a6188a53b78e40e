"""The change feed: stored events in log order after a position, for integrations that
follow what changed without polling every list (``GET /changes``).

Events are read from the log itself (no read model to wait for). Which aggregates a
caller may see is the caller's business (`wanted`, given an aggregate class name): a
notification is decoded only once its topic passed it, and at most `scan` positions
are read per call, so a caller who may see little still gets an answer, and a position
to continue from, in bounded time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crm_ledger.application import CrmApplication

#: notifications read from the log per query
CHUNK = 500


@dataclass(frozen=True)
class Change:
    """One stored event at its log `position`; `aggregate` is its class name."""

    position: int
    aggregate: str
    event: Any


@dataclass(frozen=True)
class ChangePage:
    """`changes`, the position to pass as `after` for the next call, and the log's head
    when this was read (``after == head``: nothing more for now)."""

    changes: list[Change]
    after: int
    head: int


def aggregate_name(topic: str) -> str:
    """The aggregate class name in an event topic (``pkg.mod:Contact.Registered`` ->
    ``Contact``)."""
    return topic.rsplit(":", 1)[-1].split(".", 1)[0]


def changes_after(
    crm: CrmApplication,
    after: int,
    *,
    limit: int,
    wanted: Callable[[str], bool],
    scan: int,
) -> ChangePage:
    """Up to `limit` events after position `after` of aggregates `wanted` accepts,
    oldest first, reading at most `scan` log positions."""
    head = crm.head_position()
    changes: list[Change] = []
    position, scanned = after, 0
    while position < head and len(changes) < limit and scanned < scan:
        batch = crm.recorder.select_notifications(
            position, min(CHUNK, scan - scanned), stop=head, inclusive_of_start=False
        )
        if not batch:
            position = head  # the rest of the range holds no event
            break
        for notification in batch:
            position = notification.id
            scanned += 1
            name = aggregate_name(notification.topic)
            if wanted(name):
                changes.append(Change(position, name, crm.mapper.to_domain_event(notification)))
                if len(changes) == limit:
                    break
    return ChangePage(changes, position, head)
