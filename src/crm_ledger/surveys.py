"""NPS survey use cases, called by the API: record an answer, read one.

An answer sent for a merged contact (an old link in a survey e-mail) is recorded for its
survivor, as consent statements are. Lists and the NPS report come from the survey read
model (`crm_ledger.projections.surveys`).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from crm_ledger.application import CrmApplication, Written
from crm_ledger.contact_family import survivor
from crm_ledger.domain.survey import NpsResponse
from crm_ledger.kinds import Kind

NPS = Kind(NpsResponse, "NPS response")


def record_nps(
    crm: CrmApplication,
    contact_id: UUID,
    *,
    survey: str,
    score: object,
    actor: str,
    comment: str | None = None,
    channel: str | None = None,
    answered_at: datetime | None = None,
) -> Written:
    """Record a contact's answer (on its survivor when merged; NotFoundError for an
    unknown contact)."""
    response = NpsResponse.record(
        contact_id=survivor(crm, contact_id),
        survey=survey,
        score=score,
        comment=comment,
        channel=channel,
        answered_at=answered_at,
        actor=actor,
    )
    return Written(response, crm.store(response, actor=actor))


def get_nps(crm: CrmApplication, response_id: UUID) -> NpsResponse:
    """The answer, or NotFoundError."""
    return NPS.load(crm, response_id)
