"""``/invoices``: drafts, issue, cancellation and rectification (never editing an issued one).

Every mutating route here goes through a domain command that refuses to change an issued
invoice (409 ``invoice_issued``); corrections are new records: ``/cancel`` appends an
anulación, ``/rectify`` drafts a NEW invoice.

Read-only renderings of an issued invoice: ``GET /invoices/{id}/qr?format=png|svg`` (the
QR of its VERI*FACTU verification URL) and ``GET /invoices/{id}/html`` (also
``GET /invoices/{id}`` when the client prefers ``text/html``): a printable page. A draft
has neither (409 ``invoice_not_issued``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Header, Query, Response

from crm_ledger import invoicing
from crm_ledger.api.deps import CrmDep, ExpectedVersionDep, PrincipalDep
from crm_ledger.api.responses import etag, resource_response
from crm_ledger.api.routers.activities import Cursor, MinPosition, cursor_key
from crm_ledger.api.routers.reports import ReportingRunnerDep, caught_up
from crm_ledger.api.schemas.invoicing import (
    InvoiceCancel,
    InvoiceCreate,
    InvoiceIssue,
    InvoicePage,
    InvoicePublic,
    InvoiceRectify,
    InvoiceSummary,
    InvoiceUpdate,
    InvoiceVerifactu,
)
from crm_ledger.application import CrmApplication, Written
from crm_ledger.domain.invoice import invoice_snapshot, today
from crm_ledger.projections import invoice_list
from crm_ledger.projections.contacts import encode_cursor
from crm_ledger.projections.invoice_list import InvoiceFilter

router = APIRouter(prefix="/invoices", tags=["invoicing"])
HTML = "text/html; charset=utf-8"
QR_MEDIA = {"png": "image/png", "svg": "image/svg+xml"}
HTML_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}}
}


def _quality(accept: str, media: str) -> float:
    """The q value `accept` gives `media` (its most specific matching range; 0 if none)."""
    kind = media.split("/")[0]
    best, found = -1, 0.0
    for item in accept.split(","):
        name, *params = (part.strip() for part in item.split(";"))
        name = name.lower()
        rank = {media: 2, f"{kind}/*": 1, "*/*": 0}.get(name)
        if rank is None or rank < best:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best, found = rank, q
    return found


def wants_html(accept: str | None) -> bool:
    """True when `accept` prefers text/html to application/json (a tie keeps JSON)."""
    if not accept:
        return False
    return _quality(accept, "text/html") > max(_quality(accept, "application/json"), 0.0)


def _answer(written: Written, status: int = 200) -> Response:
    """The invoice as JSON with its ETag and log position."""
    return resource_response(written, invoice_snapshot, "/invoices", status)


@router.post("", status_code=201, response_model=InvoicePublic, summary="Draft an invoice")
def create_invoice(body: InvoiceCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    return _answer(invoicing.create_invoice(crm, actor=principal.actor, **body.fields()), 201)


@router.get(
    "",
    summary="List invoices, newest first (drafts first): filter by status, customer, dates",
    description="Summaries from the reporting read model, which first catches up with "
    "every write acknowledged before the request (or `min_position`). Drafts have no "
    "amounts here (they change until issued). `issued_from` and `issued_to` are "
    "inclusive issue dates and leave drafts out.",
)
def list_invoices(
    crm: CrmDep,
    runner: ReportingRunnerDep,
    principal: PrincipalDep,
    status: Literal["draft", "issued", "cancelled"] | None = None,
    customer_id: UUID | None = None,
    issued_from: Annotated[date | None, Query(description="first issue date")] = None,
    issued_to: Annotated[date | None, Query(description="last issue date")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> InvoicePage:
    caught_up(crm, runner, min_position)
    filters = InvoiceFilter(
        status=status,
        customer_id=None if customer_id is None else str(customer_id),
        issued_from=None if issued_from is None else issued_from.isoformat(),
        issued_to=None if issued_to is None else issued_to.isoformat(),
    )
    with crm.db.transaction(write=False) as tx:
        items, next_key = invoice_list.list_invoices(
            tx, filters, limit=limit, after=cursor_key(cursor), as_of=today()
        )
    return InvoicePage(
        items=[InvoiceSummary.model_validate(i) for i in items],
        next_cursor=None if next_key is None else encode_cursor(next_key),
    )


@router.get(
    "/{invoice_id}",
    response_model=InvoicePublic,
    responses=HTML_RESPONSE,
    summary="Read one invoice (payment status today, or on as_of); HTML if Accept prefers it",
)
def get_invoice(
    invoice_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    response: Response,
    as_of: Annotated[
        date | None, Query(description="judge payment_status (overdue) on this day")
    ] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    if wants_html(accept):
        return _html(crm, invoice_id)
    invoice = invoicing.get_invoice(crm, invoice_id)
    response.headers["ETag"] = etag(invoice)
    response.headers["Vary"] = "Accept"
    return InvoicePublic.model_validate(invoice_snapshot(invoice, as_of=as_of))


def _html(crm: CrmApplication, invoice_id: UUID) -> Response:
    page = invoicing.invoice_html(crm, invoice_id)
    return Response(page, 200, {"Vary": "Accept"}, media_type=HTML)


@router.get(
    "/{invoice_id}/html",
    response_class=Response,
    responses=HTML_RESPONSE,
    summary="The issued invoice as a printable HTML page (QR and VERI*FACTU legend)",
)
def get_invoice_html(invoice_id: UUID, crm: CrmDep, principal: PrincipalDep) -> Response:
    return _html(crm, invoice_id)


@router.get(
    "/{invoice_id}/qr",
    response_class=Response,
    responses={
        200: {
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/svg+xml": {"schema": {"type": "string"}},
            }
        }
    },
    summary="The QR image of the issued invoice's VERI*FACTU verification URL",
)
def get_invoice_qr(
    invoice_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    qr_format: Annotated[
        Literal["png", "svg"], Query(alias="format", description="png (default) or svg")
    ] = "png",
) -> Response:
    image = invoicing.invoice_qr(crm, invoice_id, kind=qr_format)
    return Response(image, 200, media_type=QR_MEDIA[qr_format])


@router.get(
    "/{invoice_id}/verifactu/xml",
    response_class=Response,
    responses={200: {"content": {"application/xml": {"schema": {"type": "string"}}}}},
    summary="The invoice's whole VERI*FACTU record as the agency's XML (RegistroAlta or "
    "RegistroAnulacion)",
)
def get_verifactu_xml(
    invoice_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    record: Annotated[
        Literal["alta", "anulacion"],
        Query(description="alta (default) or anulacion (a cancelled invoice's)"),
    ] = "alta",
) -> Response:
    body = invoicing.invoice_record_xml(crm, invoice_id, kind=record)
    return Response(body, 200, media_type="application/xml")


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
        exchange_rate=None
        if body is None or body.exchange_rate is None
        else Decimal(body.exchange_rate),
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
