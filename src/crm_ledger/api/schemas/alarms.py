"""Response models of the alarms resource."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel


class AlarmPublic(BaseModel):
    """A failed integrity check that did not stop the work: what, facts, who, when."""

    id: UUID
    kind: str
    detail: str
    context: dict[str, Any]
    actor: str
    raised_at: str


class AlarmPage(BaseModel):
    """Alarms in the order raised; pass ``next_cursor`` as ``cursor`` for more."""

    items: list[AlarmPublic]
    next_cursor: str | None
