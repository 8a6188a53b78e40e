"""Request and response models of the service cases resource."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from crm_ledger.domain import case as rules

Subject = Annotated[str, Field(min_length=1, max_length=rules.MAX_SUBJECT)]
Text = Annotated[str, Field(min_length=1, max_length=rules.MAX_TEXT)]
Label = Annotated[str, Field(min_length=1, max_length=rules.MAX_LABEL)]
PriorityName = Literal["low", "normal", "high", "urgent"]
CaseStatusName = Literal["new", "open", "pending", "resolved", "closed"]
SlaStateName = Literal["running", "met", "breached", "paused"]
CASE_EXAMPLE: dict[str, Any] = {
    "contact_id": "0b5e7a52-8d6f-4b1e-9f59-6a0f6f0e2c11",
    "subject": "Invoice 2026-A-0042 shows the wrong address",
    "description": "The customer moved in March; the invoice has the old address.",
    "priority": "high",
    "channel": "email",
    "assignee": "user:ana",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseCreate(Strict):
    """A new case (status ``new``); its SLA clocks start now."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [CASE_EXAMPLE]})

    contact_id: UUID
    subject: Subject
    description: Text | None = None
    priority: PriorityName = "normal"
    channel: Label | None = Field(default=None, examples=["email"])
    assignee: Label | None = Field(default=None, examples=["user:ana"])


class CaseUpdate(Strict):
    """A partial update: only the fields present change; ``null`` clears a field."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"assignee": "user:luis"}]}
    )

    subject: Subject | None = None
    description: Text | None = None
    channel: Label | None = None
    assignee: Label | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(examples)})


class CasePriority(Strict):
    """The new priority; the SLA due times follow it."""

    model_config = _examples({"priority": "urgent"})

    priority: PriorityName


class CaseResolve(Strict):
    """How the case was solved."""

    model_config = _examples({"resolution": "Re-issued as rectifying invoice 2026-R-0003"})

    resolution: Text


class CaseReopen(Strict):
    """Why the case is open again."""

    model_config = _examples({"reason": "The customer still sees the old address"})

    reason: Text


class CaseRating(Strict):
    """The customer's satisfaction with the resolution (CSAT)."""

    model_config = _examples({"score": 5, "comment": "Solved in an hour"})

    score: StrictInt = Field(ge=1, le=5, description="1 (very unhappy) to 5 (very happy)")
    comment: Text | None = None


class Sla(BaseModel):
    """The SLA clocks: due times (set by priority, moved back by time spent waiting on
    the customer) and their states as of the request."""

    respond_by: str
    resolve_by: str
    waiting_since: str | None
    waited_seconds: int
    first_response: SlaStateName
    resolution: SlaStateName


class Rating(BaseModel):
    score: int
    comment: str | None


class CasePublic(BaseModel):
    """A service case."""

    id: UUID
    version: int
    contact_id: UUID
    subject: str
    description: str | None
    channel: str | None
    assignee: str | None
    priority: PriorityName
    status: CaseStatusName
    opened_at: str
    first_response_at: str | None
    responses: int
    resolved_at: str | None
    resolution: str | None
    rating: Rating | None
    sla: Sla
    created_at: str
    modified_at: str


class CasePage(BaseModel):
    items: list[CasePublic]
    next_cursor: str | None
