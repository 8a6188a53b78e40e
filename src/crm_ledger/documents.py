"""Use cases of the commercial documents before an invoice: quotes, sales orders, delivery
notes, and invoices drafted from orders or delivery notes. One function per use case.

Steps that move several aggregates store them in ONE ``crm.store`` call, so they happen
together or not at all:

* converting a quote: the new order and the quote's ``Converted`` event;
* a delivery: the new delivery note and the order's ``DeliveryRecorded`` event (on a
  concurrent change of the order, both are redone from the fresh order, a few times);
* invoicing: the new draft invoice, the order's ``InvoiceRecorded`` event and the
  ``Invoiced`` event of every delivery note it bills. The draft is made with
  ``Invoice.draft`` and the customer's fiscal data as :mod:`crm_ledger.invoicing` copies
  it; ``invoicing.create_invoice`` is not called because it stores the invoice on its
  own, and a draft stored without the order's record could bill the same goods twice.

Invariant kept by the two invoicing paths: per order line, the quantity invoiced equals
the sum over the order's invoiced delivery notes, so the delivered-but-not-invoiced
quantity is exactly what the not-yet-invoiced notes carry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from crm_ledger import invoicing
from crm_ledger.application import CrmApplication, Written
from crm_ledger.domain import verifactu
from crm_ledger.domain.contact import Contact
from crm_ledger.domain.delivery_note import DeliveryNote
from crm_ledger.domain.document_errors import DeliveryNoteInvoicedError
from crm_ledger.domain.errors import (
    InvalidCommandError,
)
from crm_ledger.domain.invoice import Invoice
from crm_ledger.domain.issuer import Issuer
from crm_ledger.domain.order import SalesOrder, plain
from crm_ledger.domain.quote import Quote
from crm_ledger.kinds import Kind
from crm_ledger.retry import store_retrying

QUOTE = Kind(Quote, "quote")
SALES_ORDER = Kind(SalesOrder, "sales order")
DELIVERY_NOTE = Kind(DeliveryNote, "delivery note")


def today() -> date:
    """Today in Spain (the civil date invoicing uses)."""
    return verifactu.spanish_time(datetime.now(UTC)).date()


def _active_customer(crm: CrmApplication, customer_id: UUID | str) -> Contact:
    contact = crm.load(Contact, UUID(str(customer_id)), "contact")
    contact.check_active()
    return contact


def _check_issuer(crm: CrmApplication, issuer_id: UUID | str | None) -> None:
    if issuer_id is not None:
        crm.load(Issuer, UUID(str(issuer_id)), "issuer")


# -- quotes -----------------------------------------------------------------------------


def create_quote(
    crm: CrmApplication,
    *,
    actor: str,
    customer_id: UUID,
    valid_until: date | str,
    lines: Iterable[Mapping[str, Any]] = (),
    currency: str = "EUR",
    issuer_id: UUID | None = None,
    notes: str | None = None,
) -> Written:
    """Draft a quote for an existing, active contact (valid_until today or later)."""
    _active_customer(crm, customer_id)
    _check_issuer(crm, issuer_id)
    quote = Quote.draft(
        customer_id=customer_id,
        issuer_id=issuer_id,
        currency=currency,
        lines=lines,
        valid_until=valid_until,
        notes=notes,
        today=today(),
        actor=actor,
    )
    return Written(quote, crm.store(quote, actor=actor))


def get_quote(crm: CrmApplication, quote_id: UUID) -> Quote:
    """Return the quote or raise NotFoundError."""
    return QUOTE.load(crm, quote_id)


def _change_quote(
    crm: CrmApplication,
    quote_id: UUID,
    expected_version: int,
    actor: str,
    command: Callable[[Quote, date], None],
) -> Written:
    """Run ``command(quote, today)`` on the quote at the version the caller saw; save."""
    day = today()
    return QUOTE.change(crm, quote_id, expected_version, actor, lambda q: command(q, day))


def revise_quote(
    crm: CrmApplication,
    quote_id: UUID,
    *,
    expected_version: int,
    actor: str,
    lines: Iterable[Mapping[str, Any]],
    valid_until: date | str | None = None,
    notes: str | None = None,
) -> Written:
    """A new revision of a draft or sent quote (a draft again, to be sent again)."""
    return _change_quote(
        crm,
        quote_id,
        expected_version,
        actor,
        lambda q, day: q.revise(
            lines=lines, valid_until=valid_until, notes=notes, today=day, actor=actor
        ),
    )


def send_quote(
    crm: CrmApplication, quote_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Send the draft to the customer."""
    return _change_quote(
        crm, quote_id, expected_version, actor, lambda q, day: q.send(today=day, actor=actor)
    )


