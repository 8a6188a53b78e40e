"""Campaigns and their responses.

A **Campaign** is a marketing action: a name, a ``code`` that leads name as their
``campaign`` (so results can count the leads it brought; one campaign per code, which
never changes: the campaign's id is derived from it), a channel, an optional
audience (a segment) and the consent ``purpose`` its messages need (for instance
``marketing_email``: then only contacts who consent to it now are in the audience), its
dates and budget. Status: ``planned -> active -> completed``; ``cancelled`` from planned
or active. Details change until it is completed or cancelled.

Launching records the **audience at launch**: the ``Launched`` event carries a
commitment to it (how many contacts, the SHA-256 of their sorted ids, the log position
the lists reflected, the filters that chose them: `audience_commitment`), and a
`LaunchAudience` aggregate, saved in the same transaction, holds the ids themselves in
events of at most `AUDIENCE_CHUNK`. So who a campaign was sent to, and that each had the
consent its purpose needs at that moment, can be shown later from the log alone.

A **CampaignResponse** is one contact's reaction to a campaign (``sent``, ``opened``,
``clicked``, ``replied``, ``registered``, ``attended``, ``unsubscribed``), at a time. It
is its own aggregate, one per response, so a campaign with many responses stays small;
a response is never changed.

::

    DomainError
    ├── InvalidCommandError      a bad value (name, code, dates, budget, response kind)
    ├── CampaignError            a command the campaign's status does not allow
    └── CampaignCodeTakenError   another campaign already has that code
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.changes import changed_fields, check_known
from crm_ledger.domain.changes import text_field as _text
from crm_ledger.domain.consent import PURPOSE, said_at
from crm_ledger.domain.deal import CURRENCY, money_text
from crm_ledger.domain.errors import DomainError, InvalidCommandError
from crm_ledger.ledger.envelope import format_timestamp

MAX_NAME = 200
MAX_LABEL = 100
CODE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
CODE_NAMESPACE = uuid5(NAMESPACE_URL, "tag:crm-ledger,2026:campaign-code")
AUDIENCE_NAMESPACE = uuid5(NAMESPACE_URL, "tag:crm-ledger,2026:launch-audience")
#: contact ids per ``LaunchAudience`` event
AUDIENCE_CHUNK = 5000
UPDATABLE = frozenset(
    {"name", "channel", "segment_id", "purpose", "starts_on", "ends_on", "budget", "owner"}
)


class CampaignStatus(StrEnum):
    PLANNED = "planned"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ResponseKind(StrEnum):
    SENT = "sent"
    OPENED = "opened"
    CLICKED = "clicked"
    REPLIED = "replied"
    REGISTERED = "registered"
    ATTENDED = "attended"
    UNSUBSCRIBED = "unsubscribed"


LIVE = frozenset({CampaignStatus.PLANNED, CampaignStatus.ACTIVE})


class CampaignError(DomainError):
    """A command that the campaign's current status does not allow."""

    title = "Campaign state conflict"
    code = "campaign_conflict"

    def __init__(self, *, campaign_id: UUID, status: str, command: str) -> None:
        super().__init__(f"campaign {campaign_id} is {status}: {command} is not allowed")


def _day(value: object, field: str) -> str | None:
    if value is None:
        return None
    try:
        return (value if isinstance(value, date) else date.fromisoformat(str(value))).isoformat()
    except ValueError:
        raise InvalidCommandError(f"{field} must be a date (YYYY-MM-DD)", field=field) from None


def normalise(field: str, value: Any) -> Any:
    """The stored form of the updatable `field` (InvalidCommandError if invalid)."""
    if field == "name":
        return _text(value, "name", MAX_NAME, required=True)
    if field in ("channel", "owner"):
        return _text(value, field, MAX_LABEL)
    if field == "segment_id":
        try:
            return None if value is None else str(UUID(str(value)))
        except ValueError:
            raise InvalidCommandError("segment_id must be a UUID", field="segment_id") from None
    if field == "purpose":
        if value is not None and (not isinstance(value, str) or not PURPOSE.match(value)):
            raise InvalidCommandError("purpose looks like marketing_email", field="purpose")
        return value
    if field in ("starts_on", "ends_on"):
        return _day(value, field)
    if field == "budget":
        return _budget(value)
    raise InvalidCommandError(f"unknown field {field!r}", field=field)


def _budget(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"amount", "currency"}:
        raise InvalidCommandError("budget is {amount, currency}", field="budget")
    currency = value["currency"]
    if not isinstance(currency, str) or not CURRENCY.match(currency):
        raise InvalidCommandError("budget currency is an ISO 4217 code", field="budget")
    try:
        amount = money_text(value["amount"])
    except InvalidCommandError as exc:
        raise InvalidCommandError(f"budget: {exc.detail}", field="budget") from None
    return {"amount": str(amount), "currency": currency}


