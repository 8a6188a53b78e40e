"""Rebuilding SQLite entries a run at a time (`sqlite_ledger.rebuilt`) gives exactly the
entries of rebuilding each row after the stored leaf of the row before
(`sqlite_ledger.rebuild`), on honest rows and on rows changed in any of their columns."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crm_ledger.ledger.envelope import Entry, seal_links
from crm_ledger.ledger.merkle import leaf_hash
from crm_ledger.storage.sqlite_ledger import Row, rebuild, rebuilt

LOG = "crm-ledger.local/props"
TOPIC = "crm_ledger.domain.contact:Contact.Registered"


def honest(groups: list[int]) -> list[Row]:
    """Rows as the recorder writes them: one `recorded_at` per group (transaction)."""
    rows: list[Row] = []
    prev: bytes | None = None
    for number, size in enumerate(groups):
        recorded_at = f"2026-11-27T15:00:{number:02d}.000000Z"
        links = [
            (len(rows) + k + 1, uuid.uuid4(), 1, TOPIC, f"user:{k % 3}", b'{"k":%d}' % k)
            for k in range(size)
        ]
        for link, (_, leaf) in zip(links, seal_links(LOG, recorded_at, prev, links), strict=True):
            seq, aggregate, version, topic, actor, state = link
            rows.append((seq, aggregate.hex, version, topic, state, recorded_at, actor, leaf))
            prev = leaf
    return rows


changes = st.sampled_from(
    [
        ("leaf", b"\x01" * 32),  # a forged or re-chained leaf
        ("leaf", None),  # the ledger columns emptied
        ("state", b'{"forged":true}'),
        ("topic", TOPIC + "X"),
        ("actor", "user:other"),
        ("actor", None),
        ("actor", "caf\u00e9 \ud800"),  # a lone surrogate: not encodable
        ("recorded_at", "2026-11-27T15:59:59.000000Z"),  # splits a run
        ("aggregate", "not-a-uuid"),
    ]
)
COLUMN = {"aggregate": 1, "topic": 3, "state": 4, "recorded_at": 5, "actor": 6, "leaf": 7}


def one_by_one(rows: list[Row]) -> list[Entry]:
    entries, prev = [], None
    for row in rows:
        entries.append(rebuild(LOG, row, prev))
        prev = None if row[7] is None else bytes(row[7])
    return entries


@settings(max_examples=300, deadline=None)
@given(
    groups=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=6),
    edits=st.lists(st.tuples(st.integers(min_value=0, max_value=40), changes), max_size=4),
)
def test_runs_give_the_entries_of_rows_one_by_one(
    groups: list[int], edits: list[tuple[int, tuple[str, Any]]]
) -> None:
    rows = [list(row) for row in honest(groups)]
    for at, (column, value) in edits:
        rows[at % len(rows)][COLUMN[column]] = value
    tuples = [tuple(row) for row in rows]
    assert list(rebuilt(LOG, tuples, None)) == one_by_one(tuples)


def test_honest_rows_hash_to_their_leaves() -> None:
    rows = honest([3, 1, 5])
    entries = list(rebuilt(LOG, rows, None))
    assert [e.leaf_index for e in entries] == list(range(9))
    assert [leaf_hash(e.canonical) for e in entries] == [row[7] for row in rows]
