"""Every guard of the PurchaseInvoice aggregate (no I/O); amounts computed by hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import uuid4, uuid5

import pytest

from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.purchase_invoice import (
    PurchaseInvoice,
    PurchaseStatus,
    purchase_invoice_id_for,
    purchase_invoice_snapshot,
)
from crm_ledger.domain.purchasing_errors import (
    OverpaymentError,
    PaymentRefTakenError,
    PurchaseDateError,
    PurchaseInvoiceError,
    PurchaseInvoicePaidError,
    PurchaseInvoiceStatusError,
    PurchaseLinesRequiredError,
    SupplierInactiveError,
)
from crm_ledger.domain.supplier import Supplier

ACTOR = "user:test"
PAPER = {"description": "Printer paper", "quantity": "10", "unit_price": "4.50", "vat_rate": "21"}
LUNCH = {
    "description": "Team lunch",
    "quantity": "1",
    "unit_price": "30.00",
    "vat_rate": "10",
    "deductible": False,
    "expense_category": "627",
}
# By hand: paper 10 x 4.50 = 45.00, VAT 21% = 9.45; lunch 30.00, VAT 10% = 3.00.
# Base 75.00, VAT 12.45, total 87.45; only the paper's VAT is deductible: 9.45.
S = PurchaseStatus


def supplier(**fields: Any) -> Supplier:
    values: dict[str, Any] = {
        "contact_id": uuid4(),
        "legal_name": "Papelera Norte SL",
        "tax_id": "B76543210",
        "payment_terms_days": 30,
        "default_expense_category": "629",
        **fields,
    }
    return Supplier.register(actor=ACTOR, **values)


def invoice(s: Supplier | None = None, **fields: Any) -> PurchaseInvoice:
    values: dict[str, Any] = {
        "number": "PN-0142",
        "issue_date": "2026-03-02",
        "received_on": "2026-03-04",
        "lines": [PAPER, LUNCH],
        **fields,
    }
    return PurchaseInvoice.register(supplier=s or supplier(), actor=ACTOR, **values)


def unchanged(i: PurchaseInvoice, command: Callable[[], object], error: type) -> Any:
    """`command` raises exactly `error` and records nothing."""
    before = (i.version, purchase_invoice_snapshot(i))
    with pytest.raises(error) as info:
        command()
    assert error is type(info.value)
    assert before == (i.version, purchase_invoice_snapshot(i))
    return info.value


def pay(i: PurchaseInvoice, amount: str, ref: str = "T1", on: str = "2026-04-01") -> None:
    i.record_payment(payment_ref=ref, amount=amount, paid_on=on, method="transfer", actor=ACTOR)


def in_status(status: PurchaseStatus) -> tuple[Supplier, PurchaseInvoice]:
    """A supplier and its invoice (total 87.45) brought to `status` by public commands."""
    s = supplier()
    i = invoice(s)
    if status is S.APPROVED or status in (S.PARTIALLY_PAID, S.PAID):
        i.approve(actor=ACTOR)
    if status is S.DISPUTED:
        i.dispute(reason="wrong price", actor=ACTOR)
    if status is S.PARTIALLY_PAID:
        pay(i, "40.00")
    if status is S.PAID:
        pay(i, "87.45")
    if status is S.CANCELLED:
        i.cancel(reason="registered by mistake", actor=ACTOR)
    assert status is i.status
    return s, i


# -- register ----------------------------------------------------------------------------


def test_register_computes_totals_due_date_and_line_defaults() -> None:
    """Totals by taxes.py, deductible VAT of the deductible lines only, due date = issue
    date + the supplier's 30 days, the supplier's category where the line has none."""
    i = invoice()
    assert (S.RECEIVED, "2026-04-01", "EUR", Decimal("87.45")) == (
        i.status,
        i.due_date.isoformat(),
        i.currency,
        i.total,
    )
    totals = i.totals
    assert ["45.00", "30.00"] == totals["line_bases"]
    assert ("75.00", "12.45", "87.45", "87.45", "9.45") == (
        totals["base_total"],
        totals["vat_total"],
        totals["gross_total"],
        totals["total"],
        totals["deductible_vat"],
    )
    assert [("629", True), ("627", False)] == [
        (line["expense_category"], line["deductible"]) for line in i.lines
    ]
    assert (Decimal("0.00"), Decimal("87.45")) == (i.paid_total, i.outstanding)
    (registered,) = i.collect_events()
    assert ACTOR == registered.actor  # type: ignore[attr-defined]


def test_withholding_is_deducted_from_what_is_paid() -> None:
    """A professional's invoice: 1000.00 + 21% VAT 210.00 - 15% IRPF 150.00 = 1060.00."""
    line = {"description": "Audit", "quantity": "1", "unit_price": "1000", "vat_rate": "21",
            "withholding_rate": "15"}  # fmt: skip
    i = invoice(lines=[line])
    assert ("1210.00", "-150.00", "1060.00", "210.00") == (
        i.totals["gross_total"],
        i.totals["withholding_total"],
        i.totals["total"],
        i.totals["deductible_vat"],
    )
    assert Decimal("1060.00") == i.outstanding


