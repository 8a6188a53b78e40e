"""The bulk phase of a rebuild: the log up to a fixed head, read aggregate by aggregate.

For a projection whose rows each follow from one aggregate's own events
(``per_aggregate = True``), applying each aggregate's events in version order gives the
same tables as applying the log in position order, and each row is then written once
instead of once per batch it appears in. So a rebuild first applies every event up to
the head `H` read at its start, in ``(originator_id, originator_version)`` order (the
event table's primary key), in batches of whole aggregates.

The aggregate ids are split into one or more *parts* (ranges of ids), each with its own
row in ``projection_rebuilds``: the last aggregate id it has done, moved in the
transaction of each batch, so an interrupted bulk phase resumes after the last committed
batch of each part, and parts can be filled by separate processes at once. The batch
that completes the last part also sets the rebuild's tracking position to `H` (the
completions are serialised on that tracking row), and the rebuild goes on from there in
position order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg.rows import tuple_row

from crm_ledger.storage.sql import Database, Tx, notification_column

BULK_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_rebuilds"
    " (name TEXT PRIMARY KEY, head {bigint} NOT NULL, after_id TEXT NOT NULL,"
    " until_id TEXT NOT NULL, applied {bigint} NOT NULL, total {bigint} NOT NULL)"
)
PART = "#"
"""Separates a rebuild's tracking name from its part number."""
_HEX_ID = re.compile("[0-9a-f]{32}")


@dataclass(frozen=True)
class BulkPart:
    """One part of a bulk phase: its aggregates after `after_id` up to `until_id` (""
    meaning no bound) still have their events up to `head` to apply."""

    name: str
    head: int
    after_id: str
    until_id: str
    applied: int
    """Events applied so far."""
    total: int
    """Events to apply in the whole part."""


def id_ranges(parts: int) -> list[tuple[str, str]]:
    """(after_id, until_id) of `parts` equal ranges covering every aggregate id."""
    step = (1 << 128) // parts
    bounds = [i * step for i in range(parts)]
    ranges = []
    for i, low in enumerate(bounds):
        after = "" if i == 0 else str(UUID(int=low - 1))
        until = "" if i == parts - 1 else str(UUID(int=bounds[i + 1] - 1))
        ranges.append((after, until))
    return ranges


def read_parts(tx: Tx, tracking_name: str) -> list[BulkPart]:
    """The unfinished parts of the rebuild tracked as `tracking_name`, in order."""
    rows = tx.all(
        "SELECT name, head, after_id, until_id, applied, total FROM projection_rebuilds"
        " ORDER BY name"
    )
    return [
        BulkPart(str(r[0]), int(r[1]), str(r[2]), str(r[3]), int(r[4]), int(r[5]))
        for r in rows
        if str(r[0]).startswith(tracking_name + PART)
    ]


def read_part(tx: Tx, name: str) -> BulkPart | None:
    row = tx.one(
        "SELECT name, head, after_id, until_id, applied, total FROM projection_rebuilds"
        " WHERE name = ?",
        (name,),
    )
    if row is None:
        return None
    return BulkPart(str(row[0]), int(row[1]), str(row[2]), str(row[3]), int(row[4]), int(row[5]))


RawEvent = tuple[Any, int, str, bytes, int]
"""A stored event as the bulk phase reads it: (aggregate key, version, topic, state, log
position). The key is the aggregate id in the form cheapest to read (PostgreSQL: its 16
bytes; SQLite: its hex digits): see `aggregate_id`."""


def aggregate_id(key: Any) -> UUID:
    """The aggregate id of a `RawEvent` key."""
    return UUID(bytes=key) if isinstance(key, bytes) else UUID(str(key))


def aggregate_text(key: Any) -> str:
    """``str(aggregate_id(key))``, without making a `UUID`."""
    if isinstance(key, bytes) and len(key) == 16:
        digits = key.hex()
    else:
        digits = str(key)
        if _HEX_ID.fullmatch(digits) is None:
            return str(aggregate_id(key))
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


