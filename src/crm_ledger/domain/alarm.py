"""The Alarm aggregate: a failed integrity check, recorded as a fact for people to see.

Spanish anti-fraud rules want invoicing to go on when a check fails: "a broken chain or
failed check never stops invoicing: it raises an alarm event and is reported". So a use
case that finds something wrong (e.g. an issuer's VERI*FACTU chain head that no longer
matches its own last record) carries on and stores an ``Alarm`` in the same save. Alarms
are only raised, never changed; ``GET /alarms`` lists them.
"""

from __future__ import annotations

from datetime import UTC
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.errors import InvalidCommandError

MAX_DETAIL = 2000


class AlarmKind(StrEnum):
    """What failed."""

    VERIFACTU_CHAIN_HEAD = "verifactu_chain_head"


class Alarm(Aggregate):
    """One failed check: its kind, a sentence, the facts behind it, and who hit it."""

    @event("Raised")
    def __init__(self, *, kind: str, detail: str, context: dict[str, Any], actor: str) -> None:
        self.kind = kind
        self.detail = detail
        self.context = context
        self.raised_by = actor

    @classmethod
    def raise_alarm(
        cls, *, kind: AlarmKind | str, detail: str, context: dict[str, Any], actor: str
    ) -> Alarm:
        """Record that a check failed (`context` holds JSON-ready facts: text, numbers)."""
        try:
            what = AlarmKind(kind)
        except ValueError:
            raise InvalidCommandError(f"unknown alarm kind {kind!r}", field="kind") from None
        text = detail.strip() if isinstance(detail, str) else ""
        if not text or len(text) > MAX_DETAIL:
            raise InvalidCommandError(
                f"detail must have 1 to {MAX_DETAIL} characters", field="detail"
            )
        return cls(kind=what.value, detail=text, context=dict(context), actor=actor)


def alarm_snapshot(alarm: Alarm) -> dict[str, Any]:
    """The alarm's public, JSON-ready state."""
    return {
        "id": str(alarm.id),
        "kind": alarm.kind,
        "detail": alarm.detail,
        "context": dict(alarm.context),
        "actor": alarm.raised_by,
        "raised_at": alarm.created_on.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
