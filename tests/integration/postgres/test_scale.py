"""The write path at scale, against real ``crm-ledger serve`` processes on PostgreSQL.

Clients are separate processes (``tests.integration.postgres.http_client``), each with
many threads on keep-alive connections. The ledger is verified after the service has
stopped, since it seals its tail (a final checkpoint) at shutdown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.settings import Settings
from tests.integration.ledger_fixture import verify_database
from tests.integration.postgres.http_client import Client
from tests.integration.postgres.private_server import PrivateServer

ROOT = Path(__file__).resolve().parents[3]
CLI = str(Path(sys.executable).with_name("crm-ledger"))
pytestmark = [pytest.mark.postgres, pytest.mark.serial]

REGISTERED = "crm_ledger.domain.contact:Contact.Registered"
UPDATED = "crm_ledger.domain.contact:Contact.Updated"
KEY_ISSUED = "crm_ledger.domain.api_key:ApiKey.Issued"
PROBLEM_JSON = "application/problem+json"

CLIENT_PROCESSES = 3
THREADS = 32
PER_THREAD = 10  # 3 x 32 x 10 = 960 creates
SLOWEST_ANSWER = 15.0  # s; with the database down: one pool timeout (5 s) queued behind another


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def issue_key(url: str, data: Path) -> str:
    """An admin API key, issued with the CLI (the key is the last line printed)."""
    done = subprocess.run(
        [CLI, "api-keys", "create", "--name", "scale tests", "--database", url],
        env={**os.environ, "CRM_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@dataclass
class Service:
    """A running ``crm-ledger serve`` process."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit status (the service drains and seals on the way out)."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


@contextmanager
def serving(url: str, data: Path, workers: int, tmp_path: Path) -> Iterator[Service]:
    """``crm-ledger serve --workers N`` on a free port; killed at the end if still up."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    env = {**os.environ, "CRM_DATA_DIR": str(data), "CRM_LOG_LEVEL": "WARNING"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [CLI, "serve", "--workers", str(workers), "--port", str(port), "--database", url],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: workers included in a kill
        )
    service = Service(proc, port, log)
    probe = Client(port, "-", timeout=5)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if probe.call("GET", "/healthz").status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not start\n" + log.read_text()
            time.sleep(0.1)
        probe.close()
        yield service
    finally:
        probe.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def start_clients(
    port: int, token: str, threads: int, count: int, out: Path, stop: Path | None = None
) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "tests.integration.postgres.http_client"]
    args += [str(port), token, str(threads), str(count), str(out)]
    if stop is not None:
        args.append(str(stop))
    env = {**os.environ, "CLIENT_TIMEOUT": "20"}
    return subprocess.Popen(args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)


def records(*paths: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in paths:
        if path.exists():
            found += [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return found


def wait_until(predicate: Any, timeout: float, what: str) -> float:
    """Poll `predicate` until true; return the time it became true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic()


def acked(found: list[dict[str, Any]]) -> list[UUID]:
    return [UUID(r["id"]) for r in found if r["status"] == 201]


@contextmanager
def application(url: str, data: Path) -> Iterator[CrmApplication]:
    crm = CrmApplication(Settings(database_url=url, data_dir=data, pool_size=2))
    try:
        yield crm
    finally:
        crm.close()


def topic_counts(crm: CrmApplication) -> dict[str, int]:
    table = crm.recorder.events_table_name  # type: ignore[attr-defined]
    with crm.db.transaction(write=False) as tx:
        rows = tx.all(f"SELECT topic, COUNT(*) FROM {table} GROUP BY topic")
    return {str(topic): int(n) for topic, n in rows}


def ledger_sizes(crm: CrmApplication) -> tuple[int, int, int]:
    """(stored events, ledger entries, size of the latest checkpoint)."""
    table = crm.recorder.events_table_name  # type: ignore[attr-defined]
    with crm.db.transaction(write=False) as tx:
        events = tx.scalar(f"SELECT COUNT(*) FROM {table}")
        entries = tx.scalar("SELECT COUNT(*) FROM ledger_entries")
        sealed = tx.scalar("SELECT MAX(size) FROM ledger_checkpoints")
    return int(events), int(entries), int(sealed or 0)


