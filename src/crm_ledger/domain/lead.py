"""The Lead aggregate: a possible customer not yet qualified, and what it became.

Status moves ``new -> contacted -> qualified``; ``disqualified`` (with a reason) can be
reached from any open status and left only by ``reopen`` (back to ``new``). Conversion is
recorded from new, contacted or qualified; after it the lead is frozen: every command is
refused with ``LeadConvertedError``. Whether the contacts, organisation and deal named by
the conversion exist is the service's business (it saves them in the same transaction).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.changes import changed_fields, check_known
from crm_ledger.domain.contact import ERASED_NAME
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.sales_errors import LeadConvertedError, LeadErasedError, LeadStatusError
from crm_ledger.ledger.envelope import format_timestamp

MAX_NAME = 200
MAX_LABEL = 100
MAX_NOTES = 5000
MAX_REASON = 1000
UPDATABLE = frozenset(
    {"source", "campaign", "name", "company_name", "emails", "phones", "tax_id", "owner", "notes"}
)


class LeadStatus(StrEnum):
    """Where a lead stands."""

    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    DISQUALIFIED = "disqualified"
    CONVERTED = "converted"


OPEN = frozenset({LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUALIFIED})


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item:
            seen.setdefault(item, None)
    return list(seen)


def _text(value: object, field: str, limit: int, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidCommandError(f"{field} must be text", field=field)
    text = value.strip()
    if required and not text:
        raise InvalidCommandError(f"{field} must have 1 to {limit} characters", field=field)
    if len(text) > limit:
        raise InvalidCommandError(f"{field} has at most {limit} characters", field=field)
    return text or None


def _list(value: object, field: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidCommandError(f"{field} must be a list of text", field=field)
    items = list(value)
    if not all(isinstance(i, str) for i in items):
        raise InvalidCommandError(f"{field} must be a list of text", field=field)
    return items


def normalise(field: str, value: Any) -> Any:
    """The stored form of `value` for the updatable `field` (InvalidCommandError if invalid)."""
    if field == "name":
        return _text(value, "name", MAX_NAME, required=True)
    if field == "company_name":
        return _text(value, "company_name", MAX_NAME)
    if field in ("source", "campaign", "owner"):
        return _text(value, field, MAX_LABEL)
    if field == "tax_id":
        return _text(value, "tax_id", 32)
    if field == "notes":
        return _text(value, "notes", MAX_NOTES)
    if field == "emails":
        return _unique(e.strip().lower() for e in _list(value, "emails"))
    if field == "phones":
        return _unique(p.strip() for p in _list(value, "phones"))
    raise InvalidCommandError(f"unknown field {field!r}", field=field)


def check_score(value: object) -> int:
    """A score is an integer from 0 to 100."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise InvalidCommandError("score must be an integer from 0 to 100", field="score")
    return value


