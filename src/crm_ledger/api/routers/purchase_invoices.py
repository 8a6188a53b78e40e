"""``/purchase-invoices`` and ``/payables``: invoices received from suppliers and what we owe.

No VERI*FACTU record here: the supplier issued the invoice and keeps that chain. A
supplier's invoice number is registered once (409 ``purchase_invoice_duplicate``, also
for two concurrent registrations).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from crm_ledger import purchasing
from crm_ledger.api.deps import CrmDep, ExpectedVersionDep, PrincipalDep
from crm_ledger.api.responses import etag, resource_response
from crm_ledger.api.schemas.purchasing import (
    PayablesPublic,
    PurchaseInvoiceCancel,
    PurchaseInvoiceCorrect,
    PurchaseInvoiceCreate,
    PurchaseInvoiceDispute,
    PurchaseInvoicePage,
    PurchaseInvoicePublic,
    PurchaseStatusText,
    SupplierPaymentCreate,
)
from crm_ledger.application import Written
from crm_ledger.domain.purchase_invoice import purchase_invoice_snapshot

router = APIRouter(tags=["purchasing"])
PREFIX = "/purchase-invoices"


def _answer(written: Written, status: int = 200) -> Response:
    """The received invoice as JSON with its ETag and log position."""
    return resource_response(written, purchase_invoice_snapshot, PREFIX, status)


@router.post(
    PREFIX,
    status_code=201,
    response_model=PurchaseInvoicePublic,
    summary="Register a supplier's invoice (409 purchase_invoice_duplicate if its number is)",
)
def register_purchase_invoice(
    body: PurchaseInvoiceCreate, crm: CrmDep, principal: PrincipalDep
) -> Response:
    written = purchasing.register_purchase_invoice(crm, actor=principal.actor, **body.fields())
    return _answer(written, 201)


@router.get(PREFIX, summary="List received invoices in registration order, with filters")
def list_purchase_invoices(
    crm: CrmDep,
    principal: PrincipalDep,
    status: Annotated[PurchaseStatusText | None, Query(description="only this status")] = None,
    due_before: Annotated[
        date | None, Query(description="only those due strictly before this date")
    ] = None,
    supplier_id: Annotated[UUID | None, Query(description="only this supplier's")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> PurchaseInvoicePage:
    items, next_position = purchasing.list_purchase_invoices(
        crm,
        status=status,
        due_before=due_before,
        supplier_id=supplier_id,
        limit=limit,
        after=int(cursor) if cursor else 0,
    )
    return PurchaseInvoicePage(
        items=[PurchaseInvoicePublic.model_validate(purchase_invoice_snapshot(i)) for i in items],
        next_cursor=None if next_position is None else str(next_position),
    )


@router.get(PREFIX + "/{invoice_id}", summary="Read one received invoice")
def get_purchase_invoice(
    invoice_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> PurchaseInvoicePublic:
    invoice = purchasing.get_purchase_invoice(crm, invoice_id)
    response.headers["ETag"] = etag(invoice)
    return PurchaseInvoicePublic.model_validate(purchase_invoice_snapshot(invoice))


@router.patch(
    PREFIX + "/{invoice_id}",
    response_model=PurchaseInvoicePublic,
    summary="Correct dates, lines, currency or notes before approval (If-Match required)",
)
def correct_purchase_invoice(
    invoice_id: UUID,
    body: PurchaseInvoiceCorrect,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = purchasing.correct_purchase_invoice(
        crm, invoice_id, expected_version=version, actor=principal.actor, changes=body.changes()
    )
    return _answer(written)


@router.post(
    PREFIX + "/{invoice_id}/approve",
    response_model=PurchaseInvoicePublic,
    summary="Approve for payment (If-Match required)",
)
def approve_purchase_invoice(
    invoice_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    written = purchasing.approve_purchase_invoice(
        crm, invoice_id, expected_version=version, actor=principal.actor
    )
    return _answer(written)


@router.post(
    PREFIX + "/{invoice_id}/dispute",
    response_model=PurchaseInvoicePublic,
    summary="Contest the invoice with a reason (If-Match required)",
)
def dispute_purchase_invoice(
    invoice_id: UUID,
    body: PurchaseInvoiceDispute,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = purchasing.dispute_purchase_invoice(
        crm, invoice_id, expected_version=version, actor=principal.actor, reason=body.reason
    )
    return _answer(written)


@router.post(
    PREFIX + "/{invoice_id}/payments",
    response_model=PurchaseInvoicePublic,
    summary="Record a full or partial payment of an approved invoice (If-Match required)",
)
def record_payment(
    invoice_id: UUID,
    body: SupplierPaymentCreate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = purchasing.record_payment(
        crm, invoice_id, expected_version=version, actor=principal.actor, **body.model_dump()
    )
    return _answer(written)


@router.post(
    PREFIX + "/{invoice_id}/cancel",
    response_model=PurchaseInvoicePublic,
    summary="Void a registration with no payment, with a reason (If-Match required)",
)
def cancel_purchase_invoice(
    invoice_id: UUID,
    body: PurchaseInvoiceCancel,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = purchasing.cancel_purchase_invoice(
        crm, invoice_id, expected_version=version, actor=principal.actor, reason=body.reason
    )
    return _answer(written)


@router.get(
    "/payables",
    summary="What is owed to suppliers at the end of a day, aged by days past due",
)
def get_payables(
    crm: CrmDep,
    principal: PrincipalDep,
    as_of: Annotated[date | None, Query(description="the day (default today, UTC)")] = None,
) -> PayablesPublic:
    return PayablesPublic.model_validate(purchasing.payables(crm, as_of=as_of))
