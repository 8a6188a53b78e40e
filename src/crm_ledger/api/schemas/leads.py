"""Request and response models of the leads resource."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from crm_ledger.api.schemas.contacts import ContactPublic, Email, Name, Phone
from crm_ledger.api.schemas.sales import Currency, DealPublic, Money, Title
from crm_ledger.leads import DEFAULT_CURRENCY, DealSpec

Label = Annotated[str, Field(min_length=1, max_length=100)]
Score = Annotated[StrictInt, Field(ge=0, le=100, description="0 to 100", examples=[40])]
TaxId = Annotated[str, Field(min_length=1, max_length=32, examples=["B12345678"])]
Notes = Annotated[str, Field(max_length=5000)]
LeadStatusName = Literal["new", "contacted", "qualified", "disqualified", "converted"]
LEAD_EXAMPLE: dict[str, Any] = {
    "name": "Ana García",
    "company_name": "Acme SL",
    "emails": ["ana@acme.example"],
    "phones": ["+34 600 000 000"],
    "tax_id": "B12345678",
    "source": "web form",
    "campaign": "spring-2026",
    "score": 40,
    "owner": "luis@example.com",
}


class Strict(BaseModel):
    """Rejects unknown fields."""

    model_config = ConfigDict(extra="forbid")


class LeadCreate(Strict):
    """A new lead (status ``new``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [LEAD_EXAMPLE]})

    name: Name
    company_name: Name | None = None
    emails: list[Email] = Field(default_factory=list, max_length=20)
    phones: list[Phone] = Field(default_factory=list, max_length=20)
    tax_id: TaxId | None = None
    source: Label | None = Field(default=None, examples=["web form"])
    campaign: Label | None = Field(default=None, examples=["spring-2026"])
    score: Score = 0
    owner: Label | None = Field(default=None, examples=["luis@example.com"])
    notes: Notes | None = None


class LeadUpdate(Strict):
    """A partial update: only the fields present change; ``null`` clears a field."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"score": 70, "campaign": "fair-2026"}]}
    )

    name: Name | None = None
    company_name: Name | None = None
    emails: list[Email] | None = Field(default=None, max_length=20)
    phones: list[Phone] | None = Field(default=None, max_length=20)
    tax_id: TaxId | None = None
    source: Label | None = None
    campaign: Label | None = None
    score: Score | None = None
    owner: Label | None = None
    notes: Notes | None = None

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent (an empty list clears emails or phones)."""
        values = self.model_dump(include=self.model_fields_set)
        for field in ("emails", "phones"):
            if field in values and values[field] is None:
                values[field] = []
        return values


class LeadDisqualify(Strict):
    """Why the lead is not a fit."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "no budget this year"}]}
    )

    reason: str = Field(min_length=1, max_length=1000, examples=["no budget this year"])


class ConversionDeal(Strict):
    """The deal to open for the new (or linked) person."""

    pipeline_id: UUID
    stage_id: UUID | None = Field(default=None, description="default: first active stage")
    title: Title
    amount: Money | None = None
    currency: Currency = DEFAULT_CURRENCY

    def spec(self) -> DealSpec:
        """The use case's description of the deal."""
        return DealSpec(
            pipeline_id=self.pipeline_id,
            title=self.title,
            stage_id=None if self.stage_id is None else str(self.stage_id),
            amount=self.amount,
            currency=self.currency,
        )


class LeadConvert(Strict):
    """What the lead becomes: a person (new, or an existing one), optionally an
    organisation named after its company, optionally a deal."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "create_organisation": True,
                    "deal": {
                        "pipeline_id": "5a1d9c7e-2f43-4b8a-8e6d-1c2b3a4d5e6f",
                        "title": "Acme first order",
                        "amount": "1500.00",
                        "currency": "EUR",
                    },
                }
            ]
        },
    )

    create_organisation: StrictBool = False
    existing_contact_id: UUID | None = Field(
        default=None, description="link this existing person instead of creating one"
    )
    deal: ConversionDeal | None = None


class ConversionPublic(BaseModel):
    """What a converted lead became."""

    contact_id: UUID
    organisation_id: UUID | None
    deal_id: UUID | None
    at: str
    actor: str


class LeadPublic(BaseModel):
    """A lead as the API shows it."""

    id: UUID
    version: int
    name: str
    company_name: str | None
    emails: list[str]
    phones: list[str]
    tax_id: str | None
    source: str | None
    campaign: str | None
    owner: str | None
    notes: str | None
    score: int
    erased: bool = Field(
        default=False,
        description="its personal data was erased (`POST /leads/{id}/erasure`): name"
        " `(erased)`, no emails, phones, tax id or notes; it refuses every change",
    )
    status: LeadStatusName
    disqualified_reason: str | None
    conversion: ConversionPublic | None
    created_at: str
    modified_at: str


class LeadErasureResult(BaseModel):
    """What a lead's erasure did."""

    lead: LeadPublic
    redacted_activities: list[UUID] = Field(
        description="activities whose person links are all this lead: subject `(erased)`, no body"
    )
    kept_activities: list[UUID] = Field(
        description="activities linking this lead and another person: kept as they are"
    )
    keys_destroyed: int = Field(
        description="keys destroyed now (0 when repeated: they were destroyed before)"
    )
    unsealed_events: int = Field(
        description="events of the lead stored before personal data was sealed: their"
        " values stay readable in the log"
    )


class LeadPage(BaseModel):
    """A page of leads; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[LeadPublic]
    next_cursor: str | None


class ConversionResult(BaseModel):
    """The converted lead and everything the conversion created or linked."""

    lead: LeadPublic
    contact: ContactPublic
    organisation: ContactPublic | None
    deal: DealPublic | None


class DuplicateMatch(BaseModel):
    """An existing contact that shares a value with the lead."""

    contact_id: UUID
    name: str
    matched_on: list[Literal["email", "tax_id", "phone"]]


class LeadDuplicateMatch(BaseModel):
    """An open lead (new, contacted or qualified) that shares an email with the lead."""

    lead_id: UUID
    name: str
    matched_on: list[Literal["email"]]


class DuplicateProblem(BaseModel):
    """The 409 ``possible_duplicates`` problem: repeat with ``?force=true`` to proceed."""

    type: str
    title: str
    status: int
    detail: str
    code: Literal["possible_duplicates"]
    matches: list[DuplicateMatch]
    lead_matches: list[LeadDuplicateMatch] = []
