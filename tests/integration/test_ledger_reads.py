"""Reading the ledger back (`LedgerStore.entries`): the entries as stored, on both
databases, by the aligned fast path and by the merge that places orphans; and on
PostgreSQL, one state of the database per batch while writes commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from crm_ledger.application import CrmApplication
from crm_ledger.ledger.envelope import Entry
from crm_ledger.ledger.merkle import leaf_hash
from crm_ledger.settings import Settings
from crm_ledger.storage import sqlite_ledger
from crm_ledger.storage.sql import Tx


def _register(crm: CrmApplication, count: int, prefix: str = "P") -> None:
    for i in range(count):
        crm.register_contact(kind="person", name=f"{prefix} {i}", actor="user:test")


def _rows(crm: CrmApplication) -> list[tuple[Any, ...]]:
    """Each entry's ledger and event columns, read with the generic row reader (on
    SQLite, the event rows' own ledger columns; there is no stored envelope)."""
    store = crm.ledger_store()
    seq = store.seq_column
    with crm.db.transaction(write=False) as tx:
        if crm.db.dialect == "sqlite":
            return tx.all(
                "SELECT rowid - 1, rowid, NULL, leaf_hash, originator_id, originator_version,"
                f" topic, state FROM {store.events_table} ORDER BY rowid"
            )
        return tx.all(
            f"SELECT l.leaf_index, l.seq, l.envelope, l.leaf_hash, e.originator_id,"
            f" e.originator_version, e.topic, e.state FROM ledger_entries l"
            f" JOIN {store.events_table} e ON e.{seq} = l.seq ORDER BY l.leaf_index"
        )


@pytest.mark.parametrize("batch", [1, 3, 5000])
def test_entries_are_the_stored_rows(database_url: str, tmp_path: Path, batch: int) -> None:
    """Every entry holds its stored values with exact types, whatever the batch size."""
    crm = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path))
    try:
        _register(crm, 7)
        entries = list(crm.ledger_store().entries(batch=batch))
        rows = _rows(crm)
        assert len(entries) == len(rows) >= 7
        for entry, row in zip(entries, rows, strict=True):
            if row[2] is None:  # SQLite: the envelope rebuilt hashes to the stored leaf
                assert leaf_hash(entry.canonical) == row[3]
                assert orjson.loads(entry.canonical)["actor"] == "user:test"
            assert entry == Entry(
                int(row[0]),
                int(row[1]),
                entry.canonical if row[2] is None else bytes(row[2]),
                bytes(row[3]),
                sqlite_ledger.aggregate_text(row[4]),
                int(row[5]),
                str(row[6]),
                bytes(row[7]),
            )
            types = [type(value) for value in entry]
            assert types == [int, int, bytes, bytes, str, int, str, bytes]
        assert [e.leaf_index for e in entries] == list(range(len(entries)))
        assert list(crm.ledger_store().entries(start=4, batch=batch)) == entries[4:]
    finally:
        crm.close()


def test_an_event_without_its_ledger_row_is_placed(database_url: str, tmp_path: Path) -> None:
    """An event whose ledger entry is gone is yielded with empty ledger bytes (where the
    verifier finds its leaf missing): on PostgreSQL by the merge (not the aligned path),
    at the index of the next ledger row; on SQLite, where the entry is the row's own
    columns, at its own index."""
    crm = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path))
    try:
        _register(crm, 5)
        before = list(crm.ledger_store().entries())
        with crm.db.transaction() as tx:
            if crm.db.dialect == "sqlite":
                tx.execute(
                    f"UPDATE {crm.ledger_store().events_table} SET recorded_at = NULL,"
                    " actor = NULL, leaf_hash = NULL WHERE rowid = ?",
                    (3,),
                )
            else:
                tx.execute("DELETE FROM ledger_entries WHERE leaf_index = ?", (2,))
        after = list(crm.ledger_store().entries())
        placed = 2 if crm.db.dialect == "sqlite" else 3
        assert [e.leaf_index for e in after] == [0, 1, placed, 3, 4]
        assert after[2].canonical == b""
        assert after[2].leaf_hash == b""
        assert after[2].seq == before[2].seq
        assert after[2].state == before[2].state
        if crm.db.dialect == "sqlite":  # its envelope names a prev no row holds now
            assert after[3]._replace(canonical=b"") == before[3]._replace(canonical=b"")
        else:
            assert after[3] == before[3]
    finally:
        crm.close()


@pytest.mark.postgres
def test_a_batch_is_read_from_one_state_while_writes_commit(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write committed between a batch's two reads is in neither: before, the events
    read saw it without its ledger row, an entry that could not verify."""
    crm = CrmApplication(Settings(database_url=fresh_postgres_url, data_dir=tmp_path))
    writer = CrmApplication(Settings(database_url=fresh_postgres_url, data_dir=tmp_path))
    try:
        _register(crm, 4)
        original = Tx.tuples
        wrote: list[str] = []

        def tuples(self: Tx, query: str, params: Any = ()) -> list[tuple[Any, ...]]:
            rows = original(self, query, params)
            if "FROM ledger_entries" in query and not wrote:
                _register(writer, 1, "Meanwhile")  # commits on another connection
                wrote.append(query)
            return rows

        monkeypatch.setattr(Tx, "tuples", tuples)
        entries = list(crm.ledger_store().entries())
        assert wrote
        assert len(entries) == 4
        assert all(e.canonical and e.leaf_hash for e in entries)
        monkeypatch.undo()
        assert len(list(crm.ledger_store().entries())) == 5
    finally:
        writer.close()
        crm.close()
