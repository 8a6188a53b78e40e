"""``crm-ledger import contacts``: rejects report, exit codes, resume without duplicates."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.imports import ImportSummary, contact_id, file_digest, import_contacts
from crm_ledger.settings import Settings
from crm_ledger.storage.checkpoints import CheckpointWriter
from crm_ledger.storage.keystore import KeyStore
from tests.integration.test_cli import CLI, run

REGISTERED = f"{Contact.__module__}:{Contact.__qualname__}.Registered"
HEADER = "kind,name,emails,phones,tax_id,tags,owner,address.line1,address.country,custom.source"


def write_csv(path: Path, rows: int, bad_every: int = 0) -> set[int]:
    """A contacts file of `rows` rows; every `bad_every`-th has a bad email. Returns the
    row numbers (header = row 1) that are valid."""
    valid: set[int] = set()
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(HEADER + "\n")
        for i in range(rows):
            bad = bad_every and i % bad_every == bad_every - 1
            email = "broken" if bad else f"p{i}@example.com"
            handle.write(f"person,Person {i},{email},,,bulk,,,,\n")
            if not bad:
                valid.add(i + 2)
    return valid


def registered(url: str) -> list[str]:
    """Originator ids of every Contact.Registered event, read straight from the database."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            rows = conn.execute(
                "SELECT originator_id FROM stored_events WHERE topic = ?", (REGISTERED,)
            ).fetchall()
    else:
        with psycopg.connect(url) as pg:
            rows = pg.execute(
                "SELECT originator_id FROM crm_events WHERE topic = %s", (REGISTERED,)
            ).fetchall()
    return [str(uuid.UUID(str(r[0]))) for r in rows]


def count_registered(url: str) -> int:
    try:
        return len(registered(url))
    except (sqlite3.OperationalError, psycopg.Error):
        return 0  # the schema is not there yet


