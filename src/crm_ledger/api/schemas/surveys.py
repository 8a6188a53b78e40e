"""Request and response models of NPS survey answers and the NPS report."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from crm_ledger.api.schemas.reports import Range
from crm_ledger.domain import survey as rules

GroupName = Literal["promoter", "passive", "detractor"]
NPS_EXAMPLE: dict[str, Any] = {
    "survey": "nps-2026-q4",
    "score": 9,
    "comment": "Quick answers from support",
    "channel": "email",
    "answered_at": "2026-11-20T10:15:00Z",
}


class NpsAnswer(BaseModel):
    """A contact's answer: how likely they are to recommend us, 0 to 10."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [NPS_EXAMPLE]})

    survey: str = Field(pattern=rules.SURVEY.pattern, max_length=64, examples=["nps-2026-q4"])
    score: StrictInt = Field(ge=0, le=10)
    comment: str | None = Field(default=None, max_length=rules.MAX_COMMENT)
    channel: str | None = Field(default=None, max_length=rules.MAX_CHANNEL)
    answered_at: AwareDatetime | None = Field(
        default=None, description="when the person answered (default: now; not in the future)"
    )


class NpsPublic(BaseModel):
    """One recorded answer."""

    id: UUID
    version: int
    contact_id: UUID
    survey: str
    score: int
    group: GroupName = Field(description="promoter (9-10), passive (7-8), detractor (0-6)")
    comment: str | None
    channel: str | None
    answered_at: str
    created_by: str
    created_at: str


class NpsPage(BaseModel):
    items: list[NpsPublic]
    next_cursor: str | None


class NpsFigures(BaseModel):
    """Counts of a set of answers and its score: % promoters - % detractors."""

    responses: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None = Field(description="-100 to 100; null without answers")


class SurveyFigures(NpsFigures):
    survey: str


class NpsReport(Range):
    """``GET /reports/nps``."""

    total: NpsFigures
    surveys: list[SurveyFigures]
