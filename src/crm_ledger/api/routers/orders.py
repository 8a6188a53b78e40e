"""``/orders``: sales orders, made directly or from an accepted quote; confirmed,
delivered in parts (``/delivery-notes``), cancelled, and billed by a draft invoice of
what was delivered but not yet invoiced (``POST /orders/{id}/invoice``)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from crm_ledger import documents
from crm_ledger.api.deps import CrmDep, ExpectedVersionDep, PrincipalDep
from crm_ledger.api.read_model_pages import read_model_page
from crm_ledger.api.responses import etag, resource_response
from crm_ledger.api.routers.activities import Cursor, MinPosition
from crm_ledger.api.schemas.documents import (
    InvoiceFrom,
    OrderCancel,
    OrderCreate,
    OrderPage,
    OrderPublic,
    OrderStatusName,
)
from crm_ledger.api.schemas.invoicing import InvoicePublic
from crm_ledger.application import Written
from crm_ledger.domain.invoice import invoice_snapshot
from crm_ledger.domain.order import order_snapshot
from crm_ledger.projections.sales_documents import ORDERS, list_documents

router = APIRouter(prefix="/orders", tags=["orders"])


def _answer(written: Written, status: int = 200) -> Response:
    """The order as JSON with its ETag and log position."""
    return resource_response(written, order_snapshot, "/orders", status)


def invoice_answer(written: Written) -> Response:
    """A new draft invoice (201) with its ETag, Location and log position."""
    return resource_response(written, invoice_snapshot, "/invoices", 201)


@router.post("", status_code=201, response_model=OrderPublic, summary="Make a sales order")
def create_order(body: OrderCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    return _answer(documents.create_order(crm, actor=principal.actor, **body.fields()), 201)


@router.get("", summary="List sales orders, newest first: by customer and status")
def list_orders(
    request: Request,
    principal: PrincipalDep,
    customer_id: UUID | None = None,
    status: OrderStatusName | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> OrderPage:
    page = read_model_page(
        request,
        "orders",
        min_position,
        cursor,
        lambda tx, after: list_documents(
            tx,
            ORDERS,
            customer_id=None if customer_id is None else str(customer_id),
            status=status,
            limit=limit,
            after=after,
        ),
    )
    return OrderPage.model_validate(page)


@router.get("/{order_id}", summary="Read one sales order")
def get_order(
    order_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> OrderPublic:
    order = documents.get_order(crm, order_id)
    response.headers["ETag"] = etag(order)
    return OrderPublic.model_validate(order_snapshot(order))


@router.post(
    "/{order_id}/confirm", response_model=OrderPublic, summary="Confirm a draft order (If-Match)"
)
def confirm_order(
    order_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    return _answer(
        documents.confirm_order(crm, order_id, expected_version=version, actor=principal.actor)
    )


@router.post(
    "/{order_id}/cancel",
    response_model=OrderPublic,
    summary="Cancel an order not fully delivered nor invoiced, with a reason (If-Match)",
)
def cancel_order(
    order_id: UUID,
    body: OrderCancel,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = documents.cancel_order(
        crm, order_id, expected_version=version, actor=principal.actor, reason=body.reason
    )
    return _answer(written)


@router.post(
    "/{order_id}/invoice",
    status_code=201,
    response_model=InvoicePublic,
    summary="Draft an invoice of everything delivered, not yet invoiced (If-Match: order)",
)
def invoice_order(
    order_id: UUID,
    body: InvoiceFrom,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = documents.invoice_from_order(
        crm, order_id, expected_version=version, actor=principal.actor, **body.model_dump()
    )
    return invoice_answer(written)
