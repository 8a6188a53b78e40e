"""Ledger write overhead: our recorder vs the library's plain recorder, same batches.

Both insert the same stored events through ``insert_events`` in batches of 1, 10 and 100
into a fresh database each; prints events/s for each and the extra time of the ledger
(target <= 25%), each the median of three alternating runs. SQLite by default; PostgreSQL
too when CRM_BENCH_POSTGRES_URL is set (a server URL; a fresh database is created for each
run).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from crm_ledger.storage.postgres_recorder import LedgerPostgresRecorder
from crm_ledger.storage.sqlite_recorder import LedgerSQLiteRecorder

STATE = b'{"kind":"person","name":"Bench Person","emails":["b@example.com"],"actor":"x"}'
TOPIC = "crm_ledger.domain.contact:Contact.Registered"
#: runs of each recorder per batch size, alternating; the medians are reported
ROUNDS = 3


def events(n: int) -> list[StoredEvent]:
    return [StoredEvent(uuid.uuid4(), 1, TOPIC, STATE) for _ in range(n)]


def timed(recorder: object, batch: int, total: int) -> float:
    data = events(total)
    insert: Callable[..., object] = recorder.insert_events  # type: ignore[attr-defined]
    started = time.perf_counter()
    for i in range(0, total, batch):
        insert(data[i : i + batch], actor="system:bench")
    return time.perf_counter() - started


def sqlite_time(cls: type[SQLiteApplicationRecorder], batch: int, total: int) -> float:
    """Seconds for a recorder of class `cls` on a fresh SQLite file to insert `total`
    events in batches of `batch`."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteDatastore(f"{tmp}/b.db")
        recorder = cls(store)
        recorder.create_table()
        elapsed = timed(recorder, batch, total)
        store.close()
    return elapsed


def sqlite_pair(batch: int, total: int) -> tuple[float, float]:
    plain, ledger = (
        sqlite_time(cls, batch, total) for cls in (SQLiteApplicationRecorder, LedgerSQLiteRecorder)
    )
    return plain, ledger


def postgres_pair(url: str, batch: int, total: int) -> tuple[float, float]:
    results = []
    base = url.rsplit("/", 1)[0]
    for cls in (PostgresApplicationRecorder, LedgerPostgresRecorder):
        name = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        host, port = base.split("@")[1].split(":")
        user = base.split("//")[1].split("@")[0]
        store = PostgresDatastore(name, host, port, user, "", pool_size=2)
        recorder = cls(store, events_table_name="bench_events")
        recorder.create_table()
        results.append(timed(recorder, batch, total))
        store.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
    return results[0], results[1]


def report(kind: str, batch: int, total: int, plain: float, ledger: float) -> None:
    print(
        f"{kind:10} batch {batch:>4}: plain {total / plain:>9,.0f} ev/s, ledger "
        f"{total / ledger:>9,.0f} ev/s, extra time {100 * (ledger / plain - 1):+.0f}% "
        f"(target <= +25%)"
    )


def medians(runs: list[tuple[float, ...]]) -> tuple[float, ...]:
    """Each recorder's median time over `runs` (its runs alternate with the others')."""
    return tuple(statistics.median(times) for times in zip(*runs, strict=True))


def main() -> None:
    print(f"median of {ROUNDS} alternating runs each (an fsync per commit makes one run noisy)")
    for batch, total in ((1, 2000), (10, 10_000), (100, 30_000)):
        report("SQLite", batch, total, *medians([sqlite_pair(batch, total) for _ in range(ROUNDS)]))
    url = os.environ.get("CRM_BENCH_POSTGRES_URL")
    if url:
        for batch, total in ((1, 1000), (10, 5000), (100, 20_000)):
            runs = [postgres_pair(url, batch, total) for _ in range(ROUNDS)]
            report("PostgreSQL", batch, total, *medians(runs))
    else:
        print("PostgreSQL: skipped (set CRM_BENCH_POSTGRES_URL to a server URL)")


if __name__ == "__main__":
    main()
