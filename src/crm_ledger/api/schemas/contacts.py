"""Request and response models of the contacts resource."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

Email = Annotated[
    str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", examples=["ana@example.com"])
]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9 ().\-/]{3,32}$", examples=["+34 600 000 000"])]
Tag = Annotated[str, Field(pattern=r"^[\w\-.]{1,40}$", examples=["vip"])]
Name = Annotated[str, Field(min_length=1, max_length=200, examples=["Ana García"])]
SafeInt = Annotated[StrictInt, Field(ge=-(2**53 - 1), le=2**53 - 1)]
CustomValue = StrictStr | SafeInt | StrictBool | None


class Strict(BaseModel):
    """Rejects unknown fields."""

    model_config = ConfigDict(extra="forbid")


class Address(Strict):
    """A postal address."""

    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2", examples=["ES"])


class ContactCreate(Strict):
    """A new person or organisation."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "person",
                    "name": "Ana García",
                    "emails": ["ana@example.com"],
                    "tags": ["vip"],
                }
            ]
        },
    )

    kind: Literal["person", "organisation"]
    name: Name
    emails: list[Email] = Field(default_factory=list, max_length=20)
    phones: list[Phone] = Field(default_factory=list, max_length=20)
    addresses: list[Address] = Field(default_factory=list, max_length=10)
    tax_id: str | None = Field(default=None, min_length=1, max_length=32)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    owner: str | None = Field(default=None, min_length=1, max_length=100)
    organisation_id: UUID | None = None
    custom_fields: dict[Annotated[str, Field(max_length=64)], CustomValue] = Field(
        default_factory=dict, max_length=100
    )

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for ``Contact.register`` (absent address parts left out)."""
        values = self.model_dump()
        values["addresses"] = [
            {k: v for k, v in a.items() if v is not None} for a in values["addresses"]
        ]
        return values


MAX_BATCH = 1000


class ContactBatchCreate(Strict):
    """Up to 1,000 new contacts, each like the body of ``POST /contacts``.

    Items are kept raw here and validated one by one by the route, so that schema errors
    and business-rule errors of every item come back together in one problem.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "contacts": [
                        {"kind": "person", "name": "Ana García", "emails": ["ana@example.com"]},
                        {"kind": "organisation", "name": "Acme SL", "tags": ["customer"]},
                    ]
                }
            ]
        },
    )

    contacts: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        json_schema_extra={"items": {"$ref": "#/components/schemas/ContactCreate"}},
    )


class ContactRef(BaseModel):
    """Where a new contact is: its id and version."""

    id: UUID
    version: int


class ContactBatchCreated(BaseModel):
    """The contacts a batch created, in the order they were sent."""

    items: list[ContactRef]


class ContactUpdate(Strict):
    """A partial update: only the fields present change; ``null`` clears a field."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Ana García López"}]}
    )

    name: Name | None = None
    emails: list[Email] | None = Field(default=None, max_length=20)
    phones: list[Phone] | None = Field(default=None, max_length=20)
    addresses: list[Address] | None = Field(default=None, max_length=10)
    tax_id: str | None = Field(default=None, min_length=1, max_length=32)
    tags: list[Tag] | None = Field(default=None, max_length=50)
    owner: str | None = Field(default=None, min_length=1, max_length=100)
    organisation_id: UUID | None = None
    custom_fields: dict[Annotated[str, Field(max_length=64)], CustomValue] | None = Field(
        default=None, max_length=100
    )

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent (lists emptied, not nulled, for list fields)."""
        sent = self.model_dump(include=self.model_fields_set, exclude_none=False)
        for name in ("emails", "phones", "addresses", "tags"):
            if name in sent and sent[name] is None:
                sent[name] = []
        if "custom_fields" in sent and sent["custom_fields"] is None:
            sent.pop("custom_fields")
        for name in ("addresses",):
            if name in sent:
                sent[name] = [{k: v for k, v in a.items() if v is not None} for a in sent[name]]
        return sent


