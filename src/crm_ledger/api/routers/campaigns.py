"""``/campaigns``: marketing campaigns, their consent-aware audience, responses and
results. Every change needs ``If-Match``; responses are recorded in batches."""

from __future__ import annotations

import bisect
from typing import Annotated, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from crm_ledger import campaigns
from crm_ledger.api.contact_export import CSV_FILE, export_response, listed, recorded_csv
from crm_ledger.api.contact_pages import ContactSort, contact_page, wait_for_lists
from crm_ledger.api.deps import (
    READ_WAIT_SECONDS,
    ConsentsRunnerDep,
    ContactsRunnerDep,
    CrmDep,
    ExpectedVersionDep,
    PrincipalDep,
    malformed_cursor,
    runner_of,
    wait_for_read_model,
)
from crm_ledger.api.responses import etag, position_headers, resource_response
from crm_ledger.api.routers.activities import Cursor, MinPosition, cursor_key
from crm_ledger.api.schemas.campaigns import (
    CampaignCreate,
    CampaignPage,
    CampaignPublic,
    CampaignResults,
    CampaignUpdate,
    KindName,
    LaunchAudiencePage,
    ResponsePage,
    ResponsePublic,
    ResponsesIn,
    StatusName,
)
from crm_ledger.api.schemas.contacts import ContactPage
from crm_ledger.application import CrmApplication
from crm_ledger.domain.campaign import Campaign, campaign_snapshot, response_snapshot
from crm_ledger.ledger.envelope import format_timestamp
from crm_ledger.projections.campaigns import list_campaigns, list_responses, results
from crm_ledger.projections.contact_search import ContactFilter
from crm_ledger.projections.contacts import contacts_by_ids, decode_cursor, encode_cursor
from crm_ledger.projections.runner import ProjectionRunner
from crm_ledger.segments import get_segment

router = APIRouter(prefix="/campaigns", tags=["campaigns"])
Step = Literal["complete", "cancel"]
#: the most contacts a campaign can be launched to (its audience is recorded)
MAX_LAUNCH_AUDIENCE = 500_000


def _runner(name: str) -> object:
    async def get(request: Request) -> ProjectionRunner:
        return runner_of(request, name)

    return Depends(get)


CampaignsRunnerDep = Annotated[ProjectionRunner, _runner("campaigns")]
ResponsesRunnerDep = Annotated[ProjectionRunner, _runner("campaign_responses")]


