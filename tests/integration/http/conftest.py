"""Fixtures for HTTP tests: a real app on SQLite or PostgreSQL, and an API key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crm_ledger.api.app import create_app
from crm_ledger.application import CrmApplication
from crm_ledger.settings import Settings


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
