"""The NpsResponse aggregate: one answer of a contact to a Net Promoter Score survey.

"How likely are you to recommend us to a friend or colleague?", 0 to 10. An answer is
recorded once and never changed (a person who answers again gives a new response); it
names the contact, the survey it answers (a label such as ``nps-2026-q4``), when the
person answered (``answered_at``, which may be earlier than the recording, e.g. a
survey tool's export), how (``channel``) and an optional comment. Promoters answer 9 or
10, passives 7 or 8, detractors 0 to 6; the score of a set of answers is the percentage
of promoters minus the percentage of detractors (-100 to 100).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.consent import said_at
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.ledger.envelope import format_timestamp

SURVEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_COMMENT = 2000
MAX_CHANNEL = 100


def group(score: int) -> str:
    """``promoter`` (9-10), ``passive`` (7-8) or ``detractor`` (0-6)."""
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def _score(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise InvalidCommandError("score must be an integer from 0 to 10", field="score")
    return value


def _survey(value: object) -> str:
    if not isinstance(value, str) or not SURVEY.match(value):
        raise InvalidCommandError(
            "survey must be 1 to 64 lowercase letters, digits, '_', '.' or '-' (e.g. nps-2026-q4)",
            field="survey",
        )
    return value


def _optional(value: object, field: str, most: int) -> str | None:
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else None
    if text is None or len(text) > most:
        raise InvalidCommandError(f"{field} must be text of at most {most} characters", field=field)
    return text or None


class NpsResponse(Aggregate):
    """One answer to an NPS survey (see the module docstring)."""

    @event("Recorded")
    def __init__(
        self,
        *,
        contact_id: UUID,
        survey: str,
        score: int,
        comment: str | None,
        channel: str | None,
        answered_at: str,
        actor: str,
    ) -> None:
        self.contact_id = contact_id
        self.survey = survey
        self.score = score
        self.comment = comment
        self.channel = channel
        self.answered_at = answered_at
        self.created_by = actor

    @classmethod
    def record(
        cls,
        *,
        contact_id: UUID,
        survey: str,
        score: object,
        actor: str,
        comment: str | None = None,
        channel: str | None = None,
        answered_at: datetime | None = None,
        now: datetime | None = None,
    ) -> NpsResponse:
        """Record an answer (InvalidCommandError for a bad value)."""
        return cls(
            contact_id=contact_id,
            survey=_survey(survey),
            score=_score(score),
            comment=_optional(comment, "comment", MAX_COMMENT),
            channel=_optional(channel, "channel", MAX_CHANNEL),
            answered_at=said_at(answered_at, now or datetime.now(UTC), "answered_at"),
            actor=actor,
        )

    @event("Relinked")
    def relink(self, *, contact_id: UUID, actor: str) -> None:
        """Move the answer to another contact (the survivor of a merge)."""
        self.contact_id = contact_id


def nps_snapshot(response: NpsResponse) -> dict[str, Any]:
    """The answer's public, JSON-ready state."""
    return {
        "id": str(response.id),
        "version": response.version,
        "contact_id": str(response.contact_id),
        "survey": response.survey,
        "score": response.score,
        "group": group(response.score),
        "comment": response.comment,
        "channel": response.channel,
        "answered_at": response.answered_at,
        "created_by": response.created_by,
        "created_at": format_timestamp(response.created_on),
    }


def nps_figures(scores: list[int]) -> dict[str, Any]:
    """How many answers, promoters, passives and detractors, and the score (None when
    there are no answers), rounded to one decimal."""
    counts = dict.fromkeys(("promoter", "passive", "detractor"), 0)
    for score in scores:
        counts[group(score)] += 1
    total = len(scores)
    nps = None if total == 0 else round(100 * (counts["promoter"] - counts["detractor"]) / total, 1)
    return {
        "responses": total,
        "promoters": counts["promoter"],
        "passives": counts["passive"],
        "detractors": counts["detractor"],
        "nps": nps,
    }
