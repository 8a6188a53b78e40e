"""Several processes write to one PostgreSQL database; a writer dies by SIGKILL."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

import orjson
import pytest

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.settings import Settings
from crm_ledger.storage.checkpoints import CheckpointWriter
from crm_ledger.storage.keystore import KeyStore
from tests.integration.ledger_fixture import verify_database

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.postgres, pytest.mark.serial]


def start_writer(url: str, data: Path, count: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.postgres.writer",
            url,
            str(data),
            str(count),
            str(out),
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


def prepared(url: str, tmp_path: Path) -> tuple[CrmApplication, Path]:
    data = tmp_path / "data"
    crm = CrmApplication(Settings(database_url=url, data_dir=data))
    KeyStore(data / "keys").ensure_key()
    return crm, data


def test_eight_processes_keep_one_linear_chain(fresh_postgres_url: str, tmp_path: Path) -> None:
    """8 writer processes: every acknowledged write is stored, the log verifies, and
    checkpoints (DB and anchor file) have strictly increasing sizes, one per size."""
    crm, data = prepared(fresh_postgres_url, tmp_path)
    outs = [tmp_path / f"acked-{n}.txt" for n in range(8)]
    procs = [start_writer(fresh_postgres_url, data, 40, out) for out in outs]
    assert [0] * 8 == [p.wait(timeout=300) for p in procs]

    acked = [UUID(line) for out in outs for line in out.read_text().split()]
    assert 8 * 40 == len(acked)
    for contact_id in acked:
        assert isinstance(crm.repository.get(contact_id), Contact)
    code, report = verify_database(fresh_postgres_url, data)
    assert 0 == code, report["findings"]
    assert 8 * 40 == report["count"]
    with crm.db.transaction(write=False) as tx:
        sizes = [int(r[0]) for r in tx.all("SELECT size FROM ledger_checkpoints ORDER BY size")]
    anchored = [
        orjson.loads(line)["size"]
        for line in (data / "anchors" / "anchors.jsonl").read_bytes().splitlines()
    ]
    assert sizes == anchored
    assert all(a < b for a, b in itertools.pairwise(anchored))
    assert 8 * 40 == sizes[-1]
    crm.close()


def test_sigkilled_writer_loses_nothing_acknowledged(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    """A writer killed mid-burst: the log verifies, acknowledged writes are all there,
    and the unsealed tail is sealed by the next start."""
    crm, data = prepared(fresh_postgres_url, tmp_path)
    out = tmp_path / "acked.txt"
    proc = start_writer(fresh_postgres_url, data, 0, out)
    deadline = time.monotonic() + 60
    while (not out.exists() or len(out.read_text().split()) < 30) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    acked = [UUID(line) for line in out.read_text().split()]
    assert len(acked) >= 30
    for contact_id in acked:
        assert isinstance(crm.repository.get(contact_id), Contact)
    code, report = verify_database(fresh_postgres_url, data)
    assert 0 == code, report["findings"]
    assert report["count"] >= len(acked)

    # next start: the tail is sealed
    writer = CheckpointWriter(
        crm.ledger_store(), KeyStore(data / "keys"), crm.origin, data / "anchors"
    )
    writer.cut(force=True)
    code, report = verify_database(fresh_postgres_url, data)
    assert 0 == code
    assert 0 == report["unsealed_tail"]
    crm.close()