def accept_quote(
    crm: CrmApplication, quote_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Record the customer's acceptance (refused after valid_until)."""
    return _change_quote(
        crm, quote_id, expected_version, actor, lambda q, day: q.accept(today=day, actor=actor)
    )


def reject_quote(
    crm: CrmApplication, quote_id: UUID, *, expected_version: int, actor: str, reason: str
) -> Written:
    """Record the customer's refusal, with a reason."""
    return _change_quote(
        crm,
        quote_id,
        expected_version,
        actor,
        lambda q, day: q.reject(reason=reason, today=day, actor=actor),
    )


def expire_quote(
    crm: CrmApplication, quote_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Mark a draft or sent quote expired (only after valid_until)."""
    return _change_quote(
        crm, quote_id, expected_version, actor, lambda q, day: q.expire(today=day, actor=actor)
    )


def convert_quote(
    crm: CrmApplication, quote_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Make a sales order from the accepted quote; the order and the quote's Converted
    event are stored in one transaction. Returns the ORDER."""
    quote = QUOTE.load_at(crm, quote_id, expected_version)
    order = SalesOrder.from_quote(quote, actor=actor)
    quote.mark_converted(order_id=order.id, actor=actor)
    return Written(order, crm.store(quote, order, actor=actor))


# -- sales orders -----------------------------------------------------------------------


def create_order(
    crm: CrmApplication,
    *,
    actor: str,
    customer_id: UUID,
    lines: Iterable[Mapping[str, Any]],
    currency: str = "EUR",
    issuer_id: UUID | None = None,
    notes: str | None = None,
) -> Written:
    """Make a sales order directly (no quote) for an existing, active contact."""
    _active_customer(crm, customer_id)
    _check_issuer(crm, issuer_id)
    order = SalesOrder.create(
        customer_id=customer_id,
        issuer_id=issuer_id,
        currency=currency,
        lines=lines,
        notes=notes,
        actor=actor,
    )
    return Written(order, crm.store(order, actor=actor))


def get_order(crm: CrmApplication, order_id: UUID) -> SalesOrder:
    """Return the sales order or raise NotFoundError."""
    return SALES_ORDER.load(crm, order_id)


def confirm_order(
    crm: CrmApplication, order_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Confirm a draft order."""
    return SALES_ORDER.change(
        crm, order_id, expected_version, actor, lambda o: o.confirm(actor=actor)
    )


def cancel_order(
    crm: CrmApplication, order_id: UUID, *, expected_version: int, actor: str, reason: str
) -> Written:
    """Cancel an order that is not fully delivered nor invoiced."""
    return SALES_ORDER.change(
        crm, order_id, expected_version, actor, lambda o: o.cancel(reason=reason, actor=actor)
    )


# -- delivery notes ---------------------------------------------------------------------


def create_delivery_note(
    crm: CrmApplication,
    *,
    actor: str,
    order_id: UUID,
    lines: object,
    notes: str | None = None,
) -> Written:
    """Deliver some quantities of an order's lines: the note and the order's record are
    stored together. If the order changes meanwhile, redo from the fresh order (so a
    concurrent delivery can never push a line beyond its ordered quantity)."""

    def build() -> tuple[DeliveryNote, SalesOrder]:
        order = get_order(crm, order_id)
        note = DeliveryNote.create(order, lines=lines, notes=notes, actor=actor)
        order.record_delivery(note.id, lines, actor=actor)
        return note, order

    return store_retrying(
        crm,
        build,
        actor=actor,
        exhausted=f"sales order {order_id} kept changing; nothing was written, retry",
    )


def get_delivery_note(crm: CrmApplication, note_id: UUID) -> DeliveryNote:
    """Return the delivery note or raise NotFoundError."""
    return DELIVERY_NOTE.load(crm, note_id)


def sign_delivery_note(
    crm: CrmApplication,
    note_id: UUID,
    *,
    expected_version: int,
    actor: str,
    name: str,
    at: datetime | str | None = None,
) -> Written:
    """Record who received the goods and when (default: now); once per note."""
    moment = datetime.now(UTC) if at is None else at
    return DELIVERY_NOTE.change(
        crm, note_id, expected_version, actor, lambda n: n.sign(name=name, at=moment, actor=actor)
    )


# -- invoices from orders and delivery notes -------------------------------------------


def invoice_lines(
    order: SalesOrder, quantities: Mapping[int, Decimal | str]
) -> list[dict[str, Any]]:
    """The order's lines as invoice lines, each with the quantity to bill."""
    return [
        {**order.lines[n - 1], "quantity": plain(Decimal(quantity))}
        for n, quantity in sorted(quantities.items())
    ]


def draft_input(
    order: SalesOrder,
    quantities: Mapping[int, Decimal | str],
    *,
    series: str,
    issuer_id: UUID | None = None,
    invoice_type: str = "F1",
    notes: str | None = None,
) -> dict[str, Any]:
    """The keyword arguments of ``invoicing.create_invoice`` (less ``actor``) that bill
    `quantities` (``{line_no: quantity}``) of `order`: its customer, currency and lines."""
    issuer = order.issuer_id if issuer_id is None else issuer_id
    if issuer is None:
        raise InvalidCommandError("the order names no issuer: send issuer_id", field="issuer_id")
    return {
        "issuer_id": issuer,
        "series": series,
        "invoice_type": invoice_type,
        "customer_id": order.customer_id,
        "customer": None,
        "lines": invoice_lines(order, quantities),
        "currency": order.currency,
        "notes": notes,
    }


def _draft(crm: CrmApplication, fields: Mapping[str, Any], *, actor: str) -> Invoice:
    """The unsaved draft invoice `fields` describe (the customer's fiscal data copied from
    the contact, as ``invoicing.create_invoice`` does)."""
    return Invoice.draft(
        issuer=invoicing.get_issuer(crm, UUID(str(fields["issuer_id"]))),
        series=fields["series"],
        invoice_type=fields["invoice_type"],
        customer_id=fields["customer_id"],
        # an order's customer merged since: its invoice names the customer the order names
        customer=invoicing.customer_snapshot(
            crm, fields["customer_id"], fields["customer"], merged_ok=True
        ),
        lines=fields["lines"],
        currency=fields["currency"],
        notes=fields["notes"],
        actor=actor,
    )


def _bill(
    crm: CrmApplication,
    order: SalesOrder,
    quantities: Mapping[int, Decimal | str],
    *,
    actor: str,
    series: str,
    issuer_id: UUID | None,
    invoice_type: str,
    notes: str,
) -> Invoice:
    """The unsaved draft invoice billing `quantities` of `order`, recorded on the order."""
    order.check_invoice(quantities)
    fields = draft_input(
        order,
        quantities,
        series=series,
        issuer_id=issuer_id,
        invoice_type=invoice_type,
        notes=notes,
    )
    invoice = _draft(crm, fields, actor=actor)
    order.record_invoice(invoice.id, quantities, actor=actor)
    return invoice


def invoice_from_order(
    crm: CrmApplication,
    order_id: UUID,
    *,
    expected_version: int,
    actor: str,
    series: str,
    issuer_id: UUID | None = None,
    invoice_type: str = "F1",
    notes: str | None = None,
) -> Written:
    """Draft an invoice for everything delivered but not yet invoiced on the order; the
    order and its not-yet-invoiced delivery notes record it. Returns the INVOICE."""
    order = SALES_ORDER.load_at(crm, order_id, expected_version)
    invoice = _bill(
        crm,
        order,
        order.invoiceable(),
        actor=actor,
        series=series,
        issuer_id=issuer_id,
        invoice_type=invoice_type,
        notes=notes or f"Sales order {order.id}",
    )
    notes_billed = []
    for delivery in order.deliveries:
        note = get_delivery_note(crm, UUID(str(delivery["delivery_note_id"])))
        if note.invoice_id is None:
            note.mark_invoiced(invoice_id=invoice.id, actor=actor)
            notes_billed.append(note)
    return Written(invoice, crm.store(invoice, order, *notes_billed, actor=actor))


def invoice_from_delivery_note(
    crm: CrmApplication,
    note_id: UUID,
    *,
    expected_version: int,
    actor: str,
    series: str,
    issuer_id: UUID | None = None,
    invoice_type: str = "F1",
    notes: str | None = None,
) -> Written:
    """Draft an invoice for exactly what the delivery note carried (once per note); the
    note and its order record it. Returns the INVOICE."""
    note = DELIVERY_NOTE.load_at(crm, note_id, expected_version)
    if note.invoice_id is not None:
        raise DeliveryNoteInvoicedError(
            f"delivery note {note.id} is already billed by invoice {note.invoice_id}"
        )
    order = get_order(crm, note.order_id)
    invoice = _bill(
        crm,
        order,
        note.quantities,
        actor=actor,
        series=series,
        issuer_id=issuer_id,
        invoice_type=invoice_type,
        notes=notes or f"Delivery note {note.id} of sales order {order.id}",
    )
    note.mark_invoiced(invoice_id=invoice.id, actor=actor)
    return Written(invoice, crm.store(invoice, order, note, actor=actor))
