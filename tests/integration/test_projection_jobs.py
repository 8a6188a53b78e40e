"""``crm-ledger projections run|status`` and ``crm-ledger rebuild``, as subprocesses.

Some tests run the CLI through a small script that first swaps the registered contacts
projection for a wrapper (slow batches, or an event that cannot be applied), then calls
the real ``crm_ledger.cli.main``: the worker and rebuild code under test is unchanged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.settings import Settings
from tests.integration.test_cli import CLI, run
from tests.property.projection_helpers import table_rows

ACTOR = "user:jobs"

PRELUDE = """
import sys, time
from pathlib import Path
from crm_ledger.projections import registry
from crm_ledger.projections.base import EventApplyError
from crm_ledger.projections.contacts import ContactsProjection
"""
MAIN = """
registry.PROJECTIONS["contacts"] = Wrapped
from crm_ledger.cli import main
sys.argv[0] = "crm-ledger"
main()
"""
SLOW = """
class Wrapped(ContactsProjection):
    def apply_batch(self, tx, items):
        super().apply_batch(tx, items)
        with Path({marker!r}).open("a") as marker:  # one line per batch: its positions
            marker.write(" ".join(str(position) for _, position in items) + "\\n")
        time.sleep(0.3)  # the batch is applied but not committed yet
"""
FAILING = """
class Wrapped(ContactsProjection):
    def apply_batch(self, tx, items):
        for event, position in items:
            if position == {position}:
                super().apply_batch(tx, [i for i in items if i[1] < position])
                raise EventApplyError(position, ValueError("cannot apply this one"))
        super().apply_batch(tx, items)
"""


def wrapped_cli(
    tmp_path: Path, body: str, *args: str, wait: bool = True
) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    """Run ``crm-ledger ARGS`` with the contacts projection replaced by `body`'s class."""
    script = tmp_path / "wrapped_cli.py"
    script.write_text(PRELUDE + body + MAIN)
    command = [sys.executable, str(script), *args]
    if not wait:
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ
        )
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


def crm_for(url: str, tmp_path: Path) -> CrmApplication:
    return CrmApplication(Settings(database_url=url, data_dir=tmp_path / "data"))


def register_contacts(crm: CrmApplication, count: int, per_save: int = 50) -> list[int]:
    """Register `count` contacts (`per_save` per transaction); their log positions."""
    positions: list[int] = []
    for start in range(0, count, per_save):
        batch = [
            Contact.register(kind="person", name=f"Person {i}", tags=["jobs"], actor=ACTOR)
            for i in range(start, min(start + per_save, count))
        ]
        recordings = crm.save(*batch, actor=ACTOR)
        positions.extend(r.notification.id for r in recordings)
    return positions


def contacts(crm: CrmApplication) -> list[tuple[Any, ...]]:
    """The contacts read model's rows (snapshots decoded, in a stable order)."""
    return table_rows(crm, "proj_contacts")


def batch_lines(marker: Path) -> list[list[int]]:
    """The positions of each batch the SLOW wrapper began, in order."""
    text = marker.read_text() if marker.exists() else ""
    return [[int(p) for p in line.split()] for line in text.splitlines()]


def status(url: str) -> tuple[int, dict[str, dict[str, Any]]]:
    result = run("projections", "status", "--json", "--database", url)
    assert result.stderr == "", result.stderr
    return result.returncode, {s["name"]: s for s in json.loads(result.stdout)}


