"""Cutting signed checkpoints and appending them to the anchor file.

A checkpoint is cut when new entries exist and the last checkpoint is older than the
interval or more than N entries behind, at start-up for an unsealed tail and on clean
shutdown. The cut runs in one transaction holding a lock on ``ledger_checkpoints``
(PostgreSQL ``LOCK TABLE``, SQLite's single writer), and under an exclusive lock on the
anchor file, so that with several processes there is exactly one checkpoint per size,
sizes strictly increase, and anchor lines are appended in size order.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from crm_ledger.ledger.envelope import format_timestamp
from crm_ledger.ledger.note import checkpoint_body, sign_note
from crm_ledger.ledger.verify import format_anchor_line
from crm_ledger.storage.keystore import KeyStore, KeyStoreError
from crm_ledger.storage.ledger_store import CheckpointRow, LedgerStore
from crm_ledger.storage.sql import Tx

log = logging.getLogger(__name__)
ANCHOR_FILE = "anchors.jsonl"


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _seconds_since(stamp: str) -> float:
    then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return (datetime.now(UTC) - then).total_seconds()


class CheckpointWriter:
    """Signs the Merkle root of the log from time to time."""

    def __init__(
        self, store: LedgerStore, keys: KeyStore, origin: str, anchor_dir: Path | None
    ) -> None:
        self.store = store
        self.keys = keys
        self.origin = origin
        self.anchor_path = None if anchor_dir is None else anchor_dir / ANCHOR_FILE
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _lock_table(self, tx: Tx) -> None:
        if tx.dialect == "postgres":
            tx.execute("LOCK TABLE ledger_checkpoints IN EXCLUSIVE MODE")
        else:  # take SQLite's write lock before reading
            tx.execute("UPDATE ledger_meta SET value = value WHERE key = 'origin'")

    def cut(
        self, *, force: bool = False, interval: float = 1.0, max_events: int = 1000
    ) -> CheckpointRow | None:
        """Cut a checkpoint if one is due (always when `force` and entries are unsealed).

        A log with nothing unsealed is seen in a read transaction, without the locks
        (an idle server checks every second; on SQLite the lock is the database's
        single write lock)."""
        signers = self.keys.signers()
        if not signers:
            raise KeyStoreError("no active signing key (crm-ledger keys generate)")
        if not self.unsealed():
            return None
        lock = _file_lock(self.anchor_path) if self.anchor_path else _no_lock()
        with lock:
            with self.store.db.transaction() as tx:
                self._lock_table(tx)
                last = self.store.latest_checkpoint(tx)
                size = self.store.size(tx)
                last_size = last.size if last else 0
                if size <= last_size:
                    return None
                due = (
                    force
                    or last is None
                    or size - last_size >= max_events
                    or _seconds_since(last.created_at) >= interval
                )
                if not due:
                    return None
                root = self.store.sync_tree(tx, size).root(size)
                note = sign_note(
                    checkpoint_body(self.origin, size, root),
                    [(s.name, s.private_key) for s in signers],
                )
                row = CheckpointRow(size, root, note, format_timestamp(datetime.now(UTC)))
                tx.execute(
                    "INSERT INTO ledger_checkpoints (size, root_hash, note, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (row.size, row.root_hash, row.note, row.created_at),
                )
            if self.anchor_path is not None:
                line = format_anchor_line(row.size, row.root_hash, row.note, row.created_at)
                with open(self.anchor_path, "ab") as anchor:
                    anchor.write(line)
                    anchor.flush()
                    os.fsync(anchor.fileno())
        return row

    def unsealed(self) -> bool:
        """Whether the log holds entries after its latest checkpoint (read unlocked:
        `cut` checks again under its locks)."""
        with self.store.db.transaction(write=False) as tx:
            last = self.store.latest_checkpoint(tx)
            return self.store.size(tx) > (last.size if last else 0)

    def start(self, interval: float, max_events: int) -> None:
        """Cut checkpoints in a daemon thread every `interval` seconds until `stop`."""

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.cut(interval=interval, max_events=max_events)
                except Exception:
                    log.exception("checkpoint: cut failed; will retry")

        self._thread = threading.Thread(target=loop, name="checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and seal the tail with a final checkpoint."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.cut(force=True)
        except Exception:
            log.exception("checkpoint: sealing the tail at shutdown failed")


@contextmanager
def _no_lock() -> Iterator[None]:
    yield
