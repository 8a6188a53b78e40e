"""``/leads``: possible customers, their qualification and their conversion.

Duplicate detection reads the contacts read model (and, for a new lead, the leads read
model's open leads), after waiting (a few seconds at most) until it reflects every write
acknowledged before the request; a 409 ``possible_duplicates`` problem lists the matches
and ``?force=true`` proceeds anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from crm_ledger import leads
from crm_ledger.api.deps import (
    READ_WAIT_SECONDS,
    ContactsRunnerDep,
    CrmDep,
    ExpectedVersionDep,
    PrincipalDep,
    runner_of,
    wait_for_read_model,
)
from crm_ledger.api.problems import ProblemError, problem_response, status_of
from crm_ledger.api.responses import (
    etag,
    payload_response,
    redact_answers,
    resource_response,
    write_headers,
)
from crm_ledger.api.routers.activities import Cursor, MinPosition, cursor_key
from crm_ledger.api.routers.contacts import ReadModelReferences
from crm_ledger.api.schemas.leads import (
    ConversionResult,
    DuplicateProblem,
    LeadConvert,
    LeadCreate,
    LeadDisqualify,
    LeadErasureResult,
    LeadPage,
    LeadPublic,
    LeadStatusName,
    LeadUpdate,
)
from crm_ledger.application import CrmApplication, Written
from crm_ledger.domain.contact import contact_snapshot
from crm_ledger.domain.deal import deal_snapshot
from crm_ledger.domain.lead import lead_snapshot
from crm_ledger.domain.sales_errors import PossibleDuplicateError
from crm_ledger.erasure import erase_lead
from crm_ledger.projections.contact_matches import find_contact_matches
from crm_ledger.projections.contacts import encode_cursor
from crm_ledger.projections.leads import LeadFilter, Order, find_lead_matches, list_leads
from crm_ledger.projections.runner import ProjectionRunner

router = APIRouter(prefix="/leads", tags=["leads"])
T = TypeVar("T")


async def get_leads_runner(request: Request) -> ProjectionRunner:
    """The runner that keeps the leads read model up to date."""
    return runner_of(request, "leads")


LeadsRunnerDep = Annotated[ProjectionRunner, Depends(get_leads_runner)]


ForceQuery = Annotated[
    bool,
    Query(description="proceed although contacts share an email, tax id or phone"),
]
DUPLICATES: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "possible duplicates (repeat with ?force=true), or a state conflict",
        "content": {
            "application/problem+json": {
                "schema": DuplicateProblem.model_json_schema(),
                "example": {
                    "type": "tag:crm-ledger,2026:problem/possible_duplicates",
                    "title": "Possible duplicate contacts",
                    "status": 409,
                    "detail": "1 existing contact(s) share an email, tax id or phone;"
                    " repeat with force=true to proceed anyway",
                    "code": "possible_duplicates",
                    "matches": [
                        {
                            "contact_id": "0b5e7a52-8d6f-4b1e-9f59-6a0f6f0e2c11",
                            "name": "Ana García",
                            "matched_on": ["email"],
                        }
                    ],
                    "lead_matches": [],
                },
            }
        },
    }
}


def _caught_up(crm: CrmApplication, runner: ProjectionRunner) -> None:
    """Wait until `runner`'s read model reflects the log head (503 after a few seconds)."""
    wanted = crm.head_position()
    if not runner.wait_for(wanted, READ_WAIT_SECONDS):
        raise ProblemError(
            503,
            "read_model_behind",
            "Read model not caught up",
            f"duplicate detection cannot read position {wanted} yet",
            {"Retry-After": "1"},
        )


