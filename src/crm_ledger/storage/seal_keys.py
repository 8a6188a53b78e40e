"""The keys personal values are sealed with (`crm_ledger.privacy.sealing`), beside the log.

Every sealed event has its own AES-256 key, named by a random key id (``kid``) that the
sealed member carries. ``seal_keys`` is the one table of the database whose values are
destroyed on purpose: erasing a person sets the keys of their events to NULL (and records
when), after which what those events sealed cannot be read by anyone. Keys are never
exported (bundles carry only the ciphertext).

Keys are made ahead, in batches committed in their own transaction (`SealKeys.reserve`),
so that sealing an event costs the write path no round trip: the event's transaction
never writes a key. A key taken from the pool by a save whose events are then not stored is
simply never used. Keys read are cached per process for `CACHE_SECONDS`, so a key
destroyed in one process stops being used by every other within that time.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from crm_ledger.ledger.envelope import format_timestamp
from crm_ledger.privacy.sealing import KEY_BYTES
from crm_ledger.storage.sql import Database, Dialect, ddl

KID_BYTES = 16
CACHE_SECONDS = 2.0
CACHE_SIZE = 100_000
CHUNK = 500
POOL_BATCH = 1000
"""Keys made per refill when a save needs fewer."""
LOW_WATER = 200
"""Below this many keys left, the next refill starts in the background."""

_DDL = (
    "CREATE TABLE IF NOT EXISTS seal_keys ("
    " kid TEXT PRIMARY KEY,"
    " key_bytes {blob},"
    " created_at TEXT NOT NULL,"
    " erased_at TEXT)"
)


def seal_keys_ddl(dialect: Dialect) -> list[str]:
    """The ``CREATE TABLE IF NOT EXISTS`` statement of ``seal_keys`` for `dialect`."""
    return [ddl(dialect, _DDL)]


def _now() -> str:
    return format_timestamp(datetime.now(UTC))


def _chunks(items: list[str]) -> Iterator[tuple[str, list[str]]]:
    """`items` `CHUNK` at a time, each with its ``?`` placeholders for ``IN (...)``."""
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        yield ", ".join("?" * len(chunk)), chunk


class SealKeys:
    """Makes, reads and destroys sealing keys in `db`, with a pool of keys made ahead
    and a short per-process cache of keys read."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        self._pool: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._refill = threading.Lock()  # held while keys are made (also in the background)
        self._demand = 0  # the most keys one save asked for
        self._released = False

    # -- the pool (sealing) -------------------------------------------------------------

    def reserve(self, count: int) -> None:
        """Make sure `count` keys can be taken without a round trip (one transaction
        makes what is missing, at least `POOL_BATCH`), and have the pool refilled in the
        background to twice the largest such demand, so the next one finds its keys."""
        self._demand = max(self._demand, count)
        if len(self._pool) < count:
            with self._refill:
                missing = count - len(self._pool)
                if missing > 0:
                    self._make(max(missing, POOL_BATCH))
        if len(self._pool) < max(LOW_WATER, self._demand):
            self._top_up()

    def _make(self, count: int) -> None:
        step = KID_BYTES + KEY_BYTES
        noise = os.urandom(count * step)  # kid, key, kid, key, ...: one call for the batch
        made = [
            (noise[at : at + KID_BYTES].hex(), noise[at + KID_BYTES : at + step])
            for at in range(0, count * step, step)
        ]
        at = _now()
        with self.db.transaction() as tx:
            if tx.dialect == "postgres":  # one bytea parameter, cut into rows by the server
                tx.execute(
                    "INSERT INTO seal_keys (kid, key_bytes, created_at)"
                    f" SELECT encode(substr(n.b, i * {step} + 1, {KID_BYTES}), 'hex'),"
                    f" substr(n.b, i * {step} + {KID_BYTES + 1}, {KEY_BYTES}), ?"
                    " FROM (SELECT ?::bytea AS b) AS n, generate_series(0, ? - 1) AS i",
                    (at, noise, count),
                )
            else:
                tx.executemany(
                    "INSERT INTO seal_keys (kid, key_bytes, created_at) VALUES (?, ?, ?)",
                    [(kid, key, at) for kid, key in made],
                )
        with self._lock:
            self._pool.extend(made)

    def _top_up(self) -> None:
        """Refill in the background to `POOL_BATCH` or twice the largest demand, unless a
        refill is under way (the next `reserve` waits for it, or makes its own)."""
        if not self._released and self._refill.acquire(blocking=False):

            def make() -> None:
                try:
                    wanted = max(POOL_BATCH, 2 * self._demand) - len(self._pool)
                    if wanted > 0:
                        self._make(max(wanted, LOW_WATER))
                except Exception:  # the next reserve or take makes them
                    pass
                finally:
                    self._refill.release()

            threading.Thread(target=make, name="seal-keys", daemon=True).start()

    def take(self) -> tuple[str, bytes]:
        """A key made ahead (stored already) that nothing has used: (kid, key)."""
        while True:
            with self._lock:
                if self._pool:
                    kid, key = self._pool.pop()
                    self._cache[kid] = (time.monotonic(), key)
                    low = len(self._pool) < LOW_WATER
                    break
            self.reserve(1)
        if low:
            self._top_up()
        return kid, key

    def release(self) -> None:
        """Delete the keys made ahead and never taken (when the application closes).

        A background refill under way finishes first: it writes through the database
        connections that are about to close (on SQLite, writing through a closed
        connection crashed the process), and its keys are deleted with the rest. No
        refill starts after this."""
        self._released = True
        with self._refill, self._lock:
            unused, self._pool = [kid for kid, _ in self._pool], []
        if not unused:
            return
        with self.db.transaction() as tx:
            for marks, chunk in _chunks(unused):
                tx.execute(f"DELETE FROM seal_keys WHERE kid IN ({marks})", chunk)

    # -- reading (opening) --------------------------------------------------------------

    def keys(self, kids: Iterable[str]) -> dict[str, bytes | None]:
        """The key of each of `kids`: None once destroyed (or unknown)."""
        answer: dict[str, bytes | None] = {}
        missing: list[str] = []
        now = time.monotonic()
        for kid in dict.fromkeys(kids):
            entry = self._fresh(kid, now)
            if entry is None:
                missing.append(kid)
            else:
                answer[kid] = entry[1]
        if missing:
            found = self._read(missing)
            with self._lock:
                if len(self._cache) + len(found) > CACHE_SIZE:
                    self._cache.clear()
                for kid, key in found.items():
                    self._cache[kid] = (now, key)
            answer.update(found)
        return answer

    def key(self, kid: str) -> bytes | None:
        """`keys` of one key id (a cached one without building the lists `keys` does:
        a rebuild asks for one key per event)."""
        entry = self._fresh(kid, time.monotonic())
        return self.keys([kid])[kid] if entry is None else entry[1]

    def _fresh(self, kid: str, now: float) -> tuple[float, bytes | None] | None:
        """The cache entry of `kid` if it was read less than `CACHE_SECONDS` ago."""
        entry = self._cache.get(kid)
        return entry if entry is not None and now - entry[0] <= CACHE_SECONDS else None

    def _read(self, kids: list[str]) -> dict[str, bytes | None]:
        found: dict[str, bytes | None] = dict.fromkeys(kids)
        with self.db.transaction(write=False) as tx:
            if tx.dialect == "postgres":  # one query, one array parameter
                for kid, key in tx.all(
                    "SELECT kid, key_bytes FROM seal_keys WHERE kid = ANY(?::text[])", (kids,)
                ):
                    found[kid] = None if key is None else bytes(key)
                return found
            for marks, chunk in _chunks(kids):
                for kid, key in tx.all(
                    f"SELECT kid, key_bytes FROM seal_keys WHERE kid IN ({marks})", chunk
                ):
                    found[kid] = None if key is None else bytes(key)
        return found

    # -- erasure ------------------------------------------------------------------------

    def destroy(self, kids: Iterable[str]) -> int:
        """Destroy the keys `kids`; return how many were still there."""
        wanted = list(dict.fromkeys(kids))
        at = _now()
        destroyed = 0
        with self.db.transaction() as tx:
            for marks, chunk in _chunks(wanted):
                destroyed += int(
                    tx.scalar(
                        "SELECT COUNT(*) FROM seal_keys"
                        f" WHERE key_bytes IS NOT NULL AND kid IN ({marks})",
                        chunk,
                    )
                )
                tx.execute(
                    f"UPDATE seal_keys SET key_bytes = NULL, erased_at = ?"
                    f" WHERE key_bytes IS NOT NULL AND kid IN ({marks})",
                    [at, *chunk],
                )
        with self._lock:
            for kid in wanted:
                self._cache.pop(kid, None)
        return destroyed