@router.post("", status_code=201, response_model=CampaignPublic, summary="Plan a campaign")
def plan(body: CampaignCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    written = campaigns.plan_campaign(crm, actor=principal.actor, **body.fields())
    return resource_response(written, campaign_snapshot, "/campaigns", 201)


@router.get("", summary="List campaigns, newest first")
def list_all(
    crm: CrmDep,
    runner: CampaignsRunnerDep,
    principal: PrincipalDep,
    status: StatusName | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> CampaignPage:
    wait_for_read_model(crm, runner, min_position, name="campaigns", timeout=READ_WAIT_SECONDS)
    with crm.db.transaction(write=False) as tx:
        items, key = list_campaigns(tx, status=status, limit=limit, after=cursor_key(cursor))
    return CampaignPage(
        items=[CampaignPublic.model_validate(i) for i in items],
        next_cursor=None if key is None else encode_cursor(key),
    )


@router.get("/{campaign_id}", summary="Read one campaign")
def get_one(
    campaign_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> CampaignPublic:
    campaign = campaigns.get_campaign(crm, campaign_id)
    response.headers["ETag"] = etag(campaign)
    return CampaignPublic.model_validate(campaign_snapshot(campaign))


@router.patch(
    "/{campaign_id}", response_model=CampaignPublic, summary="Change details (If-Match required)"
)
def update(
    campaign_id: UUID,
    body: CampaignUpdate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = campaigns.update_campaign(
        crm, campaign_id, expected_version=version, actor=principal.actor, changes=body.changes()
    )
    return resource_response(written, campaign_snapshot, "/campaigns")


@router.get(
    "/{campaign_id}/audience",
    summary="Who the campaign may reach now: its segment's contacts who consent to its purpose",
)
def audience(
    campaign_id: UUID,
    crm: CrmDep,
    runner: ContactsRunnerDep,
    consents_runner: ConsentsRunnerDep,
    principal: PrincipalDep,
    sort: ContactSort | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    min_position: MinPosition = None,
) -> ContactPage:
    return contact_page(
        crm,
        runner,
        audience_filter(crm, campaigns.get_campaign(crm, campaign_id)),
        sort=sort,
        limit=limit,
        cursor=cursor,
        min_position=min_position,
        consents_runner=consents_runner,
    )


def audience_filter(crm: CrmApplication, campaign: Campaign) -> ContactFilter:
    """The contacts list of the campaign's audience: its segment's filters (every active
    contact without a segment) and, with a purpose, consent to it now."""
    definition = {}
    if campaign.segment_id is not None:
        definition = dict(get_segment(crm, UUID(campaign.segment_id)).definition)
    if campaign.purpose is not None:
        definition["consents"] = sorted({*definition.get("consents", ()), campaign.purpose})
    return ContactFilter.from_definition(definition)


@router.get(
    "/{campaign_id}/audience:export",
    summary="Download the audience as CSV, as GET /contacts:export does (recorded)",
    description="The contacts `GET .../audience` lists, as one CSV file in the columns and "
    "with the limits of `GET /contacts:export`; recorded first as a `ContactsExport` event "
    "whose filters name the campaign (`campaign_id`) and the audience's filters.",
    response_class=Response,
    responses=CSV_FILE,
)
def export_audience(
    campaign_id: UUID,
    crm: CrmDep,
    runner: ContactsRunnerDep,
    consents_runner: ConsentsRunnerDep,
    principal: PrincipalDep,
    min_position: MinPosition = None,
) -> Response:
    filters = audience_filter(crm, campaigns.get_campaign(crm, campaign_id))
    return export_response(
        crm,
        (runner, consents_runner),
        filters,
        min_position,
        name=f"campaign-{campaign_id}-audience",
        recorded={"campaign_id": str(campaign_id), **filters.described()},
        actor=principal.actor,
    )


@router.post(
    "/{campaign_id}/responses",
    status_code=201,
    response_model=ResponsePage,
    summary="Record responses, all or none; unsubscribing withdraws the purpose's consent",
)
def record(campaign_id: UUID, body: ResponsesIn, crm: CrmDep, principal: PrincipalDep) -> Response:
    specs = [campaigns.ResponseSpec(r.contact_id, r.kind, r.at) for r in body.responses]
    recorded, position = campaigns.record_responses(crm, campaign_id, specs, actor=principal.actor)
    payload = {"items": [response_snapshot(r) for r in recorded], "next_cursor": None}
    headers = position_headers(position)
    return Response(orjson.dumps(payload), 201, headers, media_type="application/json")


@router.get("/{campaign_id}/responses", summary="The campaign's responses, newest first")
def responses(
    campaign_id: UUID,
    crm: CrmDep,
    runner: ResponsesRunnerDep,
    principal: PrincipalDep,
    kind: KindName | None = None,
    contact_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> ResponsePage:
    campaigns.get_campaign(crm, campaign_id)
    wait_for_read_model(
        crm, runner, min_position, name="campaign responses", timeout=READ_WAIT_SECONDS
    )
    with crm.db.transaction(write=False) as tx:
        items, key = list_responses(
            tx,
            campaign_id=str(campaign_id),
            contact_id=None if contact_id is None else str(contact_id),
            kind=kind,
            limit=limit,
            after=cursor_key(cursor),
        )
    return ResponsePage(
        items=[ResponsePublic.model_validate(i) for i in items],
        next_cursor=None if key is None else encode_cursor(key),
    )


@router.get(
    "/{campaign_id}/results",
    summary="Responses per kind (and distinct contacts), and the leads it brought",
)
def campaign_results(
    campaign_id: UUID,
    request: Request,
    crm: CrmDep,
    runner: ResponsesRunnerDep,
    principal: PrincipalDep,
    min_position: MinPosition = None,
) -> CampaignResults:
    campaign = campaigns.get_campaign(crm, campaign_id)
    waits = [("campaign responses", runner)]
    waits += [(name, runner_of(request, name)) for name in ("leads", "deals")]
    for name, waited in waits:
        wait_for_read_model(crm, waited, min_position, name=name, timeout=READ_WAIT_SECONDS)
    with crm.db.transaction(write=False) as tx:
        found = results(tx, str(campaign_id), campaign.code)
    return CampaignResults.model_validate({"campaign_id": campaign_id, **found})


@router.post(
    "/{campaign_id}/launch",
    response_model=CampaignPublic,
    summary="Launch (planned -> active), recording who the audience is now (If-Match required)",
    description="The audience (`GET .../audience`) is read once the contacts and consents "
    "lists reflect the log's head, and recorded with the launch in one transaction: the "
    "`Launched` event carries `launch_audience` (count, SHA-256 of the sorted ids, log "
    "position, filters), `GET .../launch-audience` lists the ids. More than "
    f"{MAX_LAUNCH_AUDIENCE:,} contacts: 422 `audience_too_large`.",
)
def launch(
    campaign_id: UUID,
    crm: CrmDep,
    runner: ContactsRunnerDep,
    consents_runner: ConsentsRunnerDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    campaign = campaigns.CAMPAIGN.load_at(crm, campaign_id, version)
    campaign.check_launchable()  # before reading the audience
    filters = audience_filter(crm, campaign)
    position = crm.head_position()
    wait_for_lists(crm, runner, consents_runner, filters, position)
    ids = listed(
        crm, filters, lambda c: UUID(c["id"]), MAX_LAUNCH_AUDIENCE, "audience_too_large", "Audience"
    )
    written = campaigns.launch_campaign(
        crm, campaign, ids, position=position, filters=filters.described(), actor=principal.actor
    )
    return resource_response(written, campaign_snapshot, "/campaigns")


@router.get(
    "/{campaign_id}/launch-audience",
    summary="Who the audience was at launch: the recorded contact ids, in id order",
    description="With the commitment the `Launched` event carries: recompute `sha256` over "
    "every page's ids (sorted, each as lowercase text and a newline) to check the list. "
    "404 for a campaign not launched (or launched before audiences were recorded).",
)
def launch_audience(
    campaign_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> LaunchAudiencePage:
    campaign, audience = campaigns.get_launch_audience(crm, campaign_id)
    start = 0
    if cursor:
        try:
            after = str(UUID(decode_cursor(cursor)))
        except ValueError:
            raise malformed_cursor() from None
        start = bisect.bisect_right(audience.contact_ids, after)
    ids = audience.contact_ids[start : start + limit]
    more = start + limit < len(audience.contact_ids)
    return LaunchAudiencePage.model_validate(
        {
            **(campaign.launch_audience or {}),
            "campaign_id": campaign_id,
            "launched_at": format_timestamp(audience.created_on),
            "contact_ids": ids,
            "next_cursor": encode_cursor(ids[-1]) if more else None,
        }
    )


@router.get(
    "/{campaign_id}/launch-audience:export",
    summary="Download the audience at launch as CSV, as GET /contacts:export does (recorded)",
    description="The contacts `GET .../launch-audience` lists (whatever they have become "
    "since: archived or merged ones too), in id order, each as it is now, in the columns of "
    "`GET /contacts:export`; recorded first as a `ContactsExport` whose filters name the "
    "campaign and `launch_audience`. 404 for a campaign not launched.",
    response_class=Response,
    responses=CSV_FILE,
)
def export_launch_audience(
    campaign_id: UUID,
    crm: CrmDep,
    runner: ContactsRunnerDep,
    principal: PrincipalDep,
    min_position: MinPosition = None,
) -> Response:
    _, audience = campaigns.get_launch_audience(crm, campaign_id)
    position = crm.head_position() if min_position is None else min_position
    wait_for_read_model(crm, runner, position, name="contacts list", timeout=READ_WAIT_SECONDS)
    with crm.db.transaction(write=False, snapshot=True) as tx:
        contacts = contacts_by_ids(tx, audience.contact_ids)
    return recorded_csv(
        crm,
        contacts,
        position,
        f"campaign-{campaign_id}-launch-audience",
        {"campaign_id": str(campaign_id), "launch_audience": True},
        principal.actor,
    )


# last: its path would also match the routes above
@router.post(
    "/{campaign_id}/{step}",
    response_model=CampaignPublic,
    summary="complete (active -> completed) or cancel (If-Match required)",
)
def step(
    campaign_id: UUID, step: Step, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    written = campaigns.step_campaign(
        crm, campaign_id, step, expected_version=version, actor=principal.actor
    )
    return resource_response(written, campaign_snapshot, "/campaigns")
