"""Two runners of one projection on PostgreSQL: the second waits on the tracking row while
the first applies a batch, then backs off (ProjectionConflictError) without touching the
tables — no duplicate-key error, nothing applied twice."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.projections.contacts import ContactsProjection
from crm_ledger.projections.runner import ProjectionConflictError, ProjectionRunner, apply_tracked
from crm_ledger.settings import Settings

pytestmark = pytest.mark.postgres
ACTOR = "user:runner-lock"


def test_second_runner_waits_then_backs_off(fresh_postgres_url: str, tmp_path: Path) -> None:
    crm = CrmApplication(Settings(database_url=fresh_postgres_url, data_dir=tmp_path / "data"))
    try:
        projection = ContactsProjection(crm.mapper)
        ProjectionRunner(crm, projection)  # creates the tables and the tracking row at 0
        crm.save(Contact.register(kind="person", name="Ana", actor=ACTOR), actor=ACTOR)
        head = crm.head_position()
        notifications = crm.recorder.select_notifications(0, limit=10)
        items = [(crm.mapper.to_domain_event(n), n.id) for n in notifications]
        outcome: list[BaseException | None] = []

        def second() -> None:
            try:
                with crm.db.transaction() as tx:
                    apply_tracked(
                        tx, projection, items, tracking_name=projection.name, start=0, end=head
                    )
                outcome.append(None)
            except BaseException as error:
                outcome.append(error)

        with crm.db.transaction() as first:
            apply_tracked(
                first, projection, items, tracking_name=projection.name, start=0, end=head
            )
            thread = threading.Thread(target=second)
            thread.start()
            thread.join(timeout=1.0)
            assert thread.is_alive(), "the second runner did not wait for the first"
        thread.join(timeout=30)
        assert 1 == len(outcome)
        assert isinstance(outcome[0], ProjectionConflictError), repr(outcome[0])
        with crm.db.transaction(write=False) as tx:
            assert 1 == tx.scalar("SELECT COUNT(*) FROM proj_contacts")
            assert head == tx.scalar(
                "SELECT position FROM projection_tracking WHERE name = ?", (projection.name,)
            )
    finally:
        crm.close()
