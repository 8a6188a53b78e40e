"""The SalesOrder aggregate: what the customer ordered, how much of it left, how much billed.

::

    draft --confirm--> confirmed --deliver (part)--> partially_delivered --deliver (rest)-->
    delivered --invoice (all)--> invoiced;      draft / confirmed / partially_delivered
    --cancel--> cancelled

* An order is made directly or from an accepted quote (its lines copied as they are).
* ``record_delivery`` adds what one delivery note carried, per line number (1..n); a line
  is never delivered beyond its ordered quantity (:class:`OverDeliveryError`).
* ``record_invoice`` adds what one invoice bills, never beyond what was delivered
  (:class:`OverInvoicingError`); when every ordered quantity is billed the order is
  ``invoiced``. A cancelled order still bills what it had delivered before cancelling.
* ``cancel`` stops further deliveries; refused once fully delivered or invoiced.

Quantities are decimal strings in events (``"2.5"``) and ``Decimal`` in the arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain import document_lines
from crm_ledger.domain.document_errors import (
    DeliveryLineError,
    DocumentLinesRequiredError,
    NothingToInvoiceError,
    OrderStatusError,
    OverDeliveryError,
    OverInvoicingError,
    QuoteStatusError,
)
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.quote import (
    MAX_REASON,
    Quote,
    QuoteStatus,
    currency_of,
    notes_of,
    uuid_of,
)
from crm_ledger.domain.taxes import QUANTITY_PLACES, InvoiceTotals, decimal_of
from crm_ledger.ledger.envelope import format_timestamp

plain = document_lines.plain


class OrderStatus(StrEnum):
    """Where a sales order stands."""

    DRAFT = "draft"
    CONFIRMED = "confirmed"
    PARTIALLY_DELIVERED = "partially_delivered"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    INVOICED = "invoiced"


DELIVERABLE = (OrderStatus.CONFIRMED, OrderStatus.PARTIALLY_DELIVERED)
CANCELLABLE = (OrderStatus.DRAFT, OrderStatus.CONFIRMED, OrderStatus.PARTIALLY_DELIVERED)
INVOICEABLE = (OrderStatus.PARTIALLY_DELIVERED, OrderStatus.DELIVERED, OrderStatus.CANCELLED)


def quantities_of(raw: object, *, count: int) -> dict[int, Decimal]:
    """``{line_no: quantity}`` from a mapping or from ``[{line_no, quantity}]``: line
    numbers 1..`count`, each once, quantities above zero (DeliveryLineError otherwise)."""
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, Iterable) and not isinstance(raw, (str, bytes)):
        pairs = []
        for i, item in enumerate(raw):
            if not isinstance(item, Mapping):
                raise DeliveryLineError(f"lines/{i} must be an object", field=f"lines/{i}")
            pairs.append((item.get("line_no"), item.get("quantity")))
    else:
        raise DeliveryLineError("lines must be a list of {line_no, quantity}", field="lines")
    if not pairs:
        raise DeliveryLineError("name at least one line", field="lines")
    result: dict[int, Decimal] = {}
    for i, (line_no, quantity) in enumerate(pairs):
        where = f"lines/{i}"
        if isinstance(line_no, bool) or not isinstance(line_no, int) or not 1 <= line_no <= count:
            raise DeliveryLineError(
                f"line_no must be a line number of the order, 1 to {count}",
                field=f"{where}/line_no",
            )
        if line_no in result:
            raise DeliveryLineError(f"line {line_no} is named twice", field=f"{where}/line_no")
        try:
            amount = decimal_of(quantity, "quantity", places=QUANTITY_PLACES, signed=False)
        except InvalidCommandError as error:
            raise DeliveryLineError(error.detail, field=f"{where}/quantity") from None
        if amount <= 0:
            raise DeliveryLineError("quantity must be above zero", field=f"{where}/quantity")
        result[line_no] = amount
    return dict(sorted(result.items()))


def _moved(quantities: Mapping[int, Decimal]) -> list[dict[str, Any]]:
    return [{"line_no": n, "quantity": plain(q)} for n, q in quantities.items()]


class SalesOrder(Aggregate):
    """A customer's order: lines ordered, delivered per line, invoiced per line."""

    @event("Created")
    def __init__(
        self,
        *,
        customer_id: UUID,
        issuer_id: UUID | None,
        currency: str,
        lines: list[dict[str, Any]],
        quote_id: UUID | None,
        quote_revision: int | None,
        notes: str | None,
        actor: str,
    ) -> None:
        self.customer_id = customer_id
        self.issuer_id = issuer_id
        self.currency = currency
        self.lines = lines
        self.quote_id = quote_id
        self.quote_revision = quote_revision
        self.notes = notes
        self.status_value = OrderStatus.DRAFT.value
        self.delivered = ["0"] * len(lines)
        self.invoiced = ["0"] * len(lines)
        self.deliveries: list[dict[str, Any]] = []
        self.invoices: list[dict[str, Any]] = []
        self.cancel_reason: str | None = None
        self.created_by = actor

    @classmethod
    def create(
        cls,
        *,
        customer_id: UUID | str,
        lines: Iterable[Mapping[str, Any]],
        actor: str,
        currency: str = "EUR",
        issuer_id: UUID | str | None = None,
        notes: str | None = None,
    ) -> SalesOrder:
        """Make an order directly (without a quote); it needs at least one line."""
        stored = document_lines.lines_of(lines)
        if not stored:
            raise DocumentLinesRequiredError("an order has at least one line", field="lines")
        return cls(
            customer_id=uuid_of(customer_id, "customer_id"),
            issuer_id=None if issuer_id is None else uuid_of(issuer_id, "issuer_id"),
            currency=currency_of(currency),
            lines=stored,
            quote_id=None,
            quote_revision=None,
            notes=notes_of(notes),
            actor=actor,
        )

    @classmethod
    def from_quote(cls, quote: Quote, *, actor: str) -> SalesOrder:
        """Make an order from an accepted quote: its customer, issuer, currency, notes and
        lines of the accepted revision. The caller marks the quote converted."""
        if quote.status is not QuoteStatus.ACCEPTED:
            raise QuoteStatusError(quote_id=quote.id, status=quote.status_value, command="convert")
        return cls(
            customer_id=quote.customer_id,
            issuer_id=quote.issuer_id,
            currency=quote.currency,
            lines=[dict(line) for line in quote.lines],
            quote_id=quote.id,
            quote_revision=quote.revision,
            notes=quote.notes,
            actor=actor,
        )

    # -- queries ----------------------------------------------------------------------

    @property
    def status(self) -> OrderStatus:
        """Draft, confirmed, partially delivered, delivered, cancelled or invoiced."""
        return OrderStatus(self.status_value)

    def ordered(self, line_no: int) -> Decimal:
        """The quantity ordered on line `line_no` (from 1)."""
        return Decimal(self.lines[line_no - 1]["quantity"])

    def delivered_on(self, line_no: int) -> Decimal:
        """The quantity delivered so far on line `line_no`."""
        return Decimal(self.delivered[line_no - 1])

    def invoiced_on(self, line_no: int) -> Decimal:
        """The quantity invoiced so far on line `line_no`."""
        return Decimal(self.invoiced[line_no - 1])

    def invoiceable(self) -> dict[int, Decimal]:
        """``{line_no: delivered but not yet invoiced}`` for every line with some."""
        result = {}
        for n in range(1, len(self.lines) + 1):
            left = self.delivered_on(n) - self.invoiced_on(n)
            if left > 0:
                result[n] = left
        return result

    def totals(self) -> InvoiceTotals:
        """The tax breakdown and totals of the ordered lines."""
        return document_lines.totals(self.lines)

    def _require(self, command: str, *allowed: OrderStatus) -> None:
        if self.status not in allowed:
            raise OrderStatusError(order_id=self.id, status=self.status_value, command=command)

    def check_delivery(self, lines: object) -> dict[int, Decimal]:
        """The quantities of a delivery this order can take now, or the rule that stops it."""
        self._require("deliver", *DELIVERABLE)
        quantities = quantities_of(lines, count=len(self.lines))
        for n, quantity in quantities.items():
            if self.delivered_on(n) + quantity > self.ordered(n):
                raise OverDeliveryError(
                    line_no=n,
                    ordered=plain(self.ordered(n)),
                    delivered=plain(self.delivered_on(n)),
                    requested=plain(quantity),
                )
        return quantities

    def check_invoice(self, lines: object) -> dict[int, Decimal]:
        """The quantities an invoice may bill now (each within delivered less invoiced)."""
        self._require("invoice", *INVOICEABLE)
        if not self.invoiceable():
            raise NothingToInvoiceError(f"sales order {self.id}: every delivered line is billed")
        quantities = quantities_of(lines, count=len(self.lines))
        for n, quantity in quantities.items():
            if self.invoiced_on(n) + quantity > self.delivered_on(n):
                raise OverInvoicingError(
                    f"line {n}: delivered {plain(self.delivered_on(n))}, already invoiced "
                    f"{plain(self.invoiced_on(n))}, cannot invoice {plain(quantity)} more"
                )
        return quantities

    # -- commands ---------------------------------------------------------------------

    def confirm(self, *, actor: str) -> None:
        """Confirm the draft order: it can now be delivered."""
        self._require("confirm", OrderStatus.DRAFT)
        self._confirmed(actor=actor)

    @event("Confirmed")
    def _confirmed(self, *, actor: str) -> None:
        self.status_value = OrderStatus.CONFIRMED.value

    def cancel(self, *, reason: str, actor: str) -> None:
        """Cancel the order (what was delivered stays delivered and may still be billed);
        refused once fully delivered or invoiced."""
        self._require("cancel", *CANCELLABLE)
        text = reason.strip() if isinstance(reason, str) else ""
        if not text or len(text) > MAX_REASON:
            raise InvalidCommandError(
                f"reason must have 1 to {MAX_REASON} characters", field="reason"
            )
        self._cancelled(reason=text, actor=actor)

    @event("Cancelled")
    def _cancelled(self, *, reason: str, actor: str) -> None:
        self.status_value = OrderStatus.CANCELLED.value
        self.cancel_reason = reason

    def _added(self, done: list[str], quantities: Mapping[int, Decimal]) -> tuple[list[str], bool]:
        """`done` (per line) plus `quantities` (``{line_no: quantity}``), and whether every
        ordered quantity is then done."""
        after = list(done)
        for n, quantity in quantities.items():
            after[n - 1] = plain(Decimal(after[n - 1]) + quantity)
        complete = all(Decimal(d) == self.ordered(n) for n, d in enumerate(after, 1))
        return after, complete

    def record_delivery(self, delivery_note_id: UUID, lines: object, *, actor: str) -> None:
        """Add what delivery note `delivery_note_id` carried (``{line_no: quantity}``)."""
        quantities = self.check_delivery(lines)
        delivered, complete = self._added(self.delivered, quantities)
        status = OrderStatus.DELIVERED if complete else OrderStatus.PARTIALLY_DELIVERED
        self._delivered(
            delivery_note_id=delivery_note_id,
            lines=_moved(quantities),
            delivered=delivered,
            status=status.value,
            actor=actor,
        )

    @event("DeliveryRecorded")
    def _delivered(
        self,
        *,
        delivery_note_id: UUID,
        lines: list[dict[str, Any]],
        delivered: list[str],
        status: str,
        actor: str,
    ) -> None:
        self.delivered = delivered
        self.status_value = status
        self.deliveries = [*self.deliveries, {"delivery_note_id": delivery_note_id, "lines": lines}]

    def record_invoice(self, invoice_id: UUID, lines: object, *, actor: str) -> None:
        """Add what invoice `invoice_id` bills (``{line_no: quantity}``); the order is
        ``invoiced`` once every ordered quantity is billed."""
        quantities = self.check_invoice(lines)
        invoiced, complete = self._added(self.invoiced, quantities)
        status = OrderStatus.INVOICED if complete else self.status
        self._invoiced(
            invoice_id=invoice_id,
            lines=_moved(quantities),
            invoiced=invoiced,
            status=status.value,
            actor=actor,
        )

    @event("InvoiceRecorded")
    def _invoiced(
        self,
        *,
        invoice_id: UUID,
        lines: list[dict[str, Any]],
        invoiced: list[str],
        status: str,
        actor: str,
    ) -> None:
        self.invoiced = invoiced
        self.status_value = status
        self.invoices = [*self.invoices, {"invoice_id": invoice_id, "lines": lines}]


# -- views ------------------------------------------------------------------------------


def _links(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [{key: str(item[key]), "lines": [dict(x) for x in item["lines"]]} for item in items]


def order_snapshot(order: SalesOrder) -> dict[str, Any]:
    """The order's public, JSON-ready state (money and quantities as decimal strings)."""
    lines, totals = document_lines.priced(order.lines)
    for line in lines:
        line["delivered"] = order.delivered[line["line_no"] - 1]
        line["invoiced"] = order.invoiced[line["line_no"] - 1]
    return {
        "id": str(order.id),
        "version": order.version,
        "status": order.status_value,
        "customer_id": str(order.customer_id),
        "issuer_id": None if order.issuer_id is None else str(order.issuer_id),
        "quote_id": None if order.quote_id is None else str(order.quote_id),
        "quote_revision": order.quote_revision,
        "currency": order.currency,
        "lines": lines,
        "totals": totals,
        "notes": order.notes,
        "deliveries": _links(order.deliveries, "delivery_note_id"),
        "invoices": _links(order.invoices, "invoice_id"),
        "cancel_reason": order.cancel_reason,
        "created_at": format_timestamp(order.created_on),
        "modified_at": format_timestamp(order.modified_on),
    }
