"""PostgreSQL application recorder that chains every event in its insert transaction.

Grouped saves (`crm_ledger.storage.group_commit`, nearly all of them) are written by
`_insert_group` on the group leader's own connection: in one round trip when the chain's
head is the one this process left (`crm_ledger.storage.pg_append`, checked under the
table lock by a server function), otherwise in two: the table lock, the read of the head
and the events' ``INSERT ... RETURNING`` in one pipeline sync, then the ledger rows and
the commit. Other saves (those carrying a tracking record) take the library's path,
whose hook ``_fetch_ids_after_insert_events`` runs inside its transaction after the same
lock and insert. Either way no envelope is stored on a head other than the one under the
lock, and a failure rolls back events and ledger together.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing import persistence
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Connection, Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from crm_ledger.storage.chain import HEAD_QUERY, ChainWriter, LedgerRow, actor_of, insert_rows
from crm_ledger.storage.group_commit import GroupCommitter, groupable
from crm_ledger.storage.ledger_tables import ledger_ddl
from crm_ledger.storage.pg_append import Appender, event_columns, function_ddl
from crm_ledger.storage.sql import Tx, schema_lock

# The library decorates these with ``@retry((InterfaceError, OperationalError),
# max_attempts=10)``; each attempt may wait the pool timeout (5 s) for a connection, so
# with the database down a caller would wait ~50 s (and a group commit's followers with
# it) before hearing anything. We make one attempt: the API answers 503 + Retry-After at
# once, and an insert whose commit failed in doubt is never silently re-sent.
_insert_events_once = PostgresApplicationRecorder.insert_events.__wrapped__


#: psycopg's errors as the library's (what its ``get_connection`` raises), most specific first
_ERRORS: tuple[tuple[type[psycopg.Error], type[persistence.PersistenceError]], ...] = (
    (psycopg.InterfaceError, persistence.InterfaceError),
    (psycopg.OperationalError, persistence.OperationalError),
    (psycopg.DataError, persistence.DataError),
    (psycopg.IntegrityError, persistence.IntegrityError),
    (psycopg.InternalError, persistence.InternalError),
    (psycopg.ProgrammingError, persistence.ProgrammingError),
    (psycopg.NotSupportedError, persistence.NotSupportedError),
    (psycopg.DatabaseError, persistence.DatabaseError),
    (psycopg.Error, persistence.PersistenceError),
)


class WriterConnection:
    """The group leader's connection, kept between groups (one leader at a time).

    Taking a connection from the pool costs a round trip (its liveness check) per group;
    this one is taken once and checked only after `idle_check` seconds unused. A
    connection found broken is handed back to the pool (which discards it) and the next
    group takes a fresh one, so the writer recovers by itself when the database returns.
    """

    def __init__(self, pool: ConnectionPool[Any], idle_check: float = 1.0) -> None:
        self._pool = pool
        self._idle_check = idle_check
        self._conn: Connection[Any] | None = None
        self._used = 0.0

    @contextmanager
    def connection(self) -> Iterator[Connection[Any]]:
        """Yield the writer's connection, raising the library's persistence errors."""
        try:
            conn = self._take()
            try:
                yield conn
            finally:
                self._used = time.monotonic()
                if conn.closed or conn.broken:
                    self._release()
        except psycopg.Error as exc:
            raise next(ours for theirs, ours in _ERRORS if isinstance(exc, theirs))(
                str(exc)
            ) from exc

    def _take(self) -> Connection[Any]:
        conn = self._conn
        if conn is not None and time.monotonic() - self._used > self._idle_check:
            try:
                ConnectionPool.check_connection(conn)
            except psycopg.Error:
                self._release()
                conn = None
        if conn is None:
            # Opens a pool not yet open; never wait=True: psycopg_pool closes a pool for
            # good when it does not fill up within the timeout (the database is down).
            self._pool.open()
            conn = self._conn = self._pool.getconn()
        return conn

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.putconn(conn)

    def close(self) -> None:
        """Give the connection back to the pool (before the pool is closed)."""
        self._release()


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    """Stores events and their ledger entries in one PostgreSQL transaction."""

    select_events = PostgresApplicationRecorder.select_events.__wrapped__
    select_notifications = PostgresApplicationRecorder.select_notifications.__wrapped__
    max_notification_id = PostgresApplicationRecorder.max_notification_id.__wrapped__

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.sql_create_statements.extend(SQL(s).format() for s in ledger_ddl("postgres"))
        self.sql_create_statements.append(
            SQL(
                function_ddl(
                    schema=datastore.schema,
                    events_table=events_table_name,
                    id_type=datastore.originator_id_type,
                    channel=self.channel_name,
                    lock_timeout=datastore.lock_timeout,
                )
            ).format()
        )
        self.appender = Appender(
            schema=datastore.schema,
            events_table=events_table_name,
            id_type=datastore.originator_id_type,
        )
        self.chain = ChainWriter()
        self.group = GroupCommitter(self._insert_group)
        self.writer = WriterConnection(datastore.pool)
        # The library inserts a text-encoded array of a composite type, which psycopg
        # builds in Python (slow for large batches); four binary arrays do the same work.
        self._insert_binary = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[])"
            " RETURNING notification_id"
        ).format(
            schema=Identifier(datastore.schema),
            table=Identifier(events_table_name),
            id_type=Identifier(datastore.originator_id_type),
        )

    def create_table(self) -> None:
        """Create tables under a cross-process lock (workers may start together)."""
        with schema_lock(self.datastore):
            super().create_table()

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events or not groupable(kwargs):
            actors = [actor_of(kwargs)] * len(stored_events)
            ids: Sequence[int] | None = _insert_events_once(
                self, stored_events, **kwargs, actors=actors
            )
            return ids
        return self.group.insert(stored_events, actor_of(kwargs))

    def _insert_group(
        self, stored_events: Sequence[StoredEvent], actors: Sequence[str]
    ) -> Sequence[int]:
        """Insert a group's events and ledger rows in one transaction: one round trip
        when the head is the one this process left (`crm_ledger.storage.pg_append`);
        after a miss, up to `ATTEMPTS` calls in all, each on the head the last one
        reported; then two more round trips, reading the head under the lock. When
        other processes write so often that the calls mostly miss, go to the locked
        path first."""
        appender = self.appender
        # The writer's own connection serves one group leader at a time; without group
        # commit, saves come here concurrently and each takes a pool connection.
        connection = self.writer.connection if self.group.enabled else self.datastore.get_connection
        with connection() as conn:
            log = self.chain.origin(Tx(conn.cursor(), "postgres"))
            try:
                attempts = appender.attempts()
                ids = None
                for _ in range(attempts):
                    ids = appender.append(conn, log, stored_events, actors)
                    if ids is not None:
                        break
                if attempts:
                    appender.settled(locked=ids is None)
                if ids is None:
                    ids, last = self._insert_locked(conn, log, stored_events, actors)
                    appender.locked_write(ids, last)
            except BaseException:
                appender.forget()
                raise
            return ids

    def _insert_locked(
        self,
        conn: Connection[Any],
        log: str,
        stored_events: Sequence[StoredEvent],
        actors: Sequence[str],
    ) -> tuple[list[int], LedgerRow]:
        """The library's transaction with the head read under its lock, pipelined into
        two round trips; returns the notification ids and the last ledger row."""
        exc: Exception | None = None
        ids: list[int] = []
        rows: list[LedgerRow] = []
        with (
            conn.pipeline() as pipeline,
            conn.transaction(),
            conn.cursor() as curs,
            conn.cursor() as head_curs,
        ):
            try:
                # The head is read under the lock, before the INSERT: a duplicate version
                # fails the INSERT, and no statement may be queued after a failing one.
                self._lock_table(curs)
                self._notify_channel(curs)
                head_curs.execute(HEAD_QUERY)
                self._insert_rows(curs, stored_events)
                pipeline.sync()  # a duplicate version raises IntegrityError here
                ids = [row["notification_id"] for row in curs.fetchall()]
                head = head_curs.fetchone()
                found = None if head is None else tuple(head.values())
                rows = self.chain.rows(log, found, stored_events, ids, actors)
                insert_rows(curs, rows)
            except Exception as e:
                exc = e  # raised after the pipeline has exited (no warning)
        if exc is not None:
            raise exc
        return ids, rows[-1]

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        self._insert_rows(curs, stored_events)

    def _insert_rows(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent]) -> None:
        curs.execute(self._insert_binary, event_columns(stored_events), prepare=True)

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        self.chain.extend(Tx(curs, "postgres"), stored_events, ids, kwargs.get("actors"))
        return ids

    def close(self) -> None:
        """Hand the writer's connection back to the pool (the datastore closes the pool)."""
        self.writer.close()
