"""One poll of the log for every projection runner of a process.

A server process runs a runner per read model. Each polling the log by itself made an
idle server read the head and the tracking row twice per runner per poll, and a write
woke every runner, most of which (a new contact means nothing to the quotes read model)
then read an empty batch and committed only the move of their position.

The follower reads the head once per poll, every `poll_seconds`. On PostgreSQL a
`crm_ledger.storage.wakeup.Wakeup` wakes it as events are written: after a poll that
found nothing new it then polls at once; after one that found new events, not before
`BUSY_POLL_SECONDS` (or `poll_seconds`, if shorter) have passed, so that a stream of
writes is still read in batches (smaller batches cost more commits). While woken this
way it otherwise polls every `LISTENING_POLL_SECONDS` (or `poll_seconds`, if longer).

When the log moved, one query lists the topics of the new events; a runner none of
whose topics is among them, and which had reached the previous head, moves to the new
head in memory (`ProjectionRunner.skip`);
the others are woken to apply their batches. Runners whose tracking row lags behind
their position in memory are woken every `RECORD_SECONDS` to write it. As before, only
the process holding the follow lease polls (`follow`); the runners of the others catch
up when one of their reads waits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from crm_ledger.projections.runner import ProjectionRunner
from crm_ledger.storage.sql import notification_column

if TYPE_CHECKING:
    from crm_ledger.application import CrmApplication

log = logging.getLogger(__name__)

#: how often the follower polls while it is woken by notifications (a safety net)
LISTENING_POLL_SECONDS = 1.0
#: while events keep coming, the shortest time between two polls (the default
#: ``CRM_PROJECTION_POLL_SECONDS``: batches as large as without waking)
BUSY_POLL_SECONDS = 0.2


class Follower:
    """Polls the log every `poll_seconds` on behalf of `runners` (in a daemon thread)."""

    def __init__(
        self,
        app: CrmApplication,
        runners: Sequence[ProjectionRunner],
        *,
        poll_seconds: float,
        follow: Callable[[], bool] | None = None,
    ) -> None:
        self.app = app
        self.runners = list(runners)
        self.poll_seconds = poll_seconds
        self.follow = follow
        self.seen: int | None = None  # the head at the last poll (None: not polled yet)
        #: set to poll at once (by a `crm_ledger.storage.wakeup.Wakeup` when events are
        #: written); while `listening` is set, the follower polls only every
        #: `LISTENING_POLL_SECONDS` otherwise
        self.wake = threading.Event()
        self.listening: threading.Event | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start every runner (woken only by this follower or a waiting read) and the
        polling thread."""
        for runner in self.runners:
            runner.start(None, follow=self.follow)
        self._thread = threading.Thread(target=self._loop, name="projection-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling, then every runner."""
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for runner in self.runners:
            runner.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.wake.clear()  # before the poll: an event written during it wakes the next
            polled, moved = time.monotonic(), False
            if self.follow is not None and not self.follow():
                self._stop.wait(self.poll_seconds)  # another process follows: not woken
                continue
            try:
                moved = self.poll()
            except Exception:
                log.exception("projection follower: will retry")
            listening = self.listening is not None and self.listening.is_set()
            self.wake.wait(
                max(self.poll_seconds, LISTENING_POLL_SECONDS) if listening else self.poll_seconds
            )
            if moved:  # writes are coming: no more than one poll per busy interval, so
                # that one poll still covers many of them (smaller batches cost more)
                busy = min(self.poll_seconds, BUSY_POLL_SECONDS)
                self._stop.wait(max(0.0, polled + busy - time.monotonic()))

    def poll(self) -> bool:
        """Read the head once; skip or wake each runner (see the module). True when the
        log moved since the last poll."""
        head = self.app.head_position()
        seen, self.seen = self.seen, head
        for runner in with_work(self.app, self.runners, seen, head):
            runner.poke()
        return seen is not None and head != seen


def with_work(
    app: CrmApplication, runners: Sequence[ProjectionRunner], seen: int | None, head: int
) -> list[ProjectionRunner]:
    """The runners to wake now that the head is `head` (`seen` at the previous poll, None
    before the first): all of them at the first poll (or after the log shrank), else
    those with events among the new ones (the others move to `head` in memory), and
    those whose tracking row is due to be written."""
    if seen is None or head < seen:
        return list(runners)
    woken: list[ProjectionRunner] = []
    if head > seen:
        topics = topics_between(app, seen, head)
        woken = [runner for runner in runners if not runner.skip(seen, head, topics)]
    return woken + [r for r in runners if r not in woken and r.record_due()]


def topics_between(app: CrmApplication, after: int, upto: int) -> frozenset[str]:
    """The topics of the events at positions `after` < p <= `upto`."""
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    position = notification_column(app.db.dialect)
    with app.db.transaction(write=False) as tx:
        rows = tx.all(
            f"SELECT DISTINCT topic FROM {table} WHERE {position} > ? AND {position} <= ?",
            (after, upto),
        )
    return frozenset(str(row[0]) for row in rows)
