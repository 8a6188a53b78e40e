"""Listings that scan the notification log: every aggregate of a kind, paged by cursor.

A listing finds an aggregate by its creation event's topic (``topic_of``), replays the
ones found (``created``), and pages them by the log position of their creation
(``page_of``): the cursor of the next page is the position of the last item returned.
Fine for thousands of aggregates; a projection should replace a listing that grows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

if TYPE_CHECKING:
    from crm_ledger.application import CrmApplication

PAGE = 1000
T = TypeVar("T")


def topic_of(cls: type, event: str = "Created") -> str:
    """The topic of `cls`'s event class named `event` (e.g. ``...:Product.Created``)."""
    return f"{cls.__module__}:{cls.__qualname__}.{event}"


def created(crm: CrmApplication, topic: str, after: int = 0) -> Iterator[tuple[int, UUID]]:
    """(log position, aggregate id) of every event of `topic` after position `after`."""
    start = after
    while True:
        batch = crm.recorder.select_notifications(
            start, PAGE, topics=[topic], inclusive_of_start=False
        )
        if not batch:
            return
        for notification in batch:
            yield notification.id, UUID(str(notification.originator_id))
        start = batch[-1].id


def page_of(
    found: Iterable[tuple[int, T]], keep: Callable[[T], bool], *, limit: int, after: int
) -> tuple[list[T], int | None]:
    """Up to `limit` items of `found` ((log position, item) in log order) that `keep`
    accepts, and the cursor of the next page (the log position of the last one returned)
    or None when there is none."""
    items: list[T] = []
    last = after
    for position, item in found:
        if not keep(item):
            continue
        if len(items) == limit:
            return items, last
        items.append(item)
        last = position
    return items, None
