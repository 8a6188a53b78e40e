"""A lease one process of several holds: a PostgreSQL session advisory lock.

``serve --workers N`` runs N processes with the same background jobs. Where a job is
safe to run in several processes at once but wasteful (the projection runners: each
process would read and decode every batch, and all but one would then find the position
moved and throw that work away), one process holds the lease and does the job in the
background; the others do it only when asked (see `ProjectionRunner.start`).

The lock is taken with ``pg_try_advisory_lock`` on a connection of the lease's own,
outside the pool, so it lasts as long as that session: a process that stops or dies
releases it with its connection, and another process takes it at its next try. Nothing
may depend on the lease for correctness: for a moment after a holder's connection
breaks, two processes can both believe they hold it.

On SQLite (one process writes a database file) `Lease.held` is always true.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from crm_ledger.storage.sql import session_kwargs

#: how often a process without the lease tries to take it, and how often the holder
#: checks that its connection (and so the lock) is still there
RETRY_SECONDS = 1.0


def lease_key(name: str) -> int:
    """The advisory lock key (a signed 64-bit integer) of the lease called `name`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Lease:
    """Held by at most one process at a time among those using the same database and
    `name` (see the module docstring); thread-safe."""

    def __init__(
        self,
        datastore: SQLiteDatastore | PostgresDatastore,
        name: str,
        *,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.key = lease_key(name)
        self._connect_kwargs: dict[str, Any] | None = None
        if isinstance(datastore, PostgresDatastore):
            self._connect_kwargs = session_kwargs(datastore)
        self._retry = retry_seconds
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False
        self._next_try = 0.0
        self._closed = False

    def held(self) -> bool:
        """True when this process holds the lease (taking it if it is free and the last
        try is `retry_seconds` old); False while the database cannot be reached."""
        if self._connect_kwargs is None:
            return True
        with self._lock:
            now = time.monotonic()
            if self._closed or now < self._next_try:
                return self._held and not self._closed
            self._next_try = now + self._retry
            try:
                self._held = self._try(self._held)
            except psycopg.Error:
                self._drop()
            return self._held

    def _try(self, held: bool) -> bool:
        conn = self._conn
        if conn is None:
            assert self._connect_kwargs is not None
            conn = self._conn = psycopg.connect(
                autocommit=True, connect_timeout=5, **self._connect_kwargs
            )
        if held:  # still ours while the session lives
            conn.execute("SELECT 1")
            return True
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        return bool(row and row[0])

    def _drop(self) -> None:
        conn, self._conn, self._held = self._conn, None, False
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Give the lease up (closing its connection releases the lock)."""
        with self._lock:
            self._closed = True
            self._drop()
