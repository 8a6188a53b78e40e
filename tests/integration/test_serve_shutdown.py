"""``crm-ledger serve --workers 1`` stops cleanly on SIGTERM (a real process, on SQLite),
served either way ``--http`` offers."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).with_name("crm-ledger"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_single_worker_exits_0_after_draining(tmp_path: Path, http: str) -> None:
    """SIGTERM to ``serve --workers 1``: it drains, seals and exits 0 (not 143, death by
    the signal uvicorn raises again once it has drained). ``--http httptools`` runs on
    uvloop's event loop, ``--http h11`` on asyncio's (uvloop is then never loaded)."""
    port, log = free_port(), tmp_path / "serve.log"
    env = {**os.environ, "CRM_DATA_DIR": str(tmp_path / "data"), "CRM_LOG_LEVEL": "WARNING"}
    database = f"sqlite:///{tmp_path}/crm.db"
    command = [CLI, "serve", "--workers", "1", "--port", str(port), "--http", http]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*command, "--database", database],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 60
        while not healthy(port):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not start\n" + log.read_text()
            time.sleep(0.1)
        libraries = Path(f"/proc/{proc.pid}/maps").read_text()
        assert ("uvloop" in libraries) == (http == "httptools")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert 0 == code, log.read_text()
    assert "Traceback" not in log.read_text()
