"""``/contacts/{id}/consents``: what a contact agreed to, purpose by purpose, as evidence
(GDPR art. 7). Recorded by whoever may change contacts, read by whoever reads them."""

from __future__ import annotations

from uuid import UUID

import orjson
from fastapi import APIRouter, Response

from crm_ledger import consents
from crm_ledger.api.deps import CrmDep, PrincipalDep
from crm_ledger.api.responses import etag, write_headers
from crm_ledger.api.schemas.consents import ConsentsPublic, ConsentStatement

router = APIRouter(prefix="/contacts", tags=["consents"])


def _public(view: consents.ConsentView) -> ConsentsPublic:
    return ConsentsPublic.model_validate(view.public())


@router.post(
    "/{contact_id}/consents",
    status_code=201,
    response_model=ConsentsPublic,
    summary="Record that the contact gave or withdrew consent for a purpose",
    description="Statements are kept for good; a withdrawal is a new statement. For a "
    "contact merged into another, the statement is recorded on the survivor (the answer "
    "and `Location` name it). Never refused for an archived contact.",
)
def record_consent(
    contact_id: UUID, body: ConsentStatement, crm: CrmDep, principal: PrincipalDep
) -> Response:
    written = consents.record_consent(
        crm,
        contact_id,
        purpose=body.purpose,
        granted=body.granted,
        source=body.source,
        wording=body.wording,
        wording_version=body.wording_version,
        at=body.at,
        actor=principal.actor,
    )
    target = written.aggregate.contact_id
    view = _public(consents.consent_view(crm, target))
    headers = write_headers(view, written.position, f"/contacts/{target}/consents")
    return Response(
        orjson.dumps(view.model_dump(mode="json")), 201, headers, media_type="application/json"
    )


@router.get("/{contact_id}/consents", summary="What the contact consented to, and every statement")
def get_consents(
    contact_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> ConsentsPublic:
    view = _public(consents.consent_view(crm, contact_id))
    response.headers["ETag"] = etag(view)
    return view
