"""`crm-ledger projections run` outlives a busy or unreachable database: a batch that
fails with the library's OperationalError (SQLite's "database is locked" when another
writer holds the lock) is retried at the next round instead of ending the worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.projections.contacts import ContactsProjection
from crm_ledger.projections.runner import ProjectionRunner
from crm_ledger.projections.worker import Worker
from crm_ledger.settings import Settings

ACTOR = "user:worker-retry"


def test_a_locked_database_does_not_end_the_worker(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crm = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path / "data"))
    try:
        for name in ("Ana", "Bea"):
            crm.save(Contact.register(kind="person", name=name, actor=ACTOR), actor=ACTOR)
        real = ProjectionRunner.run_once
        failures = [OperationalError("database is locked")] * 2

        def flaky(runner: ProjectionRunner, **kwargs: Any) -> Any:
            if failures:
                raise failures.pop()
            return real(runner, **kwargs)

        monkeypatch.setattr(ProjectionRunner, "run_once", flaky)
        worker = Worker(crm, {"contacts": ContactsProjection(crm.mapper)}, poll_seconds=0.01)
        assert {} == worker.run(once=True)
        assert [] == failures  # both failed rounds happened, then it caught up
        assert crm.head_position() == worker.runners["contacts"].position
    finally:
        crm.close()
