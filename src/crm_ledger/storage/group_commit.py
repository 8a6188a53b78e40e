"""Group commit: concurrent saves in one process share one insert transaction.

Leader/follower, no timer. A caller queues its events; if nobody is writing, it leads:
it takes *everything queued now* (its own events included) and writes it in one
transaction (one lock, one chain extension, one commit for the group), wakes each member
with its result, and hands the lead to the first caller that queued meanwhile. At low load a
group is just the caller, so latency does not grow; under load, callers that arrive while
a transaction is in flight form the next group.

Callers are threads (``insert``) or coroutines (``insert_async``, the HTTP path of
``POST /contacts``); both join the same groups. A coroutine that finds nobody writing
does not write at once: it schedules the group for the event loop's next turn
(``call_soon``, not a timer), so that the other requests the loop has ready queue their
events first, and the group is then written on the loop's own thread. That blocks the
loop for the group's round trip (about 0.3 ms), but no thread runs Python beside it: a
thread per caller costs each one a hand-off of the interpreter lock and, measured with 16
writers, about twice its CPU. After a write that failed for a reason other than a
conflict (the database is down, say), groups led from a loop are written on a worker
thread instead, until one succeeds, so that a connection attempt never holds the loop.
A group handed to a loop that closes before its turn (its callers are gone with it) is
not left leaderless: a thread waiting behind it takes the lead and drops their events.

Each caller gets its own result or its own error. If the group's insert fails with an
``IntegrityError`` (an optimistic-concurrency conflict: two saves of one aggregate
version, or a stale version), nothing of the group is stored, and each member is retried
alone, so only the conflicting ones fail. Any other error (the database is down, say)
fails every member of the group, none of which is stored.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent

#: How often a thread waiting in a group checks that its leader is not a closed loop (s)
ORPHAN_CHECK_SECONDS = 1.0

#: Writes events with one actor per event in one transaction; returns notification ids.
WriteEvents = Callable[[Sequence[StoredEvent], Sequence[str]], Sequence[int] | None]


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(slots=True)
class _Member:
    events: Sequence[StoredEvent]
    actor: str
    done: bool = False
    ids: Sequence[int] | None = None
    error: BaseException | None = field(default=None, repr=False)
    # A thread's: released once to wake it (written, or handed the lead); a bare lock is
    # cheaper than an Event, whose Condition costs Python code on both sides.
    wake: threading.Lock | None = field(default=None, repr=False)
    # A coroutine's: its result, set on its event loop.
    future: asyncio.Future[Sequence[int] | None] | None = field(default=None, repr=False)


def _loop_of(member: _Member) -> asyncio.AbstractEventLoop:
    assert member.future is not None
    return member.future.get_loop()


def _gone(member: _Member) -> bool:
    """True if `member` is a coroutine's whose event loop has closed."""
    return member.future is not None and _loop_of(member).is_closed()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _settle(members: list[_Member]) -> None:
    """Give coroutine members their results (on their loop's thread)."""
    for member in members:
        future = member.future
        if future is None or future.done():  # done: its caller was cancelled
            continue
        if member.error is not None:
            future.set_exception(member.error)
        else:
            future.set_result(member.ids)


