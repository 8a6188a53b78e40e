"""NPS surveys: ``POST /contacts/{id}/nps`` records an answer, ``/nps`` lists them.

The NPS report is ``GET /reports/nps`` (`crm_ledger.api.routers.reports`).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from crm_ledger import surveys
from crm_ledger.api.deps import (
    READ_WAIT_SECONDS,
    CrmDep,
    PrincipalDep,
    runner_of,
    wait_for_read_model,
)
from crm_ledger.api.responses import etag, written_response
from crm_ledger.api.routers.activities import Cursor, MinPosition, cursor_key
from crm_ledger.api.schemas.surveys import GroupName, NpsAnswer, NpsPage, NpsPublic
from crm_ledger.domain.survey import nps_snapshot
from crm_ledger.projections.contacts import encode_cursor
from crm_ledger.projections.runner import ProjectionRunner
from crm_ledger.projections.surveys import NpsFilter, list_nps

router = APIRouter(tags=["surveys"])


async def get_surveys_runner(request: Request) -> ProjectionRunner:
    """The runner that keeps the survey read model up to date."""
    return runner_of(request, "surveys")


SurveysRunnerDep = Annotated[ProjectionRunner, Depends(get_surveys_runner)]


@router.post(
    "/contacts/{contact_id}/nps",
    status_code=201,
    response_model=NpsPublic,
    summary="Record a contact's answer to an NPS survey (0 to 10)",
    description="Answers are never changed; a person who answers again gives a new answer. "
    "For a contact merged into another, the answer is recorded for the survivor.",
)
def record_answer(
    contact_id: UUID, body: NpsAnswer, crm: CrmDep, principal: PrincipalDep
) -> Response:
    written = surveys.record_nps(crm, contact_id, actor=principal.actor, **body.model_dump())
    location = f"/nps/{written.aggregate.id}"
    return written_response(written, nps_snapshot, 201, location=location)


@router.get("/nps", summary="List NPS answers, newest answered first")
def list_answers(
    crm: CrmDep,
    runner: SurveysRunnerDep,
    principal: PrincipalDep,
    survey: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    contact_id: UUID | None = None,
    group: GroupName | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> NpsPage:
    wait_for_read_model(crm, runner, min_position, name="surveys", timeout=READ_WAIT_SECONDS)
    filters = NpsFilter(
        survey=survey, contact_id=None if contact_id is None else str(contact_id), group=group
    )
    with crm.db.transaction(write=False) as tx:
        items, key = list_nps(tx, filters, limit=limit, after=cursor_key(cursor))
    return NpsPage(
        items=[NpsPublic.model_validate(i) for i in items],
        next_cursor=None if key is None else encode_cursor(key),
    )


@router.get("/nps/{response_id}", summary="Read one NPS answer")
def get_answer(
    response_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> NpsPublic:
    answer = surveys.get_nps(crm, response_id)
    response.headers["ETag"] = etag(answer)
    return NpsPublic.model_validate(nps_snapshot(answer))
