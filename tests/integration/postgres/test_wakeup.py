"""On PostgreSQL a write wakes the server's projection follower at once (LISTEN/NOTIFY):
with its polls 30 s apart, a new contact reaches the read model within seconds, also
after the listening connection was killed (it listens again)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from crm_ledger.api.app import create_app
from crm_ledger.application import CrmApplication
from crm_ledger.settings import Settings

pytestmark = pytest.mark.postgres


def until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_write_wakes_the_follower_at_once(fresh_postgres_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=fresh_postgres_url, data_dir=tmp_path / "data", projection_poll_seconds=30
    )
    crm = CrmApplication(settings)
    app = create_app(settings, crm=crm)
    _, token = crm.issue_api_key(name="t", role="admin", actor="system:tests")
    auth = {"Authorization": f"Bearer {token}"}
    runner = app.state.runners["contacts"]
    try:
        with TestClient(app) as client:
            wakeup: Any = app.state.wakeup
            until(wakeup.listening.is_set, 10, "listening")
            time.sleep(0.5)  # the follower's first poll (at start) is behind us
            for round_ in range(2):
                made = client.post("/contacts", json={"kind": "person", "name": "A"}, headers=auth)
                position = int(made.headers["X-Log-Position"])
                until(lambda p=position: runner.position >= p, 5, "the read model caught up")
                if round_ == 0:  # the listening connection is killed: it listens again
                    with psycopg.connect(fresh_postgres_url, autocommit=True) as admin:
                        admin.execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE query LIKE 'LISTEN%' AND datname = current_database()"
                        )
                    until(lambda: not wakeup.listening.is_set(), 10, "the loss noticed")
                    until(wakeup.listening.is_set, 10, "listening again")
    finally:
        crm.close()
