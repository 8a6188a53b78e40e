"""The lease of `serve --workers N` (one process follows the log in the background):
held by one process at a time, released with its holder's session, taken over after."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from crm_ledger.application import CrmApplication
from crm_ledger.settings import Settings
from crm_ledger.storage.lease import Lease, lease_key

pytestmark = pytest.mark.postgres


@pytest.fixture
def lease(fresh_postgres_url: str, tmp_path: Path) -> Iterator[Callable[[str], Lease]]:
    """Makes leases on one fresh database (each retrying at once); closes them all."""
    crm = CrmApplication(Settings(database_url=fresh_postgres_url, data_dir=tmp_path / "data"))
    made: list[Lease] = []

    def make(name: str) -> Lease:
        made.append(Lease(crm.db.datastore, name, retry_seconds=0))
        return made[-1]

    yield make
    for each in made:
        each.close()
    crm.close()


def taken_soon(lease: Lease, seconds: float = 10.0) -> bool:
    """Whether `lease` is taken within `seconds`: a closed or terminated session's
    backend releases its locks a moment after the client returns (under load, later)."""
    deadline = time.monotonic() + seconds
    while not lease.held():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_one_holder_at_a_time_and_a_takeover_after_close(lease: Callable[[str], Lease]) -> None:
    first, second, other = lease("follow"), lease("follow"), lease("another job")
    assert first.held()
    assert not second.held()
    assert first.held()  # still the holder on its next try
    assert other.held()  # another name is another lock
    first.close()
    assert not first.held()  # closed for good
    assert taken_soon(second)


def test_a_holder_whose_session_ends_loses_the_lease(
    fresh_postgres_url: str, lease: Callable[[str], Lease]
) -> None:
    first, second = lease("follow"), lease("follow")
    assert first.held()
    with psycopg.connect(fresh_postgres_url, autocommit=True) as admin:
        pids = admin.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid::text::bigint = %s AND objid::text::bigint = %s",
            ((lease_key("follow") >> 32) & 0xFFFFFFFF, lease_key("follow") & 0xFFFFFFFF),
        ).fetchall()
        assert len(pids) == 1
        admin.execute("SELECT pg_terminate_backend(%s)", (pids[0][0],))
    assert taken_soon(second)  # the lock went with the session
    assert not first.held()  # the broken connection is noticed, not trusted
    assert not first.held()  # a new session of its own, but the lock is taken
    second.close()
    assert taken_soon(first)
