"""The Quote aggregate: an offer to a customer, revised until accepted, rejected or expired.

::

    draft --send--> sent --accept--> accepted --mark_converted--> converted
      ^              |  \\--reject--> rejected
      |              |
      +---revise-----+          draft / sent --expire (after valid_until)--> expired

* ``revise`` replaces the lines (and optionally valid_until and notes) of a draft or sent
  quote and bumps its ``revision`` (1, 2, ...); a revised quote is a draft again and must
  be sent again. Every revision's lines stay in the ``Revised`` events (the history).
* ``send`` and ``accept`` are refused after ``valid_until`` (the last valid day), and
  ``expire`` only then. The domain has no clock: callers pass ``today`` in.

Lines are stored as invoice lines (see :mod:`crm_ledger.domain.document_lines`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain import document_lines
from crm_ledger.domain.document_errors import (
    DocumentLinesRequiredError,
    QuoteExpiredError,
    QuoteStatusError,
    ValidUntilError,
)
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.taxes import InvoiceTotals
from crm_ledger.ledger.envelope import format_timestamp

CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_NOTES = 2000
MAX_REASON = 500


class QuoteStatus(StrEnum):
    """Where a quote stands."""

    DRAFT = "draft"
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CONVERTED = "converted"


REVISABLE = frozenset({QuoteStatus.DRAFT, QuoteStatus.SENT})


def currency_of(value: object) -> str:
    """An ISO 4217 code (InvalidCommandError otherwise)."""
    if not isinstance(value, str) or not CURRENCY.fullmatch(value):
        raise InvalidCommandError("currency must be an ISO 4217 code such as EUR", field="currency")
    return value


def notes_of(value: object) -> str | None:
    """Free text of at most MAX_NOTES characters, or None."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_NOTES:
        raise InvalidCommandError(f"notes must be text of at most {MAX_NOTES}", field="notes")
    return value.strip() or None


