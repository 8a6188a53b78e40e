"""Ledger storage layouts on SQLite against the library's plain recorder (a probe for a
design decision, not one of `make bench`'s benchmarks).

Issue 4 asks for at most 25 % extra write time. With the ledger in a table of its own
(what crm_ledger stores), SQLite inserts and commits a second ~520-byte row per event,
and that alone exceeds 25 % at batches of 10 and 100 (`bench_write_overhead.py` prints
it). This probe measures two layouts we do not use, as prototypes (one writer, no
guard against another writer, no readers):

* ``in-events``: the ledger's columns (recorded_at, envelope, leaf hash) in the events'
  own rows, the notification id given explicitly from the head the writer holds;
* ``in-events, compact``: the same, but the row keeps the actor instead of the envelope
  (the envelope is derivable from the event row, the actor, the time and the previous
  leaf hash, so a reader would rebuild it).

Medians of three alternating runs; batches of 1, 10 and 100.
Usage: python bench/probe_sqlite_layouts.py
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from bench_write_overhead import sqlite_time
from crm_ledger.ledger.envelope import format_timestamp, seal_links
from crm_ledger.storage.sqlite_recorder import LedgerSQLiteRecorder


class InEvents(LedgerSQLiteRecorder):
    """Prototype: one row per event, the ledger's columns beside the event's."""

    compact = False

    def construct_create_table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.events_table_name} (originator_id TEXT,"
            " originator_version INTEGER, topic TEXT, state BLOB, recorded_at TEXT,"
            " envelope BLOB, leaf_hash BLOB, PRIMARY KEY (originator_id, originator_version))"
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        head = getattr(self, "_head", None)
        if head is None:
            c.execute(
                f"SELECT rowid, leaf_hash, recorded_at FROM {self.events_table_name}"
                " ORDER BY rowid DESC LIMIT 1"
            )
            row = c.fetchone()
            head = (0, None, "") if row is None else (row[0], row[1], row[2])
        last, prev, last_time = head
        recorded_at = max(format_timestamp(datetime.now(UTC)), last_time)
        actors = kwargs["actors"]
        links = [
            (last + 1 + i, s.originator_id, s.originator_version, s.topic, actor, s.state)
            for i, (s, actor) in enumerate(zip(stored_events, actors, strict=True))
        ]
        sealed = seal_links("crm-ledger.local/probe", recorded_at, prev, links)
        rows = [
            (
                link[0],
                link[1].hex if isinstance(link[1], uuid.UUID) else link[1],
                link[2],
                link[3],
                link[5],
                recorded_at,
                link[4].encode() if self.compact else canonical,
                leaf,
            )
            for link, (canonical, leaf) in zip(links, sealed, strict=True)
        ]
        c.executemany(
            f"INSERT INTO {self.events_table_name} (rowid, originator_id, originator_version,"
            " topic, state, recorded_at, envelope, leaf_hash) VALUES (?,?,?,?,?,?,?,?)",
            rows,
        )
        self._head = (last + len(rows), sealed[-1][1], recorded_at)
        return [row[0] for row in rows]


class InEventsCompact(InEvents):
    compact = True


LAYOUTS: dict[str, type[SQLiteApplicationRecorder]] = {
    "library's recorder (baseline)": SQLiteApplicationRecorder,
    "ours: ledger table": LedgerSQLiteRecorder,
    "in-events": InEvents,
    "in-events, compact": InEventsCompact,
}


def main() -> None:
    print("median of 3 alternating runs, µs an event, extra time against the baseline")
    for batch, total in ((1, 2000), (10, 10_000), (100, 30_000)):
        runs: dict[str, list[float]] = {name: [] for name in LAYOUTS}
        for _ in range(3):
            for name, cls in LAYOUTS.items():
                runs[name].append(sqlite_time(cls, batch, total) / total * 1e6)
        base = statistics.median(runs["library's recorder (baseline)"])
        print(f"batch {batch}:")
        for name, times in runs.items():
            median = statistics.median(times)
            print(f"  {name:30} {median:7.1f} µs  {100 * (median / base - 1):+4.0f}%")


if __name__ == "__main__":
    main()
