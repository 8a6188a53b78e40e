"""Projection writes sent in runs (crm_ledger.storage.sql.DeferringTx), on both databases.

The transaction must see the very sequence of statements it would have seen one by one,
every read must see every earlier write, and a write that fails in a run must still
stop the projection exactly at the event that wrote it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.projections.base import Dispatching
from crm_ledger.projections.runner import ProjectionFailedError, ProjectionRunner
from crm_ledger.settings import Settings
from crm_ledger.storage.sql import DeferredWriteError, DeferringTx, Tx

ACTOR = "user:test"


class SpyCursor:
    """A cursor that records what reaches the database."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self.sent: list[tuple[str, int]] = []  # (statement's first word, rows)

    def execute(self, query: Any, params: Any = ()) -> Any:
        self.sent.append((str(query).split()[0].upper(), 1))
        return self._cursor.execute(query, params)

    def executemany(self, query: Any, rows: Any) -> Any:
        self.sent.append((str(query).split()[0].upper(), len(rows)))
        return self._cursor.executemany(query, rows)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> Any:
        return self._cursor.fetchall()


@pytest.fixture
def crm(database_url: str, tmp_path: Path) -> Any:
    app = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path))
    app.db.create(["CREATE TABLE IF NOT EXISTS t_deferred (id TEXT PRIMARY KEY, n INTEGER)"])
    yield app
    app.close()


def _deferring(raw: Tx) -> tuple[DeferringTx, SpyCursor]:
    spy = SpyCursor(raw.cursor)
    return DeferringTx(Tx(spy, raw.dialect)), spy


def test_a_run_of_one_statement_is_sent_once_before_the_read_after_it(crm: Any) -> None:
    with crm.db.transaction() as raw:
        tx, spy = _deferring(raw)
        for i in range(5):
            tx.execute("INSERT INTO t_deferred (id, n) VALUES (?, ?)", (f"r{i}", i))
        assert spy.sent == []  # held back
        assert tx.scalar("SELECT count(*) FROM t_deferred") == 5
        assert spy.sent == [("INSERT", 5), ("SELECT", 1)]


def test_the_order_of_statements_is_kept(crm: Any) -> None:
    with crm.db.transaction() as raw:
        tx, spy = _deferring(raw)
        tx.execute("INSERT INTO t_deferred (id, n) VALUES (?, ?)", ("a", 1))
        tx.execute("UPDATE t_deferred SET n = ? WHERE id = ?", (2, "a"))
        tx.execute("UPDATE t_deferred SET n = ? WHERE id = ?", (3, "a"))
        tx.execute("INSERT INTO t_deferred (id, n) VALUES (?, ?)", ("b", 1))
        tx.execute("DELETE FROM t_deferred WHERE id = ?", ("b",))
        tx.flush()
        assert spy.sent == [("INSERT", 1), ("UPDATE", 2), ("INSERT", 1), ("DELETE", 1)]
    with crm.db.transaction(write=False) as tx:
        assert tx.all("SELECT id, n FROM t_deferred") == [("a", 3)]


def test_statements_that_answer_are_not_held_back(crm: Any) -> None:
    with crm.db.transaction() as raw:
        tx, spy = _deferring(raw)
        tx.execute("INSERT INTO t_deferred (id, n) VALUES (?, ?)", ("a", 1))
        tx.execute("INSERT INTO t_deferred (id, n) VALUES (?, ?) RETURNING id", ("b", 2))
        assert spy.sent == [("INSERT", 1), ("INSERT", 1)]  # the first run went before it
        assert tx.all("SELECT id, n FROM t_deferred ORDER BY id") == [("a", 1), ("b", 2)]


def test_a_failing_run_raises_deferred_write_error(crm: Any) -> None:
    def write_twice() -> None:
        with crm.db.transaction() as raw:
            tx, _ = _deferring(raw)
            tx.execute("INSERT INTO t_deferred (id, n) VALUES (?, ?)", ("same", 1))
            tx.execute("INSERT INTO t_deferred (id, n) VALUES (?, ?)", ("same", 2))
            tx.flush()

    with pytest.raises(DeferredWriteError):
        write_twice()
    with crm.db.transaction(write=False) as tx:
        assert tx.scalar("SELECT count(*) FROM t_deferred") == 0


class NamesOnce(Dispatching):
    """One row per registered name: a name registered twice cannot be applied."""

    name = "test_names_once"
    topics = ("crm_ledger.domain.contact:Contact.Registered",)
    statements = ("CREATE TABLE IF NOT EXISTS t_names (name TEXT PRIMARY KEY, n INTEGER)",)

    def __init__(self) -> None:
        self.calls = 0
        self._handlers = {Contact.Registered: self._registered}  # type: ignore[attr-defined]

    def _registered(self, tx: Tx, event: Any) -> None:
        self.calls += 1
        tx.execute("INSERT INTO t_names (name, n) VALUES (?, ?)", (event.name, self.calls))


def test_a_failing_write_in_a_run_stops_the_projection_at_its_event(crm: Any) -> None:
    """The duplicate name's INSERT fails inside a run of INSERTs; the batch is rerun one
    statement at a time, the names before it are committed, and the failure names the
    event that wrote it."""
    names = ["A", "B", "C", "B", "D"]
    positions = []
    for name in names:
        recordings = crm.save(Contact.register(kind="person", name=name, actor=ACTOR), actor=ACTOR)
        positions.extend(r.notification.id for r in recordings)
    projection = NamesOnce()
    runner = ProjectionRunner(crm, projection)
    with pytest.raises(ProjectionFailedError) as failed:
        runner.run_once()
    assert failed.value.position == positions[3]
    assert runner.position == positions[3] - 1
    with crm.db.transaction(write=False) as tx:
        assert tx.all("SELECT name FROM t_names ORDER BY name") == [("A",), ("B",), ("C",)]
    assert projection.calls > len(names)  # the deferred attempt, then the rerun


def test_a_clean_batch_is_written_in_runs(crm: Any) -> None:
    for i in range(6):
        crm.save(Contact.register(kind="person", name=f"P{i}", actor=ACTOR), actor=ACTOR)
    projection = NamesOnce()
    runner = ProjectionRunner(crm, projection)
    sent: list[tuple[str, int]] = []
    flush = DeferringTx.flush

    def counted(self: DeferringTx) -> None:
        if self._rows:
            sent.append((str(self._query).split()[0], len(self._rows)))
        flush(self)

    DeferringTx.flush = counted  # type: ignore[method-assign]
    try:
        runner.run_once()
    finally:
        DeferringTx.flush = flush  # type: ignore[method-assign]
    assert runner.failed is None
    assert sent == [("INSERT", 6)]
    assert projection.calls == 6
    with crm.db.transaction(write=False) as tx:
        assert tx.scalar("SELECT count(*) FROM t_names") == 6
