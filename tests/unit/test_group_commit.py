"""GroupCommitter: concurrent inserts share transactions, each caller gets its own outcome.

A fake writer stands in for the recorder: it hands out notification ids, records each
transaction it was asked to write, and can be told to fail. A barrier inside the first
write holds the "transaction" open while other callers queue, so grouping is deterministic.

Every test runs on asyncio's event loop and on uvloop's (what ``crm-ledger serve`` runs).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import uvloop
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent

from crm_ledger.storage import group_commit
from crm_ledger.storage.group_commit import GroupCommitter


@pytest.fixture(autouse=True, params=["asyncio", "uvloop"])
def event_loops(request: pytest.FixtureRequest) -> Iterator[None]:
    """New event loops (``asyncio.run``, ``new_event_loop``) of the kind named."""
    policy = asyncio.get_event_loop_policy()
    if request.param == "uvloop":
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(policy)


def event(name: str) -> StoredEvent:
    return StoredEvent(originator_id=name, originator_version=1, topic="t", state=b"{}")


class FakeStore:
    """Writes all-or-nothing; conflicts on a repeated originator id, like the database."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str]] = []  # (originator_id, actor)
        self.transactions: list[list[str]] = []
        self.lock = threading.Lock()
        self.hold_first = False  # the next write waits for `release`
        self.entered = threading.Event()
        self.release = threading.Event()
        self.down = False

    def write(self, events: Sequence[StoredEvent], actors: Sequence[str]) -> list[int]:
        if self.hold_first:
            self.hold_first = False
            self.entered.set()
            assert self.release.wait(5)
        with self.lock:
            names = [str(e.originator_id) for e in events]
            self.transactions.append(names)
            if self.down:
                raise OperationalError("connection refused")
            stored = {name for name, _ in self.rows}
            if len(set(names)) != len(names) or stored & set(names):
                raise IntegrityError("duplicate key value violates unique constraint")
            start = len(self.rows)
            self.rows.extend(zip(names, actors, strict=True))
            return list(range(start + 1, start + 1 + len(names)))


def run_concurrently(
    committer: GroupCommitter, store: FakeStore, calls: list[tuple[list[str], str]]
) -> list[Any]:
    """The first call leads and is held inside its write while the others queue behind it."""
    store.hold_first = True
    outcomes: list[Any] = [None] * len(calls)

    def call(i: int) -> None:
        names, actor = calls[i]
        try:
            outcomes[i] = committer.insert([event(n) for n in names], actor)
        except Exception as exc:
            outcomes[i] = exc

    first = threading.Thread(target=call, args=(0,))
    first.start()
    assert store.entered.wait(5)
    others = [threading.Thread(target=call, args=(i,)) for i in range(1, len(calls))]
    for t in others:
        t.start()
    for _ in range(5000):  # until every other caller has queued behind the leader
        if len(committer._queue) == len(others):
            break
        time.sleep(0.001)
    assert len(committer._queue) == len(others)
    store.release.set()
    for t in [first, *others]:
        t.join(5)
        assert not t.is_alive()
    return outcomes


def test_alone_a_caller_writes_at_once_with_its_own_actor() -> None:
    store = FakeStore()
    committer = GroupCommitter(store.write)
    assert committer.insert([event("a"), event("b")], "user:ann") == [1, 2]
    assert store.rows == [("a", "user:ann"), ("b", "user:ann")]
    assert committer.groups == 0  # a group of one is not counted as grouped


def test_callers_queued_behind_a_write_share_the_next_transaction() -> None:
    store = FakeStore()
    committer = GroupCommitter(store.write)
    calls = [(["lead"], "user:0"), (["x1", "x2"], "user:1"), (["y"], "user:2"), (["z"], "user:3")]
    outcomes = run_concurrently(committer, store, calls)
    assert outcomes[0] == [1]
    # The three followers went into ONE transaction, each got its own ids back.
    assert len(store.transactions) == 2
    assert sorted(store.transactions[1]) == ["x1", "x2", "y", "z"]
    by_name = dict(zip([n for n, _ in store.rows], range(1, 6), strict=True))
    assert outcomes[1] == [by_name["x1"], by_name["x2"]]
    assert outcomes[2] == [by_name["y"]]
    assert outcomes[3] == [by_name["z"]]
    # One actor per event, each from its own caller.
    assert dict(store.rows) == {
        "lead": "user:0",
        "x1": "user:1",
        "x2": "user:1",
        "y": "user:2",
        "z": "user:3",
    }
    assert committer.groups == 1
    assert committer.grouped_saves == 3