def uuid_of(value: object, field: str) -> UUID:
    """`value` as a UUID (InvalidCommandError naming `field` otherwise)."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise InvalidCommandError(f"{field} must be a UUID", field=field) from None


def _valid_until(value: object, today: date) -> str:
    if isinstance(value, datetime):
        raise InvalidCommandError("valid_until must be a date", field="valid_until")
    try:
        day = value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        raise InvalidCommandError(
            "valid_until must be an ISO date such as 2026-06-30", field="valid_until"
        ) from None
    if day < today:
        raise ValidUntilError(f"valid_until {day} is before today ({today})", field="valid_until")
    return day.isoformat()


class Quote(Aggregate):
    """An offer of lines at prices to a customer contact, valid until a date."""

    @event("Drafted")
    def __init__(
        self,
        *,
        customer_id: UUID,
        issuer_id: UUID | None,
        currency: str,
        lines: list[dict[str, Any]],
        valid_until: str,
        notes: str | None,
        actor: str,
    ) -> None:
        self.customer_id = customer_id
        self.issuer_id = issuer_id
        self.currency = currency
        self.lines = lines
        self.valid_until_text = valid_until
        self.notes = notes
        self.revision = 1
        self.status_value = QuoteStatus.DRAFT.value
        self.sent_on: str | None = None
        self.decided_on: str | None = None
        self.rejection_reason: str | None = None
        self.order_id: UUID | None = None
        self.created_by = actor

    @classmethod
    def draft(
        cls,
        *,
        customer_id: UUID | str,
        valid_until: date | str,
        today: date,
        actor: str,
        lines: Iterable[Mapping[str, Any]] = (),
        currency: str = "EUR",
        issuer_id: UUID | str | None = None,
        notes: str | None = None,
    ) -> Quote:
        """Draft a quote (revision 1); lines may be added by revising before sending."""
        return cls(
            customer_id=uuid_of(customer_id, "customer_id"),
            issuer_id=None if issuer_id is None else uuid_of(issuer_id, "issuer_id"),
            currency=currency_of(currency),
            lines=document_lines.lines_of(lines),
            valid_until=_valid_until(valid_until, today),
            notes=notes_of(notes),
            actor=actor,
        )

    # -- queries ----------------------------------------------------------------------

    @property
    def status(self) -> QuoteStatus:
        """Draft, sent, accepted, rejected, expired or converted."""
        return QuoteStatus(self.status_value)

    @property
    def valid_until(self) -> date:
        """The last day the quote may be accepted."""
        return date.fromisoformat(self.valid_until_text)

    def is_past_validity(self, today: date) -> bool:
        """Whether `today` is after the last valid day."""
        return today > self.valid_until

    def totals(self) -> InvoiceTotals:
        """The tax breakdown and totals of the current lines."""
        return document_lines.totals(self.lines)

    def _require(self, command: str, *allowed: QuoteStatus) -> None:
        if self.status not in allowed:
            raise QuoteStatusError(quote_id=self.id, status=self.status_value, command=command)

    # -- commands ---------------------------------------------------------------------

    def revise(
        self,
        *,
        lines: Iterable[Mapping[str, Any]],
        today: date,
        actor: str,
        valid_until: date | str | None = None,
        notes: str | None = None,
    ) -> None:
        """Replace the lines (and valid_until, notes when given) of a draft or sent quote:
        the revision number goes up by one and the quote is a draft again."""
        self._require("revise", *REVISABLE)
        new_lines = document_lines.lines_of(lines)
        until = self.valid_until_text if valid_until is None else _valid_until(valid_until, today)
        text = self.notes if notes is None else notes_of(notes)
        if (new_lines, until, text) == (self.lines, self.valid_until_text, self.notes):
            raise InvalidCommandError("the revision changes nothing", field="lines")
        self._revised(
            revision=self.revision + 1,
            lines=new_lines,
            valid_until=until,
            notes=text,
            previous_status=self.status_value,
            actor=actor,
        )

    @event("Revised")
    def _revised(
        self,
        *,
        revision: int,
        lines: list[dict[str, Any]],
        valid_until: str,
        notes: str | None,
        previous_status: str,
        actor: str,
    ) -> None:
        self.revision = revision
        self.lines = lines
        self.valid_until_text = valid_until
        self.notes = notes
        self.status_value = QuoteStatus.DRAFT.value
        self.sent_on = None

    def send(self, *, today: date, actor: str) -> None:
        """Send the draft to the customer (it needs lines and must still be valid)."""
        self._require("send", QuoteStatus.DRAFT)
        if not self.lines:
            raise DocumentLinesRequiredError(
                "a quote is sent with at least one line", field="lines"
            )
        if self.is_past_validity(today):
            raise QuoteExpiredError(
                f"quote {self.id} was valid until {self.valid_until_text}; revise valid_until"
            )
        self._sent(on=today.isoformat(), revision=self.revision, actor=actor)

    @event("Sent")
    def _sent(self, *, on: str, revision: int, actor: str) -> None:
        self.status_value = QuoteStatus.SENT.value
        self.sent_on = on

    def accept(self, *, today: date, actor: str) -> None:
        """The customer accepts the sent revision, on or before valid_until."""
        self._require("accept", QuoteStatus.SENT)
        if self.is_past_validity(today):
            raise QuoteExpiredError(
                f"quote {self.id} was valid until {self.valid_until_text}: it can no longer "
                "be accepted"
            )
        self._accepted(on=today.isoformat(), revision=self.revision, actor=actor)

    @event("Accepted")
    def _accepted(self, *, on: str, revision: int, actor: str) -> None:
        self.status_value = QuoteStatus.ACCEPTED.value
        self.decided_on = on

    def reject(self, *, reason: str, today: date, actor: str) -> None:
        """The customer turns the sent revision down, saying why."""
        self._require("reject", QuoteStatus.SENT)
        text = reason.strip() if isinstance(reason, str) else ""
        if not text or len(text) > MAX_REASON:
            raise InvalidCommandError(
                f"reason must have 1 to {MAX_REASON} characters", field="reason"
            )
        self._rejected(reason=text, on=today.isoformat(), revision=self.revision, actor=actor)

    @event("Rejected")
    def _rejected(self, *, reason: str, on: str, revision: int, actor: str) -> None:
        self.status_value = QuoteStatus.REJECTED.value
        self.rejection_reason = reason
        self.decided_on = on

    def expire(self, *, today: date, actor: str) -> None:
        """Mark a draft or sent quote expired once `today` is after valid_until."""
        self._require("expire", *REVISABLE)
        if not self.is_past_validity(today):
            raise InvalidCommandError(
                f"quote {self.id} is valid until {self.valid_until_text}", field="valid_until"
            )
        self._expired(on=today.isoformat(), actor=actor)

    @event("Expired")
    def _expired(self, *, on: str, actor: str) -> None:
        self.status_value = QuoteStatus.EXPIRED.value
        self.decided_on = on

    def mark_converted(self, *, order_id: UUID, actor: str) -> None:
        """Record that the accepted quote became sales order `order_id` (once)."""
        self._require("convert", QuoteStatus.ACCEPTED)
        self._converted(order_id=order_id, revision=self.revision, actor=actor)

    @event("Converted")
    def _converted(self, *, order_id: UUID, revision: int, actor: str) -> None:
        self.status_value = QuoteStatus.CONVERTED.value
        self.order_id = order_id


# -- views ------------------------------------------------------------------------------


def quote_snapshot(quote: Quote) -> dict[str, Any]:
    """The quote's public, JSON-ready state (money as decimal strings)."""
    lines, totals = document_lines.priced(quote.lines)
    return {
        "id": str(quote.id),
        "version": quote.version,
        "revision": quote.revision,
        "status": quote.status_value,
        "customer_id": str(quote.customer_id),
        "issuer_id": None if quote.issuer_id is None else str(quote.issuer_id),
        "currency": quote.currency,
        "valid_until": quote.valid_until_text,
        "lines": lines,
        "totals": totals,
        "notes": quote.notes,
        "sent_on": quote.sent_on,
        "decided_on": quote.decided_on,
        "rejection_reason": quote.rejection_reason,
        "order_id": None if quote.order_id is None else str(quote.order_id),
        "created_at": format_timestamp(quote.created_on),
        "modified_at": format_timestamp(quote.modified_on),
    }
