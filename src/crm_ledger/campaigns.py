"""Campaign use cases, called by the API: plan and run campaigns, record responses.

A campaign's **audience** is its segment's contacts (every active contact without a
segment) who, when the campaign names a consent purpose, consent to it now: the filter
the contacts list applies (`audience_filter`). An ``unsubscribed`` response to a
campaign with a purpose also withdraws the person's consent for that purpose, in the
same transaction as the response, so the next audience leaves them out.

Launching records the audience as it is at that moment (`launch_campaign`): a commitment
in the ``Launched`` event and the contact ids in a ``LaunchAudience``, one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from crm_ledger.application import CrmApplication, Written
from crm_ledger.contact_family import survivor
from crm_ledger.domain.campaign import (
    Campaign,
    CampaignCodeTakenError,
    CampaignResponse,
    LaunchAudience,
    ResponseKind,
    audience_commitment,
    campaign_id_for,
    launch_audience_id,
)
from crm_ledger.domain.consent import ContactConsents, consents_id
from crm_ledger.domain.errors import InvalidCommandError, NotFoundError, VersionConflictError
from crm_ledger.kinds import Kind
from crm_ledger.retry import store_retrying
from crm_ledger.segments import get_segment

CAMPAIGN = Kind(Campaign, "campaign")
MAX_RESPONSES = 1000


def _check_segment(crm: CrmApplication, segment_id: object) -> None:
    if segment_id is not None:
        get_segment(crm, UUID(str(segment_id)))  # NotFoundError, SegmentDeletedError


def plan_campaign(
    crm: CrmApplication, *, actor: str, name: str, code: str, **fields: Any
) -> Written:
    """Plan a campaign (its segment, if any, must exist and not be deleted);
    CampaignCodeTakenError when another campaign has the code."""
    campaign = Campaign.plan(name=name, code=code, actor=actor, **fields)
    if campaign_id_for(campaign.code) in crm.repository:
        raise CampaignCodeTakenError(campaign.code)
    _check_segment(crm, campaign.segment_id)
    try:
        return Written(campaign, crm.store(campaign, actor=actor))
    except VersionConflictError:  # planned concurrently by another request
        raise CampaignCodeTakenError(campaign.code) from None


def get_campaign(crm: CrmApplication, campaign_id: UUID) -> Campaign:
    return CAMPAIGN.load(crm, campaign_id)


def update_campaign(
    crm: CrmApplication,
    campaign_id: UUID,
    *,
    expected_version: int,
    actor: str,
    changes: dict[str, Any],
) -> Written:
    """Change details of a planned or active campaign."""
    _check_segment(crm, changes.get("segment_id"))
    return CAMPAIGN.change(
        crm, campaign_id, expected_version, actor, lambda c: c.update(actor=actor, **changes)
    )


def launch_campaign(
    crm: CrmApplication,
    campaign: Campaign,
    contact_ids: Sequence[UUID],
    *,
    position: int | None,
    filters: dict[str, Any],
    actor: str,
) -> Written:
    """Launch `campaign` (loaded at the version the caller saw) with the audience the
    caller read from the lists (which reflected the log up to `position`, chosen by
    `filters`): the commitment goes in ``Launched``, the ids in a ``LaunchAudience``,
    both in one transaction (VersionConflictError if the campaign changed meanwhile)."""
    commitment = audience_commitment(contact_ids, position=position, filters=filters)
    campaign.launch(actor=actor, audience=commitment)
    audience = LaunchAudience.of(campaign.id, contact_ids, actor=actor)
    return Written(campaign, crm.store(campaign, audience, actor=actor))


def get_launch_audience(crm: CrmApplication, campaign_id: UUID) -> tuple[Campaign, LaunchAudience]:
    """The campaign and its audience at launch; NotFoundError for a campaign not launched
    (or launched before audiences were recorded)."""
    campaign = get_campaign(crm, campaign_id)
    if campaign.launch_audience is None:
        raise NotFoundError(kind="launch audience of campaign", id=str(campaign_id))
    return campaign, crm.load(LaunchAudience, launch_audience_id(campaign_id), "launch audience")


def step_campaign(
    crm: CrmApplication, campaign_id: UUID, step: str, *, expected_version: int, actor: str
) -> Written:
    """``complete`` or ``cancel`` the campaign (`launch_campaign` launches)."""
    return CAMPAIGN.change(
        crm, campaign_id, expected_version, actor, lambda c: getattr(c, step)(actor=actor)
    )


@dataclass(frozen=True)
class ResponseSpec:
    contact_id: UUID
    kind: str
    at: datetime | None = None


def record_responses(
    crm: CrmApplication, campaign_id: UUID, responses: Sequence[ResponseSpec], *, actor: str
) -> tuple[list[CampaignResponse], int | None]:
    """Record 1 to `MAX_RESPONSES` responses at once, all or none (each for the contact
    or, when merged, its survivor); an ``unsubscribed`` one withdraws the person's
    consent for the campaign's purpose in the same transaction. Returns the responses
    and the log position."""
    if not 0 < len(responses) <= MAX_RESPONSES:
        raise InvalidCommandError(
            f"send 1 to {MAX_RESPONSES} responses at a time", field="responses"
        )
    campaign = get_campaign(crm, campaign_id)
    campaign.check_accepts_responses()
    people = {spec.contact_id: survivor(crm, spec.contact_id) for spec in responses}
    recorded: list[CampaignResponse] = []

    def build() -> list[Aggregate]:
        recorded[:] = [
            CampaignResponse.record(
                campaign_id=campaign.id,
                contact_id=people[spec.contact_id],
                kind=spec.kind,
                at=spec.at,
                actor=actor,
            )
            for spec in responses
        ]
        withdrawals = _withdrawals(crm, campaign, recorded, actor)
        return [*recorded, *withdrawals]

    written = store_retrying(
        crm, build, actor=actor, exhausted="the consents of these contacts kept changing"
    )
    return recorded, written.position


def _withdrawals(
    crm: CrmApplication, campaign: Campaign, recorded: list[CampaignResponse], actor: str
) -> list[ContactConsents]:
    """The consents withdrawn by the ``unsubscribed`` responses (one aggregate per
    person, loaded fresh)."""
    if campaign.purpose is None:
        return []
    changed: dict[UUID, ContactConsents] = {}
    for response in recorded:
        if response.kind != ResponseKind.UNSUBSCRIBED.value:
            continue
        person = response.contact_id
        if person not in changed:
            try:
                consents = crm.load(ContactConsents, consents_id(person), "consents")
            except NotFoundError:
                consents = ContactConsents.open(contact_id=person, actor=actor)
            changed[person] = consents
        changed[person].state(
            purpose=campaign.purpose,
            granted=False,
            source=f"campaign:{campaign.code}",
            wording=None,
            at=datetime.fromisoformat(response.at.replace("Z", "+00:00")),
            actor=actor,
        )
    return list(changed.values())
