"""PostgreSQL application recorder that chains every event in its insert transaction.

The hook is ``_fetch_ids_after_insert_events``: it runs inside the library's
transaction after ``LOCK TABLE ... IN EXCLUSIVE MODE`` and the ``INSERT ... RETURNING``,
so the head cannot move under us and a failure rolls back events and ledger together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from crm_ledger.storage.chain import ChainWriter, actor_of
from crm_ledger.storage.group_commit import GroupCommitter, groupable
from crm_ledger.storage.ledger_tables import ledger_ddl
from crm_ledger.storage.sql import Tx, schema_lock

# The library decorates these with ``@retry((InterfaceError, OperationalError),
# max_attempts=10)``; each attempt may wait the pool timeout (5 s) for a connection, so
# with the database down a caller would wait ~50 s (and a group commit's followers with
# it) before hearing anything. We make one attempt: the API answers 503 + Retry-After at
# once, and an insert whose commit failed in doubt is never silently re-sent.
_insert_events_once = PostgresApplicationRecorder.insert_events.__wrapped__


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
        self.chain = ChainWriter()
        self.group = GroupCommitter(self._insert_group)
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
    ) -> Sequence[int] | None:
        ids: Sequence[int] | None = _insert_events_once(self, stored_events, actors=actors)
        return ids

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self._insert_binary,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
        )

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        self.chain.extend(Tx(curs, "postgres"), stored_events, ids, kwargs.get("actors"))
        return ids
