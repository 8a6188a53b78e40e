"""Schemas of the change feed (``GET /changes``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class ChangeItem(BaseModel):
    """One stored event of a record, at its log position."""

    position: int = Field(description="the event's position in the log")
    type: str = Field(examples=["contact"])
    id: UUID
    version: int = Field(description="the record's version after this event")
    event: str = Field(examples=["Registered"])
    at: str
    actor: str | None
    data: dict[str, Any]


class ChangePage(BaseModel):
    """Changes oldest first; pass `after` back as ``after`` for the next."""

    items: list[ChangeItem]
    after: int = Field(description="the position to continue after")
    head: int = Field(description="the log's head when read; after == head: no more now")