def verify_ledger(url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Seal a checkpoint (as a server would), then run `crm-ledger verify`."""
    settings = Settings(database_url=url, data_dir=data_dir)
    crm = CrmApplication(settings)
    keys = KeyStore(data_dir / "keys")
    keys.ensure_key()
    try:
        CheckpointWriter(crm.ledger_store(), keys, crm.origin, data_dir / "anchors").cut(force=True)
    finally:
        crm.close()
    return run(
        "verify",
        "--database",
        url,
        "--anchors",
        str(data_dir / "anchors"),
        "--json",
        env={"CRM_DATA_DIR": str(data_dir)},
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CRM_DATA_DIR": str(tmp_path / "data")}


def test_import_writes_contacts_and_a_rejects_report(
    database_url: str, tmp_path: Path, env: dict[str, str]
) -> None:
    """Valid rows become contacts (lists split on ';'); bad rows go to the report; exit 8."""
    source = tmp_path / "contacts.csv"
    source.write_text(
        HEADER + "\n"
        "person,Ana García,ana@example.com;ANA@work.example,+34 600 000 000,,vip;es,alice,"
        "Calle 1,ES,fair\n"
        "organisation,Acme SL,hello@acme.test,,B12345678,customer,,,,\n"
        "robot,Bad kind,,,,,,,,\n"
        "person,Bad mail,not-an-email,,,,,,,\n"
        "person,Too few\n"
        'person,"Quoted, name",,,,,,Street 2,PT,\n',
        encoding="utf-8",
    )
    done = run("import", "contacts", str(source), "--database", database_url, env=env)
    assert 8 == done.returncode, done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert "6 rows: 3 imported, 0 already imported, 3 rejected" in summary
    report = tmp_path / "contacts.csv.rejects.csv"
    with report.open(encoding="utf-8", newline="") as handle:
        rejected = list(csv.reader(handle))
    assert ["row", "reason", *HEADER.split(",")] == rejected[0]
    assert ["4", "5", "6"] == [r[0] for r in rejected[1:]]
    assert rejected[1][1].startswith("kind:")
    assert rejected[2][1].startswith("emails/0:")
    assert "2 cells" in rejected[3][1]
    assert ["robot", "Bad kind"] == rejected[1][2:4]
    assert ["person", "Too few"] == rejected[3][2:]

    digest = file_digest(source)[0]
    crm = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path / "data"))
    try:
        ana = crm.get_contact(contact_id(digest, 2))
        assert ["ana@example.com", "ana@work.example"] == ana.emails
        assert ["es", "vip"] == ana.tags
        assert "alice" == ana.owner
        assert [{"line1": "Calle 1", "country": "ES"}] == ana.addresses
        assert {"source": "fair"} == ana.custom_fields
        assert "B12345678" == crm.get_contact(contact_id(digest, 3)).tax_id
        assert "Quoted, name" == crm.get_contact(contact_id(digest, 7)).name
    finally:
        crm.close()
    assert 3 == len(registered(database_url))


def test_clean_file_exits_0_and_a_rerun_stores_nothing(
    sqlite_url: str, tmp_path: Path, env: dict[str, str]
) -> None:
    """Every row imported: exit 0 and an empty report; the same file again adds nothing."""
    source = tmp_path / "clean.csv"
    write_csv(source, 30)
    report = tmp_path / "out" / "rejects.csv"
    report.parent.mkdir()
    args = ("import", "contacts", str(source), "--database", sqlite_url, "--rejects", str(report))
    first = run(*args, "--batch-size", "7", env=env)
    assert 0 == first.returncode, first.stderr
    assert "30 rows: 30 imported, 0 already imported, 0 rejected" in first.stdout
    assert 1 == len(report.read_text().splitlines())
    again = run(*args, env=env)
    assert 0 == again.returncode, again.stderr
    assert "30 rows: 0 imported, 30 already imported, 0 rejected" in again.stdout
    assert 30 == len(registered(sqlite_url))


def test_unusable_files_exit_5(sqlite_url: str, tmp_path: Path, env: dict[str, str]) -> None:
    """Unknown or missing columns, a missing file, broken UTF-8: usage errors, nothing stored."""
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("kind,name,colour\nperson,Ana,red\n")
    missing = tmp_path / "missing.csv"
    missing.write_text("kind,emails\nperson,a@example.com\n")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"kind,name\nperson,Garc\xeda\n")
    for path, message in ((unknown, "'colour'"), (missing, "'name'"), (latin, "UTF-8")):
        done = run("import", "contacts", str(path), "--database", sqlite_url, env=env)
        assert 5 == done.returncode, (path, done.stderr)
        assert message in done.stderr
    absent = run("import", "contacts", str(tmp_path / "nope.csv"), "--database", sqlite_url)
    assert 5 == absent.returncode
    assert 0 == count_registered(sqlite_url)


def test_resume_after_an_interrupted_import(sqlite_url: str, tmp_path: Path) -> None:
    """An import stopped after two batches is resumed by the CLI: one contact per row."""
    source = tmp_path / "big.csv"
    valid = write_csv(source, 200, bad_every=13)
    data = tmp_path / "data"
    crm = CrmApplication(Settings(database_url=sqlite_url, data_dir=data))
    seen: list[int] = []

    def stop_after_two_batches(rows: int) -> None:
        seen.append(rows)
        if len(seen) == 2:
            raise KeyboardInterrupt

    summary = ImportSummary()
    with pytest.raises(KeyboardInterrupt):
        import_contacts(
            crm,
            source,
            actor="system:tests",
            rejects=tmp_path / "first.rejects.csv",
            batch_size=50,
            progress=stop_after_two_batches,
            summary=summary,
        )
    crm.close()
    assert 100 == summary.rows
    stored_before = count_registered(sqlite_url)
    assert stored_before == summary.imported == len([r for r in valid if r <= 101])

    resumed = run(
        "import",
        "contacts",
        str(source),
        "--database",
        sqlite_url,
        "--batch-size",
        "30",
        env={"CRM_DATA_DIR": str(data)},
    )
    assert 8 == resumed.returncode, resumed.stderr
    assert f"{len(valid) - stored_before} imported, {stored_before} already imported" in (
        resumed.stdout
    )
    ids = registered(sqlite_url)
    digest = file_digest(source)[0]
    assert sorted(str(contact_id(digest, r)) for r in valid) == sorted(ids)
    checked = verify_ledger(sqlite_url, data)
    assert 0 == checked.returncode, checked.stdout + checked.stderr
    assert '"ok": true' in checked.stdout


def test_resume_after_the_process_is_killed(
    database_url: str, tmp_path: Path, env: dict[str, str]
) -> None:
    """SIGKILL in the middle of an import, then the same command: exactly one contact per
    valid row, and the ledger verifies."""
    source = tmp_path / "big.csv"
    valid = write_csv(source, 6000, bad_every=97)
    args = [CLI, "import", "contacts", str(source), "--database", database_url]
    proc = subprocess.Popen(
        [*args, "--batch-size", "20"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while count_registered(database_url) < 100:
        assert proc.poll() is None, "the import ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert -signal.SIGKILL == proc.returncode
    interrupted_at = count_registered(database_url)
    assert 100 <= interrupted_at < len(valid)

    resumed = run(*args[1:], "--batch-size", "500", env=env)
    assert 8 == resumed.returncode, resumed.stderr
    assert f"{interrupted_at} already imported" in resumed.stdout
    ids = registered(database_url)
    assert len(valid) == len(ids) == len(set(ids))
    checked = verify_ledger(database_url, tmp_path / "data")
    assert 0 == checked.returncode, checked.stdout + checked.stderr
    assert '"ok": true' in checked.stdout
