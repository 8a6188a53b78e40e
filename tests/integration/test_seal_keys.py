"""The pool of sealing keys made ahead (`crm_ledger.storage.seal_keys`)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from crm_ledger.application import CrmApplication
from crm_ledger.settings import Settings
from crm_ledger.storage.seal_keys import POOL_BATCH


def _count(crm: CrmApplication) -> int:
    with crm.db.transaction(write=False) as tx:
        return int(tx.scalar("SELECT COUNT(*) FROM seal_keys"))


def test_release_waits_for_a_refill_under_way(database_url: str, tmp_path: Path) -> None:
    """Closing the application while the pool is being refilled in the background waits
    for the refill (on SQLite, a refill writing through the closed connection crashed
    the process) and deletes its keys with the rest; no refill starts afterwards."""
    crm = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path / "data"))
    keys = crm.seal_keys
    making, go = threading.Event(), threading.Event()
    make = keys._make

    def slow_make(count: int) -> None:
        making.set()
        go.wait(10)
        make(count)

    keys._make = slow_make  # type: ignore[method-assign]
    keys._top_up()
    assert making.wait(10)
    releasing = threading.Thread(target=keys.release)
    releasing.start()
    releasing.join(0.5)
    assert releasing.is_alive()  # waiting for the refill, which has not written yet
    go.set()
    releasing.join(10)
    assert not releasing.is_alive()
    assert 0 == _count(crm)  # the refill's POOL_BATCH keys were made, then deleted

    made: list[int] = []
    keys._make = made.append  # type: ignore[method-assign]
    keys._top_up()
    time.sleep(0.3)
    assert [] == made
    crm.close()


def test_a_refill_fills_the_pool(database_url: str, tmp_path: Path) -> None:
    """The control for the test above: the same refill, without a release, stores its
    keys and pools them."""
    crm = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path / "data"))
    crm.seal_keys._top_up()
    deadline = time.monotonic() + 10
    while crm.seal_keys._refill.locked() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert POOL_BATCH == _count(crm) == len(crm.seal_keys._pool)
    crm.close()
    crm = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path / "data"))
    assert 0 == _count(crm)  # closing released the unused ones
    crm.close()
