"""Every guard of the Activity aggregate (no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest

from crm_ledger.api.problems import DOMAIN_STATUS
from crm_ledger.domain.activity import Activity, ActivityStatus, activity_snapshot
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.sales_errors import (
    ActivityCancelledError,
    ActivityCompletedError,
    ActivityError,
    ActivityLinkError,
    ActivityNotCompletedError,
    ActivityNotTaskError,
)

ACTOR = "user:test"
AT = "2026-03-10T09:00:00.000000Z"
LATER = "2026-03-10T17:00:00.000000Z"
CONTACT = str(uuid4())
LINKS = [{"type": "contact", "id": CONTACT}]


def task(**fields: Any) -> Activity:
    values: dict[str, Any] = {"subject": "Send proposal", "links": LINKS, **fields}
    return Activity.log(kind="task", at=AT, actor=ACTOR, **values)


def call(**fields: Any) -> Activity:
    values: dict[str, Any] = {"subject": "Intro call", "links": LINKS, **fields}
    return Activity.log(kind="call", at=AT, actor=ACTOR, **values)


def unchanged(activity: Activity, command: Callable[[], object], error: type) -> None:
    """`command` raises exactly `error` and records nothing."""
    before = activity.version
    with pytest.raises(error) as info:
        command()
    assert error is type(info.value)
    assert before == activity.version


def replayed(activity: Activity) -> Activity:
    """The activity rebuilt from its own pending events (event bodies only assign)."""
    rebuilt = None
    for e in activity.collect_events():
        rebuilt = e.mutate(rebuilt)
    assert isinstance(rebuilt, Activity)
    return rebuilt


# -- logging --------------------------------------------------------------------------


def test_log_call_defaults_occurred_at_to_logging_time() -> None:
    """A call without occurred_at happened when it was logged; it has no task fields."""
    a = call(body="  Interested  ")
    snap = activity_snapshot(a)
    assert (AT, AT, "Interested") == (snap["occurred_at"], snap["at"], snap["body"])
    assert (None, None, None) == (snap["due_date"], snap["assignee"], snap["remind_at"])
    assert "open" == snap["status"]
    (logged,) = a.collect_events()
    assert ("Logged", ACTOR) == (type(logged).__name__, logged.actor)  # type: ignore[attr-defined]


def test_log_normalises_times_to_utc() -> None:
    """occurred_at and remind_at are stored as RFC 3339 UTC with microseconds."""
    plus_one = timezone(timedelta(hours=1))
    a = call(occurred_at="2026-03-09T16:30:00+01:00")
    assert "2026-03-09T15:30:00.000000Z" == a.occurred_at
    t = task(remind_at=datetime(2026, 3, 10, 8, 0, tzinfo=plus_one), due_date=date(2026, 3, 10))
    assert ("2026-03-10T07:00:00.000000Z", "2026-03-10") == (t.remind_at, t.due_date)


def test_log_task_sits_on_timeline_at_logging_time() -> None:
    """A task has due date, assignee, reminder; no occurred_at; `at` is when it was logged."""
    t = task(due_date="2026-03-12", assignee=" ana ", remind_at="2026-03-12T08:00:00Z")
    snap = activity_snapshot(t)
    assert ("2026-03-12", "ana", None, AT) == (
        snap["due_date"],
        snap["assignee"],
        snap["occurred_at"],
        snap["at"],
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "visit"}, "kind"),
        ({"subject": "  "}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"body": "x" * 10_001}, "body"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-03-10T09:00:00"}, "occurred_at"),
        ({"due_date": "2026-03-10"}, "due_date"),
        ({"assignee": "ana"}, "assignee"),
        ({"remind_at": "2026-03-10T09:00:00Z"}, "remind_at"),
    ],
)
def test_log_call_refuses_bad_values(fields: dict[str, Any], field: str) -> None:
    """Unknown kind, blank or long text, malformed or naive times, task fields on a call."""
    values: dict[str, Any] = {"kind": "call", "subject": "Call", "links": LINKS, **fields}
    with pytest.raises(InvalidCommandError) as info:
        Activity.log(at=AT, actor=ACTOR, **values)
    assert field == info.value.field


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"occurred_at": "2026-03-10T09:00:00Z"}, "occurred_at"),
        ({"due_date": "10/03/2026"}, "due_date"),
        ({"due_date": datetime(2026, 3, 10, tzinfo=UTC)}, "due_date"),
        ({"assignee": 7}, "assignee"),
    ],
)
def test_log_task_refuses_bad_values(fields: dict[str, Any], field: str) -> None:
    """A task takes no occurred_at, a real date, and a text assignee."""
    with pytest.raises(InvalidCommandError) as info:
        task(**fields)
    assert field == info.value.field


@pytest.mark.parametrize(
    "links",
    [
        [],
        [{"type": "invoice", "id": CONTACT}],
        [{"type": "contact", "id": "not-a-uuid"}],
        [{"type": "contact"}],
        [{"type": "contact", "id": CONTACT, "extra": 1}],
        [{"type": "deal", "id": str(uuid4())} for _ in range(21)],
        "contact",
    ],
)
def test_links_are_checked(links: Any) -> None:
    """1 to 20 links, each exactly {type: contact|deal|lead, id: uuid}."""
    with pytest.raises(ActivityLinkError) as info:
        call(links=links)
    assert "links" == info.value.field
    assert issubclass(ActivityLinkError, InvalidCommandError)


def test_duplicate_links_are_kept_once_in_order() -> None:
    """Repeated links collapse; the order of first appearance is kept; ids normalised."""
    deal, lead = str(uuid4()), str(uuid4())
    a = call(
        links=[
            {"type": "deal", "id": deal.upper()},
            {"type": "contact", "id": CONTACT},
            {"type": "deal", "id": deal},
            {"type": "lead", "id": lead},
        ]
    )
    assert [("deal", deal), ("contact", CONTACT), ("lead", lead)] == [
        (link["type"], link["id"]) for link in a.links
    ]


# -- tasks: complete, reopen, reassign --------------------------------------------------


def test_only_tasks_complete_reopen_or_reassign() -> None:
    """A call, email, meeting or note refuses every task command."""
    for kind in ("call", "email", "meeting", "note"):
        a = Activity.log(kind=kind, subject="S", links=LINKS, at=AT, actor=ACTOR)
        unchanged(a, lambda a=a: a.complete(at=LATER, actor=ACTOR), ActivityNotTaskError)
        unchanged(a, lambda a=a: a.reopen(actor=ACTOR), ActivityNotTaskError)
        unchanged(a, lambda a=a: a.reassign(assignee="ben", actor=ACTOR), ActivityNotTaskError)


def test_complete_once_then_reopen_then_complete_again() -> None:
    """Completing twice is refused; reopening an open task is refused."""
    t = task()
    unchanged(t, lambda: t.reopen(actor=ACTOR), ActivityNotCompletedError)
    t.complete(at=LATER, actor="user:ana")
    assert (ActivityStatus.DONE, LATER, "user:ana") == (t.status, t.completed_at, t.completed_by)
    unchanged(t, lambda: t.complete(at=LATER, actor=ACTOR), ActivityCompletedError)
    t.reopen(actor=ACTOR)
    assert (ActivityStatus.OPEN, None, None) == (t.status, t.completed_at, t.completed_by)
    t.complete(at=LATER, actor=ACTOR)
    assert 4 == t.version


def test_reassign_records_previous_and_skips_same_assignee() -> None:
    """Reassigning to the same person is no event; the event names the previous one."""
    t = task(assignee="ana")
    t.reassign(assignee=" ana ", actor=ACTOR)
    assert 1 == t.version
    t.reassign(assignee="ben", actor="user:boss")
    t.reassign(assignee=None, actor=ACTOR)
    events = t.collect_events()
    assert (
        [("ana", "ben", "user:boss"), ("ben", None, ACTOR)]
        == [
            (e.previous, e.assignee, e.actor)  # type: ignore[attr-defined]
            for e in events[1:]
        ]
    )
    assert t.assignee is None


# -- cancel -----------------------------------------------------------------------------


def test_cancelled_activity_refuses_every_change() -> None:
    """After cancel: no update, complete, reopen, reassign or second cancel."""
    t = task(assignee="ana")
    t.cancel(at=LATER, reason=" moved ", actor=ACTOR)
    assert (ActivityStatus.CANCELLED, LATER, "moved") == (
        t.status,
        t.cancelled_at,
        t.cancel_reason,
    )
    unchanged(t, lambda: t.cancel(at=LATER, actor=ACTOR), ActivityCancelledError)
    unchanged(t, lambda: t.update(actor=ACTOR, subject="New"), ActivityCancelledError)
    unchanged(t, lambda: t.complete(at=LATER, actor=ACTOR), ActivityCancelledError)
    unchanged(t, lambda: t.reassign(assignee="ben", actor=ACTOR), ActivityCancelledError)
    unchanged(t, lambda: t.reopen(actor=ACTOR), ActivityCancelledError)


def test_completed_task_must_be_reopened_before_cancel() -> None:
    """Cancelling a completed task is refused; a long reason is refused."""
    t = task()
    t.complete(at=LATER, actor=ACTOR)
    unchanged(t, lambda: t.cancel(at=LATER, actor=ACTOR), ActivityCompletedError)
    t.reopen(actor=ACTOR)
    unchanged(t, lambda: t.cancel(at=LATER, reason="x" * 1001, actor=ACTOR), InvalidCommandError)
    t.cancel(at=LATER, actor=ACTOR)
    assert (ActivityStatus.CANCELLED, None) == (t.status, t.cancel_reason)


def test_a_note_can_be_cancelled() -> None:
    """Cancel is not a task command."""
    n = Activity.log(kind="note", subject="Met at fair", links=LINKS, at=AT, actor=ACTOR)
    n.cancel(at=LATER, actor=ACTOR)
    assert ActivityStatus.CANCELLED == n.status


# -- update -----------------------------------------------------------------------------


def test_update_records_only_differences() -> None:
    """Same values: no event; changed values: one Updated event with just those."""
    t = task(due_date="2026-03-10")
    t.update(actor=ACTOR, subject="Send proposal", due_date=date(2026, 3, 10))
    assert 1 == t.version
    t.update(actor="user:ana", subject="Send the proposal", due_date="2026-03-11", body=None)
    (_, updated) = t.collect_events()
    assert {"subject": "Send the proposal", "due_date": "2026-03-11"} == updated.changes  # type: ignore[attr-defined]
    assert "user:ana" == updated.actor  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("make", "changes", "field"),
    [
        (call, {"due_date": "2026-03-10"}, "due_date"),
        (call, {"remind_at": "2026-03-10T09:00:00Z"}, "remind_at"),
        (call, {"occurred_at": None}, "occurred_at"),
        (call, {"kind": "task"}, "kind"),
        (call, {"assignee": "ana"}, "assignee"),
        (task, {"occurred_at": "2026-03-10T09:00:00Z"}, "occurred_at"),
        (task, {"subject": ""}, "subject"),
    ],
)
def test_update_refuses(make: Callable[[], Activity], changes: dict[str, Any], field: str) -> None:
    """Task fields on others, occurred_at on tasks or cleared, kind, assignee via update."""
    a = make()
    with pytest.raises(InvalidCommandError) as info:
        a.update(actor=ACTOR, **changes)
    assert (field, 1) == (info.value.field, a.version)


def test_update_links_and_clear_task_fields() -> None:
    """Links can be replaced; due_date and remind_at can be cleared with None."""
    deal = str(uuid4())
    t = task(due_date="2026-03-10", remind_at="2026-03-10T08:00:00Z")
    t.update(actor=ACTOR, links=[{"type": "deal", "id": deal}], due_date=None, remind_at=None)
    assert ([{"type": "deal", "id": deal}], None, None) == (t.links, t.due_date, t.remind_at)
    unchanged(t, lambda: t.update(actor=ACTOR, links=[]), ActivityLinkError)


# -- events and replay ------------------------------------------------------------------


def test_every_event_records_its_actor_and_replays_to_the_same_state() -> None:
    """Each command's event carries the actor given; replay rebuilds the same snapshot."""
    t = task(assignee="ana", due_date="2026-03-10")
    t.update(actor="u:2", subject="Call back")
    t.reassign(assignee="ben", actor="u:3")
    t.complete(at=LATER, actor="u:4")
    t.reopen(actor="u:5")
    t.cancel(at=LATER, reason="dup", actor="u:6")
    state = activity_snapshot(t)
    events = list(t.pending_events)
    assert [ACTOR, "u:2", "u:3", "u:4", "u:5", "u:6"] == [e.actor for e in events]  # type: ignore[attr-defined]
    assert ["Logged", "Updated", "Reassigned", "Completed", "Reopened", "Cancelled"] == [
        type(e).__name__ for e in events
    ]
    assert state == activity_snapshot(replayed(t))


def test_activity_errors_are_mapped_to_http_statuses() -> None:
    """State conflicts are 409, a bad link 422."""
    expected = {
        ActivityError: 409,
        ActivityNotTaskError: 409,
        ActivityCompletedError: 409,
        ActivityNotCompletedError: 409,
        ActivityCancelledError: 409,
        ActivityLinkError: 422,
    }
    assert expected == {cls: DOMAIN_STATUS.get(cls) for cls in expected}
