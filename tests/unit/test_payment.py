"""Every guard of the Payment aggregate and the invoice side of each allocation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate

from crm_ledger.domain import verifactu
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.invoice import Invoice, PaymentStatus, invoice_snapshot
from crm_ledger.domain.invoicing_errors import (
    InvoiceCancelledError,
    InvoiceNotIssuedError,
    InvoiceOverpaymentError,
    PaymentAllocationNotFoundError,
    PaymentCreditExceededError,
    PaymentCurrencyMismatchError,
    PaymentCustomerMismatchError,
    PaymentRefundedError,
    PaymentVoidedError,
)
from crm_ledger.domain.issuer import Issuer
from crm_ledger.domain.payment import Payment, payment_snapshot

ACTOR = "user:test"
DAY = date(2026, 3, 2)
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CUSTOMER_ID = uuid4()
CUSTOMER = {"name": "Cliente SA", "tax_id": "A87654321", "country": "ES"}
# 3 x 10.015 = 30.05 at 21% (6.31) + 20.00 at 4% (0.80): total 57.16
LINES = [
    {"description": "Widget", "quantity": "3", "unit_price": "10.015", "vat_rate": "21"},
    {"description": "Book", "quantity": "1", "unit_price": "20", "vat_rate": "4"},
]


def new_issuer() -> Issuer:
    made = Issuer.register(legal_name="Acme SL", tax_id="B12345678", actor=ACTOR)
    made.add_series("A", "{series}-{year}-{number:06d}", actor=ACTOR)
    return made


def issued(issuer: Issuer, *, customer_id: UUID | None = CUSTOMER_ID, **fields: Any) -> Invoice:
    """An invoice issued as the use case does it (number, alta linked to the head)."""
    values: dict[str, Any] = {"series": "A", "customer": CUSTOMER, "lines": LINES, **fields}
    invoice = Invoice.draft(issuer=issuer, customer_id=customer_id, actor=ACTOR, **values)
    number = issuer.take_number("A", DAY.year, actor=ACTOR, on=DAY)
    rate = None if invoice.currency == "EUR" else Decimal("0.9")
    fields_ = invoice.alta_fields(
        issuer_tax_id=issuer.tax_id,
        number=number,
        issue_date=DAY,
        previous_huella=issuer.last_huella,
        generated_at=AT,
        exchange_rate=rate,
    )
    record = verifactu.record(fields_)
    issuer.append_record(record, invoice_id=invoice.id, actor=ACTOR)
    invoice.issue(number=number, issue_date=DAY, record=record, actor=ACTOR, exchange_rate=rate)
    return invoice


def payment(amount: str = "100.00", **fields: Any) -> Payment:
    values: dict[str, Any] = {
        "customer_id": CUSTOMER_ID,
        "method": "transfer",
        "received_on": DAY,
        "amount": amount,
        "currency": "EUR",
        **fields,
    }
    return Payment.record(actor=ACTOR, **values)


def replayed(aggregate: Aggregate) -> Any:
    """The aggregate rebuilt from its own events (what loading from the store does)."""
    state: Any = None
    for item in aggregate.collect_events():
        state = item.mutate(state)
    return state


# -- allocation -------------------------------------------------------------------------


def test_partial_then_full_payment_derives_paid_outstanding_and_status() -> None:
    """100.00 received: 50.00 to a 57.16 invoice (partially paid, 7.16 owed, 50.00
    credit), then 7.16 more (paid, 42.84 credit left)."""
    invoice, pay = issued(new_issuer()), payment()
    assert PaymentStatus.OPEN is invoice.payment_status(DAY)
    pay.allocate(invoice, "50.00", actor=ACTOR)
    assert (Decimal("50.00"), Decimal("7.16"), PaymentStatus.PARTIALLY_PAID) == (
        invoice.paid(),
        invoice.outstanding(),
        invoice.payment_status(DAY),
    )
    assert Decimal("50.00") == pay.unallocated()
    pay.allocate(invoice, Decimal("7.16"), actor=ACTOR)
    assert (Decimal("57.16"), Decimal("0.00"), PaymentStatus.PAID) == (
        invoice.paid(),
        invoice.outstanding(),
        invoice.payment_status(DAY),
    )
    assert ({str(invoice.id): "57.16"}, Decimal("42.84")) == (
        pay.allocations,
        pay.unallocated(),
    )
    assert {str(pay.id): "57.16"} == invoice.payments


def test_overpayment_stays_credit_and_pays_a_second_invoice() -> None:
    """One payment of 100.00 pays a 57.16 invoice in full; its 42.84 credit then pays
    part of a second invoice of the same customer."""
    issuer = new_issuer()
    first, second, pay = issued(issuer), issued(issuer), payment()
    pay.allocate(first, "57.16", actor=ACTOR)
    pay.allocate(second, "42.84", actor=ACTOR)
    assert (PaymentStatus.PAID, PaymentStatus.PARTIALLY_PAID) == (
        first.payment_status(DAY),
        second.payment_status(DAY),
    )
    assert (Decimal("14.32"), Decimal("0.00")) == (second.outstanding(), pay.unallocated())
    with pytest.raises(PaymentCreditExceededError):
        pay.allocate(second, "0.01", actor=ACTOR)


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        ("57.17", InvoiceOverpaymentError),  # more than the invoice owes
        ("100.01", PaymentCreditExceededError),  # more than the payment has
    ],
)
def test_allocation_above_either_limit_is_refused_and_records_nothing(
    amount: str, error: type[Exception]
) -> None:
    invoice, pay = issued(new_issuer()), payment("100.00")
    before = (invoice.version, pay.version)
    with pytest.raises(error):
        pay.allocate(invoice, amount, actor=ACTOR)
    assert before == (invoice.version, pay.version)
    assert (Decimal("0.00"), Decimal("100.00")) == (invoice.paid(), pay.unallocated())


def test_allocation_is_refused_on_drafts_cancelled_and_foreign_invoices() -> None:
    """Only issued, not cancelled invoices of the payment's customer and currency."""
    issuer = new_issuer()
    pay = payment()
    draft = Invoice.draft(
        issuer=issuer, series="A", customer_id=CUSTOMER_ID, lines=LINES, actor=ACTOR
    )
    cancelled = issued(issuer)
    fields = cancelled.anulacion_fields(
        issuer_tax_id=issuer.tax_id, previous_huella=issuer.last_huella, generated_at=AT
    )
    record = verifactu.record(fields)
    issuer.append_record(record, invoice_id=cancelled.id, actor=ACTOR)
    cancelled.cancel(record=record, reason="duplicate", actor=ACTOR)
    cases: list[tuple[Invoice, type[Exception]]] = [
        (draft, InvoiceNotIssuedError),
        (cancelled, InvoiceCancelledError),
        (issued(issuer, customer_id=uuid4()), PaymentCustomerMismatchError),
        (issued(issuer, customer_id=None), PaymentCustomerMismatchError),
        (issued(issuer, currency="USD"), PaymentCurrencyMismatchError),
    ]
    for invoice, error in cases:
        before = (invoice.version, pay.version)
        with pytest.raises(error):
            pay.allocate(invoice, "1.00", actor=ACTOR)
        assert before == (invoice.version, pay.version), error
    assert {} == pay.allocations