def contact_matcher(crm: CrmApplication, runner: ProjectionRunner) -> leads.MatchFinder:
    """Search the contacts read model once it has caught up with the log head."""

    def find(
        *, emails: Sequence[str], phones: Sequence[str], tax_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        _caught_up(crm, runner)
        with crm.db.transaction(write=False) as tx:
            return find_contact_matches(tx, emails=emails, phones=phones, tax_ids=tax_ids)

    return find


def lead_matcher(crm: CrmApplication, runner: ProjectionRunner) -> leads.LeadMatchFinder:
    """Search the leads read model for open leads once it has caught up with the log."""

    def find(*, emails: Sequence[str]) -> list[dict[str, Any]]:
        if not emails:
            return []
        _caught_up(crm, runner)
        with crm.db.transaction(write=False) as tx:
            return find_lead_matches(tx, emails=emails)

    return find


def _or_duplicates(request: Request, command: Callable[[], T]) -> T | Response:
    """Run `command`; a PossibleDuplicateError becomes its problem with the matches."""
    try:
        return command()
    except PossibleDuplicateError as exc:
        return problem_response(
            request,
            status_of(exc),
            exc.code,
            exc.title,
            exc.detail,
            matches=exc.matches,
            lead_matches=exc.lead_matches,
        )


def _answer(written: Written, status: int = 200) -> Response:
    """The lead as JSON with its ETag and log position."""
    return resource_response(written, lead_snapshot, "/leads", status)


@router.post(
    "",
    status_code=201,
    response_model=LeadPublic,
    responses=DUPLICATES,
    summary="Register a lead (409 on possible duplicates unless ?force=true)",
)
def create_lead(
    request: Request,
    body: LeadCreate,
    crm: CrmDep,
    runner: ContactsRunnerDep,
    leads_runner: LeadsRunnerDep,
    principal: PrincipalDep,
    force: ForceQuery = False,
) -> Response:
    result = _or_duplicates(
        request,
        lambda: leads.create_lead(
            crm,
            actor=principal.actor,
            find_matches=contact_matcher(crm, runner),
            find_lead_matches=lead_matcher(crm, leads_runner),
            force=force,
            **body.model_dump(),
        ),
    )
    return _answer(result, 201) if isinstance(result, Written) else result


@router.get("", summary="List leads: filter by status, owner, source, campaign, score, text")
def list_all(
    crm: CrmDep,
    runner: LeadsRunnerDep,
    principal: PrincipalDep,
    status: LeadStatusName | None = None,
    owner: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    source: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    campaign: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    min_score: Annotated[int | None, Query(ge=0, le=100)] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="part of the name, company or an email"),
    ] = None,
    sort: Annotated[
        Order, Query(description="-created (newest first, default) or -score (highest first)")
    ] = "-created",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> LeadPage:
    wait_for_read_model(crm, runner, min_position, name="leads", timeout=READ_WAIT_SECONDS)
    after = cursor_key(cursor)  # the leads' sort keys use the same separator
    filters = LeadFilter(
        status=status,
        owner=owner,
        source=source,
        campaign=campaign,
        min_score=min_score,
        q=q,
    )
    with crm.db.transaction(write=False) as tx:
        items, next_key = list_leads(tx, filters, order=sort, limit=limit, after=after)
    return LeadPage(
        items=[LeadPublic.model_validate(i) for i in items],
        next_cursor=None if next_key is None else encode_cursor(next_key),
    )


@router.get("/{lead_id}", summary="Read one lead")
def get_lead(lead_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response) -> LeadPublic:
    lead = leads.get_lead(crm, lead_id)
    response.headers["ETag"] = etag(lead)
    return LeadPublic.model_validate(lead_snapshot(lead))


