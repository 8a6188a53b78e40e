"""`ProjectionRunner.start(follow=...)`: a runner that may not follow catches up once at
the start and whenever a read waits for it, and never on its own poll."""

from __future__ import annotations

import time
from pathlib import Path

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.projections.contacts import ContactsProjection
from crm_ledger.projections.runner import ProjectionRunner
from crm_ledger.settings import Settings

ACTOR = "user:follow"
POLL = 0.02


def _register(crm: CrmApplication, name: str) -> int:
    crm.save(Contact.register(kind="person", name=name, actor=ACTOR), actor=ACTOR)
    return crm.head_position()


def _settled(runner: ProjectionRunner, head: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while runner.position < head and time.monotonic() < deadline:
        time.sleep(POLL)
    return runner.position >= head


def test_a_runner_that_may_not_follow_catches_up_only_when_asked(
    database_url: str, tmp_path: Path
) -> None:
    crm = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path / "data"))
    runner = ProjectionRunner(crm, ContactsProjection(crm.mapper))
    asked = []
    try:
        first = _register(crm, "Ana")
        runner.start(POLL, follow=lambda: asked.append(1) is not None)  # never allowed
        assert _settled(runner, first)  # the catch-up at the start
        second = _register(crm, "Bea")
        time.sleep(20 * POLL)
        assert asked  # it was asked at every poll...
        assert runner.position == first  # ...and did not follow
        assert runner.wait_for(second, timeout=5)  # a read that waits wakes it
        assert runner.position == second
    finally:
        runner.stop()
        crm.close()


def test_a_runner_allowed_to_follow_polls_by_itself(database_url: str, tmp_path: Path) -> None:
    crm = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path / "data"))
    runner = ProjectionRunner(crm, ContactsProjection(crm.mapper))
    try:
        runner.start(POLL, follow=lambda: True)
        head = _register(crm, "Ana")
        assert _settled(runner, head)
    finally:
        runner.stop()
        crm.close()
