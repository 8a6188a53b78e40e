"""A SQLite writer appends after the head it committed last, without reading it, and
reads it when another writer has appended since (LedgerSQLiteRecorder._insert_events)."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path

import orjson
import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore

from crm_ledger.ledger.envelope import GENESIS_PREV
from crm_ledger.ledger.merkle import leaf_hash
from crm_ledger.storage import sqlite_ledger
from crm_ledger.storage.chain import Head
from crm_ledger.storage.sqlite_recorder import LedgerSQLiteRecorder

TOPIC = "crm_ledger.domain.contact:Contact.Registered"


def recorder(path: Path) -> LedgerSQLiteRecorder:
    made = LedgerSQLiteRecorder(SQLiteDatastore(str(path)))
    made.create_table()
    return made


def write(writer: LedgerSQLiteRecorder, count: int) -> list[int]:
    events = [StoredEvent(uuid.uuid4(), 1, TOPIC, b"{}") for _ in range(count)]
    ids = writer.insert_events(events, actor="user:test")
    assert ids is not None
    return list(ids)


def ledger(path: Path) -> list[tuple[int, int, dict[str, object], bytes]]:
    """Every entry as read back: leaf index, seq, the envelope rebuilt from the row
    (which must hash to the stored leaf, unless a row deleted by hand took the prev it
    names) and the leaf."""
    with sqlite3.connect(path) as conn:
        (log,) = conn.execute("SELECT value FROM ledger_meta WHERE key = 'origin'").fetchone()
        rows = conn.execute(sqlite_ledger.ROWS.format(events="stored_events"), (0, 10**6))
        entries = list(sqlite_ledger.rebuilt(log, rows.fetchall(), None))
    for before, entry in zip([None, *entries], entries, strict=False):
        if before is None or before.leaf_index == entry.leaf_index - 1:
            assert entry.leaf_hash == leaf_hash(entry.canonical), entry.leaf_index
    return [(e.leaf_index, e.seq, orjson.loads(e.canonical), e.leaf_hash) for e in entries]


def assert_chained(rows: list[tuple[int, int, dict[str, object], bytes]]) -> None:
    prev = GENESIS_PREV
    for index, seq, envelope, leaf in rows:
        assert envelope["prev"] == prev, index
        assert envelope["seq"] == seq, index
        prev = leaf.hex()


def test_writers_taking_turns_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    first, second = recorder(path), recorder(path)
    written = write(first, 2) + write(second, 3) + write(first, 1) + write(second, 4)
    written += write(first, 1) + write(first, 2)  # its own head, not read again
    rows = ledger(path)
    assert [row[0] for row in rows] == list(range(13))
    assert [row[1] for row in rows] == written == list(range(1, 14))
    assert_chained(rows)


def test_rows_of_a_failed_guess_are_taken_out(tmp_path: Path) -> None:
    """Only a hole in the entries (a row deleted by hand) lets a guessed first row in
    before a later one fails; that row goes again, and the events land after the head."""
    path = tmp_path / "events.db"
    first, second = recorder(path), recorder(path)
    write(first, 3)  # leaves 0-2: first's head is leaf 2
    write(second, 3)  # leaves 3-5
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM stored_events WHERE rowid = 4")  # leaf 3
    ids = write(first, 3)  # guesses leaves 3-5: 3 goes in, 4 is taken
    rows = ledger(path)
    assert [row[0] for row in rows] == [0, 1, 2, 4, 5, 6, 7, 8]
    assert [row[1] for row in rows[-3:]] == ids
    assert rows[-3][2]["prev"] == rows[-4][3].hex()
    for before, after in zip(rows[-4:], rows[-3:], strict=False):
        assert after[2]["prev"] == before[3].hex()


def test_a_lone_writer_reads_the_head_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Head | None] = []
    read_head = LedgerSQLiteRecorder._read_head

    def counted(self: LedgerSQLiteRecorder, c: SQLiteCursor) -> Head | None:
        reads.append(read_head(self, c))
        return reads[-1]

    monkeypatch.setattr(LedgerSQLiteRecorder, "_read_head", counted)
    path = tmp_path / "events.db"
    writer = recorder(path)
    for count in (1, 3, 1, 2):
        write(writer, count)
    assert len(reads) == 1
    write(recorder(path), 1)  # another writer: its first write reads the head
    write(writer, 1)  # and this one's guess fails, so it reads it too
    assert len(reads) == 3
    assert_chained(ledger(path))


def test_concurrent_writers_on_one_file_keep_one_chain(tmp_path: Path) -> None:
    """Two recorders (as two processes would be: their own connections), four threads
    each, writing at once: every acknowledged event has its entry, in one chain."""
    path = tmp_path / "events.db"
    writers = [recorder(path), recorder(path)]
    acknowledged: list[int] = []
    lock = threading.Lock()

    def work(writer: LedgerSQLiteRecorder, count: int) -> None:
        for _ in range(25):
            ids = write(writer, count)
            with lock:
                acknowledged.extend(ids)

    threads = [threading.Thread(target=work, args=(writers[n % 2], 1 + n % 3)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = ledger(path)
    assert [row[0] for row in rows] == list(range(len(rows)))
    assert sorted(acknowledged) == [row[1] for row in rows] == list(range(1, len(rows) + 1))
    assert_chained(rows)