class Lead(Aggregate):
    """Someone who may become a customer: where they came from and how far they got."""

    erased: bool = False  # class default: states saved before erasure existed lack it

    @event("Registered")
    def __init__(
        self,
        *,
        name: str,
        company_name: str | None,
        emails: list[str],
        phones: list[str],
        tax_id: str | None,
        source: str | None,
        campaign: str | None,
        owner: str | None,
        notes: str | None,
        score: int,
        actor: str,
    ) -> None:
        self.name = name
        self.company_name = company_name
        self.emails = emails
        self.phones = phones
        self.tax_id = tax_id
        self.source = source
        self.campaign = campaign
        self.owner = owner
        self.notes = notes
        self.score = score
        self.status_value = LeadStatus.NEW.value
        self.disqualified_reason: str | None = None
        self.conversion: dict[str, Any] | None = None
        self.created_by = actor

    @classmethod
    def register(
        cls,
        *,
        name: str,
        actor: str,
        company_name: str | None = None,
        emails: Iterable[str] = (),
        phones: Iterable[str] = (),
        tax_id: str | None = None,
        source: str | None = None,
        campaign: str | None = None,
        owner: str | None = None,
        notes: str | None = None,
        score: int = 0,
    ) -> Lead:
        """Register a new lead (all values normalised and checked first)."""
        return cls(
            name=normalise("name", name),
            company_name=normalise("company_name", company_name),
            emails=normalise("emails", emails),
            phones=normalise("phones", phones),
            tax_id=normalise("tax_id", tax_id),
            source=normalise("source", source),
            campaign=normalise("campaign", campaign),
            owner=normalise("owner", owner),
            notes=normalise("notes", notes),
            score=check_score(score),
            actor=actor,
        )

    # -- queries ----------------------------------------------------------------------

    @property
    def status(self) -> LeadStatus:
        """New, contacted, qualified, disqualified or converted."""
        return LeadStatus(self.status_value)

    @property
    def is_converted(self) -> bool:
        """True once the conversion is recorded (the lead is then frozen)."""
        return self.status is LeadStatus.CONVERTED

    def _check_not_converted(self) -> None:
        if self.erased:
            raise LeadErasedError(f"lead {self.id} was erased; it can no longer change")
        if self.is_converted:
            raise LeadConvertedError(f"lead {self.id} is converted; it can no longer change")

    def _check_status(self, command: str, allowed: Iterable[LeadStatus]) -> None:
        self._check_not_converted()
        if self.status not in allowed:
            raise LeadStatusError(lead_id=self.id, status=self.status_value, command=command)

    # -- commands ---------------------------------------------------------------------

    def update(self, *, actor: str, **changes: Any) -> None:
        """Change some contact data or labels; only differing values are recorded."""
        check_known(changes, UPDATABLE)
        self._check_not_converted()
        differing = changed_fields(changes, normalise, lambda f: getattr(self, f))
        if differing:
            self._updated(changes=differing, actor=actor)

    @event("Updated")
    def _updated(self, *, changes: dict[str, Any], actor: str) -> None:
        for field, value in changes.items():
            setattr(self, field, value)

    def set_score(self, score: object, *, actor: str) -> None:
        """Change the score (0..100); the same score records nothing."""
        self._check_not_converted()
        new = check_score(score)
        if new != self.score:
            self._scored(score=new, previous=self.score, actor=actor)

    @event("Scored")
    def _scored(self, *, score: int, previous: int, actor: str) -> None:
        self.score = score

    def mark_contacted(self, *, at: str, actor: str) -> None:
        """First contact made: only a new lead becomes contacted."""
        self._check_status("mark_contacted", {LeadStatus.NEW})
        self._contacted(at=at, actor=actor)

    @event("Contacted")
    def _contacted(self, *, at: str, actor: str) -> None:
        self.status_value = LeadStatus.CONTACTED.value

    def qualify(self, *, at: str, actor: str) -> None:
        """The lead is a real opportunity: from new or contacted."""
        self._check_status("qualify", {LeadStatus.NEW, LeadStatus.CONTACTED})
        self._qualified(at=at, actor=actor)

    @event("Qualified")
    def _qualified(self, *, at: str, actor: str) -> None:
        self.status_value = LeadStatus.QUALIFIED.value

    def disqualify(self, *, reason: str, at: str, actor: str) -> None:
        """Not a fit, saying why: from new, contacted or qualified."""
        self._check_status("disqualify", OPEN)
        text = reason.strip() if isinstance(reason, str) else ""
        if not text or len(text) > MAX_REASON:
            raise InvalidCommandError(
                f"a disqualified lead needs a reason of 1 to {MAX_REASON} characters",
                field="reason",
            )
        self._disqualified(reason=text, at=at, actor=actor)

    @event("Disqualified")
    def _disqualified(self, *, reason: str, at: str, actor: str) -> None:
        self.status_value = LeadStatus.DISQUALIFIED.value
        self.disqualified_reason = reason

    def reopen(self, *, actor: str) -> None:
        """Take a disqualified lead back to new."""
        self._check_status("reopen", {LeadStatus.DISQUALIFIED})
        self._reopened(actor=actor)

    @event("Reopened")
    def _reopened(self, *, actor: str) -> None:
        self.status_value = LeadStatus.NEW.value
        self.disqualified_reason = None

    def check_convertible(self) -> None:
        """Raise unless the lead may be converted now (new, contacted or qualified)."""
        self._check_status("convert", OPEN)

    def record_conversion(
        self,
        *,
        contact_id: UUID,
        organisation_id: UUID | None,
        deal_id: UUID | None,
        at: str,
        actor: str,
    ) -> None:
        """Record what the lead became (from new, contacted or qualified); then freeze it."""
        self.check_convertible()
        self._converted(
            contact_id=contact_id,
            organisation_id=organisation_id,
            deal_id=deal_id,
            at=at,
            actor=actor,
        )

    @event("Converted")
    def _converted(
        self,
        *,
        contact_id: UUID,
        organisation_id: UUID | None,
        deal_id: UUID | None,
        at: str,
        actor: str,
    ) -> None:
        self.status_value = LeadStatus.CONVERTED.value
        self.conversion = {
            "contact_id": contact_id,
            "organisation_id": organisation_id,
            "deal_id": deal_id,
            "at": at,
            "actor": actor,
        }

    # -- erasure ---------------------------------------------------------------------

    def erase(self, *, actor: str) -> None:
        """Record that the lead's personal data was erased (its events' keys are
        destroyed by the caller, see `crm_ledger.erasure`): from here on it reads as
        `ERASED_NAME` with no emails, phones, tax id or notes, keeps its company name,
        source, campaign, owner, score, status and conversion, and refuses every command
        (``LeadErasedError``). Allowed on a converted lead."""
        if self.erased:
            raise LeadErasedError(f"lead {self.id} was erased")
        self._erased(actor=actor)

    @event("Erased")
    def _erased(self, *, actor: str) -> None:
        self.erased = True
        self.name = ERASED_NAME
        self.emails = []
        self.phones = []
        self.tax_id = None
        self.notes = None


def _id_text(value: object) -> str | None:
    return None if value is None else str(value)


def lead_snapshot(lead: Lead) -> dict[str, Any]:
    """The lead's public, JSON-ready state."""
    conversion = lead.conversion
    return {
        "id": str(lead.id),
        "version": lead.version,
        "name": lead.name,
        "company_name": lead.company_name,
        "emails": list(lead.emails),
        "phones": list(lead.phones),
        "tax_id": lead.tax_id,
        "source": lead.source,
        "campaign": lead.campaign,
        "owner": lead.owner,
        "notes": lead.notes,
        "score": lead.score,
        "erased": lead.erased,
        "status": lead.status_value,
        "disqualified_reason": lead.disqualified_reason,
        "conversion": None
        if conversion is None
        else {
            "contact_id": _id_text(conversion["contact_id"]),
            "organisation_id": _id_text(conversion["organisation_id"]),
            "deal_id": _id_text(conversion["deal_id"]),
            "at": conversion["at"],
            "actor": conversion["actor"],
        },
        "created_at": format_timestamp(lead.created_on),
        "modified_at": format_timestamp(lead.modified_on),
    }
