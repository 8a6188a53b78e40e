"""``crm-ledger import contacts``: rejects report, exit codes, resume without duplicates."""

from __future__ import annotations

import csv
import gc
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from crm_ledger import import_storing
from crm_ledger.application import CrmApplication
from crm_ledger.contact_registrations import RegistrationEncoder
from crm_ledger.domain.contact import Contact, registration
from crm_ledger.import_storing import PROCESS_MIN_BYTES, worth_a_process
from crm_ledger.imports import (
    GC_THRESHOLD,
    ImportSummary,
    contact_id,
    file_digest,
    import_contacts,
)
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


def settled_count(url: str, quiet: float = 1.0) -> int:
    """`count_registered` once it has not changed for `quiet` seconds (a storing process
    may still be committing the batch it had when the importing one was killed)."""
    count, since = count_registered(url), time.monotonic()
    deadline = since + 30
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "the count never settled"
        time.sleep(0.05)
        now = count_registered(url)
        if now != count:
            count, since = now, time.monotonic()
    return count


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


@pytest.mark.parametrize("storing", ["--no-store-process", "--store-process"])
def test_import_writes_contacts_and_a_rejects_report(
    database_url: str, tmp_path: Path, env: dict[str, str], storing: str
) -> None:
    """Valid rows become contacts (lists split on ';'); bad rows go to the report; exit 8.
    The same whether a thread or a process of its own stores the batches."""
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
    done = run("import", "contacts", str(source), "--database", database_url, storing, env=env)
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


@pytest.mark.parametrize("store_process", [False, True])
def test_resume_after_an_interrupted_import(
    sqlite_url: str, tmp_path: Path, store_process: bool
) -> None:
    """An import stopped after two batches is resumed by the CLI: one contact per row.
    The summary is exact whether a thread or a process of its own stored the batches
    (a storing process is sent several batches ahead: those sent before the interruption
    are stored and counted too).

    While it runs, the garbage collector's youngest generation waits for GC_THRESHOLD
    allocations; the process's own setting is back once it stops, even interrupted."""
    source = tmp_path / "big.csv"
    valid = write_csv(source, 200, bad_every=13)
    data = tmp_path / "data"
    crm = CrmApplication(Settings(database_url=sqlite_url, data_dir=data))
    seen: list[int] = []
    thresholds: list[int] = []
    before = gc.get_threshold()
    assert before[0] < GC_THRESHOLD

    def stop_after_two_batches(rows: int) -> None:
        seen.append(rows)
        thresholds.append(gc.get_threshold()[0])
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
            store_process=store_process,
        )
    crm.close()
    assert [GC_THRESHOLD, GC_THRESHOLD] == thresholds
    assert before == gc.get_threshold()
    if store_process:
        assert summary.rows in (100, 150, 200)
    else:
        assert 100 == summary.rows
    stored_before = count_registered(sqlite_url)
    done = [r for r in valid if r <= summary.rows + 1]
    assert stored_before == summary.imported == len(done)
    assert summary.rows - len(done) == summary.rejected

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