@pytest.mark.parametrize("amount", ["0", "-1.00", "1.001", "abc", 1.5, True, "NaN", "1e12"])
def test_bad_amounts_are_refused(amount: Any) -> None:
    with pytest.raises(InvalidCommandError) as raised:
        payment(amount)
    assert "amount" == raised.value.field
    pay, invoice = payment(), issued(new_issuer())
    with pytest.raises(InvalidCommandError):
        pay.allocate(invoice, amount, actor=ACTOR)
    with pytest.raises(InvalidCommandError):
        pay.refund(amount, reason="x", refunded_on=DAY, actor=ACTOR)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"method": "cheque"}, "method"),
        ({"received_on": "2026-13-01"}, "received_on"),
        ({"received_on": AT}, "received_on"),
        ({"currency": "eur"}, "currency"),
        ({"reference": "x" * 201}, "reference"),
    ],
)
def test_bad_record_fields_are_refused(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidCommandError) as raised:
        payment(**fields)
    assert field == raised.value.field


# -- deallocation, refund, void ---------------------------------------------------------


def test_deallocation_returns_the_money_to_credit_on_both_sides() -> None:
    invoice, pay = issued(new_issuer()), payment()
    pay.allocate(invoice, "30.00", actor=ACTOR)
    pay.allocate(invoice, "20.00", actor=ACTOR)  # two allocations to one invoice add up
    assert {str(invoice.id): "50.00"} == pay.allocations
    assert Decimal("50.00") == pay.deallocate(invoice, actor=ACTOR)
    assert ({}, {}, Decimal("100.00"), PaymentStatus.OPEN) == (
        pay.allocations,
        invoice.payments,
        pay.unallocated(),
        invoice.payment_status(DAY),
    )
    with pytest.raises(PaymentAllocationNotFoundError):
        pay.deallocate(invoice, actor=ACTOR)