@dataclass(frozen=True)
class AggregateEvents:
    """Stored events of whole aggregates, in (aggregate, version) order."""

    events: list[RawEvent]
    complete: bool
    """No aggregate of the part after the last one here has events left."""

    @property
    def last_id(self) -> str:
        return str(aggregate_id(self.events[-1][0]))

    def stored(self) -> list[tuple[StoredEvent, int]]:
        """Each event as the library's `StoredEvent`, with its log position."""
        return [
            (
                StoredEvent(
                    originator_id=aggregate_id(key),
                    originator_version=version,
                    topic=topic,
                    state=state,
                ),
                position,
            )
            for key, version, topic, state, position in self.events
        ]


class EventScan:
    """Reads the events table in primary-key order (library schema, both dialects)."""

    def __init__(self, db: Database, events_table: str, topics: Sequence[str]) -> None:
        self.db = db
        self.table = events_table
        self.position = notification_column(db.dialect)
        self.topics = list(topics)

    def count(self, head: int, after_id: str = "", until_id: str = "") -> int:
        """Events up to `head` with the topics, of the aggregates in the range."""
        where, params = self._where(head, after_id, until_id)
        with self.db.transaction(write=False) as tx:
            return int(tx.scalar(f"SELECT count(*) FROM {self.table} WHERE {where}", params))

    def after(self, part: BulkPart, limit: int) -> AggregateEvents:
        """Up to `limit` events of the part's next aggregates, never splitting an
        aggregate: one that does not fit is left to the next call, unless it is the
        first, and then all its events are returned."""
        where, params = self._where(part.head, part.after_id, part.until_id)
        rows = self._select(where, params, limit + 1)
        if len(rows) <= limit:
            return AggregateEvents(rows, complete=True)
        cut = rows[limit][0]  # the first aggregate past the limit
        whole = [r for r in rows[:limit] if r[0] != cut]
        if whole:
            return AggregateEvents(whole, complete=False)
        where, params = self._where(part.head, "", "", only=str(aggregate_id(cut)))
        return AggregateEvents(self._select(where, params, None), complete=False)

    def _where(
        self, head: int, after_id: str, until_id: str, only: str | None = None
    ) -> tuple[str, list[Any]]:
        clauses = [f"{self.position} <= ?"]
        params: list[Any] = [head]
        if self.topics:
            clauses.append(f"topic IN ({', '.join('?' for _ in self.topics)})")
            params.extend(self.topics)
        for op, bound in ((">", after_id), ("<=", until_id), ("=", only or "")):
            if bound:
                clauses.append(f"originator_id {op} ?")
                params.append(self._id(bound))
        return " AND ".join(clauses), params

    def _id(self, text: str) -> Any:
        """An aggregate id as the events table stores it (SQLite: hex, PostgreSQL: uuid)."""
        return UUID(text).hex if self.db.dialect == "sqlite" else UUID(text)

    def _select(self, where: str, params: list[Any], limit: int | None) -> list[RawEvent]:
        key = "originator_id" if self.db.dialect == "sqlite" else "uuid_send(originator_id)"
        query = (
            f"SELECT {key}, originator_version, topic, state, {self.position}"
            f" FROM {self.table} WHERE {where} ORDER BY originator_id, originator_version"
        )
        if limit is not None:
            query += " LIMIT ?"
            params = [*params, limit]
        with self.db.transaction(write=False) as tx:
            if self.db.dialect == "sqlite":
                return [
                    (str(r[0]), int(r[1]), str(r[2]), bytes(r[3]), int(r[4]))
                    for r in tx.all(query, params)
                ]
            # Binary results as plain tuples (the pool's cursors make a dict per row).
            connection = tx.cursor.connection  # type: ignore[attr-defined]
            with connection.cursor(binary=True, row_factory=tuple_row) as cursor:
                cursor.execute(query.replace("?", "%s"), params)
                rows: list[RawEvent] = cursor.fetchall()
            return rows
