"""The PurchaseInvoice aggregate: an invoice received from a supplier, and its payment.

The purchasing mirror of :mod:`crm_ledger.domain.invoice`, without its VERI*FACTU
record: the supplier, not us, issued the invoice and keeps its chain. We register what
it says and what we owe.

* **Identity.** The supplier's invoice number is unique per supplier (compared ignoring
  case and repeated spaces). The aggregate id is ``uuid5(supplier_id, number key)``
  (:func:`purchase_invoice_id_for`), so a second registration of the same number writes
  the first event of an aggregate that already exists, which the event store refuses
  even between concurrent requests. The number is therefore fixed: a wrong one is
  cancelled and the invoice registered again under the right number.
* **Lines** are invoice lines (:func:`crm_ledger.domain.invoice.line_of`: quantity, unit
  price, discount, VAT rate or exemption, surcharge, withholding) plus an
  ``expense_category`` (default: the supplier's) and ``deductible`` (input VAT we may
  deduct; default true). Totals come from :func:`crm_ledger.domain.taxes.compute`, the one
  rounding rule; ``deductible_vat`` is the VAT of the deductible lines alone, computed the
  same way. ``total`` (what we pay: gross less any IRPF we withhold) must be above zero.
* **Status**::

      received ──approve──> approved ──payment──> partially_paid ──payment──> paid
         │  ^                  │                        └───────payment────────┘
         │  └──approve── disputed <──dispute──┘
         └──dispute──────────^
      received / approved / disputed ──cancel──> cancelled   (never after a payment)

  ``correct`` changes dates, lines, currency or notes only before approval (received or
  disputed: a dispute withdraws the approval). Payments need an approved invoice, each
  has a reference unique on the invoice, and together they never exceed the total.

Everything decided at command time (totals, due date, paid total, new status) is in the
event; the ``@event`` bodies only assign.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain import taxes
from crm_ledger.domain.changes import check_known
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.invoice import CURRENCY, LINE_KEYS, MAX_LINES, line_of
from crm_ledger.domain.purchasing_errors import (
    OverpaymentError,
    PaymentRefTakenError,
    PurchaseDateError,
    PurchaseInvoicePaidError,
    PurchaseInvoiceStatusError,
    PurchaseLinesRequiredError,
)
from crm_ledger.domain.supplier import Supplier, category_of
from crm_ledger.ledger.envelope import format_timestamp

MAX_NUMBER = 60  # VERI*FACTU NumSerieFactura, TextMax60Type
MAX_NOTES = 2000
MAX_REASON = 500
MAX_REF = 100
MAX_PAYMENTS = 500
PURCHASE_LINE_KEYS = LINE_KEYS | {"expense_category", "deductible"}
CORRECTABLE = frozenset({"issue_date", "received_on", "due_date", "lines", "currency", "notes"})


class PurchaseStatus(StrEnum):
    """Where a received invoice stands."""

    RECEIVED = "received"
    APPROVED = "approved"
    DISPUTED = "disputed"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    CANCELLED = "cancelled"


class PaymentMethod(StrEnum):
    """How a supplier was paid."""

    TRANSFER = "transfer"
    DIRECT_DEBIT = "direct_debit"
    CARD = "card"
    CASH = "cash"
    CHEQUE = "cheque"
    OTHER = "other"


CORRECTABLE_IN = frozenset({PurchaseStatus.RECEIVED, PurchaseStatus.DISPUTED})
PAYABLE_IN = frozenset({PurchaseStatus.APPROVED, PurchaseStatus.PARTIALLY_PAID})


# -- normalisation ----------------------------------------------------------------------


def number_of(value: object) -> str:
    """The supplier's invoice number as written (trimmed, inner spaces collapsed)."""
    text = " ".join(value.split()) if isinstance(value, str) else ""
    if not text or len(text) > MAX_NUMBER or not text.isprintable():
        raise InvalidCommandError(
            f"number must have 1 to {MAX_NUMBER} printable characters", field="number"
        )
    return text


