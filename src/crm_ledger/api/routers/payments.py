"""``/payments``: money received, allocated to invoices; the rest is the customer's credit.

Payments change what an invoice is owed, never its fiscal content, so they live here and
not under ``/invoices`` (whose every mutating route is refused on an issued invoice).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from crm_ledger import payments
from crm_ledger.api.deps import (
    CrmDep,
    ExpectedVersionDep,
    PrincipalDep,
    runner_of,
)
from crm_ledger.api.read_model_pages import read_model_page
from crm_ledger.api.responses import etag, resource_response
from crm_ledger.api.routers.activities import Cursor, MinPosition
from crm_ledger.api.schemas.payments import (
    AllocationCreate,
    PaymentCreate,
    PaymentPage,
    PaymentPublic,
    PaymentRefund,
    PaymentVoid,
)
from crm_ledger.application import Written
from crm_ledger.domain.payment import payment_snapshot
from crm_ledger.projections import payments as payments_model
from crm_ledger.projections.runner import ProjectionRunner

router = APIRouter(prefix="/payments", tags=["payments"])


def _answer(written: Written, status: int = 200) -> Response:
    """The payment as JSON with its ETag and log position."""
    return resource_response(written, payment_snapshot, "/payments", status)


@router.post(
    "",
    status_code=201,
    response_model=PaymentPublic,
    summary="Record a payment, optionally allocated to invoices at once",
)
def record_payment(body: PaymentCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    return _answer(payments.record_payment(crm, actor=principal.actor, **body.fields()), 201)


async def get_payments_runner(request: Request) -> ProjectionRunner:
    """The runner that keeps the payments read model up to date."""
    return runner_of(request, "payments")


PaymentsRunnerDep = Annotated[ProjectionRunner, Depends(get_payments_runner)]


@router.get(
    "",
    summary="List payments, newest received first: by customer, only those with credit",
    description="From the payments read model, which first catches up with every write "
    "acknowledged before the request (or `min_position`). `with_credit=true` keeps the "
    "recorded (not voided) payments that still hold an unallocated amount.",
)
def list_payments(
    request: Request,
    principal: PrincipalDep,
    customer_id: UUID | None = None,
    with_credit: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> PaymentPage:
    page = read_model_page(
        request,
        "payments",
        min_position,
        cursor,
        lambda tx, after: payments_model.list_payments(
            tx,
            customer_id=None if customer_id is None else str(customer_id),
            with_credit=with_credit,
            limit=limit,
            after=after,
        ),
    )
    return PaymentPage.model_validate(page)


@router.get("/{payment_id}", summary="Read one payment (allocations, refunds, credit left)")
def get_payment(
    payment_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> PaymentPublic:
    payment = payments.get_payment(crm, payment_id)
    response.headers["ETag"] = etag(payment)
    return PaymentPublic.model_validate(payment_snapshot(payment))


@router.post(
    "/{payment_id}/allocations",
    response_model=PaymentPublic,
    summary="Allocate part of the payment's credit to an issued invoice (If-Match)",
)
def allocate_payment(
    payment_id: UUID,
    body: AllocationCreate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = payments.allocate_payment(
        crm, payment_id, expected_version=version, actor=principal.actor, **body.fields()
    )
    return _answer(written)


@router.delete(
    "/{payment_id}/allocations/{invoice_id}",
    response_model=PaymentPublic,
    summary="Take back the allocation to an invoice; it becomes credit again (If-Match)",
)
def deallocate_payment(
    payment_id: UUID,
    invoice_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = payments.deallocate_payment(
        crm, payment_id, invoice_id, expected_version=version, actor=principal.actor
    )
    return _answer(written)


@router.post(
    "/{payment_id}/refund",
    response_model=PaymentPublic,
    summary="Refund part of the payment's unallocated credit (If-Match)",
)
def refund_payment(
    payment_id: UUID,
    body: PaymentRefund,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = payments.refund_payment(
        crm, payment_id, expected_version=version, actor=principal.actor, **body.fields()
    )
    return _answer(written)


@router.post(
    "/{payment_id}/void",
    response_model=PaymentPublic,
    summary="Void a payment recorded in error; its allocations are taken back (If-Match)",
)
def void_payment(
    payment_id: UUID,
    body: PaymentVoid,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = payments.void_payment(
        crm, payment_id, expected_version=version, actor=principal.actor, reason=body.reason
    )
    return _answer(written)
