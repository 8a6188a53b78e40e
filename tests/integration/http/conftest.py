"""Fixtures for HTTP tests: a real app on SQLite or PostgreSQL, and an API key."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crm_ledger.api.app import create_app
from crm_ledger.application import CrmApplication
from crm_ledger.settings import Settings

CLI = str(Path(sys.executable).with_name("crm-ledger"))


class Api:
    """A TestClient with the bearer token set, plus the application behind it."""

    def __init__(self, client: TestClient, crm: CrmApplication, token: str) -> None:
        self.client = client
        self.crm = crm
        self.token = token
        self.auth = {"Authorization": f"Bearer {token}"}

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Any:
        return self.request("PATCH", url, **kwargs)

    def every_page(self, url: str, *, limit: int = 2, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paged list, following ``next_cursor`` `limit` at a time."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
            response = self.get(url, params=query)
            assert response.status_code == 200, response.text
            page = response.json()
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items

    def event_count(self) -> tuple[int, int]:
        """(stored events, ledger entries) — they must always be equal."""
        table = self.crm.recorder.events_table_name  # type: ignore[attr-defined]
        with self.crm.db.transaction(write=False) as tx:
            events = tx.scalar(f"SELECT COUNT(*) FROM {table}")
            entries = tx.scalar("SELECT COUNT(*) FROM ledger_entries")
        return int(events), int(entries)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for a throwaway database and data directory."""
    return Settings(database_url=database_url, data_dir=tmp_path / "data", log_json=True)


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    """A running app (lifespan started) and an admin API key."""
    crm = CrmApplication(settings)
    app = create_app(settings, crm=crm)
    _, token = crm.issue_api_key(name="tests", role="admin", actor="system:tests")
    with TestClient(app) as client:
        yield Api(client, crm, token)
    crm.close()


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
