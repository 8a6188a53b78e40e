"""The Deal aggregate: a possible sale to a contact, moving through a pipeline's stages.

Money never passes through ``float``: the amount is stored in events as a decimal string
with exactly two places (``"1234.50"``) and exposed as ``Decimal``. Dates are ISO strings
in events and ``date`` on the aggregate. Whether the contact exists is checked by the
service; whether the target stage exists and is active is asked of the ``Pipeline``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.pipeline import Pipeline
from crm_ledger.domain.sales_errors import (
    DealAmountRequiredError,
    DealClosedError,
    DealCurrencyLockedError,
    DealNotClosedError,
)

MAX_TITLE = 200
MAX_INTEGER_DIGITS = 12
CENT = Decimal("0.01")
CURRENCY = re.compile(r"^[A-Z]{3}$")
UPDATABLE = frozenset({"title", "amount", "currency", "expected_close", "owner"})
# Where each updatable field is kept on the aggregate (amount and date as their text form).
STORED = {
    "title": "title",
    "amount": "amount_text",
    "currency": "currency",
    "expected_close": "expected_close_text",
    "owner": "owner",
}


class DealStatus(StrEnum):
    """Where a deal stands."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


def money_text(value: object) -> str | None:
    """`value` (Decimal, decimal string or int, never float) as ``"1234.50"``, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (Decimal, str, int)):
        raise InvalidCommandError("amount must be a decimal string such as 1234.50", field="amount")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise InvalidCommandError("amount must be a decimal number", field="amount") from None
    if not amount.is_finite() or amount < 0:
        raise InvalidCommandError("amount must be a number >= 0", field="amount")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and amount != amount.quantize(CENT):
        raise InvalidCommandError("amount has at most 2 decimal places", field="amount")
    cents = amount.quantize(CENT)
    if len(str(int(cents))) > MAX_INTEGER_DIGITS:
        raise InvalidCommandError(
            f"amount has at most {MAX_INTEGER_DIGITS} integer digits", field="amount"
        )
    return f"{cents:f}"


def _currency(value: object) -> str:
    if not isinstance(value, str) or not CURRENCY.match(value):
        raise InvalidCommandError("currency must be an ISO 4217 code such as EUR", field="currency")
    return value


def _date_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        raise InvalidCommandError("expected_close must be a date", field="expected_close")
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InvalidCommandError(
            "expected_close must be an ISO date such as 2026-06-30", field="expected_close"
        ) from None


def _title(value: object) -> str:
    title = value.strip() if isinstance(value, str) else ""
    if not title or len(title) > MAX_TITLE:
        raise InvalidCommandError(f"title must have 1 to {MAX_TITLE} characters", field="title")
    return title


def _owner(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidCommandError("owner must be text", field="owner")
    return value.strip() or None


def normalise(field: str, value: Any) -> Any:
    """The stored form of `value` for the updatable `field` (InvalidCommandError if invalid)."""
    if field == "title":
        return _title(value)
    if field == "amount":
        return money_text(value)
    if field == "currency":
        return _currency(value)
    if field == "expected_close":
        return _date_text(value)
    if field == "owner":
        return _owner(value)
    raise InvalidCommandError(f"unknown field {field!r}", field=field)


class Deal(Aggregate):
    """A possible sale: who, how much, when, and which stage it has reached."""

    @event("Created")
    def __init__(
        self,
        *,
        title: str,
        contact_id: UUID,
        pipeline_id: UUID,
        stage_id: str,
        amount: str | None,
        currency: str,
        expected_close: str | None,
        owner: str | None,
        at: str,
        actor: str,
    ) -> None:
        self.title = title
        self.contact_id = contact_id
        self.pipeline_id = pipeline_id
        self.stage_id = stage_id
        self.amount_text = amount
        self.currency = currency
        self.expected_close_text = expected_close
        self.owner = owner
        self.status_value = DealStatus.OPEN.value
        self.lost_reason: str | None = None
        self.closed_at: str | None = None
        self.stage_history = [{"stage_id": stage_id, "at": at, "actor": actor}]
        self.created_by = actor

    @classmethod
    def create(
        cls,
        *,
        title: str,
        contact_id: UUID,
        pipeline: Pipeline,
        currency: str,
        at: str,
        actor: str,
        stage_id: str | None = None,
        amount: Decimal | str | None = None,
        expected_close: date | str | None = None,
        owner: str | None = None,
    ) -> Deal:
        """Open a deal in an active stage of `pipeline` (default: its first active stage)."""
        if stage_id is None:
            active = pipeline.active_stage_ids
            stage_id = active[0] if active else ""
        stage = pipeline.active_stage(stage_id)
        return cls(
            title=_title(title),
            contact_id=contact_id,
            pipeline_id=pipeline.id,
            stage_id=stage["stage_id"],
            amount=money_text(amount),
            currency=_currency(currency),
            expected_close=_date_text(expected_close),
            owner=_owner(owner),
            at=at,
            actor=actor,
        )

    # -- queries ----------------------------------------------------------------------

    @property
    def status(self) -> DealStatus:
        """Open, won or lost."""
        return DealStatus(self.status_value)

    @property
    def is_closed(self) -> bool:
        """Won or lost."""
        return self.status is not DealStatus.OPEN

    @property
    def amount(self) -> Decimal | None:
        """The amount with two decimal places, or None when not set."""
        return None if self.amount_text is None else Decimal(self.amount_text)

    @property
    def expected_close(self) -> date | None:
        """The expected closing date, if any."""
        text = self.expected_close_text
        return None if text is None else date.fromisoformat(text)

    def _check_open(self) -> None:
        if self.is_closed:
            raise DealClosedError(f"deal {self.id} is {self.status_value}; reopen it first")

    # -- commands ---------------------------------------------------------------------

    def update(self, *, actor: str, **changes: Any) -> None:
        """Change some of title, amount, currency, expected_close, owner (no event if none
        differ). The currency can change only while the current amount is unset or zero."""
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise InvalidCommandError(f"unknown fields {sorted(unknown)}", field=sorted(unknown)[0])
        self._check_open()
        differing: dict[str, Any] = {}
        for field, value in changes.items():
            new = normalise(field, value)
            if new != getattr(self, STORED[field]):
                differing[field] = new
        if "currency" in differing and self.amount:
            raise DealCurrencyLockedError(
                f"the currency is fixed at {self.currency} once an amount is set",
            )
        if differing:
            self._updated(changes=differing, actor=actor)

    @event("Updated")
    def _updated(self, *, changes: dict[str, Any], actor: str) -> None:
        for field, value in changes.items():
            setattr(self, STORED[field], value)

    def move(self, pipeline: Pipeline, stage_id: object, *, at: str, actor: str) -> None:
        """Move the open deal to another active stage of its pipeline (same stage: no event)."""
        if pipeline.id != self.pipeline_id:
            raise InvalidCommandError("the deal is in another pipeline", field="pipeline_id")
        self._check_open()
        stage = pipeline.stage(stage_id)
        if stage["stage_id"] == self.stage_id:
            return
        pipeline.active_stage(stage["stage_id"])
        self._moved(stage_id=stage["stage_id"], from_stage_id=self.stage_id, at=at, actor=actor)

    @event("Moved")
    def _moved(self, *, stage_id: str, from_stage_id: str, at: str, actor: str) -> None:
        self.stage_id = stage_id
        self.stage_history = [
            *self.stage_history,
            {"stage_id": stage_id, "at": at, "actor": actor},
        ]

    def win(self, *, at: str, actor: str) -> None:
        """Close the deal as won (it needs an amount above zero)."""
        self._check_open()
        if not self.amount:
            raise DealAmountRequiredError("set an amount above zero before winning the deal")
        self._won(at=at, actor=actor)

    @event("Won")
    def _won(self, *, at: str, actor: str) -> None:
        self.status_value = DealStatus.WON.value
        self.closed_at = at

    def lose(self, *, reason: str, at: str, actor: str) -> None:
        """Close the deal as lost, saying why."""
        self._check_open()
        text = reason.strip() if isinstance(reason, str) else ""
        if not text:
            raise InvalidCommandError("a lost deal needs a reason", field="reason")
        self._lost(reason=text, at=at, actor=actor)

    @event("Lost")
    def _lost(self, *, reason: str, at: str, actor: str) -> None:
        self.status_value = DealStatus.LOST.value
        self.lost_reason = reason
        self.closed_at = at

    def reopen(self, *, actor: str) -> None:
        """Open a won or lost deal again, in the stage it was in."""
        if not self.is_closed:
            raise DealNotClosedError(f"deal {self.id} is open")
        self._reopened(actor=actor)

    @event("Reopened")
    def _reopened(self, *, actor: str) -> None:
        self.status_value = DealStatus.OPEN.value
        self.lost_reason = None
        self.closed_at = None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def deal_snapshot(deal: Deal) -> dict[str, Any]:
    """The deal's public, JSON-ready state (amount as a decimal string)."""
    return {
        "id": str(deal.id),
        "version": deal.version,
        "title": deal.title,
        "contact_id": str(deal.contact_id),
        "pipeline_id": str(deal.pipeline_id),
        "stage_id": deal.stage_id,
        "amount": deal.amount_text,
        "currency": deal.currency,
        "expected_close": deal.expected_close_text,
        "owner": deal.owner,
        "status": deal.status_value,
        "lost_reason": deal.lost_reason,
        "closed_at": deal.closed_at,
        "stage_history": [dict(h) for h in deal.stage_history],
        "created_at": _stamp(deal.created_on),
        "modified_at": _stamp(deal.modified_on),
    }
