"""Request and response models of campaigns and their responses."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from crm_ledger.api.schemas.consents import Purpose
from crm_ledger.api.schemas.sales import Currency, Money
from crm_ledger.domain import campaign as rules

Label = Annotated[str, Field(min_length=1, max_length=rules.MAX_LABEL)]
Name = Annotated[str, Field(min_length=1, max_length=rules.MAX_NAME)]
Code = Annotated[str, Field(pattern=rules.CODE.pattern, max_length=64, examples=["spring-2026"])]
StatusName = Literal["planned", "active", "completed", "cancelled"]
KindName = Literal["sent", "opened", "clicked", "replied", "registered", "attended", "unsubscribed"]
CAMPAIGN_EXAMPLE: dict[str, Any] = {
    "name": "Spring offer 2026",
    "code": "spring-2026",
    "channel": "email",
    "segment_id": "0b5e7a52-8d6f-4b1e-9f59-6a0f6f0e2c11",
    "purpose": "marketing_email",
    "starts_on": "2026-03-01",
    "ends_on": "2026-03-31",
    "budget": {"amount": "1500.00", "currency": "EUR"},
    "owner": "user:ana",
}


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Money
    currency: Currency


class CampaignFields(BaseModel):
    """What a campaign may say besides its name and code (all optional)."""

    model_config = ConfigDict(extra="forbid")

    channel: Label | None = Field(default=None, examples=["email"])
    segment_id: UUID | None = Field(default=None, description="the audience (default: everyone)")
    purpose: Purpose | None = Field(
        default=None, description="the consent its messages need (the audience must consent)"
    )
    starts_on: date | None = None
    ends_on: date | None = None
    budget: Budget | None = None
    owner: Label | None = None


class CampaignCreate(CampaignFields):
    """A new campaign (status ``planned``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [CAMPAIGN_EXAMPLE]})

    name: Name
    code: Code = Field(description="the label its leads carry as `campaign`")

    def fields(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class CampaignUpdate(CampaignFields):
    """A partial update: only the fields present change; ``null`` clears a field."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"ends_on": "2026-04-15"}]}
    )

    name: Name | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class AudienceCommitment(BaseModel):
    """What the ``Launched`` event records of the audience at launch."""

    count: int = Field(description="how many contacts")
    sha256: str = Field(
        description="SHA-256 (hex) of their ids sorted, each as lowercase text and a newline"
    )
    log_position: int | None = Field(
        description="the contacts and consents lists reflected the log at least up to here"
    )
    filters: dict[str, Any] = Field(
        description="what chose them: the segment's filters and the purpose's consent"
    )


class LaunchAudiencePage(AudienceCommitment):
    """One page of the contacts a campaign's audience held at launch."""

    campaign_id: UUID
    launched_at: str
    contact_ids: list[UUID] = Field(description="in id order")
    next_cursor: str | None


class CampaignPublic(BaseModel):
    id: UUID
    version: int
    name: str
    code: str
    channel: str | None
    segment_id: UUID | None
    purpose: str | None
    starts_on: str | None
    ends_on: str | None
    budget: Budget | None
    owner: str | None
    status: StatusName
    launch_audience: AudienceCommitment | None = Field(
        description="the audience at launch (None before; and for campaigns launched before "
        "audiences were recorded)"
    )
    created_by: str
    created_at: str
    modified_at: str


class CampaignPage(BaseModel):
    items: list[CampaignPublic]
    next_cursor: str | None


class ResponseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: UUID
    kind: KindName
    at: AwareDatetime | None = Field(default=None, description="default now; not in the future")


class ResponsesIn(BaseModel):
    """Responses to record, all or none (an ``unsubscribed`` one also withdraws the
    person's consent for the campaign's purpose)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "responses": [
                        {"contact_id": "0b5e7a52-8d6f-4b1e-9f59-6a0f6f0e2c11", "kind": "opened"}
                    ]
                }
            ]
        },
    )

    responses: list[ResponseIn] = Field(min_length=1, max_length=1000)


class ResponsePublic(BaseModel):
    id: UUID
    version: int
    campaign_id: UUID
    contact_id: UUID
    kind: KindName
    at: str
    created_by: str
    created_at: str


class ResponsePage(BaseModel):
    items: list[ResponsePublic]
    next_cursor: str | None


class KindCount(BaseModel):
    kind: KindName
    responses: int
    contacts: int = Field(description="distinct contacts")


class WonDeals(BaseModel):
    currency: str
    deals: int
    amount: str = Field(description="their sum, a decimal string", examples=["12500.00"])


class CampaignResults(BaseModel):
    campaign_id: UUID
    responses: list[KindCount]
    leads: int = Field(description="leads whose campaign is this campaign's code")
    converted_leads: int
    won: list[WonDeals] = Field(description="won deals those leads became, per currency")
