"""`crm-ledger projections run` reads the head once per round and gives a batch only to
the projections with events among the new ones; the others move on in memory, and every
tracking row is written when the worker ends (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.domain.lead import Lead
from crm_ledger.projections.contacts import ContactsProjection
from crm_ledger.projections.leads import LeadsProjection
from crm_ledger.projections.runner import ProjectionRunner, read_position
from crm_ledger.projections.worker import Worker
from crm_ledger.settings import Settings

ACTOR = "user:worker-skip"


def recorded(crm: CrmApplication, name: str) -> int:
    with crm.db.transaction(write=False) as tx:
        return read_position(tx, name)


def test_only_projections_with_new_events_get_a_batch(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crm = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path / "data"))
    calls: Counter[str] = Counter()
    real = ProjectionRunner.run_once

    def counted(runner: ProjectionRunner, **kwargs: Any) -> Any:
        calls[runner.projection.name] += 1
        return real(runner, **kwargs)

    monkeypatch.setattr(ProjectionRunner, "run_once", counted)
    worker = Worker(
        crm,
        {"contacts": ContactsProjection(crm.mapper), "leads": LeadsProjection(crm.mapper)},
        poll_seconds=0.01,
    )
    thread = threading.Thread(target=worker.run, daemon=True)
    try:
        crm.save(Lead.register(name="Lena", actor=ACTOR), actor=ACTOR)
        thread.start()
        deadline = time.monotonic() + 5
        while worker.runners["leads"].position < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        leads_batches = calls["leads"]
        for i in range(5):
            crm.save(Contact.register(kind="person", name=f"Ana {i}", actor=ACTOR), actor=ACTOR)
            time.sleep(0.03)
        head = crm.head_position()
        while worker.runners["contacts"].position < head and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (head, head) == (
            worker.runners["contacts"].position,
            worker.runners["leads"].position,
        )
        assert leads_batches == calls["leads"]  # five contacts: no batch for leads
        assert calls["contacts"] > 1
    finally:
        worker.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert (head, head) == (recorded(crm, "contacts"), recorded(crm, "leads"))
    crm.close()
