"""A thin, dialect-neutral SQL cursor over the event store's own connections.

Queries are written with ``?`` placeholders and ``{blob}`` / ``{bigint}`` type slots;
this module adapts them for SQLite or PostgreSQL. Rows come back as tuples.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any, Literal, Protocol, cast

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg import Cursor
from psycopg.rows import tuple_row

Dialect = Literal["sqlite", "postgres"]

_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {"blob": "BLOB", "bigint": "INTEGER", "text": "TEXT", "bintext": "TEXT"},
    "postgres": {
        "blob": "BYTEA",
        "bigint": "BIGINT",
        "text": "TEXT",
        "bintext": 'TEXT COLLATE "C"',
    },
}


class RawCursor(Protocol):
    """What both drivers' cursors offer."""

    def execute(self, query: Any, params: Any = ...) -> Any: ...
    def executemany(self, query: Any, params_seq: Any) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> Any: ...


def ddl(dialect: Dialect, statement: str) -> str:
    """Fill the ``{blob}``/``{bigint}``/``{text}`` slots of `statement` for `dialect`."""
    return statement.format(**_TYPES[dialect])


def notification_column(dialect: Dialect) -> str:
    """The events table's column holding an event's log position (its notification id):
    SQLite's table keeps it as the ``rowid``."""
    return "rowid" if dialect == "sqlite" else "notification_id"


def equalities(*pairs: tuple[str, Any]) -> tuple[list[str], list[Any]]:
    """``column = ?`` conditions and their values for the `pairs` whose value is not
    None (filters left out match anything)."""
    kept = [(column, value) for column, value in pairs if value is not None]
    return [f"{column} = ?" for column, _ in kept], [value for _, value in kept]


def bounds(column: str, low: Any, high: Any) -> tuple[list[str], list[Any]]:
    """``column >= ?`` and ``column <= ?`` conditions and their values, for the bounds
    that are not None (inclusive; a missing bound leaves that side open)."""
    kept = [(op, value) for op, value in ((">=", low), ("<=", high)) if value is not None]
    return [f"{column} {op} ?" for op, _ in kept], [value for _, value in kept]


def days(column: str, start: date | None, end: date | None) -> tuple[list[str], list[Any]]:
    """Conditions keeping rows whose `column` starts with an ISO time on a UTC day from
    `start` to `end` (inclusive; None leaves that side open), and their values."""
    kept = [(">=", start), ("<", None if end is None else end + timedelta(days=1))]
    found = [(op, day.isoformat()) for op, day in kept if day is not None]
    return [f"{column} {op} ?" for op, _ in found], [value for _, value in found]


def _row(row: Any) -> tuple[Any, ...]:
    values = row.values() if isinstance(row, dict) else row
    return tuple(bytes(v) if isinstance(v, memoryview) else v for v in values)