class CampaignCodeTakenError(DomainError):
    """Another campaign already has that code (leads name campaigns by code)."""

    title = "Campaign code taken"
    code = "campaign_code_taken"

    def __init__(self, code: str) -> None:
        super().__init__(f"another campaign already has code {code}")


def campaign_id_for(code: str) -> UUID:
    """The id of the campaign with `code` (codes are lowercase: one spelling each)."""
    return uuid5(CODE_NAMESPACE, code)


def _check_dates(starts_on: str | None, ends_on: str | None) -> None:
    if starts_on is not None and ends_on is not None and ends_on < starts_on:
        raise InvalidCommandError("ends_on is before starts_on", field="ends_on")


def check_code(value: object) -> str:
    if not isinstance(value, str) or not CODE.match(value):
        raise InvalidCommandError(
            "code must be 1 to 64 lowercase letters, digits, '_', '.' or '-' (e.g. spring-2026)",
            field="code",
        )
    return value


class Campaign(Aggregate):
    """A marketing action (see the module docstring)."""

    @staticmethod
    def create_id(code: str) -> UUID:
        """The aggregate's id: derived from its code (the library calls this)."""
        return campaign_id_for(code)

    @event("Planned")
    def __init__(
        self,
        *,
        name: str,
        code: str,
        channel: str | None,
        segment_id: str | None,
        purpose: str | None,
        starts_on: str | None,
        ends_on: str | None,
        budget: dict[str, str] | None,
        owner: str | None,
        actor: str,
    ) -> None:
        self.name = name
        self.code = code
        self.channel = channel
        self.segment_id = segment_id
        self.purpose = purpose
        self.starts_on = starts_on
        self.ends_on = ends_on
        self.budget = budget
        self.owner = owner
        self.status_value = CampaignStatus.PLANNED.value
        self.created_by = actor

    @classmethod
    def plan(cls, *, name: str, code: str, actor: str, **fields: Any) -> Campaign:
        """A new campaign (status ``planned``); whether its segment exists is the
        service's business."""
        check_known(fields, UPDATABLE - {"name"})
        values = {f: normalise(f, fields.get(f)) for f in UPDATABLE - {"name"}}
        _check_dates(values["starts_on"], values["ends_on"])
        return cls(name=normalise("name", name), code=check_code(code), actor=actor, **values)

    @property
    def status(self) -> CampaignStatus:
        return CampaignStatus(self.status_value)

    def _check(self, command: str, allowed: frozenset[CampaignStatus]) -> None:
        if self.status not in allowed:
            raise CampaignError(campaign_id=self.id, status=self.status_value, command=command)

    def update(self, *, actor: str, **changes: Any) -> None:
        """Change details of a planned or active campaign; only differing values count."""
        check_known(changes, UPDATABLE)
        self._check("update", LIVE)
        differing = changed_fields(changes, normalise, lambda f: getattr(self, f))
        after = {"starts_on": self.starts_on, "ends_on": self.ends_on, **differing}
        _check_dates(after["starts_on"], after["ends_on"])
        if differing:
            self._updated(changes=differing, actor=actor)

    @event("Updated")
    def _updated(self, *, changes: dict[str, Any], actor: str) -> None:
        for field, value in changes.items():
            setattr(self, field, value)

    #: the commitment to the audience at launch (None before, and for campaigns launched
    #: before audiences were recorded)
    launch_audience: dict[str, Any] | None = None

    def check_launchable(self) -> None:
        """CampaignError unless planned (checked before the audience is read)."""
        self._check("launch", frozenset({CampaignStatus.PLANNED}))

    def launch(self, *, actor: str, audience: dict[str, Any]) -> None:
        """Start the campaign; `audience` is its `audience_commitment`."""
        self.check_launchable()
        self._launched(actor=actor, audience=audience)

    @event("Launched")
    def _launched(self, *, actor: str, audience: dict[str, Any] | None = None) -> None:
        self.status_value = CampaignStatus.ACTIVE.value
        self.launch_audience = audience

    def complete(self, *, actor: str) -> None:
        self._check("complete", frozenset({CampaignStatus.ACTIVE}))
        self._completed(actor=actor)

    @event("Completed")
    def _completed(self, *, actor: str) -> None:
        self.status_value = CampaignStatus.COMPLETED.value

    def cancel(self, *, actor: str) -> None:
        self._check("cancel", LIVE)
        self._cancelled(actor=actor)

    @event("Cancelled")
    def _cancelled(self, *, actor: str) -> None:
        self.status_value = CampaignStatus.CANCELLED.value

    def check_accepts_responses(self) -> None:
        """Responses are recorded for active and completed campaigns (late ones too)."""
        self._check(
            "record responses", frozenset({CampaignStatus.ACTIVE, CampaignStatus.COMPLETED})
        )


