"""`Database.transaction(snapshot=True)` reads one state of a PostgreSQL database: what
commits meanwhile stays out of it (an export or a campaign's launch audience read page by
page is one list). Without it, PostgreSQL's default (read committed) lets each query see
the new rows: the second test shows the first can fail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_ledger.application import CrmApplication
from crm_ledger.settings import Settings
from crm_ledger.storage.sql import Database


@pytest.fixture
def db(fresh_postgres_url: str, tmp_path: Path) -> Iterator[Database]:
    crm = CrmApplication(Settings(database_url=fresh_postgres_url, data_dir=tmp_path / "data"))
    with crm.db.transaction() as tx:
        tx.execute("CREATE TABLE probe (n INTEGER)")
    yield crm.db
    crm.close()


def counts_around_a_commit(db: Database, *, snapshot: bool) -> tuple[int, int]:
    """Rows counted in one reading transaction before and after another one commits a row."""
    with db.transaction(write=False, snapshot=snapshot) as reading:
        before = int(reading.scalar("SELECT COUNT(*) FROM probe"))
        with db.transaction() as other:
            other.execute("INSERT INTO probe VALUES (1)")
        after = int(reading.scalar("SELECT COUNT(*) FROM probe"))
    return before, after


def test_a_snapshot_transaction_does_not_see_what_commits_meanwhile(db: Database) -> None:
    assert counts_around_a_commit(db, snapshot=True) == (0, 0)
    assert counts_around_a_commit(db, snapshot=True) == (1, 1)  # the next one sees it


def test_without_it_each_query_sees_what_committed(db: Database) -> None:
    assert counts_around_a_commit(db, snapshot=False) == (0, 1)
