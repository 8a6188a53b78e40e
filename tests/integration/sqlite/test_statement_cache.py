"""The ledger recorder's SQLite connections keep their prepared statements."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteConnectionPool, SQLiteDatastore

from crm_ledger.storage.sqlite_pool import STATEMENT_CACHE, StatementCachingPool, cache_statements
from crm_ledger.storage.sqlite_recorder import LedgerSQLiteRecorder

TOPIC = "crm_ledger.domain.contact:Contact.Registered"


def write_three(recorder: LedgerSQLiteRecorder) -> list[int]:
    events = [StoredEvent(uuid.uuid4(), 1, TOPIC, b'{"n":%d}' % n) for n in range(3)]
    ids = recorder.insert_events(events[:1], actor="user:a")
    more = recorder.insert_events(events[1:], actor="user:b")
    assert ids is not None
    assert more is not None
    return [*ids, *more]


def test_connections_are_opened_with_a_statement_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[dict[str, Any]] = []
    connect: Any = sqlite3.connect

    def spy(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        opened.append(kwargs)
        connection: sqlite3.Connection = connect(*args, **kwargs)
        return connection

    monkeypatch.setattr(sqlite3, "connect", spy)  # the module the pool calls
    datastore = SQLiteDatastore(str(tmp_path / "events.db"))
    recorder = LedgerSQLiteRecorder(datastore)
    assert type(datastore.pool) is StatementCachingPool
    recorder.create_table()
    assert write_three(recorder) == [1, 2, 3]
    assert opened
    assert all(kw["cached_statements"] == STATEMENT_CACHE for kw in opened)
    with datastore.transaction(commit=False) as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("SELECT seq, leaf_index FROM ledger_entries ORDER BY leaf_index")
        rows = cursor.fetchall()
    assert all(isinstance(row, sqlite3.Row) for row in rows)
    assert [(row["seq"], row["leaf_index"]) for row in rows] == [(1, 0), (2, 1), (3, 2)]
    datastore.close()


def test_an_in_memory_database_still_works() -> None:
    datastore = SQLiteDatastore(":memory:")
    recorder = LedgerSQLiteRecorder(datastore)
    recorder.create_table()
    assert write_three(recorder) == [1, 2, 3]
    assert [n.id for n in recorder.select_notifications(1, 10)] == [1, 2, 3]
    datastore.close()


def test_a_pool_of_another_class_is_left_alone(tmp_path: Path) -> None:
    class OwnPool(SQLiteConnectionPool):
        pass

    datastore = SQLiteDatastore(str(tmp_path / "events.db"))
    datastore.pool.__class__ = OwnPool
    cache_statements(datastore)
    assert type(datastore.pool) is OwnPool
    datastore.close()
