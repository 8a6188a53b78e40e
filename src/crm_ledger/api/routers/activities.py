"""``/activities``: calls, emails, meetings, notes and tasks about contacts, deals, leads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime

from crm_ledger import activities
from crm_ledger.api.deps import (
    READ_WAIT_SECONDS,
    CrmDep,
    ExpectedVersionDep,
    PrincipalDep,
    malformed_cursor,
    runner_of,
)
from crm_ledger.api.deps import wait_for_read_model as wait_for_model
from crm_ledger.api.problems import ProblemError
from crm_ledger.api.responses import POSITION_HEADER, etag, resource_response
from crm_ledger.api.schemas.activities import (
    ActivityCancel,
    ActivityCreate,
    ActivityPage,
    ActivityPublic,
    ActivityUpdate,
)
from crm_ledger.application import CrmApplication, Written
from crm_ledger.domain.activity import activity_snapshot, stamp
from crm_ledger.projections.activities import SEP, ActivityFilter, Due, list_activities
from crm_ledger.projections.contacts import decode_cursor, encode_cursor
from crm_ledger.projections.runner import ProjectionRunner

router = APIRouter(prefix="/activities", tags=["activities"])

MinPosition = Annotated[
    int | None,
    Query(
        ge=0,
        description=f"wait until the read model reflects this {POSITION_HEADER} "
        "(default: every write acknowledged before this request)",
    ),
]
Cursor = Annotated[str | None, Query(max_length=1000)]


async def get_activities_runner(request: Request) -> ProjectionRunner:
    """The runner that keeps the activities read model up to date."""
    return runner_of(request, "activities")


ActivitiesRunnerDep = Annotated[ProjectionRunner, Depends(get_activities_runner)]


def wait_for_read_model(
    crm: CrmApplication, runner: ProjectionRunner, min_position: int | None
) -> None:
    """Block until the activities read model reached `min_position` (default: the head)."""
    wait_for_model(crm, runner, min_position, name="activities", timeout=READ_WAIT_SECONDS)


def cursor_key(cursor: str | None) -> str | None:
    """The sort key inside a cursor this API returned (400 when malformed)."""
    if not cursor:
        return None
    try:
        key = decode_cursor(cursor)
        if SEP not in key:  # every sort key this API issues has one
            raise ValueError("malformed cursor")
    except ValueError:
        raise malformed_cursor() from None
    return key


def _answer(written: Written, status: int = 200) -> Response:
    """The activity as JSON with its ETag and log position."""
    return resource_response(written, activity_snapshot, "/activities", status)


@router.post("", status_code=201, response_model=ActivityPublic, summary="Log an activity")
async def log_activity(body: ActivityCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    written = await activities.log_activity_async(crm, actor=principal.actor, **body.fields())
    return _answer(written, 201)


@router.get("", summary="List activities: a record's activities, or tasks due per assignee")
def list_all(
    crm: CrmDep,
    runner: ActivitiesRunnerDep,
    principal: PrincipalDep,
    kind: Annotated[str | None, Query(pattern="^(call|email|meeting|note|task)$")] = None,
    assignee: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    due: Annotated[
        Due | None,
        Query(description="open tasks due before (overdue) or on (today) the day as_of"),
    ] = None,
    as_of: Annotated[
        date | None, Query(description="the day `due` is relative to (default: today, UTC)")
    ] = None,
    remind_before: Annotated[
        AwareDatetime | None,
        Query(description="open tasks whose reminder time is at or before this time"),
    ] = None,
    contact_id: UUID | None = None,
    deal_id: UUID | None = None,
    lead_id: UUID | None = None,
    completed: bool | None = None,
    cancelled: Annotated[
        bool, Query(description="list cancelled activities instead of the others")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> ActivityPage:
    links = [
        (t, str(i))
        for t, i in (("contact", contact_id), ("deal", deal_id), ("lead", lead_id))
        if i is not None
    ]
    if len(links) > 1:
        raise ProblemError(
            400,
            "too_many_links",
            "One record at a time",
            "give at most one of contact_id, deal_id, lead_id",
        )
    wait_for_read_model(crm, runner, min_position)
    after = cursor_key(cursor)
    filters = ActivityFilter(
        as_of=as_of or datetime.now(UTC).date(),
        kind=kind,
        assignee=assignee,
        due=due,
        remind_before=None if remind_before is None else stamp(remind_before),
        link=links[0] if links else None,
        completed=completed,
        cancelled=cancelled,
    )
    with crm.db.transaction(write=False) as tx:
        items, next_key = list_activities(tx, filters, limit=limit, after=after)
    return ActivityPage(
        items=[ActivityPublic.model_validate(i) for i in items],
        next_cursor=None if next_key is None else encode_cursor(next_key),
    )


@router.get("/{activity_id}", summary="Read one activity")
def get_activity(
    activity_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> ActivityPublic:
    activity = activities.get_activity(crm, activity_id)
    response.headers["ETag"] = etag(activity)
    return ActivityPublic.model_validate(activity_snapshot(activity))


@router.patch(
    "/{activity_id}",
    response_model=ActivityPublic,
    summary="Change some fields or reassign a task (If-Match required)",
)
def update_activity(
    activity_id: UUID,
    body: ActivityUpdate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = activities.update_activity(
        crm, activity_id, expected_version=version, actor=principal.actor, changes=body.changes()
    )
    return _answer(written)


@router.post(
    "/{activity_id}/complete", response_model=ActivityPublic, summary="Complete a task (If-Match)"
)
def complete_activity(
    activity_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    written = activities.complete_activity(
        crm, activity_id, expected_version=version, actor=principal.actor
    )
    return _answer(written)


@router.post(
    "/{activity_id}/reopen",
    response_model=ActivityPublic,
    summary="Reopen a completed task (If-Match)",
)
def reopen_activity(
    activity_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    written = activities.reopen_activity(
        crm, activity_id, expected_version=version, actor=principal.actor
    )
    return _answer(written)


@router.post(
    "/{activity_id}/cancel",
    response_model=ActivityPublic,
    summary="Cancel an activity, optionally saying why (If-Match)",
)
def cancel_activity(
    activity_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
    body: ActivityCancel | None = None,
) -> Response:
    written = activities.cancel_activity(
        crm,
        activity_id,
        expected_version=version,
        actor=principal.actor,
        reason=None if body is None else body.reason,
    )
    return _answer(written)
