"""What webhook delivery keeps outside the log: secrets, each endpoint's place, attempts.

* ``webhook_secrets``: the signing secrets of each endpoint. A secret has to be usable to
  sign, so it cannot be stored as a hash, and it must never reach the log (the log is
  exported to auditors); a rotated secret gets an expiry and is used beside the new one
  until then, so receivers can switch without losing a message.
* ``webhook_cursors``: per endpoint, the log position delivered up to, and the failures of
  the message after it (how many, when to try again, the last error).
* ``webhook_attempts``: one row per delivery attempt (for ``GET /webhooks/{id}/attempts``),
  kept for ``KEEP_ATTEMPTS_SECONDS``.

Times are milliseconds since the Unix epoch.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from crm_ledger.storage.sql import Database, Tx, ddl

KEEP_ATTEMPTS_SECONDS = 30 * 24 * 3600
_DDL = (
    "CREATE TABLE IF NOT EXISTS webhook_secrets ("
    " endpoint_id TEXT NOT NULL,"
    " secret TEXT NOT NULL,"
    " created {bigint} NOT NULL,"
    " expires {bigint},"
    " PRIMARY KEY (endpoint_id, secret))",
    "CREATE TABLE IF NOT EXISTS webhook_cursors ("
    " endpoint_id TEXT PRIMARY KEY,"
    " position {bigint} NOT NULL,"
    " failures INTEGER NOT NULL,"
    " next_attempt {bigint} NOT NULL,"
    " last_error TEXT)",
    "CREATE TABLE IF NOT EXISTS webhook_attempts ("
    " attempt_id TEXT PRIMARY KEY,"
    " endpoint_id TEXT NOT NULL,"
    " message_id TEXT NOT NULL,"
    " position {bigint} NOT NULL,"
    " event_type TEXT NOT NULL,"
    " attempt INTEGER NOT NULL,"
    " at {bigint} NOT NULL,"
    " status INTEGER,"
    " error TEXT,"
    " duration_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS webhook_attempts_endpoint"
    " ON webhook_attempts (endpoint_id, at, attempt_id)",
    "CREATE INDEX IF NOT EXISTS webhook_attempts_at ON webhook_attempts (at)",
)


@dataclass(frozen=True)
class Cursor:
    """Where delivery to one endpoint is: `position` delivered; the next message failed
    `failures` times, is tried again at `next_attempt` (ms), last with `last_error`."""

    position: int
    failures: int
    next_attempt: int
    last_error: str | None


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt (`status` is the receiver's HTTP status, None without one)."""

    attempt_id: str
    message_id: str
    position: int
    event_type: str
    attempt: int
    at: int
    status: int | None
    error: str | None
    duration_ms: int