def test_id_is_derived_from_supplier_and_number() -> None:
    """uuid5(supplier id, number key): the same for any case or spacing of the number,
    different for another supplier or another number."""
    s = supplier()
    i = invoice(s, number="  pn-0142 ")
    assert "pn-0142" == i.number
    assert uuid5(s.id, "pn-0142") == i.id
    assert i.id == purchase_invoice_id_for(s.id, "PN-0142")
    assert i.id == purchase_invoice_id_for(s.id, "PN-0142  ")
    assert i.id != purchase_invoice_id_for(s.id, "PN-0143")
    assert i.id != purchase_invoice_id_for(supplier().id, "PN-0142")


def test_explicit_due_date_and_notes() -> None:
    """A due date given wins over the terms; it may be the issue date itself."""
    i = invoice(due_date=date(2026, 3, 2), notes="  urgent ", currency="USD")
    assert (date(2026, 3, 2), "urgent", "USD") == (i.due_date, i.notes, i.currency)


@pytest.mark.parametrize(
    ("fields", "error", "field"),
    [
        ({"received_on": "2026-03-01"}, PurchaseDateError, "received_on"),
        ({"due_date": "2026-03-01"}, PurchaseDateError, "due_date"),
        ({"issue_date": "02/03/2026"}, InvalidCommandError, "issue_date"),
        ({"received_on": None}, InvalidCommandError, "received_on"),
        ({"number": "  "}, InvalidCommandError, "number"),
        ({"number": "X" * 61}, InvalidCommandError, "number"),
        ({"currency": "eur"}, InvalidCommandError, "currency"),
        ({"lines": []}, PurchaseLinesRequiredError, "lines"),
        ({"lines": "paper"}, InvalidCommandError, "lines"),
        ({"lines": [{**PAPER, "unit_price": "-4.50"}]}, PurchaseLinesRequiredError, "lines"),
        ({"lines": [{**PAPER, "colour": "red"}]}, InvalidCommandError, "lines/0"),
        ({"lines": [PAPER, {**PAPER, "vat_rate": "7"}]}, InvalidCommandError, "lines/1/vat_rate"),
        ({"lines": [{**PAPER, "deductible": "yes"}]}, InvalidCommandError, "lines/0/deductible"),
        (
            {"lines": [{**PAPER, "expense_category": "x" * 101}]},
            InvalidCommandError,
            "lines/0/expense_category",
        ),
    ],
)
def test_register_refuses_bad_values(fields: dict[str, Any], error: type, field: str) -> None:
    """Each bad value is refused with the field it concerns (negative total included)."""
    with pytest.raises(error) as info:
        invoice(**fields)
    assert (error, field) == (type(info.value), info.value.field)


def test_inactive_supplier_takes_no_invoice() -> None:
    """A deactivated supplier's invoice is refused."""
    s = supplier()
    s.deactivate(actor=ACTOR)
    with pytest.raises(SupplierInactiveError):
        invoice(s)


# -- the status machine ------------------------------------------------------------------