class GroupCommitter:
    """Gathers concurrent inserts from request threads into shared transactions."""

    def __init__(self, write: WriteEvents, *, enabled: bool = True) -> None:
        self._write = write
        self.enabled = enabled
        self._queue: list[_Member] = []
        self._lock = threading.Lock()
        self._leading = False  # a leader is writing a group right now
        # The loop the lead was handed to (scheduled there, not yet started), if any.
        self._lead_loop: asyncio.AbstractEventLoop | None = None
        self._troubled = False  # the last group failed for a reason other than a conflict
        self.groups = 0  # statistics, for benchmarks and tests
        self.grouped_saves = 0

    def insert(self, events: Sequence[StoredEvent], actor: str) -> Sequence[int] | None:
        """Store `events` (attributed to `actor`), possibly together with other callers'."""
        if not self.enabled:
            return self._write(events, [actor] * len(events))
        me = _Member(events, actor, wake=_held_lock())
        with self._lock:
            self._queue.append(me)
            follow, self._leading = self._leading, True
        if follow:
            assert me.wake is not None
            # Woken when written, or when handed the lead; now and then, check that the
            # lead did not go to an event loop that closed before it could write.
            while not me.wake.acquire(timeout=ORPHAN_CHECK_SECONDS):
                if self._adopt_orphaned_lead():
                    break
        if not me.done:
            self._lead()
        if me.error is not None:
            raise me.error
        return me.ids

    async def insert_async(self, events: Sequence[StoredEvent], actor: str) -> Sequence[int] | None:
        """`insert` for a coroutine on a running event loop (see the module's text)."""
        if not self.enabled:
            return await asyncio.to_thread(self._write, events, [actor] * len(events))
        loop = asyncio.get_running_loop()
        me = _Member(events, actor, future=loop.create_future())
        with self._lock:
            self._queue.append(me)
            lead, self._leading = not self._leading, True
        if lead:
            self._lead_loop = loop
            loop.call_soon(self._lead_on_loop, loop)
        assert me.future is not None
        return await me.future

    def _lead_on_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Lead the next group from `loop` (its turn came, or a leader handed it on)."""
        self._lead_loop = None
        if self._troubled:
            try:
                loop.run_in_executor(None, self._lead)
                return
            except RuntimeError:  # the loop's executor is shut down (the loop is ending)
                pass
        self._lead()

    def _adopt_orphaned_lead(self) -> bool:
        """True if the lead was handed to an event loop that closed before it started
        (its callers are gone with it): their members are dropped, and the caller, a
        waiting thread, leads instead."""
        with self._lock:
            loop = self._lead_loop
            if loop is None or not loop.is_closed():
                return False
            self._lead_loop = None
            self._queue = [m for m in self._queue if not _gone(m)]
            return True

    def _lead(self) -> None:
        """Write everything queued now, then hand the lead to the next waiter, if any."""
        with self._lock:
            group, self._queue = self._queue, []
        try:
            self._commit(group)
        finally:
            for member in group:
                member.done = True
            with self._lock:
                # The first waiter (not done) leads the next group; one whose loop has
                # closed is gone with its caller.
                while self._queue and not self._hand_lead(self._queue[0]):
                    del self._queue[0]
                if not self._queue:
                    self._leading = False
            # Wake the members only now: the next group's write starts first (each wake
            # is a context switch or two, paid by this thread).
            self._wake(group)

    def _hand_lead(self, member: _Member) -> bool:
        """Wake `member` to lead; False if it cannot be (its loop has closed)."""
        if member.wake is not None:
            member.wake.release()
            return True
        loop = _loop_of(member)
        self._lead_loop = loop
        if _running_loop() is loop:
            loop.call_soon(self._lead_on_loop, loop)
            return True
        if self._call_on(loop, self._lead_on_loop, loop):
            return True
        self._lead_loop = None
        return False

    def _wake(self, group: list[_Member]) -> None:
        here = _running_loop()
        elsewhere: dict[asyncio.AbstractEventLoop, list[_Member]] = {}
        for member in group:
            if member.wake is not None:
                if member.wake.locked():
                    member.wake.release()
            elif (loop := _loop_of(member)) is here:
                _settle([member])
            else:
                elsewhere.setdefault(loop, []).append(member)
        for loop, members in elsewhere.items():
            self._call_on(loop, _settle, members)

    @staticmethod
    def _call_on(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> bool:
        """`fn(*args)` on `loop`'s thread; False if that loop is closed (its callers are
        gone with it)."""
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            return False
        return True

    def _commit(self, group: list[_Member]) -> None:
        """Write `group`, setting each member's ids or error (the caller wakes them)."""
        if len(group) == 1:
            self._commit_alone(group[0])
            return
        events = [event for member in group for event in member.events]
        actors = [member.actor for member in group for _ in member.events]
        try:
            ids = self._write(events, actors)
        except IntegrityError:
            for member in group:  # retry each alone: only the conflicting ones fail
                self._commit_alone(member)
            return
        except BaseException as exc:
            self._troubled = True
            for member in group:
                member.error = exc
            return
        self._troubled = False
        self.groups += 1
        self.grouped_saves += len(group)
        start = 0
        for member in group:
            stop = start + len(member.events)
            member.ids = None if ids is None else ids[start:stop]
            start = stop

    def _commit_alone(self, member: _Member) -> None:
        try:
            member.ids = self._write(member.events, [member.actor] * len(member.events))
        except IntegrityError as exc:
            member.error = exc
        except BaseException as exc:
            self._troubled = True
            member.error = exc
        else:
            self._troubled = False


def groupable(save_kwargs: dict[str, Any]) -> bool:
    """A save can join a group unless it carries more than an actor (e.g. a tracking
    record of a process application, which must commit with exactly its own events)."""
    return all(value is None for key, value in save_kwargs.items() if key != "actor")
