"""SQLite application recorder that chains every event in its insert transaction.

The ledger's columns live in the event rows (see `crm_ledger.storage.sqlite_ledger`):
one row per event, written by one ``INSERT`` whose rowids this recorder gives from the
chain head, so the leaf index is always ``rowid - 1``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from crm_ledger.storage import sqlite_ledger
from crm_ledger.storage.chain import UNATTRIBUTED_ACTOR, ChainWriter, Head, actor_of
from crm_ledger.storage.group_commit import GroupCommitter, groupable
from crm_ledger.storage.ledger_tables import ledger_ddl
from crm_ledger.storage.sql import Tx
from crm_ledger.storage.sqlite_pool import cache_statements


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    """Stores events with their ledger entries, one row each, in one SQLite transaction."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        cache_statements(datastore)
        super().__init__(datastore, events_table_name)
        self.chain = ChainWriter()
        self.group = GroupCommitter(self._insert_group)
        self._head_query = sqlite_ledger.HEAD.format(events=events_table_name)
        self._insert_query = sqlite_ledger.INSERT.format(events=events_table_name)
        self._delete_query = f"DELETE FROM {events_table_name} WHERE rowid = ? AND leaf_hash = ?"
        # The chain head the last commit of this recorder left, and, per thread, the
        # head its transaction in progress is writing (see `_insert_events`).
        self._committed: Head | None = None
        self._writing = threading.local()

    def construct_create_table_statements(self) -> list[str]:
        return [
            sqlite_ledger.events_table(self.events_table_name),
            *ledger_ddl("sqlite", entries=False),
            sqlite_ledger.entries_view(self.events_table_name),
        ]

    def _create_table(self, c: SQLiteCursor) -> None:
        if sqlite_ledger.has_ledger_table(c):  # a file of the old layout
            sqlite_ledger.migrate(c, self.events_table_name)
        super()._create_table(c)

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
        """Append the events and their entries after the chain head.

        The rows are first built after the head this recorder committed last, without
        reading it. Rowids are contiguous from 1, so if another writer appended since,
        the first rowid is taken and the insert fails; then any of the rows that went in
        before it (only a hole, a row deleted by hand, lets one in) are deleted, each by
        its rowid and leaf hash, and the rows are built again after the head the table
        holds. (Not a savepoint: under one, SQLite copies every page it changes to a
        statement journal: batches of 100 took 15 % longer.)"""
        if not stored_events:
            return []
        actors = kwargs.get("actors") or [UNATTRIBUTED_ACTOR] * len(stored_events)
        log = self.chain.origin(Tx(c, "sqlite"))
        if self._committed is not None:
            rows = self._rows(log, self._committed, stored_events, actors)
            try:
                return self._insert(c, rows)
            except sqlite3.IntegrityError:
                c.executemany(self._delete_query, [(row[0], row[7]) for row in rows])
        return self._insert(c, self._rows(log, self._read_head(c), stored_events, actors))

    def _read_head(self, c: SQLiteCursor) -> Head | None:
        """The chain head as the table holds it (None: no event yet)."""
        c.execute(self._head_query)
        last = c.fetchone()
        if last is None:
            return None
        if last[1] is None:
            raise RuntimeError(
                f"ledger: the event at seq {last[0]} was stored without its ledger entry"
                " (outside crm_ledger); writes stop until it is resolved (crm-ledger verify)"
            )
        return int(last[0]) - 1, bytes(last[1]), str(last[2])

    def _rows(
        self,
        log: str,
        head: Head | None,
        stored_events: Sequence[StoredEvent],
        actors: Sequence[str],
    ) -> list[tuple[Any, ...]]:
        """The event rows, with their ledger columns, appending `stored_events` after
        `head`: ``(rowid, originator_id, version, topic, state, recorded_at, actor,
        leaf_hash)``."""
        first = 1 if head is None else head[0] + 2
        ids = range(first, first + len(stored_events))
        return [
            (
                seq,
                s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
                s.originator_version,
                s.topic,
                s.state,
                recorded_at,
                actor,
                leaf,
            )
            for s, actor, (_, seq, recorded_at, _, leaf) in zip(
                stored_events,
                actors,
                self.chain.rows(log, head, stored_events, ids, actors),
                strict=True,
            )
        ]

    def _insert(self, c: SQLiteCursor, rows: list[tuple[Any, ...]]) -> list[int]:
        c.executemany(self._insert_query, rows)
        last = rows[-1]
        self._writing.head = (last[0] - 1, last[7], last[5])
        return [row[0] for row in rows]