@router.patch(
    "/{lead_id}", response_model=LeadPublic, summary="Change some fields (If-Match required)"
)
def update_lead(
    lead_id: UUID,
    body: LeadUpdate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = leads.update_lead(
        crm, lead_id, expected_version=version, actor=principal.actor, changes=body.changes()
    )
    return _answer(written)


@router.post(
    "/{lead_id}/erasure",
    response_model=LeadErasureResult,
    summary="Erase a lead's personal data (GDPR erasure; If-Match: the lead's version)",
    description="Records `Erased` on the lead (and `Redacted` on the activities about it "
    "alone: `kept_activities` name another person too) and destroys the keys its personal "
    "values (name, emails, phones, tax id, notes) were stored encrypted with: they read as erased "
    "everywhere from then on, while the log and its proofs are unchanged. The lead keeps "
    "its company name, source, campaign, owner, score, status and conversion, and refuses "
    "every change (409 `lead_erased`). Allowed on a converted lead; the contact it became "
    "is erased with `POST /contacts/{id}/erasure` (which erases its leads too). Repeating "
    "it stores nothing and destroys any key left.",
)
def erase(
    lead_id: UUID,
    request: Request,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    result = erase_lead(
        crm,
        lead_id,
        expected_version=version,
        actor=principal.actor,
        texts=ReadModelReferences(crm, request.app.state.runners),
    )
    redact_answers(request, [lead_id])
    payload = {
        "lead": lead_snapshot(result.lead),
        "redacted_activities": [str(a) for a in result.redacted_activities],
        "kept_activities": [str(a) for a in result.kept_activities],
        "keys_destroyed": result.keys_destroyed,
        "unsealed_events": result.unsealed_events,
    }
    return payload_response(payload, result.lead, result.position)


@router.post(
    "/{lead_id}/contact",
    response_model=LeadPublic,
    summary="Mark a new lead contacted (If-Match required)",
)
def mark_contacted(
    lead_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    return _answer(
        leads.mark_contacted(crm, lead_id, expected_version=version, actor=principal.actor)
    )


@router.post(
    "/{lead_id}/qualify",
    response_model=LeadPublic,
    summary="Qualify a new or contacted lead (If-Match required)",
)
def qualify_lead(
    lead_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    return _answer(
        leads.qualify_lead(crm, lead_id, expected_version=version, actor=principal.actor)
    )


@router.post(
    "/{lead_id}/disqualify",
    response_model=LeadPublic,
    summary="Disqualify, with a reason (If-Match required)",
)
def disqualify_lead(
    lead_id: UUID,
    body: LeadDisqualify,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = leads.disqualify_lead(
        crm, lead_id, expected_version=version, actor=principal.actor, reason=body.reason
    )
    return _answer(written)


@router.post(
    "/{lead_id}/reopen",
    response_model=LeadPublic,
    summary="Take a disqualified lead back to new (If-Match required)",
)
def reopen_lead(
    lead_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    return _answer(leads.reopen_lead(crm, lead_id, expected_version=version, actor=principal.actor))


@router.post(
    "/{lead_id}/convert",
    response_model=ConversionResult,
    responses=DUPLICATES,
    summary="Convert into contact, organisation and deal, atomically (If-Match required)",
)
def convert_lead(
    request: Request,
    lead_id: UUID,
    body: LeadConvert,
    crm: CrmDep,
    runner: ContactsRunnerDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
    force: ForceQuery = False,
) -> Response:
    result = _or_duplicates(
        request,
        lambda: leads.convert_lead(
            crm,
            lead_id,
            expected_version=version,
            actor=principal.actor,
            find_matches=contact_matcher(crm, runner),
            create_organisation=body.create_organisation,
            existing_contact_id=body.existing_contact_id,
            deal=None if body.deal is None else body.deal.spec(),
            force=force,
        ),
    )
    if not isinstance(result, leads.Conversion):
        return result
    organisation, deal = result.organisation, result.deal
    payload = {
        "lead": lead_snapshot(result.lead),
        "contact": contact_snapshot(result.contact),
        "organisation": None if organisation is None else contact_snapshot(organisation),
        "deal": None if deal is None else deal_snapshot(deal),
    }
    return Response(
        orjson.dumps(payload),
        200,
        write_headers(result.lead, result.position),
        media_type="application/json",
    )