def campaign_snapshot(campaign: Campaign) -> dict[str, Any]:
    """The campaign's public, JSON-ready state."""
    return {
        "id": str(campaign.id),
        "version": campaign.version,
        "name": campaign.name,
        "code": campaign.code,
        "channel": campaign.channel,
        "segment_id": campaign.segment_id,
        "purpose": campaign.purpose,
        "starts_on": campaign.starts_on,
        "ends_on": campaign.ends_on,
        "budget": campaign.budget,
        "owner": campaign.owner,
        "status": campaign.status_value,
        "launch_audience": campaign.launch_audience,
        "created_by": campaign.created_by,
        "created_at": format_timestamp(campaign.created_on),
        "modified_at": format_timestamp(campaign.modified_on),
    }


def audience_digest(contact_ids: Sequence[UUID]) -> str:
    """SHA-256 (hex) of the ids sorted, each as lowercase hyphenated text and a newline."""
    text = "".join(f"{contact_id}\n" for contact_id in sorted(map(str, contact_ids)))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def audience_commitment(
    contact_ids: Sequence[UUID], *, position: int | None, filters: dict[str, Any]
) -> dict[str, Any]:
    """What ``Launched`` records of the audience: ``count``, ``sha256``
    (`audience_digest`), ``log_position`` (the read models reflected the log up to it)
    and ``filters`` (what chose the contacts)."""
    return {
        "count": len(contact_ids),
        "sha256": audience_digest(contact_ids),
        "log_position": position,
        "filters": filters,
    }


def launch_audience_id(campaign_id: UUID) -> UUID:
    return uuid5(AUDIENCE_NAMESPACE, str(campaign_id))


class LaunchAudience(Aggregate):
    """The contacts a campaign's audience held when it was launched, by id, sorted;
    written once, with the ``Launched`` event, and never changed. Each event names the
    campaign (a read model lists, per contact, the campaigns launched to it)."""

    @staticmethod
    def create_id(campaign_id: UUID) -> UUID:
        return launch_audience_id(campaign_id)

    @event("Listed")
    def __init__(self, *, campaign_id: UUID, contact_ids: list[str], actor: str) -> None:
        self.campaign_id = campaign_id
        self.contact_ids = list(contact_ids)

    @event("Continued")
    def _continued(self, *, campaign_id: UUID, contact_ids: list[str], actor: str) -> None:
        self.contact_ids += contact_ids

    @classmethod
    def of(cls, campaign_id: UUID, contact_ids: Sequence[UUID], *, actor: str) -> LaunchAudience:
        """The audience `contact_ids` of campaign `campaign_id`, `AUDIENCE_CHUNK` per event."""
        ids = sorted(map(str, contact_ids))
        made = cls(campaign_id=campaign_id, contact_ids=ids[:AUDIENCE_CHUNK], actor=actor)
        for start in range(AUDIENCE_CHUNK, len(ids), AUDIENCE_CHUNK):
            chunk = ids[start : start + AUDIENCE_CHUNK]
            made._continued(campaign_id=campaign_id, contact_ids=chunk, actor=actor)
        return made


def check_kind(value: object) -> ResponseKind:
    try:
        return ResponseKind(str(value))
    except ValueError:
        names = ", ".join(k.value for k in ResponseKind)
        raise InvalidCommandError(f"kind must be one of {names}", field="kind") from None


class CampaignResponse(Aggregate):
    """One contact's reaction to a campaign; never changed."""

    @event("Recorded")
    def __init__(
        self, *, campaign_id: UUID, contact_id: UUID, kind: str, at: str, actor: str
    ) -> None:
        self.campaign_id = campaign_id
        self.contact_id = contact_id
        self.kind = kind
        self.at = at
        self.created_by = actor

    @classmethod
    def record(
        cls,
        *,
        campaign_id: UUID,
        contact_id: UUID,
        kind: object,
        actor: str,
        at: datetime | None = None,
        now: datetime | None = None,
    ) -> CampaignResponse:
        return cls(
            campaign_id=campaign_id,
            contact_id=contact_id,
            kind=check_kind(kind).value,
            at=said_at(at, now or datetime.now(UTC)),
            actor=actor,
        )

    @event("Relinked")
    def relink(self, *, contact_id: UUID, actor: str) -> None:
        """Move the response to another contact (the survivor of a merge)."""
        self.contact_id = contact_id


def response_snapshot(response: CampaignResponse) -> dict[str, Any]:
    return {
        "id": str(response.id),
        "version": response.version,
        "campaign_id": str(response.campaign_id),
        "contact_id": str(response.contact_id),
        "kind": response.kind,
        "at": response.at,
        "created_by": response.created_by,
        "created_at": format_timestamp(response.created_on),
    }


LISTED: Any = LaunchAudience.Listed  # type: ignore[attr-defined]  # made by @event
CONTINUED: Any = LaunchAudience.Continued  # type: ignore[attr-defined]
