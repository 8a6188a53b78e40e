"""GroupCommitter: concurrent inserts share transactions, each caller gets its own outcome.

A fake writer stands in for the recorder: it hands out notification ids, records each
transaction it was asked to write, and can be told to fail. A barrier inside the first
write holds the "transaction" open while other callers queue, so grouping is deterministic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent

from crm_ledger.storage.group_commit import GroupCommitter


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
