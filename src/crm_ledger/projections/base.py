"""What a projection is: named tables kept in step with the log, with tracking."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from crm_ledger.storage.sql import DeferredWriteError, DeferringTx, Dialect, Tx, ddl


class Projection(Protocol):
    """A read model built only from events, so it can be rebuilt at any time."""

    name: str
    """Also the key of its row in ``projection_tracking``."""

    topics: tuple[str, ...]
    """Only notifications with these topics are given to `apply` (empty: all).

    Optional attribute ``per_aggregate = True``: every row follows from one aggregate's
    own events alone, so a rebuild may apply the log aggregate by aggregate (see
    `crm_ledger.projections.bulk`). Leave it out when a row depends on several
    aggregates' events or on their order in the log.

    Optional method ``replay(events, aggregate_text) -> list[TableRows]`` (with
    ``per_aggregate``): the new rows of whole aggregate histories computed from their
    stored events (`bulk.RawEvent`) without the library's decoding, for the bulk phase
    to copy into the empty shadow tables. It (or the iteration of its rows) raises
    `ReplayUnsupportedError` to have that batch applied with `apply_batch` instead, which
    alone decides which event fails.
    """

    def ddl(self, dialect: Dialect) -> list[str]:
        """Idempotent ``CREATE ... IF NOT EXISTS`` statements for its tables."""
        ...

    def apply_batch(self, tx: Tx, items: Sequence[tuple[Any, int]]) -> None:
        """Apply (domain event, log position) pairs in order, inside one transaction.

        Raise `EventApplyError` naming the position of an event that cannot be applied.
        """
        ...


@dataclass(frozen=True)
class TableRows:
    """New rows for one table (each row's values in the order of `columns`)."""

    table: str
    columns: tuple[str, ...]
    rows: Iterable[tuple[Any, ...]]
    """May be lazy, and raise `ReplayUnsupportedError` while iterated."""


class ReplayUnsupportedError(Exception):
    """A projection's ``replay`` cannot compute these rows: use ``apply_batch``."""


class EventApplyError(Exception):
    """The event at `position` could not be applied."""

    def __init__(self, position: int, cause: BaseException) -> None:
        super().__init__(f"event at position {position}: {cause!r}")
        self.position = position
        self.cause = cause


Handler = Callable[[Tx, Any], None]
"""Applies one event of a class a projection follows."""


def dispatch(tx: Tx, items: Sequence[tuple[Any, int]], handlers: Mapping[type, Handler]) -> None:
    """Apply each event with the handler of its class, in order; events of classes not in
    `handlers` are skipped; a failing one raises `EventApplyError` naming its position.

    When `tx` allows it (``defer_writes``), the handlers' row writes are sent in runs
    (`DeferringTx`); a run that fails raises `DeferredWriteError`, and the caller reruns
    the batch without deferring to find the event."""
    target = DeferringTx(tx) if getattr(tx, "defer_writes", False) else tx
    for event, position in items:
        handler = handlers.get(type(event))
        if handler is None:
            continue
        try:
            handler(target, event)
        except DeferredWriteError:
            raise
        except Exception as exc:
            raise EventApplyError(position, exc) from exc
    if isinstance(target, DeferringTx):
        target.flush()


class Dispatching:
    """A projection whose tables are created by `statements` (``CREATE ... IF NOT
    EXISTS``, written for both dialects) and which applies each event with the handler
    of its class in `_handlers` (set by the subclass's ``__init__``)."""

    statements: tuple[str, ...] = ()
    _handlers: dict[type, Handler]

    def ddl(self, dialect: Dialect) -> list[str]:
        return [ddl(dialect, statement) for statement in self.statements]

    def apply_batch(self, tx: Tx, items: Sequence[tuple[Any, int]]) -> None:
        """Apply events in order; an event of a class not followed here is skipped."""
        dispatch(tx, items, self._handlers)


#: ids per query of `public_states` (well under SQLite's parameter limit)
ID_CHUNK = 500


def public_states(tx: Tx, table: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The ``public`` column (JSON) of `table`'s rows with these ids, in the order of
    `ids` (ids it does not hold are left out), read `ID_CHUNK` ids per query."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), ID_CHUNK):
        chunk = list(ids[start : start + ID_CHUNK])
        marks = ", ".join("?" * len(chunk))
        for (public,) in tx.all(f"SELECT public FROM {table} WHERE id IN ({marks})", chunk):
            state = orjson.loads(public)
            found[str(state["id"])] = state
    return [found[i] for i in ids if i in found]