def assert_all_stored(crm: CrmApplication, ids: list[UUID]) -> None:
    missing = [i for i in ids if not isinstance(crm.repository.get(i), Contact)]
    assert missing == []


def read_all(port: int, token: str, ids: list[UUID], threads: int = 16) -> list[tuple[UUID, int]]:
    """GET every contact over HTTP; return those that did not answer 200."""
    bad: list[tuple[UUID, int]] = []
    lock = threading.Lock()

    def read(chunk: list[UUID]) -> None:
        client = Client(port, token)
        for contact_id in chunk:
            status = client.call("GET", f"/contacts/{contact_id}").status
            if status != 200:
                with lock:
                    bad.append((contact_id, status))
        client.close()

    workers = [threading.Thread(target=read, args=(ids[n::threads],)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return bad


def race_patch(port: int, token: str, contact_id: UUID, version: int, threads: int) -> list[Any]:
    """`threads` clients PATCH one contact with the same If-Match at the same moment."""
    clients = [Client(port, token) for _ in range(threads)]
    for client in clients:  # open every connection before the race
        assert client.call("GET", f"/contacts/{contact_id}").status == 200
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads

    def patch(n: int) -> None:
        barrier.wait()
        results[n] = clients[n].call(
            "PATCH",
            f"/contacts/{contact_id}",
            {"name": f"winner of v{version} is {n}"},
            {"If-Match": f'"{version}"'},
        )

    workers = [threading.Thread(target=patch, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for client in clients:
        client.close()
    return results


def test_three_workers_many_client_threads(fresh_postgres_url: str, tmp_path: Path) -> None:
    """3 client processes x 32 threads create contacts against ``serve --workers 3``:
    every create is acknowledged and readable, exactly those events are stored, concurrent
    PATCHes of one version have exactly one winner, and the ledger verifies."""
    url, data = fresh_postgres_url, tmp_path / "data"
    token = issue_key(url, data)
    outs = [tmp_path / f"client-{n}.jsonl" for n in range(CLIENT_PROCESSES)]
    with serving(url, data, 3, tmp_path) as service:
        clients = [start_clients(service.port, token, THREADS, PER_THREAD, o) for o in outs]
        assert [0] * CLIENT_PROCESSES == [c.wait(timeout=300) for c in clients]
        found = records(*outs)
        assert CLIENT_PROCESSES * THREADS * PER_THREAD == len(found)
        assert [r for r in found if r["status"] != 201] == []
        ids = acked(found)
        assert len(set(ids)) == len(ids)
        assert read_all(service.port, token, ids) == []

        target = ids[0]
        for version in (1, 2, 3):
            replies = race_patch(service.port, token, target, version, THREADS)
            statuses = Counter(r.status for r in replies)
            assert {200: 1, 412: THREADS - 1} == statuses
            (winner,) = [r for r in replies if r.status == 200]
            assert f'"{version + 1}"' == winner.headers["etag"]
            assert all(
                r.headers["content-type"] == PROBLEM_JSON for r in replies if r is not winner
            )
        reader = Client(service.port, token)
        final = reader.call("GET", f"/contacts/{target}")
        reader.close()
        assert '"4"' == final.headers["etag"]
        assert winner.json()["name"] == final.json()["name"]
        assert 0 == service.terminate()

    with application(url, data) as crm:
        assert {REGISTERED: len(ids), UPDATED: 3, KEY_ISSUED: 1} == topic_counts(crm)
        events, entries, sealed = ledger_sizes(crm)
    assert events == entries == sealed == len(ids) + 3 + 1
    code, report = verify_database(url, data)
    assert 0 == code, report["findings"]
    assert entries == report["count"]
    assert 0 == report["unsealed_tail"]


def test_postgres_stopped_mid_burst(private_postgres: PrivateServer, tmp_path: Path) -> None:
    """PostgreSQL stops under a burst of writes: callers get 503 problems promptly (no 500,
    no hang); once it is back the service recovers by itself; nothing acknowledged is lost."""
    url, data = private_postgres.create_database("crm_fault"), tmp_path / "data"
    token = issue_key(url, data)
    out, stop = tmp_path / "burst.jsonl", tmp_path / "stop"
    with serving(url, data, 2, tmp_path) as service:
        clients = start_clients(service.port, token, 16, 0, out, stop)
        try:
            wait_until(lambda: len(acked(records(out))) >= 50, 60, "50 acknowledged writes")
            down = time.monotonic()
            private_postgres.stop("fast")
            gone = time.monotonic() + 1  # requests sent from now on find no server at all
            wait_until(
                lambda: any(r["status"] == 503 and r["sent"] > gone for r in records(out)),
                20,
                "a 503 for a request sent while PostgreSQL is down",
            )
            private_postgres.start()
            up = time.monotonic()
            recovered = wait_until(
                lambda: any(r["status"] == 201 and r["sent"] > up for r in records(out)),
                15,
                "a write to succeed after PostgreSQL restarted",
            )
            time.sleep(1)
        finally:
            stop.touch()
            assert 0 == clients.wait(timeout=60)
        assert 0 == service.terminate()
    found = records(out)
    assert [r for r in found if r["error"] is not None] == []  # no timeout, no reset
    assert max(r["done"] - r["sent"] for r in found) < SLOWEST_ANSWER
    statuses = Counter(r["status"] for r in found)
    assert set(statuses) <= {201, 503}, statuses
    failed = [r for r in found if r["status"] == 503]
    assert failed
    assert {(PROBLEM_JSON, "database_unavailable")} == {(r["ctype"], r["code"]) for r in failed}
    assert all(r["done"] > down for r in failed)  # none before the database stopped
    assert recovered - up < 15
    ids = acked(found)
    with application(url, data) as crm:
        assert_all_stored(crm, ids)
        assert topic_counts(crm)[REGISTERED] >= len(ids)
    code, report = verify_database(url, data)
    assert 0 == code, report["findings"]
    assert 0 == report["unsealed_tail"]


def test_sigterm_drains_and_seals(fresh_postgres_url: str, tmp_path: Path) -> None:
    """SIGTERM under a burst: requests already sent complete, later ones are refused
    cleanly (connection refused or closed, or a 503 ``shutting_down`` problem; never a
    500), the service exits 0 and its last checkpoint covers every ledger entry.

    It once failed (500s): a connection accepted while uvicorn began its drain was never
    told to close, so a keep-alive client kept it busy until the 20 s bound, when uvicorn
    cancelled the requests in flight. See ``crm_ledger.api.drain``."""
    url, data = fresh_postgres_url, tmp_path / "data"
    token = issue_key(url, data)
    out, stop = tmp_path / "burst.jsonl", tmp_path / "stop"
    with serving(url, data, 2, tmp_path) as service:
        clients = start_clients(service.port, token, THREADS, 0, out, stop)
        try:
            wait_until(lambda: len(acked(records(out))) >= 100, 60, "100 acknowledged writes")
            sigterm = time.monotonic()
            code = service.terminate()
        finally:
            stop.touch()
            assert 0 == clients.wait(timeout=60)
    assert 0 == code, service.log.read_text()
    found = records(out)
    before = [r for r in found if r["sent"] is not None and r["sent"] < sigterm]
    assert [r for r in before if r["status"] != 201] == []  # no reset, no failure
    assert [r for r in before if r["done"] > sigterm], "no request was in flight at SIGTERM"
    assert [r for r in found if r["error"] is not None and r["done"] < sigterm] == []
    refused = [r for r in found if r["status"] not in (None, 201)]
    assert [
        r
        for r in refused
        if (r["status"], r.get("ctype"), r.get("code")) != (503, PROBLEM_JSON, "shutting_down")
        or r["sent"] < sigterm
    ] == []
    assert max(r["done"] for r in found if r["status"] == 201) - sigterm < 10  # no 20 s stall
    ids = acked(found)
    with application(url, data) as crm:
        assert_all_stored(crm, ids)
        events, entries, sealed = ledger_sizes(crm)
    assert events == entries == sealed
    code, report = verify_database(url, data)
    assert 0 == code, report["findings"]
    assert 0 == report["unsealed_tail"]
