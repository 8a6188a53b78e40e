"""Tampering with real stored bytes is detected with the right class, position and exit
code, on SQLite and PostgreSQL (and in export bundles)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_ledger.settings import Settings
from crm_ledger.storage.bundle import export_bundle
from crm_ledger.verification import REBUILT_LEAF_MISMATCH, run_verification
from tests.integration.ledger_fixture import Log, build_log


@pytest.fixture
def log(database_url: str, tmp_path: Path) -> Iterator[Log]:
    """30 entries, checkpoints at 10, 20 and 30, anchored."""
    built = build_log(Settings(database_url=database_url, data_dir=tmp_path / "data"))
    yield built
    built.crm.close()


def first(log: Log, **kwargs: object) -> tuple[int, str, int | None, int | None]:
    report = log.verify(**kwargs)  # type: ignore[arg-type]
    assert report.findings, "tampering went undetected"
    f = report.findings[0]
    return report.exit_code, f.kind, f.leaf_index, f.seq


def test_untouched_log_verifies(log: Log) -> None:
    """The log as written verifies: every checkpoint and anchor checked, nothing unsealed."""
    report = log.verify()
    assert report.findings == []
    assert report.exit_code == 0
    assert log.size == report.count
    assert report.checkpoints_verified == 3
    assert report.anchors_checked == 3
    assert report.unsealed_tail == 0


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_changed_state_byte(log: Log, position: str) -> None:
    """One changed byte in the stored event bytes: state_mismatch at that event (on
    SQLite, whose envelope is rebuilt from the row, leaf_mismatch)."""
    seqs = log.seqs()
    index = {"first": 0, "middle": len(seqs) // 2, "last": len(seqs) - 1}[position]
    log.flip_state_byte(seqs[index])
    kind = "leaf_mismatch" if log.rebuilt else "state_mismatch"
    assert (1, kind, index, seqs[index]) == first(log)
    if log.rebuilt:  # the report says what a leaf mismatch means there
        assert log.verify().findings[0].message == REBUILT_LEAF_MISMATCH


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_changed_envelope_byte(log: Log, position: str) -> None:
    """One changed byte in an envelope member the event row does not hold (the actor;
    on SQLite its column): leaf_mismatch at that entry."""
    index = {"first": 0, "middle": log.size // 2, "last": log.size - 1}[position]
    log.flip_actor_byte(index)
    assert (1, "leaf_mismatch", index, log.seqs()[index]) == first(log)


@pytest.fixture
def sqlite_log(sqlite_url: str, tmp_path: Path) -> Iterator[Log]:
    built = build_log(Settings(database_url=sqlite_url, data_dir=tmp_path / "data"))
    yield built
    built.crm.close()


@pytest.mark.parametrize("column", ["actor", "topic"])
def test_text_that_is_not_utf8(sqlite_log: Log, column: str) -> None:
    """SQLite stores any bytes as text: a column made invalid UTF-8 is reported at its
    entry (exit 1), not a reader that stops. (PostgreSQL's text holds only UTF-8.)"""
    sqlite_log.run(
        f"UPDATE {sqlite_log.events_table} SET {column} ="
        f" CAST(CAST({column} AS BLOB) || X'FF' AS TEXT) WHERE rowid = 6"
    )
    assert (1, "leaf_mismatch", 5, 6) == first(sqlite_log)


def test_changed_event_topic_column(log: Log) -> None:
    """The event row's topic changed: envelope_mismatch (SQLite: leaf_mismatch)."""
    seq = log.seqs()[4]
    log.run(
        f"UPDATE {log.events_table} SET topic = topic || 'X' WHERE {log.seq_column} = ?", (seq,)
    )
    kind = "leaf_mismatch" if log.rebuilt else "envelope_mismatch"
    assert (1, kind, 4, seq) == first(log)


def test_deleted_middle_event(log: Log) -> None:
    """An event and its ledger entry deleted from the middle: the index gap is reported."""
    log.delete_entry(12)
    code, kind, index, _ = first(log)
    assert (code, kind, index) == (1, "sequence_disorder", 12)


def test_deleted_tail_against_anchor(log: Log) -> None:
    """The last event, its entry and its checkpoint deleted: truncation against the anchor."""
    log.delete_entry(log.size - 1)
    log.run("DELETE FROM ledger_checkpoints WHERE size = ?", (log.size,))
    assert first(log)[:2] == (4, "truncated")
    without_anchor = log.verify(anchors=False)
    assert without_anchor.findings == []  # why auditors must keep anchors


def test_deleted_tail_against_saved_state(log: Log, tmp_path: Path) -> None:
    """The auditor's saved state exposes a truncated tail even without anchors."""
    state = tmp_path / "state.json"
    assert log.verify(anchors=False, state=state).exit_code == 0
    assert state.exists()
    log.delete_entry(log.size - 1)
    log.run("DELETE FROM ledger_checkpoints WHERE size = ?", (log.size,))
    report = log.verify(anchors=False, state=state)
    assert (report.exit_code, report.findings[0].kind) == (4, "truncated")


def test_swapped_events(log: Log) -> None:
    """Two events' stored bytes swapped: state_mismatch at the first of them (SQLite:
    leaf_mismatch)."""
    seqs = log.seqs()
    a, b = seqs[6], seqs[7]
    with log.crm.db.transaction() as tx:
        sa = tx.scalar(f"SELECT state FROM {log.events_table} WHERE {log.seq_column} = ?", (a,))
        sb = tx.scalar(f"SELECT state FROM {log.events_table} WHERE {log.seq_column} = ?", (b,))
        tx.execute(f"UPDATE {log.events_table} SET state = ? WHERE {log.seq_column} = ?", (sb, a))
        tx.execute(f"UPDATE {log.events_table} SET state = ? WHERE {log.seq_column} = ?", (sa, b))
    kind = "leaf_mismatch" if log.rebuilt else "state_mismatch"
    assert (1, kind, 6, a) == first(log)


def test_inserted_event_without_ledger_entry(log: Log) -> None:
    """An event row slipped in with no ledger entry: malformed at its position."""
    seqs = log.seqs()
    with log.crm.db.transaction() as tx:
        row = tx.one(
            f"SELECT originator_id, topic, state FROM {log.events_table}"
            f" WHERE {log.seq_column} = ?",
            (seqs[3],),
        )
        assert row is not None
        tx.execute(
            f"INSERT INTO {log.events_table} (originator_id, originator_version, topic,"
            " state) VALUES (?, ?, ?, ?)",
            (row[0], 99, row[1], row[2]),
        )
    code, kind, _, _ = first(log)
    assert (code, kind) == (1, "malformed")


def test_rechained_rewrite_without_key(log: Log) -> None:
    """A middle event forged and the chain and checkpoint texts recomputed, but the
    signatures cannot be: bad_signature at the first checkpoint after the change."""
    with log.crm.db.transaction() as tx:
        log.rechain_from(tx, 4, change_state_at=4)
        log.resign_checkpoints(tx, with_key=False)
    code, kind, index, _ = first(log)
    assert (code, kind, index) == (2, "bad_signature", 9)


def test_rechained_rewrite_without_checkpoint_edit(log: Log) -> None:
    """A forged, re-chained middle event under unchanged checkpoints: root mismatch."""
    with log.crm.db.transaction() as tx:
        log.rechain_from(tx, 4, change_state_at=4)
    assert first(log)[:3] == (1, "checkpoint_root_mismatch", 9)


def test_resigned_rewrite_contradicts_anchor(log: Log) -> None:
    """The key holder rewrites and re-signs history: the anchors expose the fork."""
    with log.crm.db.transaction() as tx:
        log.rechain_from(tx, 4, change_state_at=4)
        log.resign_checkpoints(tx, with_key=True)
    assert first(log)[:3] == (3, "fork", 9)
    assert log.verify(anchors=False).findings == []  # only the anchor can tell


def test_bundle_tampering(log: Log, tmp_path: Path) -> None:
    """Export bundles: untouched verifies; a changed byte, a cut file, trailing garbage fail."""
    bundle = tmp_path / "bundle"
    export_bundle(log.crm.ledger_store(), log.crm.origin, log.keystore.manifest_bytes(), bundle)

    def verify() -> tuple[int, str | None, int | None]:
        report, _ = run_verification(
            bundle=str(bundle),
            database=None,
            keys_path=None,
            anchors=str(log.anchors),
            state_path=None,
            data_dir=None,
            as_json=True,
            progress=None,
        )
        f = report.findings[0] if report.findings else None
        return report.exit_code, f.kind if f else None, f.leaf_index if f else None

    assert verify() == (0, None, None)
    entries = bundle / "entries.jsonl"
    original = entries.read_bytes()
    lines = original.splitlines(keepends=True)

    entries.write_bytes(original + b"garbage")
    assert (1, "malformed", log.size) == verify()

    entries.write_bytes(b"".join(lines[:-1]) + lines[-1][:40])
    assert (1, "malformed", log.size - 1) == verify()

    entries.write_bytes(b"".join(lines[:-1]))
    assert verify()[:2] == (4, "truncated")

    import orjson

    item = orjson.loads(lines[7])
    item["topic"] = item["topic"] + "X"
    entries.write_bytes(b"".join([*lines[:7], orjson.dumps(item) + b"\n", *lines[8:]]))
    assert verify() == (1, "envelope_mismatch", 7)
