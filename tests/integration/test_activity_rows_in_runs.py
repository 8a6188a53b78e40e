"""The activities projection sends its writes per statement (storage.sql.RunsOfWrites):
the rows it leaves are those the per-activity writes left, links moved included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crm_ledger.activities import log_activity
from crm_ledger.application import CrmApplication
from crm_ledger.projections.activities import ActivitiesProjection
from crm_ledger.projections.runner import ProjectionRunner
from crm_ledger.projections.snapshot_rows import SnapshotRows
from crm_ledger.settings import Settings
from crm_ledger.storage.sql import RunsOfWrites, Tx

ACTOR = "user:test"


class OneByOne(ActivitiesProjection):
    """The activities projection as it wrote before: one aggregate at a time."""

    name = "test_activities_one_by_one"

    def apply_batch(self, tx: Tx, items: Any) -> None:
        SnapshotRows.apply_batch(self, tx, items)


def _rows(crm: CrmApplication) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with crm.db.transaction(write=False) as tx:
        rows = tx.all("SELECT id, subject, links, version FROM proj_activities ORDER BY id")
        links = tx.all(
            "SELECT link_type, link_id, activity_id FROM proj_activity_links"
            " ORDER BY activity_id, link_type, link_id"
        )
    return rows, links


def test_rows_and_links_match_the_one_by_one_writes(database_url: str, tmp_path: Path) -> None:
    crm = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path))
    try:
        a, b = (crm.register_contact(actor=ACTOR, kind="person", name=n).aggregate for n in "AB")
        runs = ProjectionRunner(crm, ActivitiesProjection(crm.mapper), batch_size=4)
        logged = [
            log_activity(
                crm,
                actor=ACTOR,
                kind="call",
                subject=f"Call {i}",
                links=[{"type": "contact", "id": str(a.id)}],
            ).aggregate
            for i in range(3)
        ]
        runs.catch_up()  # stored: later batches update them
        for i, activity in enumerate(logged):
            loaded = crm.repository.get(activity.id)
            loaded.update(
                actor=ACTOR,
                subject=f"Moved {i}",
                links=[{"type": "contact", "id": str(b.id)}],
            )
            crm.save(loaded, actor=ACTOR)
            log_activity(  # a new one in the same batch as the moves
                crm,
                actor=ACTOR,
                kind="note",
                subject=f"Note {i}",
                links=[{"type": "contact", "id": str(b.id)}, {"type": "contact", "id": str(a.id)}],
            )
        runs.catch_up()
        ran = _rows(crm)
        with crm.db.transaction() as tx:  # the same history, one activity at a time
            tx.execute("DELETE FROM proj_activities")
            tx.execute("DELETE FROM proj_activity_links")
        ProjectionRunner(crm, OneByOne(crm.mapper), batch_size=4).catch_up()
        assert _rows(crm) == ran
        rows, links = ran
        assert len(rows) == 6
        assert sum(1 for link in links if link[1] == str(a.id)) == 3  # the moved ones left A
    finally:
        crm.close()


def test_a_read_after_kept_writes_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    crm = CrmApplication(Settings(database_url=sqlite_url, data_dir=tmp_path))
    try:
        with crm.db.transaction() as raw:
            writes = RunsOfWrites(raw)
            writes.execute("INSERT INTO projection_tracking (name, position) VALUES (?, 0)", ("x",))
            with pytest.raises(RuntimeError):
                writes.scalar("SELECT count(*) FROM projection_tracking")
            with pytest.raises(RuntimeError):
                writes.send(("DELETE FROM",))  # the INSERT has no place in this order
    finally:
        crm.close()