class NoteCreate(Strict):
    """A note on a contact."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": "Called about the renewal; send a quote."}]},
    )

    text: str = Field(min_length=1, max_length=10_000)


class Note(BaseModel):
    """A note as stored."""

    note_id: str
    text: str
    actor: str
    at: str


class ContactPublic(BaseModel):
    """A contact as the API shows it."""

    id: UUID
    version: int
    kind: Literal["person", "organisation"]
    name: str
    emails: list[str]
    phones: list[str]
    addresses: list[dict[str, str]]
    tax_id: str | None
    tags: list[str]
    owner: str | None
    organisation_id: UUID | None
    custom_fields: dict[str, CustomValue]
    archived: bool
    merged_into: UUID | None = Field(
        default=None,
        description="the contact this one was merged into (it then refuses every change)",
    )
    erased: bool = Field(
        default=False,
        description="its personal data was erased (`POST /contacts/{id}/erasure`): name and"
        " note texts read `(erased)`, no emails, phones, addresses, tax id or custom fields;"
        " it refuses every change",
    )
    notes: list[Note]
    created_at: str
    modified_at: str


class ContactPage(BaseModel):
    """One page of contacts."""

    items: list[ContactPublic]
    next_cursor: str | None


class LikelyDuplicate(BaseModel):
    reasons: list[Literal["email", "phone", "tax_id", "name"]] = Field(
        description="what it shares with the contact asked about"
    )
    contact: ContactPublic


DuplicateReason = Literal["email", "phone", "tax_id", "name"]


class PairedContact(BaseModel):
    id: UUID
    kind: str
    name: str


class DuplicatePair(BaseModel):
    contact: PairedContact = Field(description="the one with the smaller id")
    other: PairedContact
    reasons: list[DuplicateReason]


class DuplicatesReport(BaseModel):
    """Every pair of listed contacts that look like one (most reasons first)."""

    log_position: int = Field(description="the contacts list reflected the log up to here")
    contacts: int = Field(description="how many contacts were compared")
    pair_count: int
    pairs: list[DuplicatePair] = Field(description="the first `limit` pairs")
    too_common: dict[DuplicateReason, int] = Field(
        description="per reason, values shared by too many contacts to pair them (a "
        "switchboard number, a generic mailbox): those contacts are not paired by it"
    )


class LikelyDuplicates(BaseModel):
    """Active contacts sharing an email, phone, tax id or name: most reasons first."""

    items: list[LikelyDuplicate]


class HistoryItem(BaseModel):
    """One event in a contact's history."""

    version: int
    event: str
    at: str
    actor: str | None
    data: dict[str, Any]


class HistoryPage(BaseModel):
    """One page of a contact's history, oldest first."""

    items: list[HistoryItem]
    next_cursor: str | None


class ContactMerge(Strict):
    """Which contact to merge into the one named in the path (the survivor)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"duplicate_id": "0b5e7a52-8d6f-4b1e-9f59-6a0f6f0e2c11"}]},
    )

    duplicate_id: UUID = Field(description="the contact to absorb; it is frozen afterwards")


class Relinked(BaseModel):
    """The records moved from the duplicate to the survivor."""

    deals: list[UUID]
    people: list[UUID] = Field(description="people whose organisation was the duplicate")
    activities: list[UUID]
    cases: list[UUID] = Field(description="service cases of the duplicate")
    nps: list[UUID] = Field(description="NPS answers of the duplicate")
    campaign_responses: list[UUID] = Field(description="campaign responses of the duplicate")


class ContactErasure(BaseModel):
    """What an erasure did."""

    contact: ContactPublic
    erased_contacts: list[UUID] = Field(
        description="the contact, then every contact merged into it (all erased)"
    )
    erased_leads: list[UUID] = Field(
        description="the leads converted into any of them (erased too)"
    )
    redacted_activities: list[UUID] = Field(
        description="activities whose person links (contacts, leads) are all erased: subject"
        " `(erased)`, no body"
    )
    kept_activities: list[UUID] = Field(
        description="activities linking an erased contact or lead and another person: kept"
        " as they are (review them)"
    )
    redacted_cases: list[UUID] = Field(
        description="the erased contacts' service cases: subject and resolution `(erased)`,"
        " no description or rating comment"
    )
    keys_destroyed: int = Field(
        description="subject keys destroyed now (0 when repeated: they were destroyed before)"
    )
    unsealed_events: int = Field(
        description="events of these contacts stored before personal data was sealed: their"
        " values stay readable in the log (0 for contacts registered since)"
    )
    retention: str = Field(description="what the law makes the company keep regardless")


class ContactMergeResult(BaseModel):
    """Both contacts after the merge, and the references redirected."""

    survivor: ContactPublic
    duplicate: ContactPublic
    relinked: Relinked
