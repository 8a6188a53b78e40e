"""``/delivery-notes``: deliveries against a sales order (never beyond what is ordered),
signed once by the receiver, billed once (``POST /delivery-notes/{id}/invoice``)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from crm_ledger import documents
from crm_ledger.api.deps import CrmDep, ExpectedVersionDep, PrincipalDep
from crm_ledger.api.read_model_pages import read_model_page
from crm_ledger.api.responses import etag, resource_response
from crm_ledger.api.routers.activities import Cursor, MinPosition
from crm_ledger.api.routers.orders import invoice_answer
from crm_ledger.api.schemas.documents import (
    DeliveryNoteCreate,
    DeliveryNotePage,
    DeliveryNotePublic,
    DeliveryNoteSign,
    InvoiceFrom,
)
from crm_ledger.api.schemas.invoicing import InvoicePublic
from crm_ledger.application import Written
from crm_ledger.domain.delivery_note import delivery_note_snapshot
from crm_ledger.projections.delivery_notes import DeliveryNoteFilter, list_delivery_notes

router = APIRouter(prefix="/delivery-notes", tags=["delivery notes"])


def _answer(written: Written, status: int = 200) -> Response:
    """The delivery note as JSON with its ETag and log position."""
    return resource_response(written, delivery_note_snapshot, "/delivery-notes", status)


@router.post(
    "",
    status_code=201,
    response_model=DeliveryNotePublic,
    summary="Deliver quantities of a confirmed order's lines (the order records it too)",
)
def create_delivery_note(
    body: DeliveryNoteCreate, crm: CrmDep, principal: PrincipalDep
) -> Response:
    return _answer(documents.create_delivery_note(crm, actor=principal.actor, **body.fields()), 201)


@router.get(
    "",
    summary="List delivery notes, newest first: by customer, order, signed, invoiced",
    description="`invoiced=false` lists what was delivered and not billed yet. Each item "
    "is the note as `GET /delivery-notes/{id}` shows it.",
)
def list_all(
    request: Request,
    principal: PrincipalDep,
    customer_id: UUID | None = None,
    order_id: UUID | None = None,
    signed: bool | None = None,
    invoiced: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> DeliveryNotePage:
    filters = DeliveryNoteFilter(
        customer_id=None if customer_id is None else str(customer_id),
        order_id=None if order_id is None else str(order_id),
        signed=signed,
        invoiced=invoiced,
    )
    page = read_model_page(
        request,
        "delivery_notes",
        min_position,
        cursor,
        lambda tx, after: list_delivery_notes(tx, filters, limit=limit, after=after),
    )
    return DeliveryNotePage.model_validate(page)


@router.get("/{note_id}", summary="Read one delivery note")
def get_delivery_note(
    note_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> DeliveryNotePublic:
    note = documents.get_delivery_note(crm, note_id)
    response.headers["ETag"] = etag(note)
    return DeliveryNotePublic.model_validate(delivery_note_snapshot(note))


@router.post(
    "/{note_id}/sign",
    response_model=DeliveryNotePublic,
    summary="The receiver signs: name and time, once (If-Match)",
)
def sign_delivery_note(
    note_id: UUID,
    body: DeliveryNoteSign,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = documents.sign_delivery_note(
        crm, note_id, expected_version=version, actor=principal.actor, name=body.name, at=body.at
    )
    return _answer(written)


@router.post(
    "/{note_id}/invoice",
    status_code=201,
    response_model=InvoicePublic,
    summary="Draft an invoice of exactly this delivery, once (If-Match: delivery note)",
)
def invoice_delivery_note(
    note_id: UUID,
    body: InvoiceFrom,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = documents.invoice_from_delivery_note(
        crm, note_id, expected_version=version, actor=principal.actor, **body.model_dump()
    )
    return invoice_answer(written)
