"""Idempotency keys: a POST replayed with the same key gets the first response.

A key is scoped to the caller (a hash of its credentials) and bound to a hash of the
request (method, path, body). The row is claimed as ``pending`` before the request
runs, so a concurrent duplicate sees it and gets 409 instead of running twice.

Stored answers are kept for ``KEEP_SECONDS`` (24 hours): after that the key is free
again (a request with it runs anew). Expired rows are deleted when their key is used
again, and all at once at most every ``PURGE_EVERY_SECONDS`` by the next claim, so the
table holds about one day of keys.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import orjson

from crm_ledger.storage.sql import Database, ddl

STALE_PENDING_SECONDS = 120.0
KEEP_SECONDS = 24 * 3600
PURGE_EVERY_SECONDS = 60
_DDL = (
    "CREATE TABLE IF NOT EXISTS idempotency_keys ("
    " scope_key TEXT PRIMARY KEY,"
    " request_hash TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " status INTEGER,"
    " headers {blob},"
    " body {blob},"
    " created {bigint} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created)",
)


@dataclass(frozen=True)
class Claim:
    """The outcome of trying to claim an idempotency key (`token` identifies our claim)."""

    outcome: Literal["new", "replay", "mismatch", "in_progress"]
    token: str = ""
    status: int = 0
    headers: bytes = b""
    body: bytes = b""


class IdempotencyStore:
    """Keeps the first response for each (caller, key)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._next_purge = 0
        db.create([ddl(db.dialect, statement) for statement in _DDL])

    def claim(self, scope_key: str, request_hash: str) -> Claim:
        """Claim `scope_key` for a request with `request_hash`."""
        now = int(self.clock())
        token = f"pending:{uuid.uuid4().hex}"
        with self.db.transaction() as tx:
            tx.execute(
                "DELETE FROM idempotency_keys WHERE scope_key = ? AND (created < ?"
                " OR (state LIKE 'pending:%' AND created < ?))",
                (scope_key, now - KEEP_SECONDS, now - int(STALE_PENDING_SECONDS)),
            )
            if now >= self._next_purge:
                tx.execute("DELETE FROM idempotency_keys WHERE created < ?", (now - KEEP_SECONDS,))
                self._next_purge = now + PURGE_EVERY_SECONDS
            tx.execute(
                "INSERT INTO idempotency_keys (scope_key, request_hash, state, created)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (scope_key) DO NOTHING",
                (scope_key, request_hash, token, now),
            )
            row = tx.one(
                "SELECT request_hash, state, status, headers, body"
                " FROM idempotency_keys WHERE scope_key = ?",
                (scope_key,),
            )
        assert row is not None
        stored_hash, state, status, headers, body = row
        if state == token:
            return Claim("new", token)
        if stored_hash != request_hash:
            return Claim("mismatch")
        if str(state).startswith("pending:"):
            return Claim("in_progress")
        return Claim("replay", "", int(status), bytes(headers or b""), bytes(body or b""))

    def complete(
        self, scope_key: str, token: str, status: int, headers: bytes, body: bytes
    ) -> None:
        """Store the response of the request that owns the claim `token`."""
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE idempotency_keys SET state = 'done', status = ?, headers = ?, body = ?"
                " WHERE scope_key = ? AND state = ?",
                (status, headers, body, scope_key, token),
            )

    def redact(self, texts: Sequence[str], problem: bytes) -> int:
        """Replace the stored answers that contain any of `texts` (e.g. the ids of
        erased contacts) by `problem` (a 410 problem document); return how many. The key
        stays claimed, so a replay still runs nothing anew: it gets the problem."""
        headers = orjson.dumps([["content-type", "application/problem+json"]])
        found = 0
        with self.db.transaction() as tx:
            contains = (
                "position(?::bytea in body) > 0"
                if tx.dialect == "postgres"
                else "instr(body, ?) > 0"
            )
            for text in texts:
                needle = text.encode()
                found += int(
                    tx.scalar(
                        "SELECT COUNT(*) FROM idempotency_keys"
                        f" WHERE state = 'done' AND {contains}",
                        (needle,),
                    )
                )
                tx.execute(
                    "UPDATE idempotency_keys SET status = 410, headers = ?, body = ?"
                    f" WHERE state = 'done' AND {contains}",
                    (headers, problem, needle),
                )
        return found

    def release(self, scope_key: str, token: str) -> None:
        """Forget a claim whose request failed (5xx), so the client may retry."""
        with self.db.transaction() as tx:
            tx.execute(
                "DELETE FROM idempotency_keys WHERE scope_key = ? AND state = ?",
                (scope_key, token),
            )