class WebhookStore:
    """The webhook tables of one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.create([ddl(db.dialect, statement) for statement in _DDL])

    # -- secrets ----------------------------------------------------------------------

    def add_secret(self, endpoint_id: UUID, secret: str, now: int) -> None:
        """Store the first secret of a new endpoint."""
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO webhook_secrets (endpoint_id, secret, created) VALUES (?, ?, ?)",
                (str(endpoint_id), secret, now),
            )

    def rotate_secret(self, endpoint_id: UUID, secret: str, now: int, grace_ms: int) -> None:
        """Make `secret` the endpoint's secret; the ones in use expire in `grace_ms`."""
        with self.db.transaction() as tx:
            tx.execute(
                "DELETE FROM webhook_secrets WHERE endpoint_id = ? AND expires <= ?",
                (str(endpoint_id), now),
            )
            tx.execute(
                "UPDATE webhook_secrets SET expires = ? WHERE endpoint_id = ?"
                " AND (expires IS NULL OR expires > ?)",
                (now + grace_ms, str(endpoint_id), now + grace_ms),
            )
            tx.execute(
                "INSERT INTO webhook_secrets (endpoint_id, secret, created) VALUES (?, ?, ?)",
                (str(endpoint_id), secret, now),
            )

    def drop_secrets(self, endpoint_id: UUID) -> None:
        """Destroy every secret of a deleted endpoint."""
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM webhook_secrets WHERE endpoint_id = ?", (str(endpoint_id),))

    def secrets(self, endpoint_id: UUID, now: int) -> list[str]:
        """The endpoint's secrets in use at `now`, the newest first."""
        with self.db.transaction(write=False) as tx:
            rows = tx.all(
                "SELECT secret FROM webhook_secrets WHERE endpoint_id = ?"
                " AND (expires IS NULL OR expires > ?) ORDER BY created DESC, secret",
                (str(endpoint_id), now),
            )
        return [str(row[0]) for row in rows]

    # -- cursors ----------------------------------------------------------------------

    def cursor(self, endpoint_id: UUID, start_after: int) -> Cursor:
        """Where delivery to the endpoint is (at `start_after` until anything happened)."""
        with self.db.transaction(write=False) as tx:
            row = tx.one(
                "SELECT position, failures, next_attempt, last_error FROM webhook_cursors"
                " WHERE endpoint_id = ?",
                (str(endpoint_id),),
            )
        if row is None:
            return Cursor(start_after, 0, 0, None)
        return Cursor(int(row[0]), int(row[1]), int(row[2]), row[3])

    def delivered(self, endpoint_id: UUID, position: int, attempts: Sequence[Attempt] = ()) -> None:
        """Everything up to `position` is delivered (never moves back); the `attempts`
        that delivered it are kept in the same transaction."""
        self._put(endpoint_id, position, 0, 0, None, attempts, advance=True)

    def failed(
        self,
        endpoint_id: UUID,
        position: int,
        failures: int,
        next_attempt: int,
        error: str,
        attempts: Sequence[Attempt] = (),
    ) -> None:
        """The message after `position` failed for the `failures`-th time (the last of
        `attempts`, kept in the same transaction with those before it)."""
        self._put(endpoint_id, position, failures, next_attempt, error, attempts, advance=False)

    def _put(
        self,
        endpoint_id: UUID,
        position: int,
        failures: int,
        next_attempt: int,
        error: str | None,
        attempts: Sequence[Attempt],
        *,
        advance: bool,
    ) -> None:
        guard = " WHERE webhook_cursors.position <= excluded.position" if advance else ""
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO webhook_cursors"
                " (endpoint_id, position, failures, next_attempt, last_error)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (endpoint_id) DO UPDATE SET"
                " position = excluded.position, failures = excluded.failures,"
                " next_attempt = excluded.next_attempt, last_error = excluded.last_error" + guard,
                (str(endpoint_id), position, failures, next_attempt, error),
            )
            _insert_attempts(tx, endpoint_id, attempts)

    # -- attempts ---------------------------------------------------------------------

    def add_attempt(self, endpoint_id: UUID, attempt: Attempt) -> None:
        """Keep an attempt that moves nothing (a test message)."""
        with self.db.transaction() as tx:
            _insert_attempts(tx, endpoint_id, [attempt])

    def purge_attempts(self, now: int) -> None:
        """Drop the attempts older than `KEEP_ATTEMPTS_SECONDS`."""
        with self.db.transaction() as tx:
            tx.execute(
                "DELETE FROM webhook_attempts WHERE at < ?", (now - KEEP_ATTEMPTS_SECONDS * 1000,)
            )

    def attempts(
        self, endpoint_id: UUID, limit: int, before: tuple[int, str] | None = None
    ) -> list[Attempt]:
        """Up to `limit` attempts, newest first, older than `before` (``(at, id)``)."""
        where = "endpoint_id = ?"
        params: list[Any] = [str(endpoint_id)]
        if before is not None:
            where += " AND (at < ? OR (at = ? AND attempt_id < ?))"
            params += [before[0], before[0], before[1]]
        with self.db.transaction(write=False) as tx:
            rows = tx.all(
                "SELECT attempt_id, message_id, position, event_type, attempt, at, status,"
                f" error, duration_ms FROM webhook_attempts WHERE {where}"
                " ORDER BY at DESC, attempt_id DESC LIMIT ?",
                (*params, limit),
            )
        return [_attempt(row) for row in rows]


def _insert_attempts(tx: Tx, endpoint_id: UUID, attempts: Sequence[Attempt]) -> None:
    tx.executemany(
        "INSERT INTO webhook_attempts (attempt_id, endpoint_id, message_id, position,"
        " event_type, attempt, at, status, error, duration_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(a.attempt_id, str(endpoint_id), a.message_id, a.position, a.event_type, a.attempt,
          a.at, a.status, a.error, a.duration_ms) for a in attempts],
    )  # fmt: skip


def _attempt(row: tuple[Any, ...]) -> Attempt:
    attempt_id, message_id, position, event_type, number, at, status, error, ms = row
    return Attempt(
        str(attempt_id),
        str(message_id),
        int(position),
        str(event_type),
        int(number),
        int(at),
        None if status is None else int(status),
        None if error is None else str(error),
        int(ms),
    )


def new_attempt_id() -> str:
    """A unique attempt id that sorts in the order attempts were made (nanoseconds since
    the epoch in hex, then random digits): lists order attempts by their millisecond and
    then by id, so attempts made within one millisecond keep their order."""
    return f"{time.time_ns():016x}{uuid.uuid4().hex[:16]}"
