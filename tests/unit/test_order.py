"""Every guard of the SalesOrder and DeliveryNote aggregates: confirm, cancel, partial
deliveries without over-delivery, invoicing within what was delivered, signing once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from crm_ledger.domain.delivery_note import DeliveryNote, delivery_note_snapshot
from crm_ledger.domain.document_errors import (
    DeliveryLineError,
    DeliveryNoteInvoicedError,
    DeliveryNoteSignedError,
    DocumentLinesRequiredError,
    NothingToInvoiceError,
    OrderStatusError,
    OverDeliveryError,
    OverInvoicingError,
)
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.order import OrderStatus, SalesOrder, order_snapshot

ACTOR = "user:test"
LINES = [
    {"description": "Widget", "quantity": "10", "unit_price": "12.50", "vat_rate": "21"},
    {"description": "Cable", "quantity": "2.5", "unit_price": "4", "vat_rate": "21"},
]


def order(**fields: Any) -> SalesOrder:
    values: dict[str, Any] = {"customer_id": uuid4(), "lines": LINES, **fields}
    return SalesOrder.create(actor=ACTOR, **values)


def confirmed() -> SalesOrder:
    o = order()
    o.confirm(actor=ACTOR)
    return o


def deliver(o: SalesOrder, lines: Any) -> DeliveryNote:
    """What the use case does: make the note, record it on the order."""
    note = DeliveryNote.create(o, lines=lines, actor=ACTOR)
    o.record_delivery(note.id, lines, actor=ACTOR)
    return note


def unchanged(aggregate: Any, command: Callable[[], object], error: type) -> Exception:
    """`command` raises exactly `error` and records nothing."""
    before = aggregate.version
    with pytest.raises(error) as info:
        command()
    assert error is type(info.value)
    assert before == aggregate.version
    return info.value


def replayed(events: list[Any]) -> Any:
    """The aggregate rebuilt from `events` (event bodies only assign)."""
    rebuilt = None
    for e in events:
        rebuilt = e.mutate(rebuilt)
    return rebuilt


def test_direct_order_needs_lines_and_starts_draft() -> None:
    """An order without lines is refused; a new order is a draft with nothing delivered."""
    with pytest.raises(DocumentLinesRequiredError):
        order(lines=[])
    o = order()
    assert (OrderStatus.DRAFT, ["0", "0"], ["0", "0"]) == (o.status, o.delivered, o.invoiced)
    totals = order_snapshot(o)["totals"]
    assert ("135.00", "28.35") == (totals["base_total"], totals["tax_total"])  # 125 + 10


def test_confirm_only_a_draft() -> None:
    """Confirm moves draft -> confirmed, once."""
    o = order()
    o.confirm(actor=ACTOR)
    assert OrderStatus.CONFIRMED == o.status
    unchanged(o, lambda: o.confirm(actor=ACTOR), OrderStatusError)


def test_delivery_needs_a_confirmed_order() -> None:
    """A draft or cancelled order takes no delivery."""
    draft = order()
    unchanged(draft, lambda: deliver(draft, {1: "1"}), OrderStatusError)
    cancelled = confirmed()
    cancelled.cancel(reason="customer withdrew", actor=ACTOR)
    unchanged(cancelled, lambda: deliver(cancelled, {1: "1"}), OrderStatusError)


def test_two_partial_deliveries_then_delivered() -> None:
    """4 then 6 of line 1 and 2.5 of line 2: partially delivered, then delivered."""
    o = confirmed()
    first = deliver(o, {1: "4"})
    assert (OrderStatus.PARTIALLY_DELIVERED, ["4", "0"]) == (o.status, o.delivered)
    second = deliver(o, [{"line_no": 1, "quantity": "6"}, {"line_no": 2, "quantity": "2.50"}])
    assert (OrderStatus.DELIVERED, ["10", "2.5"]) == (o.status, o.delivered)
    assert [first.id, second.id] == [d["delivery_note_id"] for d in o.deliveries]
    assert [{"line_no": 1, "quantity": "6"}, {"line_no": 2, "quantity": "2.5"}] == o.deliveries[1][
        "lines"
    ]
    assert [(1, "Widget", "6"), (2, "Cable", "2.5")] == [
        (line["line_no"], line["description"], line["quantity"]) for line in second.lines
    ]


def test_over_delivery_is_refused_and_names_the_line() -> None:
    """Delivering more than ordered less delivered is refused, on the note and the order."""
    o = confirmed()
    deliver(o, {1: "7"})
    error = unchanged(o, lambda: deliver(o, {1: "3.000001"}), OverDeliveryError)
    assert (1, "10", "7", "3.000001") == (
        error.line_no,  # type: ignore[attr-defined]
        error.ordered,  # type: ignore[attr-defined]
        error.delivered,  # type: ignore[attr-defined]
        error.requested,  # type: ignore[attr-defined]
    )
    unchanged(o, lambda: o.record_delivery(uuid4(), {2: "2.6"}, actor=ACTOR), OverDeliveryError)
    deliver(o, {1: "3"})
    assert ["10", "0"] == o.delivered


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ({}, "lines"),
        ({3: "1"}, "lines/0/line_no"),
        ({0: "1"}, "lines/0/line_no"),
        ({True: "1"}, "lines/0/line_no"),
        ({1: "0"}, "lines/0/quantity"),
        ({1: "-1"}, "lines/0/quantity"),
        ({1: 1.5}, "lines/0/quantity"),
        ({1: "0.0000001"}, "lines/0/quantity"),
        ([{"line_no": 1, "quantity": "1"}, {"line_no": 1, "quantity": "1"}], "lines/1/line_no"),
        ("1:1", "lines"),
    ],
)
def test_bad_delivery_lines_are_refused(lines: Any, field: str) -> None:
    """Unknown, repeated or non-integer line numbers and non-positive quantities."""
    o = confirmed()
    error = unchanged(o, lambda: o.record_delivery(uuid4(), lines, actor=ACTOR), DeliveryLineError)
    assert field == error.field  # type: ignore[attr-defined]


def test_cancel_until_fully_delivered() -> None:
    """Draft, confirmed and partially delivered orders cancel (with a reason); delivered
    or invoiced ones do not."""
    for o in (order(), confirmed()):
        o.cancel(reason="customer withdrew", actor=ACTOR)
        assert (OrderStatus.CANCELLED, "customer withdrew") == (o.status, o.cancel_reason)
        unchanged(o, lambda o=o: o.cancel(reason="again", actor=ACTOR), OrderStatusError)
    partial = confirmed()
    deliver(partial, {1: "1"})
    unchanged(partial, lambda: partial.cancel(reason=" ", actor=ACTOR), InvalidCommandError)
    partial.cancel(reason="rest out of stock", actor=ACTOR)
    assert OrderStatus.CANCELLED == partial.status
    done = confirmed()
    deliver(done, {1: "10", 2: "2.5"})
    unchanged(done, lambda: done.cancel(reason="too late", actor=ACTOR), OrderStatusError)
    done.record_invoice(uuid4(), done.invoiceable(), actor=ACTOR)
    assert OrderStatus.INVOICED == done.status
    unchanged(done, lambda: done.cancel(reason="too late", actor=ACTOR), OrderStatusError)


def test_invoicing_within_delivered_quantities() -> None:
    """Only delivered-but-not-invoiced quantities can be invoiced; all billed -> invoiced."""
    o = confirmed()
    unchanged(o, lambda: o.record_invoice(uuid4(), {1: "1"}, actor=ACTOR), OrderStatusError)
    deliver(o, {1: "4"})
    assert {1: Decimal(4)} == o.invoiceable()
    unchanged(o, lambda: o.record_invoice(uuid4(), {1: "5"}, actor=ACTOR), OverInvoicingError)
    unchanged(o, lambda: o.record_invoice(uuid4(), {2: "1"}, actor=ACTOR), OverInvoicingError)
    o.record_invoice(uuid4(), {1: "4"}, actor=ACTOR)
    assert ({}, ["4", "0"], OrderStatus.PARTIALLY_DELIVERED) == (
        o.invoiceable(),
        o.invoiced,
        o.status,
    )
    unchanged(o, lambda: o.record_invoice(uuid4(), {1: "1"}, actor=ACTOR), NothingToInvoiceError)
    deliver(o, {1: "6", 2: "2.5"})
    o.record_invoice(uuid4(), o.invoiceable(), actor=ACTOR)
    assert (OrderStatus.INVOICED, ["10", "2.5"]) == (o.status, o.invoiced)
    assert 2 == len(o.invoices)


def test_a_cancelled_order_still_bills_what_it_delivered() -> None:
    """Goods that left before the cancellation are still invoiceable; status stays cancelled."""
    o = confirmed()
    deliver(o, {2: "1"})
    o.cancel(reason="rest out of stock", actor=ACTOR)
    o.record_invoice(uuid4(), o.invoiceable(), actor=ACTOR)
    assert (OrderStatus.CANCELLED, ["0", "1"]) == (o.status, o.invoiced)


def test_delivery_note_signs_once_with_name_and_time() -> None:
    """The receiver's name and the time (stored in UTC) are recorded once."""
    note = deliver(confirmed(), {1: "1"})
    unchanged(
        note, lambda: note.sign(name=" ", at=datetime.now(UTC), actor=ACTOR), InvalidCommandError
    )
    unchanged(
        note,
        lambda: note.sign(name="Marta", at="2026-03-02T10:30:00", actor=ACTOR),
        InvalidCommandError,
    )
    note.sign(name=" Marta García ", at="2026-03-02T10:30:00+01:00", actor=ACTOR)
    assert ("Marta García", "2026-03-02T09:30:00.000000Z") == (note.signed_by, note.signed_at)
    unchanged(
        note,
        lambda: note.sign(name="Someone else", at=datetime.now(UTC), actor=ACTOR),
        DeliveryNoteSignedError,
    )