class Tx:
    """A cursor inside one transaction, taking ``?`` placeholders on both dialects."""

    #: whether a projection's handlers may have their writes deferred (`DeferringTx`):
    #: set by the caller that can rerun the batch without, should a deferred write fail
    defer_writes = False

    def __init__(self, cursor: RawCursor, dialect: Dialect) -> None:
        self.cursor = cursor
        self.dialect = dialect

    def _q(self, query: str) -> str:
        query = ddl(self.dialect, query) if "{" in query else query
        if self.dialect == "postgres":
            return query.replace("%", "%%").replace("?", "%s")
        return query

    def execute(self, query: str, params: Sequence[Any] = ()) -> None:
        self.cursor.execute(self._q(query), tuple(params))

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cursor.executemany(self._q(query), [tuple(r) for r in rows])

    def one(self, query: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        self.execute(query, params)
        row = self.cursor.fetchone()
        return None if row is None else _row(row)

    def all(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.execute(query, params)
        return [_row(r) for r in self.cursor.fetchall()]

    def scalar(self, query: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(query, params)
        return None if row is None else row[0]

    def tuples(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """`all` for many rows: the driver's own tuples, without a copy of each row (blobs
        come as ``bytes`` from both drivers; PostgreSQL's cursor makes tuples here, not
        the pool's dict rows, from results in binary form: no hex text for blobs)."""
        if self.dialect != "postgres":
            self.execute(query, params)
            return list(self.cursor.fetchall())
        cursor = cast("Cursor[Any]", self.cursor)
        factory = cursor.row_factory
        cursor.row_factory = tuple_row
        try:
            cursor.execute(self._q(query), tuple(params), binary=True)
            return cursor.fetchall()
        finally:
            cursor.row_factory = factory


_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE")


class DeferredWriteError(Exception):
    """A write a `DeferringTx` held back failed when it was sent (the transaction is
    spoilt; which write, and so which event, is not known: rerun without deferring)."""


class HoldingTx(Tx):
    """A `Tx` over another one that holds writes back (see its subclasses); reads go
    to the other one, after `_before_read`."""

    def __init__(self, tx: Tx) -> None:
        super().__init__(tx.cursor, tx.dialect)
        self._inner = tx

    def _before_read(self) -> None:
        """What must happen to the writes held back before a read."""
        raise NotImplementedError

    def one(self, query: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        self._before_read()
        return self._inner.one(query, params)

    def all(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._before_read()
        return self._inner.all(query, params)


class DeferringTx(HoldingTx):
    """A `Tx` that holds back row writes and sends runs of the same statement at once.

    Projections write one row per event with ``execute``; on PostgreSQL each is a round
    trip and costs psycopg's per-statement work (about 90 µs of CPU per event for the
    reporting projection's ``INSERT``). Here an ``INSERT``, ``UPDATE`` or ``DELETE``
    without ``RETURNING`` is queued; consecutive ones with the same text become one
    ``executemany`` (pipelined on PostgreSQL). The queue is sent, in order, before any
    other statement and before any read, so the transaction sees exactly the sequence of
    statements it would have seen, and every read sees every earlier write; `flush`
    sends what is left. A failing send raises `DeferredWriteError`.
    """

    def __init__(self, tx: Tx) -> None:
        super().__init__(tx)
        self._query: str | None = None
        self._rows: list[Sequence[Any]] = []

    def execute(self, query: str, params: Sequence[Any] = ()) -> None:
        if query != self._query:
            self.flush()
            if not _deferrable(query):
                self._inner.execute(query, params)
                return
            self._query = query
        self._rows.append(tuple(params))

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        self.flush()
        self._inner.executemany(query, rows)

    def _before_read(self) -> None:
        self.flush()

    def flush(self) -> None:
        """Send the writes held back, in order."""
        query, rows = self._query, self._rows
        self._query, self._rows = None, []
        if query is None:
            return
        try:
            if len(rows) == 1:
                self._inner.execute(query, rows[0])
            else:
                self._inner.executemany(query, rows)
        except Exception as exc:
            raise DeferredWriteError(f"a deferred write failed: {exc!r}") from exc


class RunsOfWrites(HoldingTx):
    """A `Tx` that keeps the row writes made through it, to send them per statement.

    For a projection whose writes, once its batch's aggregates are known, do not depend
    on each other's order beyond the order `send` is given (e.g. "delete an aggregate's
    side rows before inserting its new ones"): each statement's rows then go in one
    ``executemany`` instead of one or two round trips per aggregate. Reads go through,
    but none may follow a kept write (it would not see it).
    """

    def __init__(self, tx: Tx) -> None:
        super().__init__(tx)
        self._runs: dict[str, list[tuple[Any, ...]]] = {}

    def execute(self, query: str, params: Sequence[Any] = ()) -> None:
        self._runs.setdefault(query, []).append(tuple(params))

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        self._runs.setdefault(query, []).extend(tuple(row) for row in rows)

    def _before_read(self) -> None:
        if self._runs:
            raise RuntimeError("a read after writes kept for later would not see them")

    def send(self, order: Sequence[str]) -> None:
        """Send the kept writes, the statements starting with ``order[0]`` first, and
        so on; a statement that starts with none of them is an error."""
        runs, self._runs = self._runs, {}
        for prefix in order:
            for query in [q for q in runs if q.startswith(prefix)]:
                self._inner.executemany(query, runs.pop(query))
        if runs:
            raise RuntimeError(f"writes with no place in the order: {sorted(runs)}")


def _deferrable(query: str) -> bool:
    head = query.lstrip()[:6].upper()
    return head in _WRITE_VERBS and "RETURNING" not in query.upper()


def session_kwargs(datastore: PostgresDatastore) -> dict[str, Any]:
    """``psycopg.connect`` arguments for a connection of one's own to the event store's
    database, outside its pool: for a session that outlives transactions (an advisory
    lock held, a ``LISTEN``)."""
    kwargs = datastore.pool.kwargs
    assert isinstance(kwargs, dict)
    return {k: v for k, v in kwargs.items() if k != "row_factory"}


SCHEMA_LOCK_KEY = 0x63726D5F6C6467  # "crm_ldg": serialises DDL across processes


@contextmanager
def schema_lock(datastore: SQLiteDatastore | PostgresDatastore) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock while creating tables (no-op on SQLite).

    Several processes starting at once (``serve --workers N``) would otherwise race in
    ``CREATE ... IF NOT EXISTS`` / ``CREATE OR REPLACE FUNCTION`` and fail with
    "tuple concurrently updated".
    """
    if isinstance(datastore, SQLiteDatastore):
        yield
        return
    with datastore.get_connection() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))


class Database:
    """Transactions on the same database (and pool) as the event store."""

    def __init__(self, datastore: SQLiteDatastore | PostgresDatastore) -> None:
        self.datastore = datastore
        self.dialect: Dialect = "sqlite" if isinstance(datastore, SQLiteDatastore) else "postgres"

    @contextmanager
    def transaction(self, *, write: bool = True, snapshot: bool = False) -> Iterator[Tx]:
        """Yield a `Tx`; commit on success when `write`, roll back on error.

        With `snapshot`, every query of the transaction sees the database as it was at the
        first one (a list read page by page is one state of it): on PostgreSQL the
        transaction is ``REPEATABLE READ`` (the default, ``READ COMMITTED``, lets each
        query see what committed meanwhile); a SQLite transaction (``BEGIN``, WAL) always
        reads one state."""
        with self.datastore.transaction(commit=write) as cursor:
            tx = Tx(cursor, self.dialect)
            if snapshot and self.dialect == "postgres":
                tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield tx

    def create(self, statements: Sequence[str]) -> None:
        """Run idempotent DDL statements (``CREATE ... IF NOT EXISTS``)."""
        with schema_lock(self.datastore), self.transaction() as tx:
            for statement in statements:
                tx.execute(statement)
