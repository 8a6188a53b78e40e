"""Group commit: concurrent saves in one process share one insert transaction.

Leader/follower, no timer. A caller queues its events; if nobody is writing, it leads:
it takes *everything queued now* (its own events included) and writes it in one
transaction (one lock, one chain extension, one commit for the group), wakes each member
with its result, and hands the lead to the first caller that queued meanwhile. At low load a
group is just the caller, so latency does not grow; under load, callers that arrive while
a transaction is in flight form the next group.

Each caller gets its own result or its own error. If the group's insert fails with an
``IntegrityError`` (an optimistic-concurrency conflict: two saves of one aggregate
version, or a stale version), nothing of the group is stored, and each member is retried
alone, so only the conflicting ones fail. Any other error (the database is down, say)
fails every member of the group, none of which is stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent

#: Writes events with one actor per event in one transaction; returns notification ids.
WriteEvents = Callable[[Sequence[StoredEvent], Sequence[str]], Sequence[int] | None]


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass
class _Member:
    events: Sequence[StoredEvent]
    actor: str
    done: bool = False
    ids: Sequence[int] | None = None
    error: BaseException | None = field(default=None, repr=False)
    # Released once to wake the member (written, or handed the lead): a bare lock is
    # cheaper than an Event, whose Condition costs Python code on both sides.
    wake: threading.Lock = field(default_factory=_held_lock, repr=False)


class GroupCommitter:
    """Gathers concurrent inserts from request threads into shared transactions."""

    def __init__(self, write: WriteEvents, *, enabled: bool = True) -> None:
        self._write = write
        self.enabled = enabled
        self._queue: list[_Member] = []
        self._lock = threading.Lock()
        self._leading = False  # a leader is writing a group right now
        self.groups = 0  # statistics, for benchmarks and tests
        self.grouped_saves = 0

    def insert(self, events: Sequence[StoredEvent], actor: str) -> Sequence[int] | None:
        """Store `events` (attributed to `actor`), possibly together with other callers'."""
        if not self.enabled:
            return self._write(events, [actor] * len(events))
        me = _Member(events, actor)
        with self._lock:
            self._queue.append(me)
            follow, self._leading = self._leading, True
        if follow:
            me.wake.acquire()  # woken when written, or when handed the lead
        if not me.done:
            self._lead()
        if me.error is not None:
            raise me.error
        return me.ids

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
                if self._queue:
                    self._queue[0].wake.release()  # not done: it leads the next group
                else:
                    self._leading = False
            # Wake the members only now: the next group's write starts first (each wake
            # is a context switch or two, paid by this thread).
            for member in group:
                if member.wake.locked():
                    member.wake.release()

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
            for member in group:
                member.error = exc
            return
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
        except BaseException as exc:
            member.error = exc


def groupable(save_kwargs: dict[str, Any]) -> bool:
    """A save can join a group unless it carries more than an actor (e.g. a tracking
    record of a process application, which must commit with exactly its own events)."""
    return all(value is None for key, value in save_kwargs.items() if key != "actor")
