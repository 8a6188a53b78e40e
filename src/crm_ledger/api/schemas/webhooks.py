"""Request and response models of the webhooks resource (endpoints receiving the change
feed as signed messages)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm_ledger.api.change_items import ChangeType
from crm_ledger.domain import webhook as rules

RoleName = Literal["admin", "sales", "accountant", "auditor"]
EXAMPLE: dict[str, Any] = {
    "url": "https://hooks.example.com/crm",
    "role": "sales",
    "types": ["contact", "deal"],
    "description": "marketing automation",
}


class WebhookCreate(BaseModel):
    """A new endpoint: it receives the changes written from now on that `role` may
    read (only of `types`, when given)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    url: str = Field(min_length=1, max_length=rules.MAX_URL, description="https:// URL")
    role: RoleName = Field(description="the endpoint sees what an API key of this role reads")
    types: list[ChangeType] = Field(
        default_factory=list, max_length=rules.MAX_TYPES, description="empty: every type"
    )
    description: str = Field(default="", max_length=rules.MAX_DESCRIPTION)


class WebhookUpdate(BaseModel):
    """Changes to an endpoint (its role is fixed: register another endpoint instead)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"types": ["contact"]}]}
    )

    url: str | None = Field(default=None, min_length=1, max_length=rules.MAX_URL)
    types: list[ChangeType] | None = Field(default=None, max_length=rules.MAX_TYPES)
    description: str | None = Field(default=None, max_length=rules.MAX_DESCRIPTION)

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class WebhookDisable(BaseModel):
    """Why delivery stops."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "receiver maintenance"}]}
    )

    reason: str = Field(default="disabled by request", min_length=1, max_length=rules.MAX_REASON)


class Delivery(BaseModel):
    """Where delivery to the endpoint is."""

    position: int = Field(description="the log position delivered up to")
    failures: int = Field(description="failed attempts of the next message")
    next_attempt_at: str | None = Field(description="when it is tried again (if it failed)")
    last_error: str | None


class WebhookPublic(BaseModel):
    """A webhook endpoint."""

    id: UUID
    version: int
    url: str
    role: RoleName
    types: list[str]
    description: str
    start_after: int = Field(description="the log position it was registered after")
    enabled: bool
    disabled_reason: str | None
    created_by: str
    created_at: str
    modified_at: str
    delivery: Delivery | None = Field(default=None, description="in GET /webhooks/{id} only")


class WebhookSecret(BaseModel):
    """A signing secret, shown once: keep it to verify the messages' signatures."""

    secret: str = Field(examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwU2T2lZK/J8c="])


class WebhookCreated(WebhookPublic, WebhookSecret):
    """The new endpoint and its signing secret (shown once)."""


class WebhookPage(BaseModel):
    """Endpoints oldest first; pass `next_cursor` back as ``cursor`` for more."""

    items: list[WebhookPublic]
    next_cursor: str | None


class AttemptPublic(BaseModel):
    """One delivery attempt."""

    message_id: str = Field(description="the webhook-id header (the same on retries)")
    position: int
    event_type: str = Field(examples=["deal.moved"])
    attempt: int = Field(description="1 for the first try of the message")
    at: str
    status: int | None = Field(description="the receiver's HTTP status; null without one")
    error: str | None
    duration_ms: int


class AttemptPage(BaseModel):
    """Attempts newest first; pass `next_cursor` back as ``cursor`` for older ones."""

    items: list[AttemptPublic]
    next_cursor: str | None