def number_key(value: object) -> str:
    """What makes two numbers the same invoice: case and spacing ignored."""
    return number_of(value).casefold()


def purchase_invoice_id_for(supplier_id: UUID, number: str) -> UUID:
    """The id of `supplier_id`'s invoice `number` (deterministic: the event store keeps
    each supplier's numbers unique)."""
    return uuid5(supplier_id, number_key(number))


def date_of(value: object, field: str) -> date:
    """A date from a ``date`` or an ISO string ``YYYY-MM-DD``."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidCommandError(f"{field} must be an ISO date such as 2026-06-30", field=field)


def purchase_line_of(raw: object, index: int, default_category: str | None) -> dict[str, Any]:
    """The stored form of one received line (errors name ``lines/<index>/<field>``)."""
    where = f"lines/{index}"
    if not isinstance(raw, Mapping):
        raise InvalidCommandError(f"{where} must be an object", field=where)
    unknown = set(raw) - PURCHASE_LINE_KEYS
    if unknown:
        raise InvalidCommandError(f"unknown line fields {sorted(unknown)}", field=where)
    line = line_of({k: v for k, v in raw.items() if k in LINE_KEYS}, index)
    category = category_of(raw.get("expense_category"), f"{where}/expense_category")
    deductible = raw.get("deductible", True)
    if not isinstance(deductible, bool):
        raise InvalidCommandError("deductible must be true or false", field=f"{where}/deductible")
    return {**line, "expense_category": category or default_category, "deductible": deductible}


def purchase_lines_of(raw: object, default_category: str | None) -> list[dict[str, Any]]:
    """The stored form of 1 to MAX_LINES received lines."""
    if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Iterable):
        raise InvalidCommandError("lines must be a list", field="lines")
    items = list(raw)
    if not items:
        raise PurchaseLinesRequiredError("a received invoice has at least one line", field="lines")
    if len(items) > MAX_LINES:
        raise InvalidCommandError(f"an invoice has at most {MAX_LINES} lines", field="lines")
    return [purchase_line_of(item, i, default_category) for i, item in enumerate(items)]


def totals_of(lines: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The totals of stored lines (:func:`taxes.compute`) plus ``deductible_vat``; the
    payable ``total`` must be above zero."""
    items = list(lines)
    totals = taxes.compute(taxes.tax_line(line) for line in items)
    deductible = taxes.compute(taxes.tax_line(line) for line in items if line["deductible"])
    if totals.total <= 0:
        raise PurchaseLinesRequiredError(
            f"the invoice total is {taxes.money(totals.total)}: it must be above zero "
            "(received credit notes are not supported yet)",
            field="lines",
        )
    return {**totals.as_dict(), "deductible_vat": taxes.money(deductible.vat_total)}


def _currency(value: object) -> str:
    if not isinstance(value, str) or not CURRENCY.fullmatch(value):
        raise InvalidCommandError("currency must be an ISO 4217 code such as EUR", field="currency")
    return value


