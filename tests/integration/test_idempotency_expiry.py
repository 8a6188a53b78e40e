"""Idempotency keys expire after KEEP_SECONDS (a day), on SQLite and PostgreSQL: the stored
answer is replayed until then, the key is free after, and expired rows are purged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_ledger.application import CrmApplication
from crm_ledger.settings import Settings
from crm_ledger.storage.idempotency import KEEP_SECONDS, PURGE_EVERY_SECONDS, IdempotencyStore
from crm_ledger.storage.sql import Database

START = 1_800_000_000.0


@pytest.fixture
def db(database_url: str, tmp_path: Path) -> Iterator[Database]:
    crm = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path / "data"))
    yield crm.db
    crm.close()


def rows(db: Database, scope_key: str) -> int:
    with db.transaction(write=False) as tx:
        count = tx.scalar("SELECT COUNT(*) FROM idempotency_keys WHERE scope_key = ?", (scope_key,))
    return int(count)


def test_answers_are_replayed_for_a_day_then_the_key_is_free(db: Database) -> None:
    now = [START]
    store = IdempotencyStore(db, clock=lambda: now[0])
    first = store.claim("caller:k1", "request-a")
    assert "new" == first.outcome
    store.complete("caller:k1", first.token, 201, b'{"etag":"1"}', b'{"id":1}')

    now[0] = START + KEEP_SECONDS - 1  # still within the day
    replay = store.claim("caller:k1", "request-a")
    assert ("replay", 201, b'{"id":1}') == (replay.outcome, replay.status, replay.body)
    assert "mismatch" == store.claim("caller:k1", "request-b").outcome

    now[0] = START + KEEP_SECONDS + 1  # a day later: the key is free, even for another body
    again = store.claim("caller:k1", "request-b")
    assert "new" == again.outcome
    assert 1 == rows(db, "caller:k1")


def test_expired_rows_of_other_keys_are_purged(db: Database) -> None:
    now = [START]
    store = IdempotencyStore(db, clock=lambda: now[0])
    old = store.claim("caller:old", "request")
    store.complete("caller:old", old.token, 200, b"", b"")
    store.claim("caller:recent-pending", "request")
    now[0] = START + KEEP_SECONDS - 10
    kept = store.claim("caller:young", "request")
    store.complete("caller:young", kept.token, 200, b"", b"")
    assert 1 == rows(db, "caller:old")  # not yet a day old

    now[0] = START + KEEP_SECONDS + PURGE_EVERY_SECONDS + 1
    store.claim("caller:other", "request")  # any claim purges what expired
    assert (0, 0, 1) == (
        rows(db, "caller:old"),
        rows(db, "caller:recent-pending"),
        rows(db, "caller:young"),
    )
