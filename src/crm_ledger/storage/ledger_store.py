"""Reading the ledger: entries joined with their events, the Merkle tree, checkpoints."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from crm_ledger.ledger.envelope import Entry
from crm_ledger.ledger.merkle import MerkleTree
from crm_ledger.storage import sqlite_ledger
from crm_ledger.storage.chain import stored_origin
from crm_ledger.storage.sql import Database, Tx, notification_column


@dataclass(frozen=True)
class CheckpointRow:
    """A stored checkpoint: the signed note over the root of the first `size` leaves."""

    size: int
    root_hash: bytes
    note: str
    created_at: str


class LedgerStore:
    """Reads ledger rows and keeps an in-memory Merkle tree in step with them."""

    def __init__(self, db: Database, events_table: str) -> None:
        self.db = db
        self.events_table = events_table
        self.seq_column = notification_column(db.dialect)
        #: the events' originator_id as text (PostgreSQL's uuid column, formatted there)
        self.id_text = "originator_id::text" if db.dialect == "postgres" else "originator_id"
        self.tree = MerkleTree()
        self._tree_lock = threading.Lock()

    def size(self, tx: Tx) -> int:
        """Number of ledger entries."""
        last = tx.scalar("SELECT MAX(leaf_index) FROM ledger_entries")
        return 0 if last is None else int(last) + 1

    def leaf_index_of(self, tx: Tx, seq: int) -> int | None:
        """The leaf index of the entry of the event at log position `seq`, or None."""
        found = tx.scalar("SELECT leaf_index FROM ledger_entries WHERE seq = ?", (seq,))
        return None if found is None else int(found)

    def sync_tree(self, tx: Tx, size: int | None = None) -> MerkleTree:
        """Append stored leaf hashes to the in-memory tree up to `size` (default: all)."""
        with self._tree_lock:
            while size is None or self.tree.size < size:
                rows = self._leaves(
                    tx,
                    self.tree.size,
                    50_000 if size is None else min(50_000, size - self.tree.size),
                )
                if not rows:
                    break
                for index, leaf in rows:
                    if index != self.tree.size or leaf is None:
                        raise RuntimeError(f"ledger: leaf index gap at {self.tree.size}")
                    self.tree.append(bytes(leaf))
            return self.tree

    def _leaves(self, tx: Tx, start: int, limit: int) -> list[tuple[Any, ...]]:
        """``(leaf_index, leaf_hash)`` of up to `limit` entries from leaf `start` on."""
        return tx.all(
            "SELECT leaf_index, leaf_hash FROM ledger_entries WHERE leaf_index >= ?"
            " ORDER BY leaf_index LIMIT ?",
            (start, limit),
        )

    def entries(self, start: int = 0, batch: int = 5000) -> Iterator[Entry]:
        """Every ledger entry with its event row, in log order, streamed in batches.

        Events and ledger rows are merged by ``seq``: an event without a ledger row, or a
        ledger row without its event, still yields an `Entry` (with empty bytes on the
        missing side) so that the verifier reports it at its position.
        """
        next_index, next_seq = start, -1
        if start:
            with self.db.transaction(write=False) as tx:
                seq = tx.scalar("SELECT seq FROM ledger_entries WHERE leaf_index = ?", (start - 1,))
                next_seq = -1 if seq is None else int(seq)
        # one snapshot per batch: the two reads see the same commits (a write committed
        # between them would otherwise show an event without its ledger row)
        while True:
            with self.db.transaction(write=False, snapshot=True) as tx:
                ledger = tx.tuples(
                    "SELECT leaf_index, seq, envelope, leaf_hash FROM ledger_entries"
                    " WHERE leaf_index >= ? ORDER BY leaf_index LIMIT ?",
                    (next_index, batch),
                )
                upper = ledger[-1][1] if len(ledger) == batch else None
                query = (
                    f"SELECT {self.seq_column}, {self.id_text}, originator_version, topic,"
                    f" state FROM {self.events_table} WHERE {self.seq_column} > ?"
                )
                params: tuple[int, ...] = (next_seq,)
                if upper is not None:
                    query += f" AND {self.seq_column} <= ?"
                    params = (next_seq, upper)
                events = tx.tuples(query + f" ORDER BY {self.seq_column}", params)
            if not ledger and not events:
                return
            if [e[0] for e in events] == [r[1] for r in ledger]:
                yield from map(_entry, ledger, events)  # each event has its ledger row
            else:
                yield from self._merge(ledger, events)
            if ledger:
                next_index = ledger[-1][0] + 1
            next_seq = max(
                [next_seq] + [int(r[1]) for r in ledger[-1:]] + [int(e[0]) for e in events[-1:]]
            )
            if upper is None:
                return

    @staticmethod
    def _merge(
        ledger: list[tuple[object, ...]], events: list[tuple[object, ...]]
    ) -> Iterator[Entry]:
        by_seq = {int(e[0]): e for e in events}  # type: ignore[call-overload]
        seen: set[int] = set()
        pending = sorted(by_seq)
        cursor = 0
        for row in ledger:
            seq_i = int(row[1])  # type: ignore[call-overload]
            while cursor < len(pending) and pending[cursor] < seq_i:
                orphan = by_seq[pending[cursor]]
                yield _orphan_event(int(row[0]), orphan)  # type: ignore[call-overload]
                cursor += 1
            event = by_seq.get(seq_i)
            if event is None:  # a ledger row without its event
                yield _entry(row, (seq_i, "", -1, "", b""))
                continue
            seen.add(seq_i)
            if cursor < len(pending) and pending[cursor] == seq_i:
                cursor += 1
            yield _entry(row, event)
        for seq_i in pending[cursor:]:
            if seq_i not in seen:
                last_index = int(ledger[-1][0]) + 1 if ledger else 0  # type: ignore[call-overload]
                yield _orphan_event(last_index, by_seq[seq_i])

    def entry(self, leaf_index: int) -> Entry | None:
        """One entry by leaf index, or None."""
        for entry in self.entries(start=leaf_index, batch=1):
            return entry if entry.leaf_index == leaf_index else None
        return None

    def checkpoints(self, tx: Tx, after_size: int = -1, limit: int = 1000) -> list[CheckpointRow]:
        """Checkpoints with size > `after_size`, smallest first."""
        rows = tx.all(
            "SELECT size, root_hash, note, created_at FROM ledger_checkpoints WHERE size > ?"
            " ORDER BY size LIMIT ?",
            (after_size, limit),
        )
        return [CheckpointRow(int(s), bytes(r), str(n), str(c)) for s, r, n, c in rows]

    def latest_checkpoint(self, tx: Tx) -> CheckpointRow | None:
        """The checkpoint with the largest size, or None."""
        row = tx.one(
            "SELECT size, root_hash, note, created_at FROM ledger_checkpoints"
            " ORDER BY size DESC LIMIT 1"
        )
        return None if row is None else CheckpointRow(int(row[0]), bytes(row[1]), row[2], row[3])


class SQLiteLedgerStore(LedgerStore):
    """The same reads where the entries are columns of the event rows (SQLite, see
    `crm_ledger.storage.sqlite_ledger`): leaf index ``rowid - 1``, envelopes rebuilt."""

    def __init__(self, db: Database, events_table: str) -> None:
        super().__init__(db, events_table)
        self._rows = sqlite_ledger.ROWS.format(events=events_table)
        self._raw_rows = sqlite_ledger.RAW_ROWS.format(events=events_table)
        self._log: str | None = None

    def size(self, tx: Tx) -> int:
        last = tx.scalar(f"SELECT MAX(rowid) FROM {self.events_table}")
        return 0 if last is None else int(last)

    def leaf_index_of(self, tx: Tx, seq: int) -> int | None:
        found = tx.scalar(
            f"SELECT rowid - 1 FROM {self.events_table} WHERE rowid = ? AND leaf_hash IS NOT NULL",
            (seq,),
        )
        return None if found is None else int(found)

    def _leaves(self, tx: Tx, start: int, limit: int) -> list[tuple[Any, ...]]:
        return tx.all(
            f"SELECT rowid - 1, leaf_hash FROM {self.events_table} WHERE rowid > ?"
            " ORDER BY rowid LIMIT ?",
            (start, limit),
        )

    def entries(self, start: int = 0, batch: int = 5000) -> Iterator[Entry]:
        """Every entry from leaf `start` on, its envelope rebuilt after the stored leaf
        hash of the row before (so a changed row shows at its own position only)."""
        prev: bytes | None = None
        with self.db.transaction(write=False) as tx:
            if self._log is None:
                self._log = stored_origin(tx) or ""
            if start:
                found = tx.scalar(
                    f"SELECT leaf_hash FROM {self.events_table} WHERE rowid = ?", (start,)
                )
                prev = None if found is None else bytes(found)
        after = start
        while True:
            with self.db.transaction(write=False) as tx:
                try:
                    rows = tx.tuples(self._rows, (after, batch))
                except sqlite3.OperationalError as exc:  # text that is not UTF-8
                    if "decode" not in str(exc):
                        raise
                    raw = tx.tuples(self._raw_rows, (after, batch))
                    rows = [sqlite_ledger.texts_of(row) for row in raw]
            if not rows:
                return
            yield from sqlite_ledger.rebuilt(self._log, rows, prev)
            last = rows[-1]
            after, prev = int(last[0]), None if last[7] is None else bytes(last[7])
            if len(rows) < batch:
                return


def open_store(db: Database, events_table: str) -> LedgerStore:
    """The reader of the ledger of `db`, for its dialect's layout."""
    if db.dialect == "sqlite":
        return SQLiteLedgerStore(db, events_table)
    return LedgerStore(db, events_table)


def _entry(ledger: tuple[Any, ...], event: tuple[Any, ...]) -> Entry:
    """A ledger row and the event row of the same seq as one entry."""
    return Entry(
        int(ledger[0]),
        int(ledger[1]),
        bytes(ledger[2]),
        bytes(ledger[3]),
        sqlite_ledger.aggregate_text(event[1]),
        int(event[2]),
        str(event[3]),
        bytes(event[4]),
    )


def _orphan_event(leaf_index: int, event: tuple[object, ...]) -> Entry:
    """An event row that has no ledger entry (it cannot verify)."""
    return Entry(
        leaf_index=leaf_index,
        seq=int(event[0]),  # type: ignore[call-overload]
        canonical=b"",
        leaf_hash=b"",
        originator_id=sqlite_ledger.aggregate_text(event[1]),
        originator_version=int(event[2]),  # type: ignore[call-overload]
        topic=str(event[3]),
        state=bytes(event[4]),  # type: ignore[call-overload]
    )
