"""``crm-ledger projections run``: keeps projections in step with the log, out of the API.

Each projection has its own `ProjectionRunner` (batches, exactly-once tracking); the
worker gives each one batch in turn, so a stop request is honoured between batches.
As in the server (`crm_ledger.projections.follower`), each round reads the head once and
the topics of the new events; a projection with nothing among them moves on in memory
and is not given a batch, and tracking rows follow lazily (every few seconds, and
whenever the worker ends). When every projection is at the head it sleeps until woken:
on PostgreSQL by the
library's subscription (``LISTEN``/``NOTIFY`` on the events table), with a periodic
poll as well because a lost notification must not stall it; on SQLite (no
subscription) by polling alone. A projection that fails stops at the failing event (see
`ProjectionRunner`); the others go on. The worker ends when asked to, when all its
projections have failed, or, with ``once``, when every projection reached the head read
at the start.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from eventsourcing.persistence import InterfaceError, OperationalError

from crm_ledger.projections.base import Projection
from crm_ledger.projections.follower import with_work
from crm_ledger.projections.runner import (
    ProjectionConflictError,
    ProjectionFailedError,
    ProjectionRunner,
)

if TYPE_CHECKING:
    from crm_ledger.application import CrmApplication

log = logging.getLogger(__name__)

SUBSCRIBED_POLL_SECONDS = 5.0
"""On PostgreSQL the poll is only a safety net for a lost notification."""


class Worker:
    """Runs the given projections until stopped."""

    def __init__(
        self,
        app: CrmApplication,
        projections: dict[str, Projection],
        *,
        batch_size: int = 500,
        poll_seconds: float = 0.2,
        on_failure: Callable[[ProjectionFailedError], None] | None = None,
    ) -> None:
        self.app = app
        self.runners = {
            name: ProjectionRunner(app, projection, batch_size=batch_size)
            for name, projection in projections.items()
        }
        self.poll_seconds = poll_seconds
        self.on_failure = on_failure
        self.failures: dict[str, ProjectionFailedError] = {}
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._seen: int | None = None  # the head at the last round

    def stop(self) -> None:
        """Ask the worker to end after the batch in flight."""
        self.stopping.set()
        self._wake.set()

    def run(self, *, once: bool = False) -> dict[str, ProjectionFailedError]:
        """Follow the log; return the projections that stopped at a failing event."""
        target = self.app.head_position() if once else None
        subscription = None if once else self._subscribe()
        try:
            while not self.stopping.is_set() and len(self.failures) < len(self.runners):
                busy = self._round()
                if target is not None and all(
                    r.position >= target
                    for name, r in self.runners.items()
                    if name not in self.failures
                ):
                    break
                if not busy:
                    poll = self.poll_seconds if subscription is None else SUBSCRIBED_POLL_SECONDS
                    self._wake.wait(poll)
                    self._wake.clear()
        finally:
            if subscription is not None:
                subscription.stop()
        self._record()
        return self.failures

    def _record(self) -> None:
        """Write the tracking rows that lag behind the positions reached in memory."""
        for name, runner in self.runners.items():
            if name in self.failures:
                continue
            try:
                runner.record()
            except Exception as exc:
                log.warning("projection %s: position not recorded: %s", name, exc)

    def _round(self) -> bool:
        """One batch for each healthy projection with work; True if any had work."""
        healthy = [r for name, r in self.runners.items() if name not in self.failures]
        try:
            head = self.app.head_position()
            woken = with_work(self.app, healthy, self._seen, head)
        except (OperationalError, InterfaceError) as exc:
            log.warning("projections: %s; will retry", exc)
            return False
        self._seen = head
        busy = False
        for name, runner in self.runners.items():
            if name in self.failures or self.stopping.is_set():
                continue
            if runner not in woken and runner.position >= head:
                continue
            try:
                busy = bool(runner.run_once(lazy=True)) or busy
            except ProjectionConflictError:
                busy = True  # another process moved it: re-read next round
            except (OperationalError, InterfaceError) as exc:
                # the database is busy (SQLite: another writer holds the lock the batch
                # needed) or unreachable: nothing of the batch was stored; next round
                log.warning("projection %s: %s; will retry", name, exc)
            except ProjectionFailedError as exc:
                self.failures[name] = exc
                if self.on_failure is not None:
                    self.on_failure(exc)
        return busy

    def _subscribe(self) -> _Wakeup | None:
        """On PostgreSQL, a thread that wakes the worker at each new event."""
        if self.app.db.dialect != "postgres":
            return None
        wakeup = _Wakeup(self.app, self._wake)
        wakeup.start()
        return wakeup


class _Wakeup(threading.Thread):
    """Iterates the library's subscription from the head and sets `wake` per event."""

    def __init__(self, app: CrmApplication, wake: threading.Event) -> None:
        super().__init__(name="projections-subscription", daemon=True)
        self.app = app
        self.wake = wake
        self._subscription = self.app.recorder.subscribe(gt=self.app.head_position())

    def run(self) -> None:
        try:
            with self._subscription as notifications:
                for _ in notifications:
                    self.wake.set()
        except Exception:
            log.exception("projection subscription ended; polling only")

    def stop(self) -> None:
        self._subscription.stop()
        self.join(timeout=5)
