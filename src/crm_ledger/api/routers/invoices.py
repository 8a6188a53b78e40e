"""``/invoices``: drafts, issue, cancellation and rectification (never editing an issued one).

Every mutating route here goes through a domain command that refuses to change an issued
invoice (409 ``invoice_issued``); corrections are new records: ``/cancel`` appends an
anulación, ``/rectify`` drafts a NEW invoice.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

import orjson
from fastapi import APIRouter, Body, Query, Response

from crm_ledger import invoicing
from crm_ledger.api.deps import CrmDep, ExpectedVersionDep, PrincipalDep
from crm_ledger.api.schemas.invoicing import (
    InvoiceCancel,
    InvoiceCreate,
    InvoiceIssue,
    InvoicePublic,
    InvoiceRectify,
    InvoiceUpdate,
    InvoiceVerifactu,
)
from crm_ledger.application import Written
from crm_ledger.domain.invoice import invoice_snapshot

router = APIRouter(prefix="/invoices", tags=["invoicing"])
POSITION_HEADER = "X-Log-Position"


def _answer(written: Written, status: int = 200) -> Response:
    """The invoice as JSON with its ETag and log position."""
    invoice = written.aggregate
    headers = {"ETag": f'"{invoice.version}"'}
    if written.position is not None:
        headers[POSITION_HEADER] = str(written.position)
    if status == 201:
        headers["Location"] = f"/invoices/{invoice.id}"
    return Response(
        orjson.dumps(invoice_snapshot(invoice)), status, headers, media_type="application/json"
    )


@router.post("", status_code=201, response_model=InvoicePublic, summary="Draft an invoice")
def create_invoice(body: InvoiceCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    return _answer(invoicing.create_invoice(crm, actor=principal.actor, **body.fields()), 201)


@router.get("/{invoice_id}", summary="Read one invoice (payment status today, or on as_of)")
def get_invoice(
    invoice_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    response: Response,
    as_of: Annotated[
        date | None, Query(description="judge payment_status (overdue) on this day")
    ] = None,
) -> InvoicePublic:
    invoice = invoicing.get_invoice(crm, invoice_id)
    response.headers["ETag"] = f'"{invoice.version}"'
    return InvoicePublic.model_validate(invoice_snapshot(invoice, as_of=as_of))


@router.patch(
    "/{invoice_id}", response_model=InvoicePublic, summary="Change a draft (If-Match required)"
)
def update_invoice(
    invoice_id: UUID,
    body: InvoiceUpdate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = invoicing.update_invoice(
        crm, invoice_id, expected_version=version, actor=principal.actor, changes=body.changes()
    )
    return _answer(written)


@router.post(
    "/{invoice_id}/issue",
    response_model=InvoicePublic,
    summary="Issue a draft: number, totals and VERI*FACTU alta fixed for good (If-Match)",
)
def issue_invoice(
    invoice_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
    body: Annotated[InvoiceIssue | None, Body()] = None,
) -> Response:
    written = invoicing.issue_invoice(
        crm,
        invoice_id,
        expected_version=version,
        actor=principal.actor,
        issue_date=None if body is None else body.issue_date,
    )
    return _answer(written)


@router.post(
    "/{invoice_id}/cancel",
    response_model=InvoicePublic,
    summary="Cancel an issued invoice with a VERI*FACTU anulación record (If-Match)",
)
def cancel_invoice(
    invoice_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
    body: Annotated[InvoiceCancel | None, Body()] = None,
) -> Response:
    written = invoicing.cancel_invoice(
        crm,
        invoice_id,
        expected_version=version,
        actor=principal.actor,
        reason=None if body is None else body.reason,
    )
    return _answer(written)


@router.post(
    "/{invoice_id}/rectify",
    status_code=201,
    response_model=InvoicePublic,
    summary="Draft a NEW rectifying invoice or credit note for an issued one",
)
def rectify_invoice(
    invoice_id: UUID, body: InvoiceRectify, crm: CrmDep, principal: PrincipalDep
) -> Response:
    written = invoicing.rectify_invoice(crm, invoice_id, actor=principal.actor, **body.fields())
    return _answer(written, 201)


@router.get(
    "/{invoice_id}/verifactu",
    summary="The issued invoice's VERI*FACTU alta record, huella and QR URL",
)
def get_verifactu(invoice_id: UUID, crm: CrmDep, principal: PrincipalDep) -> InvoiceVerifactu:
    return InvoiceVerifactu.model_validate(invoicing.invoice_verifactu(crm, invoice_id))
