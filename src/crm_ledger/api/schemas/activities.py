"""Request and response models of the activities and timelines resources.

Times are RFC 3339 strings with an offset (stored and shown as UTC with microseconds);
dates are ``YYYY-MM-DD`` strings.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from crm_ledger.api.schemas.campaigns import ResponsePublic
from crm_ledger.api.schemas.cases import CasePublic
from crm_ledger.api.schemas.surveys import NpsPublic

KIND = Literal["call", "email", "meeting", "note", "task"]
EXAMPLE_CONTACT = "0b5e7a52-8d6f-4b1e-9f59-6a0f6f0e2c11"


def _date_text(value: object) -> object:
    """A date comes as a JSON string ``YYYY-MM-DD``."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError('due_date must be an ISO date string such as "2026-03-10"')
    return value


DueDate = Annotated[
    date,
    BeforeValidator(_date_text),
    Field(description="ISO 8601 date", examples=["2026-03-10"]),
]
Moment = Annotated[
    AwareDatetime,
    Field(description="RFC 3339 time with offset", examples=["2026-03-10T09:30:00Z"]),
]
Subject = Annotated[str, Field(min_length=1, max_length=200, examples=["Intro call"])]
Body = Annotated[str, Field(max_length=10_000)]
Assignee = Annotated[str, Field(min_length=1, max_length=100, examples=["ana@example.com"])]


class Strict(BaseModel):
    """Rejects unknown fields."""

    model_config = ConfigDict(extra="forbid")


class Link(Strict):
    """What an activity is about."""

    type: Literal["contact", "deal", "lead"]
    id: UUID


Links = Annotated[list[Link], Field(min_length=1, max_length=20)]


def _links(links: list[Link]) -> list[dict[str, str]]:
    return [{"type": link.type, "id": str(link.id)} for link in links]


class ActivityCreate(Strict):
    """A new activity. Tasks take due_date, assignee and remind_at; the other kinds take
    occurred_at (default: now)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "task",
                    "subject": "Send the proposal",
                    "links": [{"type": "contact", "id": EXAMPLE_CONTACT}],
                    "due_date": "2026-03-10",
                    "assignee": "ana@example.com",
                    "remind_at": "2026-03-10T08:00:00Z",
                },
                {
                    "kind": "call",
                    "subject": "Intro call",
                    "body": "Interested in the annual plan",
                    "links": [{"type": "contact", "id": EXAMPLE_CONTACT}],
                    "occurred_at": "2026-03-09T16:30:00+01:00",
                },
            ]
        },
    )

    kind: KIND
    subject: Subject
    body: Body | None = None
    links: Links
    occurred_at: Moment | None = None
    due_date: DueDate | None = None
    assignee: Assignee | None = None
    remind_at: Moment | None = None

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for ``activities.log_activity``."""
        values = self.model_dump(exclude={"links"})
        values["links"] = _links(self.links)
        return values


class ActivityUpdate(Strict):
    """A partial update: only the fields present change; ``null`` clears a field.
    ``assignee`` (tasks only) reassigns the task."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"due_date": "2026-03-12", "assignee": "ben@example.com"}]},
    )

    subject: Subject | None = None
    body: Body | None = None
    links: Links | None = None
    occurred_at: Moment | None = None
    due_date: DueDate | None = None
    assignee: Assignee | None = None
    remind_at: Moment | None = None

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent."""
        values = self.model_dump(include=self.model_fields_set, exclude={"links"})
        if "links" in self.model_fields_set:
            values["links"] = _links(self.links or [])
        return values


class ActivityCancel(Strict):
    """Why the activity is cancelled (optional)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "meeting moved"}]}
    )

    reason: str | None = Field(default=None, max_length=1000, examples=["meeting moved"])


class LinkPublic(BaseModel):
    """A link as stored."""

    type: Literal["contact", "deal", "lead"]
    id: UUID


class ActivityPublic(BaseModel):
    """An activity as the API shows it. ``at`` is where it sits on timelines: when it
    happened, or for a task when it was logged."""

    id: UUID
    version: int
    kind: KIND
    subject: str
    body: str | None
    links: list[LinkPublic]
    occurred_at: str | None
    due_date: str | None
    assignee: str | None
    remind_at: str | None
    status: Literal["open", "done", "cancelled"]
    completed_at: str | None
    completed_by: str | None
    cancelled_at: str | None
    cancel_reason: str | None
    at: str
    logged_at: str
    created_by: str
    created_at: str
    modified_at: str


class ActivityPage(BaseModel):
    """One page of activities."""

    items: list[ActivityPublic]
    next_cursor: str | None


class TimelineItem(BaseModel):
    """A stored event of the record (``type: event``), an activity about it, or (in a
    contact's timeline) one of its service cases, NPS answers or campaign responses."""

    type: Literal["event", "activity", "case", "nps", "campaign_response"]
    at: str
    actor: str | None
    event: str | None = None
    version: int | None = None
    data: dict[str, Any] | None = None
    activity: ActivityPublic | None = None
    case: CasePublic | None = None
    nps: NpsPublic | None = None
    campaign_response: ResponsePublic | None = None


class TimelinePage(BaseModel):
    """One page of a timeline, newest first."""

    items: list[TimelineItem]
    next_cursor: str | None