def test_refund_only_from_unallocated_credit() -> None:
    invoice, pay = issued(new_issuer()), payment("100.00")
    pay.allocate(invoice, "57.16", actor=ACTOR)
    with pytest.raises(PaymentCreditExceededError):
        pay.refund("42.85", reason="overpaid", refunded_on=DAY, actor=ACTOR)
    with pytest.raises(InvalidCommandError):
        pay.refund("1.00", reason="  ", refunded_on=DAY, actor=ACTOR)
    pay.refund("40.00", reason="overpaid", refunded_on=DAY, actor=ACTOR)
    assert (Decimal("40.00"), Decimal("2.84")) == (pay.refunded(), pay.unallocated())
    with pytest.raises(PaymentCreditExceededError):
        pay.allocate(issued(new_issuer()), "2.85", actor=ACTOR)
    assert [{"amount": "40.00", "reason": "overpaid", "refunded_on": "2026-03-02"}] == (pay.refunds)


def test_void_takes_back_every_allocation_then_freezes_the_payment() -> None:
    issuer = new_issuer()
    first, second, pay = issued(issuer), issued(issuer), payment()
    pay.allocate(first, "57.16", actor=ACTOR)
    pay.allocate(second, "10.00", actor=ACTOR)
    with pytest.raises(InvalidCommandError):
        pay.void([first], reason="bounced", actor=ACTOR)  # every allocated invoice needed
    assert 2 == len(pay.allocations)
    pay.void([first, second], reason="bounced", actor=ACTOR)
    assert (True, {}, {}, {}) == (pay.voided, pay.allocations, first.payments, second.payments)
    assert (PaymentStatus.OPEN, PaymentStatus.OPEN) == (
        first.payment_status(DAY),
        second.payment_status(DAY),
    )
    for command in (
        lambda: pay.allocate(first, "1.00", actor=ACTOR),
        lambda: pay.deallocate(first, actor=ACTOR),
        lambda: pay.refund("1.00", reason="x", refunded_on=DAY, actor=ACTOR),
        lambda: pay.void([], reason="again", actor=ACTOR),
    ):
        with pytest.raises(PaymentVoidedError):
            command()


def test_a_refunded_payment_cannot_be_voided() -> None:
    pay = payment()
    pay.refund("1.00", reason="overpaid", refunded_on=DAY, actor=ACTOR)
    with pytest.raises(PaymentRefundedError):
        pay.void([], reason="bounced", actor=ACTOR)
    assert not pay.voided


