"""``/quotes``: offers to customers, revised, sent, accepted or rejected, then converted
into a sales order (``POST /quotes/{id}/convert``, one atomic step)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from crm_ledger import documents
from crm_ledger.api.deps import CrmDep, ExpectedVersionDep, PrincipalDep
from crm_ledger.api.read_model_pages import read_model_page
from crm_ledger.api.responses import etag, history_page, resource_response
from crm_ledger.api.routers.activities import Cursor, MinPosition
from crm_ledger.api.schemas.contacts import HistoryPage
from crm_ledger.api.schemas.documents import (
    OrderPublic,
    QuoteCreate,
    QuotePage,
    QuotePublic,
    QuoteReject,
    QuoteRevise,
    QuoteStatusName,
)
from crm_ledger.application import Written
from crm_ledger.domain.order import order_snapshot
from crm_ledger.domain.quote import quote_snapshot
from crm_ledger.projections.sales_documents import QUOTES, list_documents

router = APIRouter(prefix="/quotes", tags=["quotes"])


def _answer(written: Written, status: int = 200) -> Response:
    """The quote as JSON with its ETag and log position."""
    return resource_response(written, quote_snapshot, "/quotes", status)


@router.post("", status_code=201, response_model=QuotePublic, summary="Draft a quote")
def create_quote(body: QuoteCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    return _answer(documents.create_quote(crm, actor=principal.actor, **body.fields()), 201)


@router.get("", summary="List quotes, newest first: by customer and status")
def list_quotes(
    request: Request,
    principal: PrincipalDep,
    customer_id: UUID | None = None,
    status: QuoteStatusName | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> QuotePage:
    page = read_model_page(
        request,
        "quotes",
        min_position,
        cursor,
        lambda tx, after: list_documents(
            tx,
            QUOTES,
            customer_id=None if customer_id is None else str(customer_id),
            status=status,
            limit=limit,
            after=after,
        ),
    )
    return QuotePage.model_validate(page)


@router.get("/{quote_id}", summary="Read one quote")
def get_quote(
    quote_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> QuotePublic:
    quote = documents.get_quote(crm, quote_id)
    response.headers["ETag"] = etag(quote)
    return QuotePublic.model_validate(quote_snapshot(quote))


@router.post(
    "/{quote_id}/revise",
    response_model=QuotePublic,
    summary="New revision of a draft or sent quote: revision + 1, draft again (If-Match)",
)
def revise_quote(
    quote_id: UUID,
    body: QuoteRevise,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = documents.revise_quote(
        crm, quote_id, expected_version=version, actor=principal.actor, **body.fields()
    )
    return _answer(written)


@router.post("/{quote_id}/send", response_model=QuotePublic, summary="Send a draft (If-Match)")
def send_quote(
    quote_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    return _answer(
        documents.send_quote(crm, quote_id, expected_version=version, actor=principal.actor)
    )


@router.post(
    "/{quote_id}/accept",
    response_model=QuotePublic,
    summary="Customer accepts a sent quote, until valid_until (If-Match)",
)
def accept_quote(
    quote_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    return _answer(
        documents.accept_quote(crm, quote_id, expected_version=version, actor=principal.actor)
    )


@router.post(
    "/{quote_id}/reject",
    response_model=QuotePublic,
    summary="Customer rejects a sent quote, with a reason (If-Match)",
)
def reject_quote(
    quote_id: UUID,
    body: QuoteReject,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = documents.reject_quote(
        crm, quote_id, expected_version=version, actor=principal.actor, reason=body.reason
    )
    return _answer(written)


@router.post(
    "/{quote_id}/expire",
    response_model=QuotePublic,
    summary="Mark a draft or sent quote expired, once past valid_until (If-Match)",
)
def expire_quote(
    quote_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    return _answer(
        documents.expire_quote(crm, quote_id, expected_version=version, actor=principal.actor)
    )


@router.post(
    "/{quote_id}/convert",
    status_code=201,
    response_model=OrderPublic,
    summary="Make a sales order from an accepted quote; answers the ORDER (If-Match: quote)",
)
def convert_quote(
    quote_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    written = documents.convert_quote(
        crm, quote_id, expected_version=version, actor=principal.actor
    )
    return resource_response(written, order_snapshot, "/orders", 201)


@router.get("/{quote_id}/history", summary="Every change, each revision's lines included")
def quote_history(
    quote_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> HistoryPage:
    documents.get_quote(crm, quote_id)
    return history_page(crm.history(quote_id), limit, cursor)
