"""``GET /contacts/{id}/personal-data``: what is stored about a person, in one JSON
document (GDPR art. 15, access, and art. 20, portability).

The document holds the contact as ``GET /contacts/{id}`` shows it, the whole history of
the contact and of every contact merged into it, its consents, the leads converted into
any of them, and the records that name any of them: activities, deals, service cases,
NPS answers, campaign responses, quotes, orders, delivery notes, invoices and payments,
each as its list shows it, and the campaigns whose audience held any of them at launch.
The read models are first brought up to the log's head, so the document is complete as
of ``log_position``. Each export is recorded as a ledger event
(`crm_ledger.domain.data_export`) before the document is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Request, Response

from crm_ledger import consents
from crm_ledger.api.deps import (
    READ_WAIT_SECONDS,
    CrmDep,
    ExpectedVersionDep,
    PrincipalDep,
    runner_of,
    wait_for_read_model,
)
from crm_ledger.api.responses import (
    POSITION_HEADER,
    history_page,
    payload_response,
    redact_answers,
)
from crm_ledger.api.routers.contacts import ReadModelReferences
from crm_ledger.api.schemas.contacts import ContactErasure
from crm_ledger.application import CrmApplication
from crm_ledger.contact_family import family
from crm_ledger.domain.case import present
from crm_ledger.domain.contact import contact_snapshot
from crm_ledger.domain.data_export import PersonalDataExport
from crm_ledger.domain.invoice import today
from crm_ledger.domain.lead import Lead, lead_snapshot
from crm_ledger.erasure import RETENTION, converted_leads, erase_contact
from crm_ledger.ledger.envelope import format_timestamp
from crm_ledger.projections import invoice_list
from crm_ledger.projections.activities import linked_activities
from crm_ledger.projections.campaigns import campaigns_by_id, list_responses
from crm_ledger.projections.cases import CaseFilter, list_cases
from crm_ledger.projections.deals import DealFilter, list_deals
from crm_ledger.projections.delivery_notes import DeliveryNoteFilter, list_delivery_notes
from crm_ledger.projections.launch_audiences import campaigns_launched_to
from crm_ledger.projections.payments import list_payments
from crm_ledger.projections.sales_documents import ORDERS, QUOTES, list_documents
from crm_ledger.projections.surveys import NpsFilter, list_nps
from crm_ledger.storage.sql import Tx

router = APIRouter(prefix="/contacts", tags=["contacts"])

#: the read models the document reads, brought up to the head first
READ_MODELS = (
    "activities",
    "deals",
    "cases",
    "surveys",
    "campaign_responses",
    "quotes",
    "orders",
    "delivery_notes",
    "reporting",
    "payments",
    "campaigns",
    "launch_audiences",
)
PAGE = 500

Query = Callable[[Tx, str, str | None], tuple[list[dict[str, Any]], str | None]]


def _cases(tx: Tx, contact_id: str, after: str | None) -> tuple[list[dict[str, Any]], str | None]:
    now = datetime.now(UTC)
    items, key = list_cases(
        tx, CaseFilter(contact_id=contact_id), order="-created", limit=PAGE, after=after, now=now
    )
    return [present(item, now) for item in items], key


QUERIES: dict[str, Query] = {
    "deals": lambda tx, c, after: list_deals(tx, DealFilter(contact_id=c), limit=PAGE, after=after),
    "cases": _cases,
    "nps": lambda tx, c, after: list_nps(tx, NpsFilter(contact_id=c), limit=PAGE, after=after),
    "campaign_responses": lambda tx, c, after: list_responses(
        tx, contact_id=c, limit=PAGE, after=after
    ),
    "quotes": lambda tx, c, after: list_documents(
        tx, QUOTES, customer_id=c, status=None, limit=PAGE, after=after
    ),
    "orders": lambda tx, c, after: list_documents(
        tx, ORDERS, customer_id=c, status=None, limit=PAGE, after=after
    ),
    "delivery_notes": lambda tx, c, after: list_delivery_notes(
        tx, DeliveryNoteFilter(customer_id=c), limit=PAGE, after=after
    ),
    "invoices": lambda tx, c, after: invoice_list.list_invoices(
        tx, invoice_list.InvoiceFilter(customer_id=c), limit=PAGE, after=after, as_of=today()
    ),
    "payments": lambda tx, c, after: list_payments(
        tx, customer_id=c, with_credit=False, limit=PAGE, after=after
    ),
}


def _every(tx: Tx, query: Query, contact_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page, after = query(tx, contact_id, after)
        items += page
        if after is None:
            return items


def _activities(tx: Tx, contact_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    before: str | None = None
    while True:
        page = linked_activities(tx, "contact", contact_id, limit=PAGE, before=before)
        items += [activity for _, activity in page]
        if len(page) < PAGE:
            return items
        before = page[-1][0]


def _unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for item in items:
        seen.setdefault(str(item["id"]), item)
    return list(seen.values())


@router.get(
    "/{contact_id}/personal-data",
    summary="Everything stored about a person, as one JSON document (GDPR access)",
    description="The contact, the history of it and of every contact merged into it, its "
    "consents, the leads converted into any of them, and the activities, deals, service "
    "cases, NPS answers, campaign responses, campaigns launched to them, quotes, orders, "
    "delivery notes, invoices and payments that name any of them, complete as of "
    "`log_position`. Sent as a file (`Content-Disposition: attachment`). 503 "
    "`read_model_behind` when the read models cannot catch up in time.",
)
def personal_data(
    contact_id: UUID, request: Request, crm: CrmDep, principal: PrincipalDep
) -> Response:
    contact = crm.get_contact(contact_id)
    head = crm.head_position()
    for name in READ_MODELS:
        wait_for_read_model(
            crm, runner_of(request, name), head, name=name, timeout=READ_WAIT_SECONDS
        )
    members = [str(m) for m in family(crm, contact_id)]
    document: dict[str, Any] = {
        "contact_id": str(contact_id),
        "generated_at": format_timestamp(datetime.now(UTC)),
        "log_position": head,
        "contact": contact_snapshot(contact),
        "merged_contacts": members[1:],
        "history": {
            m: history_page(crm.history(UUID(m)), 10**9, None).model_dump(mode="json")["items"]
            for m in members
        },
        "consents": _consents(crm, contact_id),
        "leads": [
            lead_snapshot(crm.load(Lead, i, "lead"))
            for i in converted_leads(crm, [UUID(m) for m in members])
        ],
    }
    with crm.db.transaction(write=False, snapshot=True) as tx:  # one state
        document["activities"] = _unique([a for m in members for a in _activities(tx, m)])
        for name, query in QUERIES.items():
            document[name] = _unique([i for m in members for i in _every(tx, query, m)])
        launched = campaigns_by_id(tx, campaigns_launched_to(tx, members))
        document["campaigns_launched_to"] = launched
    document["retention"] = RETENTION
    listed = ("activities", *QUERIES, "campaigns_launched_to")
    counts = {name: len(document[name]) for name in listed}
    counts["history_events"] = sum(len(events) for events in document["history"].values())
    counts["consent_statements"] = len(document["consents"]["statements"])
    counts["merged_contacts"] = len(document["merged_contacts"])
    counts["leads"] = len(document["leads"])
    export = PersonalDataExport.make(
        contact_id=contact_id, log_position=head, counts=counts, actor=principal.actor
    )
    position = crm.store(export, actor=principal.actor)  # recorded before it is sent
    document["export_id"] = str(export.id)
    headers = {
        "Content-Disposition": f'attachment; filename="personal-data-{contact_id}.json"',
        "Cache-Control": "no-store",
        POSITION_HEADER: str(position),
    }
    return Response(
        orjson.dumps(document, default=str), 200, headers, media_type="application/json"
    )


def _consents(crm: CrmApplication, contact_id: UUID) -> dict[str, Any]:
    shown = consents.consent_view(crm, contact_id).public()
    del shown["contact_id"]  # the document's own
    return shown


@router.post(
    "/{contact_id}/erasure",
    response_model=ContactErasure,
    summary="Erase a person's personal data (GDPR erasure; If-Match: the contact's version)",
    description="Records `Erased` on the contact, on every contact merged into it and on the "
    "leads converted into any of them, and `Redacted` on their service cases and on the "
    "activities about them alone (`kept_activities` link other contacts too), then destroys "
    "their keys: the personal values their "
    "events carried (name, emails, phones, addresses, tax id, custom fields, note texts) were "
    "stored encrypted with those keys and now read as erased everywhere, while the log and "
    "its proofs are unchanged. The contact keeps its id, kind, tags, owner and links, and "
    "refuses every change from then on (409 `contact_erased`). Issued invoices keep the "
    "customer's fiscal data (`retention`). 409 `contact_merged` for a contact merged into "
    "another (erase its survivor); repeating the erasure stores nothing and destroys any key left.",
)
def erase(
    contact_id: UUID,
    request: Request,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    result = erase_contact(
        crm,
        contact_id,
        expected_version=version,
        actor=principal.actor,
        texts=ReadModelReferences(crm, request.app.state.runners),
    )
    redact_answers(request, [*result.erased_contacts, *result.erased_leads])
    payload = {
        "contact": contact_snapshot(result.contact),
        "erased_contacts": [str(c) for c in result.erased_contacts],
        "erased_leads": [str(c) for c in result.erased_leads],
        "redacted_activities": [str(a) for a in result.redacted_activities],
        "kept_activities": [str(a) for a in result.kept_activities],
        "redacted_cases": [str(c) for c in result.redacted_cases],
        "keys_destroyed": result.keys_destroyed,
        "unsealed_events": result.unsealed_events,
        "retention": RETENTION,
    }
    return payload_response(payload, result.contact, result.position)