def test_payment_removal_is_allowed_on_a_cancelled_invoice() -> None:
    """Cancelling a paid invoice leaves the allocation; taking it back frees the credit."""
    issuer = new_issuer()
    invoice, pay = issued(issuer), payment()
    pay.allocate(invoice, "57.16", actor=ACTOR)
    fields = invoice.anulacion_fields(
        issuer_tax_id=issuer.tax_id, previous_huella=issuer.last_huella, generated_at=AT
    )
    record = verifactu.record(fields)
    invoice.cancel(record=record, reason="wrong customer", actor=ACTOR)
    assert invoice.payment_status(DAY) is None
    pay.deallocate(invoice, actor=ACTOR)
    assert (Decimal("100.00"), {}) == (pay.unallocated(), invoice.payments)


# -- due date and overdue ---------------------------------------------------------------


def test_due_date_defaults_to_issue_plus_30_days_and_overdue_follows_it() -> None:
    invoice = issued(new_issuer())
    assert date(2026, 4, 1) == invoice.due_on()
    assert PaymentStatus.OPEN is invoice.payment_status(date(2026, 4, 1))
    assert PaymentStatus.OVERDUE is invoice.payment_status(date(2026, 4, 2))
    pay = payment()
    pay.allocate(invoice, "10.00", actor=ACTOR)
    assert PaymentStatus.OVERDUE is invoice.payment_status(date(2026, 4, 2))
    pay.allocate(invoice, "47.16", actor=ACTOR)
    assert PaymentStatus.PAID is invoice.payment_status(date(2027, 1, 1))


def test_due_date_is_set_on_the_draft_and_fixed_after_issue() -> None:
    issuer = new_issuer()
    invoice = issued(issuer, due_date="2026-03-10")
    assert date(2026, 3, 10) == invoice.due_on()
    assert PaymentStatus.OVERDUE is invoice.payment_status(date(2026, 3, 11))
    draft = Invoice.draft(issuer=issuer, series="A", lines=LINES, actor=ACTOR)
    assert draft.due_on() is None
    draft.update(issuer=issuer, actor=ACTOR, due_date=date(2026, 5, 1))
    assert date(2026, 5, 1) == draft.due_on()
    with pytest.raises(InvalidCommandError) as raised:
        draft.update(issuer=issuer, actor=ACTOR, due_date="1 May")
    assert "due_date" == raised.value.field


def test_snapshot_shows_paid_outstanding_status_and_payments() -> None:
    invoice, pay = issued(new_issuer()), payment()
    pay.allocate(invoice, "50.00", actor=ACTOR)
    snap = invoice_snapshot(invoice, as_of=date(2026, 5, 1))
    assert ("2026-04-01", "50.00", "7.16", "overdue") == (
        snap["due_date"],
        snap["paid"],
        snap["outstanding"],
        snap["payment_status"],
    )
    assert [{"payment_id": str(pay.id), "amount": "50.00"}] == snap["payments"]
    view = payment_snapshot(pay)
    assert ("100.00", "50.00", "50.00", "recorded") == (
        view["amount"],
        view["allocated"],
        view["unallocated"],
        view["status"],
    )


def test_replay_from_events_gives_the_same_state() -> None:
    """Every decision is in the events: rebuilding both aggregates from them yields the
    same paid amounts, allocations, refunds and credit."""
    issuer = new_issuer()
    first, second, pay = issued(issuer), issued(issuer), payment()
    pay.allocate(first, "57.16", actor=ACTOR)
    pay.allocate(second, "20.00", actor=ACTOR)
    pay.deallocate(second, actor=ACTOR)
    pay.allocate(second, "12.00", actor=ACTOR)
    pay.refund("5.00", reason="overpaid", refunded_on=DAY, actor=ACTOR)
    expected = (payment_snapshot(pay), invoice_snapshot(first, as_of=DAY))
    again_pay, again_first = replayed(pay), replayed(first)
    assert expected == (payment_snapshot(again_pay), invoice_snapshot(again_first, as_of=DAY))
    assert Decimal("25.84") == again_pay.unallocated()
