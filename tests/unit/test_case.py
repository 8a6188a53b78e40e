"""The Case aggregate: its status rules and its SLA clocks, at fixed times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from crm_ledger.domain.case import (
    SLA_HOURS,
    Case,
    CaseError,
    Priority,
    case_snapshot,
    present,
)
from crm_ledger.domain.errors import InvalidCommandError

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACTOR = "user:ana"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_case(priority: str = "normal") -> Case:
    return Case.open(
        contact_id=uuid4(), subject=" Wrong address ", priority=priority, actor=ACTOR, now=T0
    )


def sla(case: Case, hours: float) -> dict[str, Any]:
    shown: dict[str, Any] = present(case_snapshot(case), at(hours))["sla"]
    return shown


@pytest.mark.parametrize("priority", list(Priority))
def test_due_times_follow_the_priority(priority: Priority) -> None:
    case = new_case(priority.value)
    respond, resolve = SLA_HOURS[priority]
    assert (case.respond_by, case.resolve_by) == (text(at(respond)), text(at(resolve)))
    assert case.subject == "Wrong address"
    assert (case.status_value, sla(case, 0)["first_response"]) == ("new", "running")
    assert sla(case, respond + 0.01)["first_response"] == "breached"


def test_first_response_stops_its_clock_and_opens_the_case() -> None:
    case = new_case("urgent")  # respond within 1 h, resolve within 4 h
    case.respond(actor=ACTOR, now=at(0.5))
    case.respond(actor=ACTOR, now=at(2))  # later replies do not move it
    assert (case.status_value, case.responses, case.first_response_at) == (
        "open",
        2,
        text(at(0.5)),
    )
    assert sla(case, 3) == {**sla(case, 3), "first_response": "met", "resolution": "running"}
    assert sla(case, 4.5)["resolution"] == "breached"

    late = new_case("urgent")
    late.respond(actor=ACTOR, now=at(1.5))
    assert sla(late, 1.6)["first_response"] == "breached"  # stopped, but late


def test_waiting_on_the_customer_pauses_the_resolution_clock() -> None:
    case = new_case("urgent")  # resolve by T0 + 4 h
    case.respond(actor=ACTOR, now=at(0.5))
    case.wait(actor=ACTOR, now=at(1))
    assert (case.status_value, sla(case, 10)["resolution"]) == ("pending", "paused")
    case.resume(actor=ACTOR, now=at(3))  # waited 2 h: due 6 h
    assert case.resolve_by == text(at(6))
    assert case.waited_seconds == 7200
    assert sla(case, 5.9)["resolution"] == "running"
    case.wait(actor=ACTOR, now=at(4))
    case.resolve(resolution="fixed", actor=ACTOR, now=at(9))  # waited 5 h more: due 11 h
    assert (case.resolve_by, case.waited_seconds) == (text(at(11)), 7200 + 18000)
    assert sla(case, 20)["resolution"] == "met"

    waited_late = new_case("urgent")
    waited_late.respond(actor=ACTOR, now=at(0.5))
    waited_late.wait(actor=ACTOR, now=at(5))  # the clock had already run out
    assert sla(waited_late, 6)["resolution"] == "breached"


def test_a_new_priority_moves_the_due_times_from_the_opening() -> None:
    case = new_case("low")
    case.respond(actor=ACTOR, now=at(1))
    case.wait(actor=ACTOR, now=at(2))
    case.resume(actor=ACTOR, now=at(3))  # waited 1 h
    case.set_priority("high", actor=ACTOR)
    assert (case.respond_by, case.resolve_by) == (text(at(4)), text(at(25)))
    events = case.collect_events()
    case.set_priority("high", actor=ACTOR)  # the same: nothing recorded
    assert case.collect_events() == []
    assert type(events[-1]).__name__ == "Prioritised"
    with pytest.raises(InvalidCommandError):
        case.set_priority("critical", actor=ACTOR)


def test_resolve_close_reopen_and_rate() -> None:
    case = new_case()
    with pytest.raises(CaseError):
        case.rate(score=5, comment=None, actor=ACTOR)  # not resolved
    case.resolve(resolution="re-issued", actor=ACTOR, now=at(2))
    with pytest.raises(InvalidCommandError):
        case.rate(score=6, comment=None, actor=ACTOR)
    with pytest.raises(InvalidCommandError):
        case.rate(score=True, comment=None, actor=ACTOR)
    case.rate(score=4, comment="quick", actor=ACTOR)
    with pytest.raises(CaseError):
        case.rate(score=5, comment=None, actor=ACTOR)  # once per resolution
    case.close(actor=ACTOR)
    for refused in (
        lambda: case.respond(actor=ACTOR),
        lambda: case.wait(actor=ACTOR),
        lambda: case.close(actor=ACTOR),
        lambda: case.update(actor=ACTOR, subject="x"),
        lambda: case.set_priority("urgent", actor=ACTOR),
        lambda: case.resolve(resolution="again", actor=ACTOR),
    ):
        with pytest.raises(CaseError):
            refused()
    with pytest.raises(InvalidCommandError):
        case.reopen(reason=" ", actor=ACTOR)
    case.reopen(reason="still wrong", actor=ACTOR)
    assert (case.status_value, case.resolved_at, case.rating) == ("open", None, None)
    case.resolve(resolution="fixed for real", actor=ACTOR, now=at(100))
    assert sla(case, 101)["resolution"] == "breached"  # 72 h for normal
    case.rate(score=2, comment=None, actor=ACTOR)  # a new resolution may be rated


def test_bad_values_are_refused() -> None:
    with pytest.raises(InvalidCommandError):
        Case.open(contact_id=uuid4(), subject="", actor=ACTOR)
    with pytest.raises(InvalidCommandError):
        Case.open(contact_id=uuid4(), subject="x" * 201, actor=ACTOR)
    with pytest.raises(InvalidCommandError):
        Case.open(contact_id=uuid4(), subject="ok", priority="soon", actor=ACTOR)
    case = new_case()
    with pytest.raises(InvalidCommandError):
        case.update(actor=ACTOR, colour="red")
    with pytest.raises(CaseError):
        case.resume(actor=ACTOR)  # not pending
    with pytest.raises(CaseError):
        case.wait(actor=ACTOR)  # new: respond first
