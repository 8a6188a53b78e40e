"""Request and response models of the segments resource (saved contact filters)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from crm_ledger.api.schemas.consents import Purpose
from crm_ledger.api.schemas.contacts import Tag
from crm_ledger.domain import segment as rules

CustomKey = Annotated[str, Field(min_length=1, max_length=rules.MAX_CUSTOM_KEY)]
CustomText = Annotated[StrictStr, Field(max_length=rules.MAX_CUSTOM_VALUE)]
CustomEquals = CustomText | StrictInt | StrictBool
DEFINITION_EXAMPLE: dict[str, Any] = {
    "kind": "organisation",
    "tags": ["vip"],
    "has_email": True,
    "created_after": "2026-01-01T00:00:00Z",
    "custom_fields": {"region": "north"},
}


class SegmentDefinition(BaseModel):
    """The contacts-list filters a segment saves (all optional, combined with AND; the
    same meaning as the query parameters of ``GET /contacts``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [DEFINITION_EXAMPLE]})

    q: str | None = Field(default=None, min_length=1, max_length=rules.MAX_Q)
    kind: Literal["person", "organisation"] | None = None
    tags: list[Tag] | None = Field(default=None, max_length=rules.MAX_TAGS)
    owner: str | None = Field(default=None, min_length=1, max_length=rules.MAX_OWNER)
    archived: StrictBool | None = None
    merged: StrictBool | None = None
    has_email: StrictBool | None = None
    created_after: datetime | None = Field(default=None, description="inclusive")
    created_before: datetime | None = Field(default=None, description="exclusive")
    custom_fields: dict[CustomKey, CustomEquals] | None = Field(
        default=None, max_length=rules.MAX_CUSTOM, description="each field equals its value"
    )
    consents: list[Purpose] | None = Field(
        default=None,
        min_length=1,
        max_length=rules.MAX_CONSENTS,
        description="purposes the contact's person consents to now (all of them)",
    )

    def filters(self) -> dict[str, Any]:
        """The filters given (JSON values, timestamps as RFC 3339 text)."""
        return self.model_dump(mode="json", exclude_none=True)


class SegmentCreate(BaseModel):
    """A new segment."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "VIP organisations", "definition": DEFINITION_EXAMPLE}]
        },
    )

    name: str = Field(min_length=1, max_length=rules.MAX_NAME)
    definition: SegmentDefinition
    owner: str | None = Field(
        default=None, min_length=1, max_length=rules.MAX_OWNER, description="default: you"
    )

    def fields(self) -> dict[str, Any]:
        return {"name": self.name, "definition": self.definition.filters(), "owner": self.owner}


class SegmentUpdate(BaseModel):
    """Changes to a segment: a new definition replaces the old one whole."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "VIP organisations (north)"}, {"definition": {"tags": ["vip"]}}]
        },
    )

    name: str | None = Field(default=None, min_length=1, max_length=rules.MAX_NAME)
    definition: SegmentDefinition | None = None
    owner: str | None = Field(default=None, min_length=1, max_length=rules.MAX_OWNER)

    def changes(self) -> dict[str, Any]:
        """Only the fields sent (null is not a value here: every field is required)."""
        changes: dict[str, Any] = {}
        for field in self.model_fields_set:
            value = getattr(self, field)
            if value is not None:
                changes[field] = value.filters() if field == "definition" else value
        return changes


class SegmentPublic(BaseModel):
    """A segment as the API shows it."""

    id: UUID
    version: int
    name: str
    definition: dict[str, Any]
    owner: str
    deleted: bool
    created_at: str
    modified_at: str


class SegmentPage(BaseModel):
    """Segments, oldest first."""

    items: list[SegmentPublic]
    next_cursor: str | None
