"""The Payment aggregate: money received from a customer, and where it went.

A payment is recorded once (method, date received, amount, currency) and then:

* **allocated** to one or several issued invoices of the same customer and currency,
  each allocation never above what the invoice still owes nor above what the payment
  has left; the allocation is recorded on the invoice too (``Invoice.record_payment``),
  and the two aggregates are saved together, so an invoice's paid amount is derived from
  its own events;
* **deallocated** from an invoice (the money returns to the payment's credit);
* what is not allocated is the customer's **credit**: it may be allocated later (to the
  next invoice) or **refunded**, only from that credit;
* **voided** (recorded in error, bounced): every allocation is taken back from its
  invoice in the same save, then the payment is frozen. A payment with refunds cannot be
  voided (the money did go back).

Amounts are ``Decimal`` with 2 decimals in memory and ``"12.50"`` strings in events.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.invoice import Invoice, money, payment_amount
from crm_ledger.domain.invoicing_errors import (
    PaymentAllocationNotFoundError,
    PaymentCreditExceededError,
    PaymentRefundedError,
    PaymentVoidedError,
)
from crm_ledger.ledger.envelope import format_timestamp

CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_REFERENCE = 200
MAX_REASON = 500
ZERO = Decimal("0.00")


class PaymentMethod(StrEnum):
    """How the money came in."""

    TRANSFER = "transfer"
    CARD = "card"
    CASH = "cash"
    DIRECT_DEBIT = "direct_debit"
    OTHER = "other"


def _method(value: object) -> str:
    try:
        return PaymentMethod(str(value)).value
    except ValueError:
        names = ", ".join(m.value for m in PaymentMethod)
        raise InvalidCommandError(f"method is one of {names}", field="method") from None


def _day(value: object, field: str) -> str:
    if isinstance(value, datetime) or not isinstance(value, (date, str)):
        raise InvalidCommandError(f"{field} must be a date", field=field)
    try:
        day = value if isinstance(value, date) else date.fromisoformat(value)
    except ValueError:
        raise InvalidCommandError(f"{field} must be YYYY-MM-DD", field=field) from None
    return day.isoformat()


def _currency(value: object) -> str:
    if not isinstance(value, str) or not CURRENCY.fullmatch(value):
        raise InvalidCommandError("currency must be an ISO 4217 code such as EUR", field="currency")
    return value


def _text(value: object, field: str, limit: int, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    text = value.strip() if isinstance(value, str) else ""
    if (required and not text) or len(text) > limit:
        low = 1 if required else 0
        raise InvalidCommandError(f"{field} must have {low} to {limit} characters", field=field)
    return text or None


class Payment(Aggregate):
    """Money received from one customer, allocated to its invoices; the rest is credit."""

    @event("Recorded")
    def __init__(
        self,
        *,
        customer_id: UUID,
        method: str,
        received_on: str,
        amount: str,
        currency: str,
        reference: str | None,
        actor: str,
    ) -> None:
        self.customer_id = customer_id
        self.method = method
        self.received_on = received_on
        self.amount_text = amount
        self.currency = currency
        self.reference = reference
        self.allocations: dict[str, str] = {}
        self.refunds: list[dict[str, str]] = []
        self.voided = False
        self.void_reason: str | None = None
        self.created_by = actor

    @classmethod
    def record(
        cls,
        *,
        customer_id: UUID,
        method: str,
        received_on: date | str,
        amount: Decimal | str,
        currency: str,
        actor: str,
        reference: str | None = None,
    ) -> Payment:
        """Record money received from `customer_id` (amount above zero, 2 decimals)."""
        return cls(
            customer_id=customer_id,
            method=_method(method),
            received_on=_day(received_on, "received_on"),
            amount=money(payment_amount(amount)),
            currency=_currency(currency),
            reference=_text(reference, "reference", MAX_REFERENCE, required=False),
            actor=actor,
        )

    # -- queries ----------------------------------------------------------------------

    @property
    def amount(self) -> Decimal:
        """The amount received."""
        return Decimal(self.amount_text)

    def allocated(self) -> Decimal:
        """The sum allocated to invoices."""
        return sum((Decimal(a) for a in self.allocations.values()), ZERO)

    def refunded(self) -> Decimal:
        """The sum refunded to the customer."""
        return sum((Decimal(r["amount"]) for r in self.refunds), ZERO)

    def unallocated(self) -> Decimal:
        """The customer's credit left on this payment: received - allocated - refunded."""
        return self.amount - self.allocated() - self.refunded()

    def _check_live(self) -> None:
        if self.voided:
            raise PaymentVoidedError(f"payment {self.id} is voided")

    # -- commands ---------------------------------------------------------------------

    def allocate(
        self,
        invoice: Invoice,
        amount: Decimal | str,
        *,
        actor: str,
        same_customer: Collection[UUID] = (),
    ) -> None:
        """Allocate `amount` of this payment to `invoice` (recorded on both aggregates;
        save them together). Refused above the unallocated amount, or by the invoice
        (draft, cancelled, another customer or currency, more than it owes).
        `same_customer`: contacts merged with the payment's customer into one survivor,
        whose invoices it may pay too."""
        self._check_live()
        value = payment_amount(amount)
        available = self.unallocated()
        if value > available:
            raise PaymentCreditExceededError(
                available=money(available), amount=money(value), command="allocation"
            )
        invoice.record_payment(
            payment_id=self.id,
            customer_id=self.customer_id,
            currency=self.currency,
            amount=value,
            actor=actor,
            same_customer=same_customer,
        )
        key = str(invoice.id)
        total = Decimal(self.allocations.get(key, "0")) + value
        self._allocated(invoice_id=key, amount=money(value), allocated=money(total), actor=actor)

    @event("Allocated")
    def _allocated(self, *, invoice_id: str, amount: str, allocated: str, actor: str) -> None:
        self.allocations = {**self.allocations, invoice_id: allocated}

    def deallocate(self, invoice: Invoice, *, actor: str) -> Decimal:
        """Take back the whole allocation to `invoice` (on both aggregates); the money
        becomes credit again. Return the amount."""
        self._check_live()
        return Decimal(self._take_back(invoice, actor=actor))

    def _take_back(self, invoice: Invoice, *, actor: str) -> str:
        key = str(invoice.id)
        if key not in self.allocations:
            raise PaymentAllocationNotFoundError(payment_id=str(self.id), invoice_id=key)
        amount = self.allocations[key]
        invoice.remove_payment(payment_id=self.id, actor=actor)
        self._deallocated(invoice_id=key, amount=amount, actor=actor)
        return amount

    @event("Deallocated")
    def _deallocated(self, *, invoice_id: str, amount: str, actor: str) -> None:
        self.allocations = {k: v for k, v in self.allocations.items() if k != invoice_id}

    def refund(
        self, amount: Decimal | str, *, reason: str, refunded_on: date | str, actor: str
    ) -> None:
        """Return `amount` of the unallocated credit to the customer."""
        self._check_live()
        value = payment_amount(amount)
        why = _text(reason, "reason", MAX_REASON, required=True)
        available = self.unallocated()
        if value > available:
            raise PaymentCreditExceededError(
                available=money(available), amount=money(value), command="refund"
            )
        self._refunded(
            amount=money(value),
            reason=str(why),
            refunded_on=_day(refunded_on, "refunded_on"),
            actor=actor,
        )

    @event("Refunded")
    def _refunded(self, *, amount: str, reason: str, refunded_on: str, actor: str) -> None:
        self.refunds = [
            *self.refunds,
            {"amount": amount, "reason": reason, "refunded_on": refunded_on},
        ]

    def void(self, invoices: Iterable[Invoice], *, reason: str, actor: str) -> None:
        """Void the payment: every allocation is taken back from its invoice (pass them
        all and save them with the payment), then the payment is frozen."""
        self._check_live()
        why = _text(reason, "reason", MAX_REASON, required=True)
        if self.refunds:
            raise PaymentRefundedError(
                f"payment {self.id} has refunds of {money(self.refunded())}; it cannot be voided"
            )
        by_id = {str(invoice.id): invoice for invoice in invoices}
        missing = sorted(set(self.allocations) - set(by_id))
        if missing:
            raise InvalidCommandError(
                f"voiding needs every allocated invoice; missing {missing[0]}", field="invoices"
            )
        for key in list(self.allocations):
            self._take_back(by_id[key], actor=actor)
        self._voided(reason=str(why), actor=actor)

    @event("Voided")
    def _voided(self, *, reason: str, actor: str) -> None:
        self.voided = True
        self.void_reason = reason


# -- views ------------------------------------------------------------------------------


def payment_snapshot(payment: Payment) -> dict[str, Any]:
    """The payment's public, JSON-ready state (money as decimal strings)."""
    return {
        "id": str(payment.id),
        "version": payment.version,
        "customer_id": str(payment.customer_id),
        "method": payment.method,
        "received_on": payment.received_on,
        "amount": payment.amount_text,
        "currency": payment.currency,
        "reference": payment.reference,
        "allocations": [{"invoice_id": k, "amount": v} for k, v in payment.allocations.items()],
        "allocated": money(payment.allocated()),
        "refunds": [dict(r) for r in payment.refunds],
        "refunded": money(payment.refunded()),
        "unallocated": money(payment.unallocated()),
        "status": "voided" if payment.voided else "recorded",
        "void_reason": payment.void_reason,
        "created_at": format_timestamp(payment.created_on),
        "modified_at": format_timestamp(payment.modified_on),
    }
