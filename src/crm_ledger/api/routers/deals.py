"""``/deals``: possible sales moving through a pipeline."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from crm_ledger import sales
from crm_ledger.api.deps import CrmDep, ExpectedVersionDep, PrincipalDep
from crm_ledger.api.problems import ProblemError
from crm_ledger.api.read_model_pages import read_model_page
from crm_ledger.api.responses import etag, history_page, resource_response
from crm_ledger.api.routers.activities import Cursor, MinPosition
from crm_ledger.api.schemas.contacts import HistoryPage
from crm_ledger.api.schemas.sales import (
    DealCreate,
    DealLineCreate,
    DealLineUpdate,
    DealLose,
    DealMove,
    DealPage,
    DealPublic,
    DealUpdate,
)
from crm_ledger.application import Written
from crm_ledger.domain.deal import deal_snapshot
from crm_ledger.projections.deals import DealFilter, list_deals

router = APIRouter(prefix="/deals", tags=["deals"])


def _answer(written: Written, status: int = 200) -> Response:
    """The deal as JSON with its ETag and log position."""
    return resource_response(written, deal_snapshot, "/deals", status)


@router.post("", status_code=201, response_model=DealPublic, summary="Open a deal")
def create_deal(body: DealCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    written = sales.create_deal(crm, actor=principal.actor, **body.fields())
    return _answer(written, 201)


@router.get(
    "",
    summary="List deals across pipelines, newest first",
    description="Filter by contact, pipeline, stage, status, owner and an inclusive range "
    "of expected close dates (deals without one never match a range). Each item is the "
    "deal as `GET /deals/{id}` shows it.",
)
def list_all(
    request: Request,
    principal: PrincipalDep,
    contact_id: UUID | None = None,
    pipeline_id: UUID | None = None,
    stage_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    status: Literal["open", "won", "lost"] | None = None,
    owner: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    expected_close_from: date | None = None,
    expected_close_to: date | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> DealPage:
    if expected_close_from and expected_close_to and expected_close_from > expected_close_to:
        detail = "`expected_close_to` is before `expected_close_from`"
        raise ProblemError(400, "invalid_range", "Invalid range", detail)
    filters = DealFilter(
        contact_id=None if contact_id is None else str(contact_id),
        pipeline_id=None if pipeline_id is None else str(pipeline_id),
        stage_id=stage_id,
        status=status,
        owner=owner,
        close_from=None if expected_close_from is None else expected_close_from.isoformat(),
        close_to=None if expected_close_to is None else expected_close_to.isoformat(),
    )
    page = read_model_page(
        request,
        "deals",
        min_position,
        cursor,
        lambda tx, after: list_deals(tx, filters, limit=limit, after=after),
    )
    return DealPage.model_validate(page)


@router.get("/{deal_id}", summary="Read one deal")
def get_deal(deal_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response) -> DealPublic:
    deal = sales.get_deal(crm, deal_id)
    response.headers["ETag"] = etag(deal)
    return DealPublic.model_validate(deal_snapshot(deal))


@router.patch(
    "/{deal_id}", response_model=DealPublic, summary="Change some fields (If-Match required)"
)
def update_deal(
    deal_id: UUID,
    body: DealUpdate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = sales.update_deal(
        crm, deal_id, expected_version=version, actor=principal.actor, changes=body.changes()
    )
    return _answer(written)


@router.post(
    "/{deal_id}/move", response_model=DealPublic, summary="Move to a stage (If-Match required)"
)
def move_deal(
    deal_id: UUID,
    body: DealMove,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = sales.move_deal(
        crm, deal_id, expected_version=version, actor=principal.actor, stage_id=str(body.stage_id)
    )
    return _answer(written)


@router.post("/{deal_id}/win", response_model=DealPublic, summary="Mark won (If-Match required)")
def win_deal(
    deal_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    return _answer(sales.win_deal(crm, deal_id, expected_version=version, actor=principal.actor))


@router.post(
    "/{deal_id}/lose", response_model=DealPublic, summary="Mark lost, with a reason (If-Match)"
)
def lose_deal(
    deal_id: UUID,
    body: DealLose,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = sales.lose_deal(
        crm, deal_id, expected_version=version, actor=principal.actor, reason=body.reason
    )
    return _answer(written)


@router.post(
    "/{deal_id}/reopen", response_model=DealPublic, summary="Reopen a closed deal (If-Match)"
)
def reopen_deal(
    deal_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    return _answer(sales.reopen_deal(crm, deal_id, expected_version=version, actor=principal.actor))


@router.post(
    "/{deal_id}/lines",
    response_model=DealPublic,
    summary="Add a product line, priced from the catalogue if no unit price (If-Match)",
)
def add_deal_line(
    deal_id: UUID,
    body: DealLineCreate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    """Add a line; the deal's amount becomes the sum of its line totals (the new line is
    the last of ``lines``)."""
    written = sales.add_deal_line(
        crm, deal_id, expected_version=version, actor=principal.actor, **body.fields()
    )
    return _answer(written)


@router.patch(
    "/{deal_id}/lines/{line_id}",
    response_model=DealPublic,
    summary="Change a line's description, quantity, price or discount (If-Match)",
)
def update_deal_line(
    deal_id: UUID,
    line_id: UUID,
    body: DealLineUpdate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = sales.update_deal_line(
        crm,
        deal_id,
        line_id,
        expected_version=version,
        actor=principal.actor,
        changes=body.changes(),
    )
    return _answer(written)


@router.delete(
    "/{deal_id}/lines/{line_id}", response_model=DealPublic, summary="Remove a line (If-Match)"
)
def remove_deal_line(
    deal_id: UUID,
    line_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = sales.remove_deal_line(
        crm, deal_id, line_id, expected_version=version, actor=principal.actor
    )
    return _answer(written)


@router.get("/{deal_id}/history", summary="Every change (stage moves included), with actor")
def deal_history(
    deal_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> HistoryPage:
    sales.get_deal(crm, deal_id)
    return history_page(crm.history(deal_id), limit, cursor)