def _notes(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_NOTES:
        raise InvalidCommandError(f"notes must be text of at most {MAX_NOTES}", field="notes")
    return value.strip() or None


def _reason(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_REASON:
        raise InvalidCommandError(f"reason must have 1 to {MAX_REASON} characters", field="reason")
    return text


def _amount(value: object) -> Decimal:
    amount = taxes.decimal_of(value, "amount", places=2)
    if amount <= 0:
        raise InvalidCommandError("amount must be above zero", field="amount")
    return amount


def _dates(issue: date, received: date, due: date) -> None:
    if received < issue:
        raise PurchaseDateError(
            f"received_on {received} is before the issue date {issue}", field="received_on"
        )
    if due < issue:
        raise PurchaseDateError(
            f"due_date {due} is before the issue date {issue}", field="due_date"
        )


# -- the aggregate ----------------------------------------------------------------------


class PurchaseInvoice(Aggregate):
    """An invoice received from a supplier: what it says, and what of it we have paid."""

    @staticmethod
    def create_id(supplier_id: UUID, number: str) -> UUID:
        """Derived from the supplier and its number: duplicates collide in the store."""
        return purchase_invoice_id_for(supplier_id, number)

    @event("Registered")
    def __init__(
        self,
        *,
        supplier_id: UUID,
        number: str,
        issue_date: str,
        received_on: str,
        due_date: str,
        lines: list[dict[str, Any]],
        totals: dict[str, Any],
        currency: str,
        notes: str | None,
        actor: str,
    ) -> None:
        self.supplier_id = supplier_id
        self.number = number
        self.issue_date_text = issue_date
        self.received_on_text = received_on
        self.due_date_text = due_date
        self.lines = lines
        self.totals = totals
        self.currency = currency
        self.notes = notes
        self.status_value = PurchaseStatus.RECEIVED.value
        self.payments: list[dict[str, str]] = []
        self.paid_total_text = "0.00"
        self.dispute_reason: str | None = None
        self.cancel_reason: str | None = None
        self.approved_by: str | None = None
        self.created_by = actor

    @classmethod
    def register(
        cls,
        *,
        supplier: Supplier,
        number: str,
        issue_date: date | str,
        received_on: date | str,
        lines: Iterable[Mapping[str, Any]],
        actor: str,
        due_date: date | str | None = None,
        currency: str = "EUR",
        notes: str | None = None,
    ) -> PurchaseInvoice:
        """Register `supplier`'s invoice `number` as received. The due date defaults to
        the issue date plus the supplier's payment terms."""
        supplier.check_active()
        issue = date_of(issue_date, "issue_date")
        received = date_of(received_on, "received_on")
        due = (
            issue + timedelta(days=supplier.payment_terms_days)
            if due_date is None
            else date_of(due_date, "due_date")
        )
        _dates(issue, received, due)
        stored = purchase_lines_of(lines, supplier.default_expense_category)
        return cls(
            supplier_id=supplier.id,
            number=number_of(number),
            issue_date=issue.isoformat(),
            received_on=received.isoformat(),
            due_date=due.isoformat(),
            lines=stored,
            totals=totals_of(stored),
            currency=_currency(currency),
            notes=_notes(notes),
            actor=actor,
        )

    # -- queries ----------------------------------------------------------------------

    @property
    def status(self) -> PurchaseStatus:
        """Received, approved, disputed, partially paid, paid or cancelled."""
        return PurchaseStatus(self.status_value)

    @property
    def issue_date(self) -> date:
        """The date the supplier issued the invoice."""
        return date.fromisoformat(self.issue_date_text)

    @property
    def received_on(self) -> date:
        """The date we received it."""
        return date.fromisoformat(self.received_on_text)

    @property
    def due_date(self) -> date:
        """The date it must be paid by."""
        return date.fromisoformat(self.due_date_text)

    @property
    def total(self) -> Decimal:
        """What we pay the supplier (gross less any withholding)."""
        return Decimal(self.totals["total"])

    @property
    def paid_total(self) -> Decimal:
        """The sum of the payments recorded."""
        return Decimal(self.paid_total_text)

    @property
    def outstanding(self) -> Decimal:
        """What is still to pay (0 once cancelled)."""
        if self.status is PurchaseStatus.CANCELLED:
            return Decimal("0.00")
        return self.total - self.paid_total

    def outstanding_on(self, day: date) -> Decimal:
        """What was still to pay at the end of `day` (payments made by then deducted)."""
        if self.status is PurchaseStatus.CANCELLED:
            return Decimal("0.00")
        paid = sum(
            (Decimal(p["amount"]) for p in self.payments if p["paid_on"] <= day.isoformat()),
            Decimal(0),
        )
        return self.total - paid

    def _refuse(self, command: str, allowed: Iterable[PurchaseStatus]) -> None:
        if self.status not in set(allowed):
            names = ", ".join(sorted(s.value for s in allowed))
            raise PurchaseInvoiceStatusError(
                f"purchase invoice {self.number} is {self.status_value}; {command} needs "
                f"one of: {names}"
            )

    # -- commands ---------------------------------------------------------------------

    def correct(self, *, supplier: Supplier, actor: str, **changes: Any) -> None:
        """Change some of issue_date, received_on, due_date, lines, currency, notes before
        approval (no event when nothing differs). A new issue date without a due date
        moves the due date by as many days (the terms are kept); ``due_date=None``
        recomputes it from the supplier's terms. The number is fixed."""
        check_known(changes, CORRECTABLE)
        self._refuse("correct", CORRECTABLE_IN)
        if supplier.id != self.supplier_id:
            raise InvalidCommandError("the supplier is not the invoice's", field="supplier_id")
        issue = (
            date_of(changes["issue_date"], "issue_date")
            if "issue_date" in changes
            else self.issue_date
        )
        received = (
            date_of(changes["received_on"], "received_on")
            if "received_on" in changes
            else self.received_on
        )
        if "due_date" not in changes:
            due = self.due_date + (issue - self.issue_date)
        elif changes["due_date"] is None:
            due = issue + timedelta(days=supplier.payment_terms_days)
        else:
            due = date_of(changes["due_date"], "due_date")
        _dates(issue, received, due)
        new: dict[str, Any] = {
            "issue_date": issue.isoformat(),
            "received_on": received.isoformat(),
            "due_date": due.isoformat(),
        }
        if "lines" in changes:
            new["lines"] = purchase_lines_of(changes["lines"], supplier.default_expense_category)
        if "currency" in changes:
            new["currency"] = _currency(changes["currency"])
        if "notes" in changes:
            new["notes"] = _notes(changes["notes"])
        current = {
            "issue_date": self.issue_date_text,
            "received_on": self.received_on_text,
            "due_date": self.due_date_text,
            "lines": self.lines,
            "currency": self.currency,
            "notes": self.notes,
        }
        differing = {f: v for f, v in new.items() if v != current[f]}
        if differing:
            totals = totals_of(differing["lines"]) if "lines" in differing else None
            self._corrected(changes=differing, totals=totals, actor=actor)

    @event("Corrected")
    def _corrected(
        self, *, changes: dict[str, Any], totals: dict[str, Any] | None, actor: str
    ) -> None:
        stored = {"issue_date": "issue_date_text", "received_on": "received_on_text"}
        stored["due_date"] = "due_date_text"
        for field, value in changes.items():
            setattr(self, stored.get(field, field), value)
        if totals is not None:
            self.totals = totals

    def approve(self, *, actor: str) -> None:
        """Accept the invoice for payment (from received, or disputed once resolved)."""
        self._refuse("approve", CORRECTABLE_IN)
        self._approved(actor=actor)

    @event("Approved")
    def _approved(self, *, actor: str) -> None:
        self.status_value = PurchaseStatus.APPROVED.value
        self.approved_by = actor
        self.dispute_reason = None

    def dispute(self, *, reason: str, actor: str) -> None:
        """Contest the invoice with the supplier (from received or approved); it must be
        approved again before it is paid."""
        self._refuse("dispute", {PurchaseStatus.RECEIVED, PurchaseStatus.APPROVED})
        self._disputed(reason=_reason(reason), actor=actor)

    @event("Disputed")
    def _disputed(self, *, reason: str, actor: str) -> None:
        self.status_value = PurchaseStatus.DISPUTED.value
        self.dispute_reason = reason
        self.approved_by = None

    def record_payment(
        self,
        *,
        payment_ref: str,
        amount: Decimal | str,
        paid_on: date | str,
        method: PaymentMethod | str,
        actor: str,
    ) -> None:
        """Record a (full or partial) payment of an approved invoice: a reference unique on
        the invoice, an amount above zero and at most what is outstanding."""
        self._refuse("a payment", PAYABLE_IN)
        ref = payment_ref.strip() if isinstance(payment_ref, str) else ""
        if not ref or len(ref) > MAX_REF:
            raise InvalidCommandError(
                f"payment_ref must have 1 to {MAX_REF} characters", field="payment_ref"
            )
        if any(p["payment_ref"] == ref for p in self.payments):
            raise PaymentRefTakenError(
                f"payment {ref} is already recorded on purchase invoice {self.number}"
            )
        if len(self.payments) >= MAX_PAYMENTS:
            raise InvalidCommandError(
                f"an invoice takes at most {MAX_PAYMENTS} payments", field="payment_ref"
            )
        money = _amount(amount)
        if money > self.outstanding:
            raise OverpaymentError(
                f"payment of {taxes.money(money)} exceeds the outstanding "
                f"{taxes.money(self.outstanding)} {self.currency}"
            )
        try:
            how = PaymentMethod(method).value
        except ValueError:
            allowed = ", ".join(m.value for m in PaymentMethod)
            raise InvalidCommandError(f"method must be one of {allowed}", field="method") from None
        paid_total = self.paid_total + money
        status = PurchaseStatus.PAID if paid_total == self.total else PurchaseStatus.PARTIALLY_PAID
        self._payment_recorded(
            payment={
                "payment_ref": ref,
                "amount": taxes.money(money),
                "paid_on": date_of(paid_on, "paid_on").isoformat(),
                "method": how,
            },
            paid_total=taxes.money(paid_total),
            status=status.value,
            actor=actor,
        )

    @event("PaymentRecorded")
    def _payment_recorded(
        self, *, payment: dict[str, str], paid_total: str, status: str, actor: str
    ) -> None:
        self.payments = [*self.payments, dict(payment)]
        self.paid_total_text = paid_total
        self.status_value = status

    def cancel(self, *, reason: str, actor: str) -> None:
        """Void the registration (kept, marked cancelled); refused once anything is paid."""
        if self.payments:
            raise PurchaseInvoicePaidError(
                f"purchase invoice {self.number} has {len(self.payments)} payment(s); "
                "it cannot be cancelled"
            )
        self._refuse(
            "cancel",
            {PurchaseStatus.RECEIVED, PurchaseStatus.APPROVED, PurchaseStatus.DISPUTED},
        )
        self._cancelled(reason=_reason(reason), actor=actor)

    @event("Cancelled")
    def _cancelled(self, *, reason: str, actor: str) -> None:
        self.status_value = PurchaseStatus.CANCELLED.value
        self.cancel_reason = reason


# -- views ------------------------------------------------------------------------------


def purchase_invoice_snapshot(invoice: PurchaseInvoice) -> dict[str, Any]:
    """The received invoice's public, JSON-ready state (money as decimal strings)."""
    totals = invoice.totals
    return {
        "id": str(invoice.id),
        "version": invoice.version,
        "supplier_id": str(invoice.supplier_id),
        "number": invoice.number,
        "issue_date": invoice.issue_date_text,
        "received_on": invoice.received_on_text,
        "due_date": invoice.due_date_text,
        "status": invoice.status_value,
        "lines": [
            {**line, "base": base}
            for line, base in zip(invoice.lines, totals["line_bases"], strict=True)
        ],
        "currency": invoice.currency,
        "notes": invoice.notes,
        "totals": {k: v for k, v in totals.items() if k != "line_bases"},
        "payments": [dict(p) for p in invoice.payments],
        "paid_total": invoice.paid_total_text,
        "outstanding": taxes.money(invoice.outstanding),
        "dispute_reason": invoice.dispute_reason,
        "cancel_reason": invoice.cancel_reason,
        "approved_by": invoice.approved_by,
        "created_at": format_timestamp(invoice.created_on),
        "modified_at": format_timestamp(invoice.modified_on),
    }