@pytest.mark.parametrize("storing", ["--no-store-process", "--store-process"])
def test_resume_after_the_process_is_killed(
    database_url: str, tmp_path: Path, env: dict[str, str], storing: str
) -> None:
    """SIGKILL in the middle of an import, then the same command: exactly one contact per
    valid row, and the ledger verifies. With the batches stored by a process of their
    own, that process finishes the batch in flight (whole) and exits."""
    source = tmp_path / "big.csv"
    valid = write_csv(source, 6000, bad_every=97)
    args = [CLI, "import", "contacts", str(source), "--database", database_url]
    proc = subprocess.Popen(
        [*args, "--batch-size", "20", storing],
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
    interrupted_at = settled_count(database_url)
    assert 100 <= interrupted_at < len(valid)

    resumed = run(*args[1:], "--batch-size", "500", env=env)
    assert 8 == resumed.returncode, resumed.stderr
    assert f"{interrupted_at} already imported" in resumed.stdout
    ids = registered(database_url)
    assert len(valid) == len(ids) == len(set(ids))
    checked = verify_ledger(database_url, tmp_path / "data")
    assert 0 == checked.returncode, checked.stdout + checked.stderr
    assert '"ok": true' in checked.stdout


def test_large_files_on_several_cores_are_stored_by_a_process(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`worth_a_process`: only from PROCESS_MIN_BYTES, with more than one core, and never
    for an in-memory database another process could not open."""
    crm = CrmApplication(Settings(database_url=sqlite_url, data_dir=tmp_path / "data"))
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    small.write_bytes(b"x" * (PROCESS_MIN_BYTES - 1))
    large.write_bytes(b"x" * PROCESS_MIN_BYTES)
    try:
        monkeypatch.setattr(os, "cpu_count", lambda: 2)
        assert not worth_a_process(crm, small)
        assert worth_a_process(crm, large)
        monkeypatch.setattr(os, "cpu_count", lambda: 1)
        assert not worth_a_process(crm, large)
        monkeypatch.setattr(os, "cpu_count", lambda: 2)
        in_memory = crm.settings.model_copy(update={"database_url": "sqlite:///:memory:"})
        monkeypatch.setattr(crm, "settings", in_memory)
        assert not worth_a_process(crm, large)
    finally:
        crm.close()


def test_a_process_of_its_own_stores_the_batches(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`batch_storing(in_process=True)` stores in another process: it succeeds with this
    process's `store_registrations` made to fail. The contacts it stored, sealed with
    keys this process made, read back whole; a rerun of the batch stores nothing new."""
    crm = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path / "data"))
    encoder = RegistrationEncoder(crm.mapper)
    ids = [uuid.uuid4() for _ in range(3)]
    encoder.prepare(len(ids))
    events = [
        encoder.stored_event(
            i, registration(kind="person", name=f"Person {n}", emails=[f"p{n}@x.test"], actor="t")
        )
        for n, i in enumerate(ids)
    ]

    def not_here(*_args: object, **_kwargs: object) -> int:
        raise AssertionError("stored by the importing process")

    monkeypatch.setattr(import_storing, "store_registrations", not_here)
    try:
        with import_storing.batch_storing(crm, in_process=True) as store:
            assert 3 == store(events, "system:tests").result(timeout=60)
            assert 0 == store(events, "system:tests").result(timeout=60)
        assert ["Person 0", "Person 1", "Person 2"] == [crm.get_contact(i).name for i in ids]
        assert ["p2@x.test"] == crm.get_contact(ids[2]).emails
        with (
            pytest.raises(AssertionError, match="importing process"),
            import_storing.batch_storing(crm, in_process=False) as store,
        ):
            store(events, "system:tests").result(timeout=60)
    finally:
        crm.close()


def _storing_process(parent: int) -> int | None:
    """The pid of `parent`'s child started by multiprocessing's spawn, if it runs yet."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == parent and b"spawn_main" in command:
            return int(entry.name)
    return None


def test_a_storing_process_that_dies_stops_the_import_with_exit_7(
    database_url: str, tmp_path: Path, env: dict[str, str]
) -> None:
    """SIGKILL to the storing process: the import stops with exit 7 and a message (no
    traceback); what it committed stays, and a rerun stores the rest, each row once."""
    source = tmp_path / "big.csv"
    valid = write_csv(source, 6000, bad_every=97)
    args = [CLI, "import", "contacts", str(source), "--database", database_url]
    proc = subprocess.Popen(
        [*args, "--batch-size", "20", "--store-process"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 60
    while count_registered(database_url) < 100:
        assert proc.poll() is None, "the import ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    child = _storing_process(proc.pid)
    assert child is not None
    os.kill(child, signal.SIGKILL)
    _out, err = proc.communicate(timeout=60)
    assert 7 == proc.returncode, err
    assert "the process storing the batches stopped" in err
    assert "rerun to resume" in err
    assert "Traceback" not in err
    stored = settled_count(database_url)
    assert 100 <= stored < len(valid)

    resumed = run(*args[1:], env=env)
    assert 8 == resumed.returncode, resumed.stderr
    assert f"{stored} already imported" in resumed.stdout
    ids = registered(database_url)
    assert len(valid) == len(ids) == len(set(ids))


def test_a_storing_process_that_cannot_open_the_database_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The storing process's start-up failure is raised by its first batch, as the same
    error a thread would have met (so the CLI maps it to exit 7), not lost in a broken
    pool."""
    monkeypatch.setattr(import_storing, "_app", None)
    monkeypatch.setattr(import_storing, "_failure", None)
    handler = signal.getsignal(signal.SIGINT)
    unreachable = Settings(
        database_url="postgresql://postgres@127.0.0.1:1/nothing", data_dir=tmp_path / "data"
    )
    try:
        import_storing._open(unreachable, {})
    finally:
        signal.signal(signal.SIGINT, handler)
    with pytest.raises(OperationalError):
        import_storing._store([], "system:tests")