def test_delivery_note_is_invoiced_once() -> None:
    """A note records the invoice that bills it; a second one is refused."""
    note = deliver(confirmed(), {1: "1"})
    first = uuid4()
    note.mark_invoiced(invoice_id=first, actor=ACTOR)
    assert first == note.invoice_id
    unchanged(
        note, lambda: note.mark_invoiced(invoice_id=uuid4(), actor=ACTOR), DeliveryNoteInvoicedError
    )


def test_replay_rebuilds_the_same_state() -> None:
    """Event bodies only assign: replaying order and note events gives the same state."""
    o = confirmed()
    note = deliver(o, {1: "4"})
    o.record_invoice(uuid4(), {1: "2"}, actor=ACTOR)
    note.sign(name="Marta", at="2026-03-02T10:30:00Z", actor=ACTOR)
    expected_order, expected_note = order_snapshot(o), delivery_note_snapshot(note)
    order_events, note_events = o.collect_events(), note.collect_events()
    assert expected_order == order_snapshot(replayed(order_events))
    assert expected_note == delivery_note_snapshot(replayed(note_events))
    assert ["Created", "Confirmed", "DeliveryRecorded", "InvoiceRecorded"] == [
        type(e).__name__ for e in order_events
    ]
    assert {ACTOR} == {e.actor for e in [*order_events, *note_events]}
