"""Follows the log and applies events to a projection, exactly once, in batches.

Each batch of notifications is applied in one transaction together with the move of
the projection's tracking position; the move is conditional on the position read at
the start (``UPDATE ... WHERE position = ?``), so two runners can never apply the same
event twice: the slower one's transaction is rolled back and it re-reads. A failing
event stops the runner at that position (``failed``), it is never skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from crm_ledger.projections.base import EventApplyError, Projection
from crm_ledger.storage.sql import Database, Tx

if TYPE_CHECKING:
    from crm_ledger.application import CrmApplication

log = logging.getLogger(__name__)

TRACKING_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_tracking"
    " (name TEXT PRIMARY KEY, position {bigint} NOT NULL)"
)


class ProjectionConflictError(Exception):
    """Another runner moved the projection's position first; re-read and retry."""


class ProjectionFailedError(Exception):
    """Applying the event at `position` raised; the projection stopped there."""

    def __init__(self, name: str, position: int, cause: BaseException) -> None:
        super().__init__(f"projection {name!r} failed at position {position}: {cause!r}")
        self.name = name
        self.position = position


def read_position(tx: Tx, name: str) -> int:
    """The projection's tracking position (0 when it has processed nothing)."""
    value = tx.scalar("SELECT position FROM projection_tracking WHERE name = ?", (name,))
    return int(value or 0)


class ProjectionRunner:
    """Keeps one projection in step with the application's log."""

    def __init__(
        self, app: CrmApplication, projection: Projection, *, batch_size: int = 500
    ) -> None:
        self.app = app
        self.projection = projection
        self.batch_size = batch_size
        self.db: Database = app.db
        self.failed: ProjectionFailedError | None = None
        self._position = 0
        self._changed = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.db.create([self.db_ddl(TRACKING_DDL), *projection.ddl(self.db.dialect)])
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO projection_tracking (name, position) VALUES (?, 0)"
                " ON CONFLICT (name) DO NOTHING",
                (projection.name,),
            )
            self._position = read_position(tx, projection.name)

    def db_ddl(self, statement: str) -> str:
        from crm_ledger.storage.sql import ddl

        return ddl(self.db.dialect, statement)

    @property
    def position(self) -> int:
        """The last log position this runner knows to be applied."""
        return self._position

    def run_once(self) -> int:
        """Apply at most one batch; return how many notifications were examined."""
        if self.failed is not None:
            raise self.failed
        head = self.app.head_position()
        with self.db.transaction(write=False) as tx:
            start = read_position(tx, self.projection.name)
        if start >= head:
            self._advance(start)
            return 0
        # Read before opening the write transaction: a thread holding the writer must
        # never wait for another pooled connection (the pool queues writers fairly, so
        # that wait could only end by timeout).
        batch = self.app.recorder.select_notifications(
            start,
            self.batch_size,
            stop=head,
            topics=list(self.projection.topics),
            inclusive_of_start=False,
        )
        with self.db.transaction() as tx:
            if read_position(tx, self.projection.name) != start:
                raise ProjectionConflictError(self.projection.name)
            items = []
            for notification in batch:
                try:
                    items.append((self.app.mapper.to_domain_event(notification), notification.id))
                except Exception as exc:
                    self.failed = ProjectionFailedError(self.projection.name, notification.id, exc)
                    raise self.failed from exc
            try:
                self.projection.apply_batch(tx, items)
            except EventApplyError as exc:
                self.failed = ProjectionFailedError(self.projection.name, exc.position, exc.cause)
                raise self.failed from exc
            end = batch[-1].id if len(batch) == self.batch_size else head
            tx.execute(
                "UPDATE projection_tracking SET position = ? WHERE name = ? AND position = ?",
                (end, self.projection.name, start),
            )
            moved = read_position(tx, self.projection.name)
            if moved != end:
                raise ProjectionConflictError(self.projection.name)
        self._advance(end)
        return len(batch) or 1

    def _advance(self, position: int) -> None:
        with self._changed:
            if position > self._position:
                self._position = position
            self._changed.notify_all()

    def catch_up(self) -> None:
        """Apply batches until the projection reaches the head read at the start."""
        target = self.app.head_position()
        while self._position < target:
            try:
                self.run_once()
            except ProjectionConflictError:
                with self.db.transaction(write=False) as tx:
                    self._advance(read_position(tx, self.projection.name))

    def poke(self) -> None:
        """Wake the background loop now (a write just happened)."""
        self._wake.set()

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until the projection reached `position`; False on timeout."""
        deadline = time.monotonic() + timeout
        self.poke()
        with self._changed:
            while self._position < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.failed is not None:
                    return False
                self._changed.wait(min(remaining, 0.05))
        return True

    def start(self, poll_seconds: float) -> None:
        """Follow the log in a daemon thread until `stop`."""
        self._thread = threading.Thread(
            target=self._loop,
            args=(poll_seconds,),
            name=f"projection-{self.projection.name}",
            daemon=True,
        )
        self._thread.start()

    def _loop(self, poll_seconds: float) -> None:
        while not self._stop.is_set():
            try:
                self.catch_up()
            except ProjectionFailedError:
                log.exception("projection stopped")
                return
            except Exception:
                log.exception("projection %s: will retry", self.projection.name)
            self._wake.wait(poll_seconds)
            self._wake.clear()

    def stop(self) -> None:
        """Stop the background loop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
