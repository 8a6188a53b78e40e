"""`retry.store_retrying`: rebuild and store again on a concurrent change, never on the
caller's own version mismatch, and give up after a bounded number of attempts."""

from __future__ import annotations

from typing import Any, cast

import pytest

from crm_ledger import retry
from crm_ledger.application import CrmApplication
from crm_ledger.domain.errors import VersionConflictError


class Stored:
    """Stands in for an aggregate: only its identity matters here."""


class FakeCrm:
    """`store` fails with VersionConflictError `conflicts` times, then answers 42."""

    def __init__(self, conflicts: int) -> None:
        self.conflicts = conflicts
        self.stored: list[tuple[Any, ...]] = []

    def store(self, *aggregates: Any, actor: str) -> int:
        self.stored.append(aggregates)
        if len(self.stored) <= self.conflicts:
            raise VersionConflictError(expected=1, actual=None, detail="moved")
        return 42


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(retry.time, "sleep", slept.append)
    return slept


def test_rebuilds_from_fresh_state_after_each_conflict(no_sleep: list[float]) -> None:
    crm = FakeCrm(conflicts=2)
    built: list[tuple[Stored, Stored]] = []

    def build() -> tuple[Stored, Stored]:
        built.append((Stored(), Stored()))
        return built[-1]

    written = retry.store_retrying(
        cast(CrmApplication, crm), build, actor="t", exhausted=RuntimeError("gave up")
    )
    assert len(built) == 3
    assert crm.stored == built  # every attempt stores what that attempt built, all at once
    assert written.aggregate is built[-1][0]
    assert written.position == 42
    assert len(no_sleep) == 2


def test_gives_up_with_the_given_error_after_the_attempts() -> None:
    crm = FakeCrm(conflicts=1000)
    with pytest.raises(RuntimeError, match="gave up"):
        retry.store_retrying(
            cast(CrmApplication, crm),
            lambda: [Stored()],
            actor="t",
            exhausted=RuntimeError("gave up"),
            attempts=4,
        )
    assert len(crm.stored) == 4


def test_a_conflict_raised_while_building_is_not_retried() -> None:
    crm = FakeCrm(conflicts=0)
    calls = 0

    def build() -> list[Stored]:
        nonlocal calls
        calls += 1
        raise VersionConflictError(expected=3, actual=4)  # the caller's If-Match is stale

    with pytest.raises(VersionConflictError) as caught:
        retry.store_retrying(
            cast(CrmApplication, crm), build, actor="t", exhausted=RuntimeError("gave up")
        )
    assert caught.value.expected == 3
    assert calls == 1
    assert crm.stored == []


def test_a_text_gives_up_with_a_version_conflict_saying_it() -> None:
    crm = FakeCrm(conflicts=1000)
    with pytest.raises(VersionConflictError, match=r"^it kept changing$") as caught:
        retry.store_retrying(
            cast(CrmApplication, crm), lambda: [Stored()], actor="t", exhausted="it kept changing"
        )
    assert (caught.value.expected, caught.value.actual) == (None, None)
    assert len(crm.stored) == retry.ATTEMPTS
