"""SQLite application recorder that chains every event in its insert transaction."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from crm_ledger.storage.chain import ChainWriter, Head, actor_of
from crm_ledger.storage.group_commit import GroupCommitter, groupable
from crm_ledger.storage.ledger_tables import ledger_ddl
from crm_ledger.storage.sql import Tx
from crm_ledger.storage.sqlite_pool import cache_statements


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    """Stores events and their ledger entries in one SQLite transaction."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        cache_statements(datastore)
        super().__init__(datastore, events_table_name)
        self.chain = ChainWriter()
        self.group = GroupCommitter(self._insert_group)
        # The chain head the last commit of this recorder left (see ChainWriter.extend),
        # and, per thread, the head its transaction in progress is writing.
        self._committed: Head | None = None
        self._writing = threading.local()

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *ledger_ddl("sqlite")]

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events or not groupable(kwargs):
            actors = [actor_of(kwargs)] * len(stored_events)
            return self._commit(stored_events, **kwargs, actors=actors)
        return self.group.insert(stored_events, actor_of(kwargs))

    def _insert_group(
        self, stored_events: Sequence[StoredEvent], actors: Sequence[str]
    ) -> Sequence[int] | None:
        return self._commit(stored_events, actors=actors)

    def _commit(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Insert in one transaction; once it has committed, remember the head it left."""
        self._writing.head = None
        ids = super().insert_events(stored_events, **kwargs)
        self._committed = self._writing.head
        return ids

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        self._writing.head = self.chain.extend(
            Tx(c, "sqlite"), stored_events, ids, kwargs.get("actors"), after=self._committed
        )
        return ids
