"""The README's walkthrough runs as written against a real server (``crm-ledger serve``)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CLI = str(Path(sys.executable).with_name("crm-ledger"))


def walkthrough() -> str:
    """The bash block between the walkthrough markers of README.md."""
    text = (ROOT / "README.md").read_text()
    match = re.search(
        r"<!-- walkthrough:start -->\s*```bash\n(.*?)```\s*<!-- walkthrough:end -->", text, re.S
    )
    assert match is not None, "README.md lost its walkthrough markers"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`crm-ledger serve` on a free port with a fresh SQLite database."""
    port = free_port()
    env = {
        **os.environ,
        "CRM_DATABASE_URL": f"sqlite:///{tmp_path}/crm.db",
        "CRM_DATA_DIR": str(tmp_path / "data"),
        "CRM_PORT": str(port),
    }
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([CLI, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", env
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    printed = log.read_text()
    assert "First admin API key" in printed
    assert re.search(r"^crm_[0-9a-f]{32}_\S+$", printed, re.M)


def test_serve_prints_first_admin_key_and_walkthrough_runs(
    served: tuple[str, dict[str, str]],
) -> None:
    """The first admin key works; every walkthrough command succeeds with sensible output."""
    base, env = served
    issued = subprocess.run(
        [CLI, "api-keys", "create", "--name", "readme"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = issued.stdout.strip().splitlines()[-1]
    assert token.startswith("crm_")
    script = "set -euo pipefail\n" + walkthrough()
    result = subprocess.run(
        ["bash", "-c", script],
        env={**env, "API": base, "KEY": token},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^created [0-9a-f-]{36}$", out, re.M)
    assert re.search(r'^etag: "1"', out, re.M | re.I)
    assert '"version": 2' in out
    assert '"+34 600 000 000"' in out
    assert '"name": "Ana García"' in out
    assert '"event": "Registered"' in out
    assert '"event": "Updated"' in out