# Which status each command leads to from each status; None = refused with the error.
# Written from the specification, not from the code.
APPROVE = {S.RECEIVED: S.APPROVED, S.DISPUTED: S.APPROVED}
DISPUTE = {S.RECEIVED: S.DISPUTED, S.APPROVED: S.DISPUTED}
PAY_10 = {S.APPROVED: S.PARTIALLY_PAID, S.PARTIALLY_PAID: S.PARTIALLY_PAID}
CANCEL = {S.RECEIVED: S.CANCELLED, S.APPROVED: S.CANCELLED, S.DISPUTED: S.CANCELLED}
CORRECT = {S.RECEIVED: S.RECEIVED, S.DISPUTED: S.DISPUTED}
COMMANDS: dict[str, tuple[dict[PurchaseStatus, PurchaseStatus], Callable[..., None]]] = {
    "approve": (APPROVE, lambda s, i: i.approve(actor=ACTOR)),
    "dispute": (DISPUTE, lambda s, i: i.dispute(reason="wrong", actor=ACTOR)),
    "pay": (PAY_10, lambda s, i: pay(i, "10.00", ref="P10")),
    "cancel": (CANCEL, lambda s, i: i.cancel(reason="dup", actor=ACTOR)),
    "correct": (CORRECT, lambda s, i: i.correct(supplier=s, actor=ACTOR, notes="fixed")),
}
REFUSED_WITH = {
    ("cancel", S.PARTIALLY_PAID): PurchaseInvoicePaidError,
    ("cancel", S.PAID): PurchaseInvoicePaidError,
}


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_in_every_status(command: str, status: PurchaseStatus) -> None:
    """Allowed transitions move to the predicted status with one event; every other one
    is refused with its error and records nothing."""
    allowed, run = COMMANDS[command]
    s, i = in_status(status)
    i.collect_events()
    if status in allowed:
        run(s, i)
        assert allowed[status] is i.status
        assert 1 == len(i.collect_events())
    else:
        error = REFUSED_WITH.get((command, status), PurchaseInvoiceStatusError)
        unchanged(i, lambda: run(s, i), error)


# -- correct -----------------------------------------------------------------------------


def test_correct_lines_recomputes_totals() -> None:
    """New lines: new totals in the same Corrected event."""
    s, i = in_status(S.RECEIVED)
    i.collect_events()
    i.correct(supplier=s, actor=ACTOR, lines=[{**PAPER, "quantity": "20"}])
    (corrected,) = i.collect_events()
    assert ("90.00", "18.90", "108.90") == (
        corrected.totals["base_total"],  # type: ignore[attr-defined]
        i.totals["vat_total"],
        i.totals["total"],
    )
    assert Decimal("108.90") == i.outstanding


def test_correct_issue_date_moves_the_due_date() -> None:
    """A later issue date moves the due date by as many days; due_date None recomputes it
    from the terms; an explicit due date wins."""
    s, i = in_status(S.RECEIVED)
    i.correct(supplier=s, actor=ACTOR, issue_date="2026-03-03", due_date="2026-05-15")
    assert date(2026, 5, 15) == i.due_date
    i.correct(supplier=s, actor=ACTOR, issue_date="2026-03-01")
    assert date(2026, 5, 13) == i.due_date
    i.correct(supplier=s, actor=ACTOR, due_date=None)
    assert date(2026, 3, 31) == i.due_date


def test_correct_without_difference_records_nothing() -> None:
    """Same values: no event."""
    s, i = in_status(S.RECEIVED)
    i.collect_events()
    i.correct(supplier=s, actor=ACTOR, issue_date="2026-03-02", lines=[PAPER, LUNCH])
    assert [] == i.collect_events()


def test_correct_refuses_the_number_bad_dates_and_another_supplier() -> None:
    """The number is fixed; dates keep their order; the supplier must be the invoice's."""
    s, i = in_status(S.RECEIVED)
    assert (
        "number"
        == unchanged(
            i, lambda: i.correct(supplier=s, actor=ACTOR, number="PN-9"), InvalidCommandError
        ).field
    )
    unchanged(i, lambda: i.correct(supplier=s, actor=ACTOR, received_on="2026-03-01"),
              PurchaseDateError)  # fmt: skip
    unchanged(i, lambda: i.correct(supplier=s, actor=ACTOR, due_date="2026-02-28"),
              PurchaseDateError)  # fmt: skip
    unchanged(i, lambda: i.correct(supplier=supplier(), actor=ACTOR, notes="x"),
              InvalidCommandError)  # fmt: skip
    unchanged(i, lambda: i.correct(supplier=s, actor=ACTOR, lines=[]), PurchaseLinesRequiredError)


# -- dispute, payments, cancel -------------------------------------------------------------


def test_dispute_needs_a_reason_and_withdraws_approval() -> None:
    """No reason: refused. A dispute of an approved invoice clears the approval; approving
    again clears the reason."""
    _, i = in_status(S.APPROVED)
    assert ACTOR == i.approved_by
    unchanged(i, lambda: i.dispute(reason="  ", actor=ACTOR), InvalidCommandError)
    i.dispute(reason=" price differs ", actor=ACTOR)
    assert ("price differs", None) == (i.dispute_reason, i.approved_by)
    i.approve(actor="user:boss")
    assert (None, "user:boss") == (i.dispute_reason, i.approved_by)


