"""Request logs are JSON lines with request id, actor, status and timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from fastapi.testclient import TestClient
from crm_ledger.api.app import create_app
from crm_ledger.application import CrmApplication
from crm_ledger.logging_setup import configure_logging
from crm_ledger.settings import Settings
configure_logging("INFO", json=True)
settings = Settings(database_url="sqlite:///" + sys.argv[1] + "/crm.db", data_dir=sys.argv[1])
crm = CrmApplication(settings)
_, token = crm.issue_api_key(name="log", role="admin", actor="system:tests")
with TestClient(create_app(settings, crm=crm)) as client:
    client.post("/contacts", json={"kind": "person", "name": "L"},
                headers={"Authorization": "Bearer " + token, "X-Request-ID": "log-test-1"})
"""


def test_request_log_line_is_json(tmp_path: Path) -> None:
    """One JSON object per request, naming request id, actor, method, path, status, ms."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert 1 == len(requests)
    entry = requests[0]
    assert "log-test-1" == entry["request_id"]
    assert entry["actor"].startswith("apikey:")
    assert ("POST", "/contacts", 201) == (entry["method"], entry["path"], entry["status"])
    assert isinstance(entry["duration_ms"], float)
    assert "info" == entry["level"]
    assert "timestamp" in entry
