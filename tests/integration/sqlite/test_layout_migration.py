"""A SQLite file of the first layout (a ``ledger_entries`` table) is migrated once to
the ledger columns in the event rows, keeping every envelope byte for byte, or is left
exactly as it was when an entry does not match its event."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from crm_ledger.application import CrmApplication
from crm_ledger.settings import Settings
from crm_ledger.storage.checkpoints import CheckpointWriter
from crm_ledger.storage.keystore import KeyStore
from crm_ledger.storage.sqlite_ledger import MigrationError
from tests.integration.ledger_fixture import verification
from tests.integration.test_cli import run

FIXTURE = Path(__file__).parents[2] / "vectors" / "sqlite-v1"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A copy of the fixture's data directory (private key files must be 0600)."""
    copied = tmp_path / "data"
    shutil.copytree(FIXTURE, copied, ignore=shutil.ignore_patterns("README.md"))
    for key in (copied / "keys").glob("*.pem"):
        key.chmod(0o600)
    return copied


def settings(data: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{data}/crm.db", data_dir=data)


def old_ledger(data: Path) -> list[tuple[int, int, bytes, bytes]]:
    with sqlite3.connect(data / "crm.db") as conn:
        return conn.execute(
            "SELECT leaf_index, seq, envelope, leaf_hash FROM ledger_entries ORDER BY leaf_index"
        ).fetchall()


def layout(data: Path) -> tuple[str | None, list[str]]:
    """The type of ``ledger_entries`` and the events table's columns."""
    with sqlite3.connect(data / "crm.db") as conn:
        found = conn.execute(
            "SELECT type FROM sqlite_master WHERE name = 'ledger_entries'"
        ).fetchone()
        columns = [row[1] for row in conn.execute("PRAGMA table_info(stored_events)")]
    return (None if found is None else found[0]), columns


def verify(data: Path) -> tuple[int, int, int, list[object]]:
    report, _ = verification(settings(data).database_url, data)
    return report.exit_code, report.count, report.checkpoints_verified, report.findings


def test_the_old_layout_is_migrated_byte_for_byte(data: Path) -> None:
    before = old_ledger(data)
    assert len(before) == 24
    assert layout(data)[0] == "table"
    crm = CrmApplication(settings(data))
    try:
        kind, columns = layout(data)
        assert kind == "view"
        assert columns[-3:] == ["recorded_at", "actor", "leaf_hash"]
        entries = list(crm.ledger_store().entries())
        assert [(e.leaf_index, e.seq, e.canonical, e.leaf_hash) for e in entries] == before
        assert verify(data) == (0, 24, 2, [])
        # and the log goes on: new entries chain after the migrated ones
        crm.register_contact(actor="user:after", kind="person", name="After Migration")
        keystore = KeyStore(data / "keys")
        CheckpointWriter(crm.ledger_store(), keystore, crm.origin, data / "anchors").cut(force=True)
        assert verify(data) == (0, 25, 3, [])
    finally:
        crm.close()
    CrmApplication(settings(data)).close()  # opening it again migrates nothing
    assert layout(data)[0] == "view"


def test_an_entry_that_differs_from_its_event_stops_the_migration(data: Path) -> None:
    """The topic inside entry 7's stored envelope changed, so the event row cannot give
    those bytes back: the migration refuses, names the entry, and the file keeps its old
    layout and every byte of its ledger."""
    with sqlite3.connect(data / "crm.db") as conn:
        (envelope,) = conn.execute(
            "SELECT envelope FROM ledger_entries WHERE leaf_index = 7"
        ).fetchone()
        conn.execute(
            "UPDATE ledger_entries SET envelope = ? WHERE leaf_index = 7",
            (envelope.replace(b"Contact.", b"Contact_", 1),),
        )
    before, old_layout = old_ledger(data), layout(data)
    with pytest.raises(MigrationError, match=r"ledger entry 7 \(seq 8\): the stored envelope"):
        CrmApplication(settings(data))
    assert layout(data) == old_layout
    assert "leaf_hash" not in old_layout[1]
    assert old_ledger(data) == before


def test_verify_says_why_it_cannot_migrate(data: Path) -> None:
    """`crm-ledger verify --database` on such a file: exit 6 (refused) and the reason,
    not a traceback."""
    with sqlite3.connect(data / "crm.db") as conn:
        conn.execute("DELETE FROM ledger_entries WHERE leaf_index = 23")
    done = run("verify", "--database", settings(data).database_url, env={"CRM_DATA_DIR": str(data)})
    assert done.returncode == 6, done.stdout + done.stderr
    assert "cannot be migrated, nothing was changed: 1 event(s) have no ledger entry" in done.stderr
    assert "Traceback" not in done.stderr
    assert layout(data)[0] == "table"


def test_a_changed_actor_moves_with_its_evidence(data: Path) -> None:
    """An envelope's actor changed in the old table is kept as it is (the actor column
    holds it), so the migrated file still shows the change, at the same entry."""
    with sqlite3.connect(data / "crm.db") as conn:
        (envelope,) = conn.execute(
            "SELECT envelope FROM ledger_entries WHERE leaf_index = 7"
        ).fetchone()
        tampered = envelope.replace(b'"actor":"apikey:', b'"actor":"apikez:')
        assert tampered != envelope
        conn.execute("UPDATE ledger_entries SET envelope = ? WHERE leaf_index = 7", (tampered,))
    CrmApplication(settings(data)).close()
    code, _, _, findings = verify(data)
    assert code == 1
    assert (findings[0].kind, findings[0].leaf_index) == ("leaf_mismatch", 7)  # type: ignore[attr-defined]


def test_an_event_without_its_entry_stops_the_migration(data: Path) -> None:
    with sqlite3.connect(data / "crm.db") as conn:
        conn.execute("DELETE FROM ledger_entries WHERE leaf_index = 23")
    with pytest.raises(MigrationError, match="1 event\\(s\\) have no ledger entry"):
        CrmApplication(settings(data))
    assert layout(data)[0] == "table"


def test_an_entry_without_its_event_stops_the_migration(data: Path) -> None:
    with sqlite3.connect(data / "crm.db") as conn:
        conn.execute("DELETE FROM stored_events WHERE rowid = 11")
    with pytest.raises(MigrationError, match=r"ledger entry 10 \(seq 11\): its event is missing"):
        CrmApplication(settings(data))
    assert layout(data)[0] == "table"


def test_text_that_is_not_utf8_stops_the_migration(data: Path) -> None:
    with sqlite3.connect(data / "crm.db") as conn:
        conn.execute(
            "UPDATE stored_events SET topic = CAST(CAST(topic AS BLOB) || X'FF' AS TEXT)"
            " WHERE rowid = 3"
        )
    with pytest.raises(MigrationError, match="ledger entries from 0 on: Could not decode"):
        CrmApplication(settings(data))
    assert layout(data)[0] == "table"
