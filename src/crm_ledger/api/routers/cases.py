"""``/cases``: customer service requests, their priority, SLA clocks and satisfaction.

Every change is a ledger event and needs ``If-Match``; the SLA states (``running``,
``met``, ``breached``, ``paused``) are computed when a case is read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from crm_ledger import cases
from crm_ledger.api.deps import (
    READ_WAIT_SECONDS,
    CrmDep,
    ExpectedVersionDep,
    PrincipalDep,
    runner_of,
    wait_for_read_model,
)
from crm_ledger.api.responses import etag, history_page, resource_response
from crm_ledger.api.routers.activities import Cursor, MinPosition, cursor_key
from crm_ledger.api.schemas.cases import (
    CaseCreate,
    CasePage,
    CasePriority,
    CasePublic,
    CaseRating,
    CaseReopen,
    CaseResolve,
    CaseStatusName,
    CaseUpdate,
    PriorityName,
)
from crm_ledger.api.schemas.contacts import HistoryPage
from crm_ledger.application import Written
from crm_ledger.domain.case import Case, case_snapshot, present
from crm_ledger.projections.cases import CaseFilter, Order, list_cases
from crm_ledger.projections.contacts import encode_cursor
from crm_ledger.projections.runner import ProjectionRunner

router = APIRouter(prefix="/cases", tags=["cases"])


async def get_cases_runner(request: Request) -> ProjectionRunner:
    """The runner that keeps the cases read model up to date."""
    return runner_of(request, "cases")


CasesRunnerDep = Annotated[ProjectionRunner, Depends(get_cases_runner)]


def shown(case: Case) -> dict[str, Any]:
    """The case as the API shows it: its snapshot with the SLA states as of now."""
    return present(case_snapshot(case))


def _answer(written: Written, status: int = 200) -> Response:
    return resource_response(written, shown, "/cases", status)


@router.post("", status_code=201, response_model=CasePublic, summary="Open a case for a contact")
def open_case(body: CaseCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    written = cases.open_case(crm, actor=principal.actor, **body.model_dump())
    return _answer(written, 201)


@router.get(
    "",
    summary="List cases: filter by status, priority, assignee, contact, SLA breach",
    description="`sort`: `-created` (newest first, default) or `resolve_by` (the earliest "
    "resolution due time first: what to work on next). `breached=true`: either SLA clock "
    "is past its due time (stopped late, or still running now); `false`: neither.",
)
def list_all(
    crm: CrmDep,
    runner: CasesRunnerDep,
    principal: PrincipalDep,
    status: CaseStatusName | None = None,
    priority: PriorityName | None = None,
    assignee: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    contact_id: UUID | None = None,
    breached: bool | None = None,
    sort: Annotated[Order, Query(description="-created (default) or resolve_by")] = "-created",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> CasePage:
    wait_for_read_model(crm, runner, min_position, name="cases", timeout=READ_WAIT_SECONDS)
    filters = CaseFilter(
        status=status,
        priority=priority,
        assignee=assignee,
        contact_id=None if contact_id is None else str(contact_id),
        breached=breached,
    )
    now = datetime.now(UTC)
    with crm.db.transaction(write=False) as tx:
        items, next_key = list_cases(
            tx, filters, order=sort, limit=limit, after=cursor_key(cursor), now=now
        )
    return CasePage(
        items=[CasePublic.model_validate(present(i, now)) for i in items],
        next_cursor=None if next_key is None else encode_cursor(next_key),
    )


@router.get("/{case_id}", summary="Read one case")
def get_case(case_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response) -> CasePublic:
    case = cases.get_case(crm, case_id)
    response.headers["ETag"] = etag(case)
    return CasePublic.model_validate(shown(case))


@router.get("/{case_id}/history", summary="The case's events, oldest first")
def case_history(
    case_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> HistoryPage:
    cases.get_case(crm, case_id)
    return history_page(crm.history(case_id), limit, cursor)


def _change(
    crm: Any, case_id: UUID, version: int, actor: str, command: Callable[[Case], None]
) -> Response:
    written = cases.change_case(
        crm, case_id, expected_version=version, actor=actor, command=command
    )
    return _answer(written)


@router.patch(
    "/{case_id}",
    response_model=CasePublic,
    summary="Change subject, description, channel or assignee (If-Match required)",
)
def update_case(
    case_id: UUID,
    body: CaseUpdate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    actor, changes = principal.actor, body.changes()
    return _change(crm, case_id, version, actor, lambda c: c.update(actor=actor, **changes))


@router.post(
    "/{case_id}/priority",
    response_model=CasePublic,
    summary="Change the priority; the SLA due times follow (If-Match required)",
)
def set_priority(
    case_id: UUID,
    body: CasePriority,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    actor = principal.actor
    return _change(
        crm, case_id, version, actor, lambda c: c.set_priority(body.priority, actor=actor)
    )


#: commands without a body: (path, the case's method, summary)
SIMPLE: tuple[tuple[str, Callable[..., None], str], ...] = (
    (
        "respond",
        Case.respond,
        "A reply was sent to the customer; the first stops the first-response clock",
    ),
    ("wait", Case.wait, "Waiting on the customer: the resolution clock stops"),
    ("resume", Case.resume, "The customer answered: the resolution clock runs again"),
    ("close", Case.close, "Close a resolved case"),
)


def _simple_route(path: str, command: Callable[..., None], summary: str) -> None:
    def route(
        case_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
    ) -> Response:
        actor = principal.actor
        return _change(crm, case_id, version, actor, lambda c: command(c, actor=actor))

    route.__name__ = path
    router.post(
        f"/{{case_id}}/{path}", response_model=CasePublic, summary=f"{summary} (If-Match required)"
    )(route)


for _path, _command, _summary in SIMPLE:
    _simple_route(_path, _command, _summary)


@router.post(
    "/{case_id}/resolve",
    response_model=CasePublic,
    summary="Resolved, saying how (If-Match required)",
)
def resolve(
    case_id: UUID,
    body: CaseResolve,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    actor = principal.actor
    return _change(
        crm, case_id, version, actor, lambda c: c.resolve(resolution=body.resolution, actor=actor)
    )


@router.post(
    "/{case_id}/reopen",
    response_model=CasePublic,
    summary="The problem is back: open a resolved or closed case again (If-Match required)",
)
def reopen(
    case_id: UUID,
    body: CaseReopen,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    actor = principal.actor
    return _change(
        crm, case_id, version, actor, lambda c: c.reopen(reason=body.reason, actor=actor)
    )


@router.post(
    "/{case_id}/rating",
    response_model=CasePublic,
    summary="The customer's satisfaction with the resolution, 1 to 5 (If-Match required)",
)
def rate(
    case_id: UUID,
    body: CaseRating,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    actor = principal.actor
    return _change(
        crm,
        case_id,
        version,
        actor,
        lambda c: c.rate(score=body.score, comment=body.comment, actor=actor),
    )