def test_partial_then_full_payment() -> None:
    """40.00 then 47.45 of 87.45: partially paid, then paid, outstanding 0.00."""
    _, i = in_status(S.APPROVED)
    pay(i, "40", ref="T1", on="2026-04-01")
    assert (S.PARTIALLY_PAID, Decimal("40.00"), Decimal("47.45")) == (
        i.status,
        i.paid_total,
        i.outstanding,
    )
    pay(i, "47.45", ref="T2", on="2026-04-20")
    assert (S.PAID, Decimal("0.00")) == (i.status, i.outstanding)
    assert [
        {"payment_ref": "T1", "amount": "40.00", "paid_on": "2026-04-01", "method": "transfer"},
        {"payment_ref": "T2", "amount": "47.45", "paid_on": "2026-04-20", "method": "transfer"},
    ] == i.payments
    assert Decimal("47.45") == i.outstanding_on(date(2026, 4, 19))
    assert Decimal("87.45") == i.outstanding_on(date(2026, 3, 31))
    assert Decimal("0.00") == i.outstanding_on(date(2026, 4, 20))


def test_payment_guards() -> None:
    """Over the outstanding, a reference used before, zero, three decimals, unknown
    method, empty reference: each refused, nothing recorded."""
    _, i = in_status(S.PARTIALLY_PAID)  # 40.00 paid as T1... of 87.45

    def attempt(**fields: Any) -> Callable[[], None]:
        values = {"payment_ref": "T9", "amount": "1.00", "paid_on": "2026-04-02",
                  "method": "transfer", **fields}  # fmt: skip
        return lambda: i.record_payment(actor=ACTOR, **values)

    unchanged(i, attempt(amount="47.46"), OverpaymentError)
    unchanged(i, attempt(payment_ref="T1"), PaymentRefTakenError)
    assert "amount" == unchanged(i, attempt(amount="0"), InvalidCommandError).field
    assert "amount" == unchanged(i, attempt(amount="1.005"), InvalidCommandError).field
    assert "method" == unchanged(i, attempt(method="bitcoin"), InvalidCommandError).field
    assert "payment_ref" == unchanged(i, attempt(payment_ref=" "), InvalidCommandError).field
    assert "paid_on" == unchanged(i, attempt(paid_on="soon"), InvalidCommandError).field
    i.record_payment(actor=ACTOR, payment_ref="T9", amount=Decimal("47.45"),
                     paid_on=date(2026, 4, 2), method="cash")  # fmt: skip
    assert S.PAID is i.status


def test_cancel_needs_a_reason_and_is_final() -> None:
    """No reason: refused. Cancelled: outstanding 0, nothing else accepted."""
    _, i = in_status(S.RECEIVED)
    unchanged(i, lambda: i.cancel(reason="", actor=ACTOR), InvalidCommandError)
    i.cancel(reason=" duplicate ", actor=ACTOR)
    assert ("duplicate", Decimal("0.00")) == (i.cancel_reason, i.outstanding)
    assert Decimal("0.00") == i.outstanding_on(date(2026, 3, 5))


def test_errors_are_purchase_invoice_errors() -> None:
    """State conflicts share one base (409 in the API)."""
    for cls in (
        PurchaseInvoiceStatusError,
        PurchaseInvoicePaidError,
        OverpaymentError,
        PaymentRefTakenError,
    ):
        assert issubclass(cls, PurchaseInvoiceError)


def test_replays_to_the_same_state() -> None:
    """Rebuilt from its events, the invoice has the same public state (bodies only
    assign: totals, due date, paid total and status come from the events)."""
    s, i = in_status(S.RECEIVED)
    i.correct(supplier=s, actor=ACTOR, issue_date="2026-03-03", lines=[PAPER])
    i.dispute(reason="short delivery", actor=ACTOR)
    i.approve(actor=ACTOR)
    pay(i, "20.00", ref="A")
    pay(i, "34.45", ref="B")
    expected = purchase_invoice_snapshot(i)
    assert "paid" == expected["status"]
    rebuilt = None
    for e in i.collect_events():
        rebuilt = e.mutate(rebuilt)
    assert rebuilt is not None
    assert expected == purchase_invoice_snapshot(rebuilt)