def test_a_conflict_fails_only_the_conflicting_caller() -> None:
    store = FakeStore()
    committer = GroupCommitter(store.write)
    committer.insert([event("taken")], "user:0")
    calls = [(["lead"], "user:0"), (["ok1"], "user:1"), (["taken"], "user:2"), (["ok2"], "user:3")]
    outcomes = run_concurrently(committer, store, calls)
    assert isinstance(outcomes[2], IntegrityError)
    for i in (0, 1, 3):
        assert isinstance(outcomes[i], list), outcomes[i]
    assert sorted(n for n, _ in store.rows) == ["lead", "ok1", "ok2", "taken"]
    # The group failed as a whole, then each member was retried alone.
    assert sorted(store.transactions[2]) == ["ok1", "ok2", "taken"]
    assert sorted(map(tuple, store.transactions[3:])) == [("ok1",), ("ok2",), ("taken",)]


def test_two_callers_saving_the_same_version_in_one_group_yield_one_winner() -> None:
    store = FakeStore()
    committer = GroupCommitter(store.write)
    calls = [(["lead"], "user:0"), (["same"], "user:1"), (["same"], "user:2")]
    outcomes = run_concurrently(committer, store, calls)
    assert sum(isinstance(o, IntegrityError) for o in outcomes[1:]) == 1
    assert sum(isinstance(o, list) for o in outcomes[1:]) == 1
    assert [n for n, _ in store.rows].count("same") == 1


def test_a_database_failure_fails_every_member_and_stores_nothing() -> None:
    store = FakeStore()
    committer = GroupCommitter(store.write)
    calls = [(["lead"], "user:0"), (["a"], "user:1"), (["b"], "user:2")]

    def go_down_after_first(events: Sequence[StoredEvent], actors: Sequence[str]) -> list[int]:
        result = FakeStore.write(store, events, actors)
        store.down = True
        return result

    committer._write = go_down_after_first
    outcomes = run_concurrently(committer, store, calls)
    assert outcomes[0] == [1]
    assert all(isinstance(o, OperationalError) for o in outcomes[1:])
    assert store.rows == [("lead", "user:0")]
    # The next caller leads again (the lead was released, nobody hangs).
    store.down = False
    committer._write = store.write
    assert committer.insert([event("later")], "user:9") == [2]


def test_disabled_writes_each_caller_alone() -> None:
    store = FakeStore()
    committer = GroupCommitter(store.write, enabled=False)
    assert committer.insert([event("a")], "user:1") == [1]
    assert store.transactions == [["a"]]


# -- coroutine callers (insert_async) ---------------------------------------------------


