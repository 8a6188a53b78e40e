"""Read models with one row per aggregate that keeps the aggregate's state as a snapshot.

Applying an event is then the aggregate's own ``mutate``: the row's snapshot is thawed
(at most once per batch), every event of the batch is applied in order, and the
aggregate is written back once. Subclasses name the aggregate class and the table, and
write the row (`write`) from the aggregate, with `freeze` giving the snapshot bytes.
Used by the activities and leads read models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID

import orjson
from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from crm_ledger.projections.base import EventApplyError
from crm_ledger.storage.sql import Dialect, Tx, ddl

A = TypeVar("A", bound=Aggregate)
B = TypeVar("B", bound=Aggregate)


class SnapshotRows(Generic[A]):
    """One row per aggregate of `aggregate`, in `table` (id, snapshot, version, ...).

    Subclasses name the aggregate class, the table, the aggregate's event classes it
    follows (`events`) and the table's DDL (`statements`, with `ddl` slots)."""

    aggregate: ClassVar[type[Aggregate]]
    table: ClassVar[str]
    events: ClassVar[tuple[str, ...]]
    statements: ClassVar[tuple[str, ...]]
    per_aggregate = True  # each row follows from one aggregate's own events

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        self.topics = tuple(get_topic(getattr(self.aggregate, name)) for name in self.events)

    def ddl(self, dialect: Dialect) -> list[str]:
        """The table's ``CREATE ... IF NOT EXISTS`` statements for `dialect`."""
        return [ddl(dialect, statement) for statement in self.statements]

    def apply_batch(self, tx: Tx, items: Sequence[tuple[Any, int]]) -> None:
        """Apply events in order; each aggregate is thawed and written once per batch."""
        touched: dict[str, tuple[A | None, bool]] = {}
        for event, position in items:
            key = str(event.originator_id)
            if key not in touched:
                touched[key] = self._load(tx, event)
            current, existed = touched[key]
            try:
                aggregate = event.mutate(current)
            except Exception as exc:
                raise EventApplyError(position, exc) from exc
            if not isinstance(aggregate, self.aggregate):
                kind = self.aggregate.__name__
                raise EventApplyError(position, TypeError(f"not a {kind}: {aggregate!r}"))
            touched[key] = (aggregate, existed)  # type: ignore[assignment]
        for aggregate, existed in touched.values():
            if aggregate is not None:
                self.write(tx, aggregate, existed)

    def write(self, tx: Tx, aggregate: A, existed: bool) -> None:
        """Insert (or, when `existed`, update) the aggregate's row."""
        raise NotImplementedError

    def store(
        self, tx: Tx, aggregate: A, public: Mapping[str, Any], existed: bool, **columns: Any
    ) -> None:
        """Write `aggregate`'s row: `columns`, and the ``version``, ``public`` JSON,
        ``snapshot`` and ``id`` every such table has (`public` is its JSON-ready state)."""
        row = {
            **columns,
            "version": public["version"],
            "public": orjson.dumps(public).decode(),
            "snapshot": self.freeze(aggregate),
            "id": public["id"],
        }
        self.upsert(tx, row, existed)

    def upsert(self, tx: Tx, row: Mapping[str, Any], existed: bool) -> None:
        """Insert the row `row` describes (column -> value, ``id`` among them) or, when
        `existed`, update the row with its ``id``."""
        columns = [column for column in row if column != "id"]
        values = [*(row[column] for column in columns), row["id"]]
        if existed:
            sets = ", ".join(f"{column} = ?" for column in columns)
            tx.execute(f"UPDATE {self.table} SET {sets} WHERE id = ?", values)
        else:
            marks = ", ".join("?" for _ in values)
            names = ", ".join([*columns, "id"])
            tx.execute(f"INSERT INTO {self.table} ({names}) VALUES ({marks})", values)

    def freeze(self, aggregate: A) -> bytes:
        """The aggregate's state as the library's snapshot bytes."""
        return freeze(self.mapper, aggregate)

    def _load(self, tx: Tx, event: Any) -> tuple[A | None, bool]:
        if event.originator_version == 1:
            return None, False
        row = tx.one(
            f"SELECT snapshot, version FROM {self.table} WHERE id = ?",
            (str(event.originator_id),),
        )
        if row is None:
            return None, False
        return self._thaw(event.originator_id, row[0], int(row[1])), True

    def _thaw(self, aggregate_id: UUID, state: bytes, version: int) -> A:
        return thaw(self.mapper, self.aggregate, aggregate_id, state, version)  # type: ignore[return-value]


def page(
    tx: Tx,
    table: str,
    key: str,
    where: Sequence[str],
    params: Sequence[Any],
    *,
    limit: int,
    after: str | None,
    descending: bool = True,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `table`'s rows (their ``public`` JSON) matching every `where`
    condition, by the sort column `key` descending (or ascending) after `after`; and the
    key to pass as `after` for the next page (None on the last)."""
    beyond = "<" if descending else ">"
    conditions = [*where, f"{key} {beyond} ?"] if after is not None else list(where)
    values = [*params, after] if after is not None else list(params)
    condition = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    direction = "DESC" if descending else "ASC"
    rows = tx.all(
        f"SELECT public, {key} FROM {table}{condition} ORDER BY {key} {direction} LIMIT ?",
        (*values, limit + 1),
    )
    items = [orjson.loads(row[0]) for row in rows[:limit]]
    return items, str(rows[limit - 1][1]) if len(rows) > limit else None


def freeze(mapper: Mapper[Any], aggregate: Aggregate) -> bytes:
    """`aggregate`'s state as the library's snapshot bytes (what a row keeps)."""
    return mapper.to_stored_event(Snapshot.take(aggregate)).state


def thaw(mapper: Mapper[Any], cls: type[B], aggregate_id: UUID, state: bytes, version: int) -> B:
    """The aggregate of class `cls` a row's snapshot bytes hold (TypeError if they hold
    something else)."""
    stored = StoredEvent(
        originator_id=aggregate_id,
        originator_version=version,
        topic=get_topic(Snapshot),
        state=state,
    )
    snapshot = mapper.to_domain_event(stored)
    if not isinstance(snapshot, Snapshot):
        raise TypeError(f"stored row of {aggregate_id} is not a snapshot")
    aggregate = snapshot.mutate(None)
    if not isinstance(aggregate, cls):
        raise TypeError(f"stored row of {aggregate_id} is not a {cls.__name__}")
    return aggregate