def test_status_run_and_rebuild(database_url: str, tmp_path: Path) -> None:
    """status shows the lag; run --once catches up; rebuild swaps in identical tables."""
    crm = crm_for(database_url, tmp_path)
    register_contacts(crm, 30)
    head = crm.head_position()

    code, before = status(database_url)
    assert code == 0
    assert before["contacts"] == {
        "name": "contacts",
        "position": 0,
        "head": head,
        "lag": head,
        "failed_at": None,
        "error": None,
        "rebuild_position": None,
        "rebuild_failed_at": None,
        "rebuild_bulk": None,
    }

    ran = run("projections", "run", "--once", "contacts", "activities", "--database", database_url)
    assert ran.returncode == 0, ran.stderr
    code, after = status(database_url)
    assert (code, after["contacts"]["position"], after["contacts"]["lag"]) == (0, head, 0)
    incremental = contacts(crm)
    assert len(incremental) == 30

    rebuilt = run("rebuild", "contacts", "--batch-size", "7", "--database", database_url)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt contacts: 30 events applied" in rebuilt.stdout
    assert f"live at position {head}" in rebuilt.stdout
    assert contacts(crm) == incremental

    parallel = run(
        "rebuild", "contacts", "--workers", "3", "--batch-size", "4", "--database", database_url
    )
    assert parallel.returncode == 0, parallel.stderr
    assert "rebuilt contacts: 30 events applied" in parallel.stdout
    assert contacts(crm) == incremental

    text = run("projections", "status", "--database", database_url)
    assert text.stdout.splitlines()[0].split("\t") == [
        "name",
        "position",
        "head",
        "lag",
        "failed_at",
        "rebuild",
        "error",
    ]
    assert f"contacts\t{head}\t{head}\t0\t-\t-\t-" in text.stdout.splitlines()


def test_usage_errors_exit_5(sqlite_url: str) -> None:
    """rebuild needs exactly one of NAME and --all; an unknown name is a usage error."""
    assert run("rebuild", "--database", sqlite_url).returncode == 5
    assert run("rebuild", "contacts", "--all", "--database", sqlite_url).returncode == 5
    unknown = run("rebuild", "nope", "--database", sqlite_url)
    assert unknown.returncode == 5
    assert "unknown projection 'nope'" in unknown.stderr
    assert run("projections", "run", "--once", "nope", "--database", sqlite_url).returncode == 5


def test_killed_mid_batch_then_restarted_equals_a_rebuild(
    database_url: str, tmp_path: Path
) -> None:
    """SIGKILL while a batch is applied but not committed: that batch is lost whole, the
    restarted worker applies it once, and the tables equal a fresh rebuild."""
    crm = crm_for(database_url, tmp_path)
    positions = register_contacts(crm, 200)
    marker = tmp_path / "in_flight"
    slow = SLOW.format(marker=str(marker))
    worker = wrapped_cli(
        tmp_path, slow, "projections", "run", "contacts", "--batch-size", "20",
        "--database", database_url, wait=False,
    )  # fmt: skip
    assert isinstance(worker, subprocess.Popen)
    in_flight: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        batches = batch_lines(marker)
        if batches and batches[-1] and batches[-1][0] > positions[60]:
            in_flight = batches[-1]
            break
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)
    assert in_flight, "the worker never reached its fourth batch"

    _, killed = status(database_url)
    stopped_at = killed["contacts"]["position"]
    assert stopped_at < in_flight[0]  # the batch in flight did not commit
    assert 0 < stopped_at < crm.head_position()
    rows = contacts(crm)
    assert len(rows) == sum(1 for p in positions if p <= stopped_at)

    restarted = run("projections", "run", "--once", "contacts", "--database", database_url)
    assert restarted.returncode == 0, restarted.stderr
    incremental = contacts(crm)
    assert len(incremental) == 200
    assert run("rebuild", "contacts", "--database", database_url).returncode == 0
    assert contacts(crm) == incremental


def test_a_failing_event_stops_there_and_is_reported(database_url: str, tmp_path: Path) -> None:
    """The worker stops just before the failing event (exit 9), status reports where,
    nothing after it is applied; once fixed, the next run goes on from there."""
    crm = crm_for(database_url, tmp_path)
    positions = register_contacts(crm, 40)
    failing_at = positions[25]
    failing = FAILING.format(position=failing_at)

    ran = wrapped_cli(
        tmp_path, failing, "projections", "run", "--once", "contacts", "--batch-size", "500",
        "--database", database_url,
    )  # fmt: skip
    assert ran.returncode == 9, ran.stderr
    assert f"failed at position {failing_at}" in ran.stderr

    code, report = status(database_url)
    assert code == 9
    assert report["contacts"]["failed_at"] == failing_at
    assert report["contacts"]["position"] == failing_at - 1
    assert "cannot apply this one" in report["contacts"]["error"]
    names = sorted(r[2] for r in contacts(crm))
    assert names == sorted(f"Person {i}" for i in range(25))  # exactly those before it

    again = wrapped_cli(
        tmp_path, failing, "projections", "run", "--once", "contacts",
        "--database", database_url,
    )  # fmt: skip
    assert again.returncode == 9  # never skipped, however often it is retried
    assert status(database_url)[1]["contacts"]["position"] == failing_at - 1

    rebuild = wrapped_cli(tmp_path, failing, "rebuild", "contacts", "--database", database_url)
    assert rebuild.returncode == 9
    assert "the live tables are unchanged" in rebuild.stderr
    assert len(contacts(crm)) == 25

    fixed = run("projections", "run", "--once", "contacts", "--database", database_url)
    assert fixed.returncode == 0, fixed.stderr
    code, healed = status(database_url)
    assert (code, healed["contacts"]["failed_at"], healed["contacts"]["lag"]) == (0, None, 0)
    assert len(contacts(crm)) == 40