class ThreadRecordingStore(FakeStore):
    """A FakeStore that also records which thread ran each transaction."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def write(self, events: Sequence[StoredEvent], actors: Sequence[str]) -> list[int]:
        self.threads.append(threading.get_ident())
        return super().write(events, actors)


def held_leader(committer: GroupCommitter, store: FakeStore) -> threading.Thread:
    """A thread leading a group of one event, held inside its write until
    `store.release` is set."""
    store.hold_first = True
    leader = threading.Thread(target=committer.insert, args=([event("lead")], "user:0"))
    leader.start()
    assert store.entered.wait(5)
    return leader


async def insert_each(committer: GroupCommitter, calls: list[tuple[list[str], str]]) -> list[Any]:
    """Every call as a task started in the same loop turn; outcomes or errors, in order."""
    return await asyncio.gather(
        *(committer.insert_async([event(n) for n in names], actor) for names, actor in calls),
        return_exceptions=True,
    )


def test_a_coroutine_alone_is_written_in_the_next_loop_turn() -> None:
    store = ThreadRecordingStore()
    committer = GroupCommitter(store.write)

    async def main() -> tuple[Any, int]:
        return await committer.insert_async([event("a")], "user:ann"), threading.get_ident()

    ids, loop_thread = asyncio.run(main())
    assert ids == [1]
    assert store.rows == [("a", "user:ann")]
    assert store.threads == [loop_thread]  # written on the loop's own thread
    assert not committer._leading


def test_coroutines_ready_in_one_turn_share_one_transaction() -> None:
    store = FakeStore()
    committer = GroupCommitter(store.write)
    calls = [(["a"], "user:1"), (["b1", "b2"], "user:2"), (["c"], "user:3"), (["d"], "user:4")]
    outcomes = asyncio.run(insert_each(committer, calls))
    # The first did not write alone at once: the group waited for the loop's next turn,
    # by which time every task had queued.
    assert store.transactions == [["a", "b1", "b2", "c", "d"]]
    assert outcomes == [[1], [2, 3], [4], [5]]
    assert dict(store.rows) == {
        "a": "user:1",
        "b1": "user:2",
        "b2": "user:2",
        "c": "user:3",
        "d": "user:4",
    }
    assert (committer.groups, committer.grouped_saves) == (1, 4)


def test_a_conflicting_coroutine_fails_alone() -> None:
    store = FakeStore()
    committer = GroupCommitter(store.write)
    committer.insert([event("taken")], "user:0")
    calls = [(["ok1"], "user:1"), (["taken"], "user:2"), (["ok2"], "user:3")]
    outcomes = asyncio.run(insert_each(committer, calls))
    assert isinstance(outcomes[1], IntegrityError)
    assert isinstance(outcomes[0], list)
    assert isinstance(outcomes[2], list)
    assert sorted(n for n, _ in store.rows) == ["ok1", "ok2", "taken"]


def test_a_thread_leader_hands_the_next_group_to_the_waiting_loop() -> None:
    store = ThreadRecordingStore()
    committer = GroupCommitter(store.write)
    leader = held_leader(committer, store)

    async def main() -> tuple[list[Any], int]:
        tasks = [
            asyncio.ensure_future(committer.insert_async([event(n)], f"user:{n}"))
            for n in ("x", "y", "z")
        ]
        await asyncio.sleep(0)  # all three queued behind the held leader
        assert len(committer._queue) == 3
        store.release.set()
        return list(await asyncio.gather(*tasks)), threading.get_ident()

    outcomes, loop_thread = asyncio.run(main())
    leader.join(5)
    assert store.transactions == [["lead"], ["x", "y", "z"]]
    assert outcomes == [[2], [3], [4]]
    assert store.threads[1] == loop_thread  # the loop led the second group itself


def test_a_thread_joins_a_group_led_by_the_loop() -> None:
    store = FakeStore()
    committer = GroupCommitter(store.write)
    outcome: list[Any] = []

    async def main() -> list[Any]:
        first = asyncio.ensure_future(committer.insert_async([event("a")], "user:1"))
        await asyncio.sleep(0)  # queued, its group scheduled for the next turn
        thread = threading.Thread(
            target=lambda: outcome.append(committer.insert([event("t")], "user:t"))
        )
        thread.start()
        for _ in range(5000):  # the thread queues as a follower (the loop leads)
            if len(committer._queue) == 2:
                break
            time.sleep(0.001)
        result = await first
        thread.join(5)
        return [result]

    assert asyncio.run(main()) == [[1]]
    assert outcome == [[2]]
    assert store.transactions == [["a", "t"]]


def test_after_a_database_failure_the_loop_writes_on_a_worker_thread() -> None:
    store = ThreadRecordingStore()
    committer = GroupCommitter(store.write)

    async def main() -> tuple[list[Any], int]:
        store.down = True
        failed = await insert_each(committer, [(["a"], "user:1"), (["b"], "user:2")])
        store.down = False
        recovered = await committer.insert_async([event("c")], "user:3")
        again = await committer.insert_async([event("d")], "user:4")
        return [failed, recovered, again], threading.get_ident()

    (failed, recovered, again), loop_thread = asyncio.run(main())
    assert all(isinstance(o, OperationalError) for o in failed)
    assert (recovered, again) == ([1], [2])
    # The failed group ran on the loop; the next, led after the failure, on a worker
    # thread (a connection attempt must not hold the loop); then the loop again.
    assert store.threads[0] == loop_thread
    assert store.threads[1] != loop_thread
    assert store.threads[2] == loop_thread


def test_a_cancelled_coroutine_does_not_disturb_its_group() -> None:
    store = FakeStore()
    committer = GroupCommitter(store.write)

    async def main() -> Any:
        doomed = asyncio.ensure_future(committer.insert_async([event("gone")], "user:1"))
        kept = asyncio.ensure_future(committer.insert_async([event("kept")], "user:2"))
        await asyncio.sleep(0)
        doomed.cancel()
        return await asyncio.wait_for(kept, 5)

    assert asyncio.run(main()) == [2]
    # The cancelled caller's events were already queued: they are written (as a thread
    # caller's would be if its client went away), and nothing raised in the leader.
    assert [n for n, _ in store.rows] == ["gone", "kept"]
    assert committer.insert([event("next")], "user:3") == [3]


def test_a_closed_loop_handed_the_lead_is_skipped() -> None:
    store = FakeStore()
    committer = GroupCommitter(store.write)
    leader = held_leader(committer, store)
    loop = asyncio.new_event_loop()
    task = loop.create_task(committer.insert_async([event("orphan")], "user:1"))
    loop.run_until_complete(asyncio.sleep(0.01))
    assert len(committer._queue) == 1
    task.cancel()
    loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
    loop.close()
    store.release.set()
    leader.join(5)
    assert not leader.is_alive()
    # The lead could not go to the closed loop: its member was dropped, nobody hangs.
    done: list[Any] = []
    later = threading.Thread(target=lambda: done.append(committer.insert([event("x")], "u")))
    later.start()
    later.join(5)
    assert done == [[2]]
    assert [n for n, _ in store.rows] == ["lead", "x"]


def test_disabled_coroutines_write_alone_off_the_loop() -> None:
    store = ThreadRecordingStore()
    committer = GroupCommitter(store.write, enabled=False)

    async def main() -> tuple[list[Any], int]:
        return await insert_each(committer, [(["a"], "u"), (["b"], "u")]), threading.get_ident()

    outcomes, loop_thread = asyncio.run(main())
    assert sorted(outcomes) == [[1], [2]]
    assert sorted(store.transactions) == [["a"], ["b"]]
    assert loop_thread not in store.threads


def test_a_lead_scheduled_on_a_loop_that_closed_is_adopted_by_a_waiting_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(group_commit, "ORPHAN_CHECK_SECONDS", 0.05)
    store = FakeStore()
    committer = GroupCommitter(store.write)
    loop = asyncio.new_event_loop()
    task = loop.create_task(committer.insert_async([event("orphan")], "user:1"))
    loop.stop()  # before it runs: one turn, as both loops document it
    loop.run_forever()  # the task queued and scheduled its group for the next turn
    assert committer._leading
    task.cancel()
    loop.close()  # the next turn never comes
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(committer.insert([event("t")], "u")))
    thread.start()
    thread.join(5)
    assert not thread.is_alive()
    assert done == [[1]]
    assert store.transactions == [["t"]]  # the closed loop's caller is gone: not written
    assert not committer._leading


def test_a_thread_waits_for_a_loop_that_is_slow_to_lead(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loop busy elsewhere when its group's turn comes still leads it: the waiting
    thread only adopts the lead of a loop that has closed."""
    monkeypatch.setattr(group_commit, "ORPHAN_CHECK_SECONDS", 0.02)
    store = ThreadRecordingStore()
    committer = GroupCommitter(store.write)
    outcome: list[Any] = []

    async def main() -> tuple[Any, int]:
        first = asyncio.ensure_future(committer.insert_async([event("a")], "user:1"))
        await asyncio.sleep(0)  # queued; its group is scheduled after this step
        thread = threading.Thread(
            target=lambda: outcome.append(committer.insert([event("t")], "user:t"))
        )
        thread.start()
        time.sleep(0.3)  # the loop is busy: the thread checks several times meanwhile
        result = await first
        thread.join(5)
        return result, threading.get_ident()

    result, loop_thread = asyncio.run(main())
    assert (result, outcome) == ([1], [[2]])
    assert store.transactions == [["a", "t"]]
    assert store.threads == [loop_thread]


def test_a_troubled_loop_without_its_executor_writes_itself() -> None:
    store = ThreadRecordingStore()
    committer = GroupCommitter(store.write)
    committer._troubled = True  # the last write failed: the next goes to a worker thread

    async def main() -> tuple[Any, int]:
        await asyncio.get_running_loop().shutdown_default_executor()  # as when ending
        ids = await asyncio.wait_for(committer.insert_async([event("a")], "u"), 5)
        return ids, threading.get_ident()

    ids, loop_thread = asyncio.run(main())
    assert ids == [1]
    assert store.threads == [loop_thread]
