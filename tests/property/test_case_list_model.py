"""The cases read model's SLA filter agrees with the SLA states a case shows.

Hypothesis draws cases (priority, opening time) and their steps at increasing times
(responses, waits, resumes, priority changes, resolutions, reopenings), stores them,
lets the read model catch up and then, at several reading times, the cases that
``breached=true`` lists must be exactly those whose shown SLA states (`present`, computed
in Python from the aggregate) have a breached clock, and ``breached=false`` the others.
A rebuild of the read model gives the same table. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crm_ledger.domain.case import Case, CaseError, case_snapshot, present
from crm_ledger.projections.cases import CaseFilter, list_cases
from tests.property.projection_helpers import application, catch_up, rebuild, table_contents

ACTOR = "user:prop"
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
STEPS = ("respond", "wait", "resume", "priority", "resolve", "reopen", "close")

hours = st.floats(min_value=0, max_value=60, allow_nan=False).map(lambda h: round(h, 2))
steps = st.lists(st.tuples(st.sampled_from(STEPS), hours), max_size=6)
cases = st.lists(
    st.tuples(st.sampled_from(["low", "normal", "high", "urgent"]), hours, steps),
    min_size=1,
    max_size=6,
)


def run(case: Case, step: str, when: datetime) -> None:
    with suppress(CaseError):  # refused in this status: nothing recorded
        if step == "priority":
            case.set_priority("urgent" if case.priority != "urgent" else "low", actor=ACTOR)
        elif step == "resolve":
            case.resolve(resolution="done", actor=ACTOR, now=when)
        elif step == "reopen":
            case.reopen(reason="back", actor=ACTOR)
        elif step == "close":
            case.close(actor=ACTOR)
        else:
            getattr(case, step)(actor=ACTOR, now=when)


def breached(case: Case, now: datetime) -> bool:
    sla: dict[str, Any] = present(case_snapshot(case), now)["sla"]
    return "breached" in (sla["first_response"], sla["resolution"])


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=cases, readings=st.lists(hours, min_size=1, max_size=4))
# waiting on the customer within the time (paused) and after it (breached), read later
@example(
    drawn=[
        ("urgent", 0.0, [("respond", 0.5), ("wait", 0.5)]),
        ("urgent", 0.0, [("respond", 0.5), ("wait", 5.0)]),
        ("high", 1.0, [("respond", 5.0), ("resolve", 1.0)]),
    ],
    readings=[0.1, 10.0],
)
def test_the_breached_filter_lists_exactly_the_cases_shown_breached(
    new_database: Callable[[], str],
    tmp_path: Path,
    drawn: list[tuple[str, float, list[tuple[str, float]]]],
    readings: list[float],
) -> None:
    with application(new_database(), tmp_path) as crm:
        contact = uuid.uuid4()  # the read model does not check contacts
        made: list[Case] = []
        for priority, opened, case_steps in drawn:
            when = T0 + timedelta(hours=opened)
            case = Case.open(
                contact_id=contact, subject="s", priority=priority, actor=ACTOR, now=when
            )
            for step, later in case_steps:
                when += timedelta(hours=later)
                run(case, step, when)
            crm.store(case, actor=ACTOR)
            made.append(case)
        catch_up(crm, ("cases",), 3)
        for reading in readings:
            now = T0 + timedelta(hours=reading * 3)
            for flag in (True, False):
                with crm.db.transaction(write=False) as tx:
                    items, more = list_cases(
                        tx, CaseFilter(breached=flag), order="-created", limit=50, after=None,
                        now=now,
                    )  # fmt: skip
                assert more is None
                expected = {str(c.id) for c in made if breached(c, now) is flag}
                assert {item["id"] for item in items} == expected

        contents = table_contents(crm, ("cases",))
        rebuild(crm, ("cases",), bulk=True, batch_size=2)
        assert table_contents(crm, ("cases",)) == contents
