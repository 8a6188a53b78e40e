"""The README's walkthrough runs as written against a real server (``crm-ledger serve``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.integration.http.conftest import CLI

ROOT = Path(__file__).resolve().parents[3]


def walkthrough() -> str:
    """The bash block between the walkthrough markers of README.md."""
    text = (ROOT / "README.md").read_text()
    match = re.search(
        r"<!-- walkthrough:start -->\s*```bash\n(.*?)```\s*<!-- walkthrough:end -->", text, re.S
    )
    assert match is not None, "README.md lost its walkthrough markers"
    return match.group(1)


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
