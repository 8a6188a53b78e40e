"""``/quotes``: offers to customers, revised, sent, accepted or rejected, then converted
into a sales order (``POST /quotes/{id}/convert``, one atomic step)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Response

from crm_ledger import documents
from crm_ledger.api.deps import CrmDep, ExpectedVersionDep, PrincipalDep
from crm_ledger.api.schemas.contacts import HistoryItem, HistoryPage
from crm_ledger.api.schemas.documents import (
    OrderPublic,
    QuoteCreate,
    QuotePublic,
    QuoteReject,
    QuoteRevise,
)
from crm_ledger.application import Written
from crm_ledger.domain.order import order_snapshot
from crm_ledger.domain.quote import quote_snapshot
from crm_ledger.ledger.envelope import format_timestamp

router = APIRouter(prefix="/quotes", tags=["quotes"])
POSITION_HEADER = "X-Log-Position"


def _answer(written: Written, status: int = 200) -> Response:
    """The quote as JSON with its ETag and log position."""
    quote = written.aggregate
    headers = {"ETag": f'"{quote.version}"'}
    if written.position is not None:
        headers[POSITION_HEADER] = str(written.position)
    if status == 201:
        headers["Location"] = f"/quotes/{quote.id}"
    return Response(
        orjson.dumps(quote_snapshot(quote)), status, headers, media_type="application/json"
    )


@router.post("", status_code=201, response_model=QuotePublic, summary="Draft a quote")
def create_quote(body: QuoteCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    return _answer(documents.create_quote(crm, actor=principal.actor, **body.fields()), 201)


@router.get("/{quote_id}", summary="Read one quote")
def get_quote(
    quote_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> QuotePublic:
    quote = documents.get_quote(crm, quote_id)
    response.headers["ETag"] = f'"{quote.version}"'
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
    order = written.aggregate
    headers = {"ETag": f'"{order.version}"', "Location": f"/orders/{order.id}"}
    if written.position is not None:
        headers[POSITION_HEADER] = str(written.position)
    return Response(
        orjson.dumps(order_snapshot(order)), 201, headers, media_type="application/json"
    )


def _event_data(event: Any) -> dict[str, Any]:
    skip = {"originator_id", "originator_version", "timestamp", "actor", "originator_topic"}
    data = {k: v for k, v in vars(event).items() if k not in skip}
    return {k: (str(v) if isinstance(v, UUID) else v) for k, v in data.items()}


@router.get("/{quote_id}/history", summary="Every change, each revision's lines included")
def quote_history(
    quote_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> HistoryPage:
    documents.get_quote(crm, quote_id)
    after = int(cursor) if cursor else 0
    events = [e for e in crm.history(quote_id) if e.originator_version > after]
    page = events[:limit]
    items = [
        HistoryItem(
            version=e.originator_version,
            event=type(e).__name__,
            at=format_timestamp(e.timestamp),
            actor=getattr(e, "actor", None),
            data=_event_data(e),
        )
        for e in page
    ]
    next_cursor = str(page[-1].originator_version) if len(events) > limit else None
    return HistoryPage(items=items, next_cursor=next_cursor)