def test_the_worker_follows_new_events_until_sigterm(database_url: str, tmp_path: Path) -> None:
    """Without --once the worker keeps following the log (PostgreSQL: woken by the
    subscription; SQLite: polling) and exits 0 on SIGTERM."""
    crm = crm_for(database_url, tmp_path)
    register_contacts(crm, 5)
    worker = subprocess.Popen(
        [CLI, "projections", "run", "contacts",
         "--database", database_url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.0)
        register_contacts(crm, 7)
        head = crm.head_position()
        deadline = time.monotonic() + 30
        while status(database_url)[1]["contacts"]["position"] < head:
            assert time.monotonic() < deadline, "the worker did not follow new events"
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    assert len(contacts(crm)) == 12


@pytest.mark.parametrize("interrupt_after", [1, 3])
def test_an_interrupted_rebuild_resumes(
    sqlite_url: str, tmp_path: Path, interrupt_after: int
) -> None:
    """A rebuild killed in its bulk phase resumes after its last committed batch: the
    rerun applies exactly the events not yet applied, and swaps in identical tables."""
    crm = crm_for(sqlite_url, tmp_path)
    register_contacts(crm, 150)
    assert run("projections", "run", "--once", "contacts", "--database", sqlite_url).returncode == 0
    incremental = contacts(crm)
    marker = tmp_path / "in_flight"
    slow = SLOW.format(marker=str(marker))
    rebuild = wrapped_cli(
        tmp_path, slow, "rebuild", "contacts", "--batch-size", "10", "--database", sqlite_url,
        wait=False,
    )  # fmt: skip
    assert isinstance(rebuild, subprocess.Popen)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(batch_lines(marker)) <= interrupt_after:
        time.sleep(0.02)
    rebuild.send_signal(signal.SIGKILL)
    rebuild.communicate(timeout=30)
    begun = len(batch_lines(marker))
    assert begun == interrupt_after + 1

    bulk = status(sqlite_url)[1]["contacts"]["rebuild_bulk"]
    assert bulk["total"] == 150
    assert bulk["applied"] in (10 * (begun - 1), 10 * begun)  # whole batches only
    assert contacts(crm) == incremental  # the API's tables were never touched

    resumed = run("rebuild", "contacts", "--batch-size", "10", "--database", sqlite_url)
    assert resumed.returncode == 0, resumed.stderr
    assert f"rebuilt contacts: {150 - bulk['applied']} events applied" in resumed.stdout
    assert contacts(crm) == incremental
    after = status(sqlite_url)[1]["contacts"]
    assert (after["rebuild_position"], after["rebuild_bulk"]) == (None, None)


@pytest.mark.postgres
def test_cli_rebuild_keeps_the_trigram_index(fresh_postgres_url: str, tmp_path: Path) -> None:
    """A rebuild run from the CLI in a database the API never opened still gives the
    contacts table its pg_trgm index (the CLI enables the extension first)."""
    crm = crm_for(fresh_postgres_url, tmp_path)
    try:
        register_contacts(crm, 3)
    finally:
        crm.close()
    done = run("rebuild", "contacts", "--database", fresh_postgres_url)
    assert 0 == done.returncode, done.stdout + done.stderr
    crm = crm_for(fresh_postgres_url, tmp_path)
    try:
        with crm.db.transaction(write=False) as tx:
            indexes = {
                row[0]
                for row in tx.all(
                    "SELECT indexname FROM pg_indexes WHERE tablename = ?", ("proj_contacts",)
                )
            }
    finally:
        crm.close()
    assert "proj_contacts_trgm" in indexes, sorted(indexes)
