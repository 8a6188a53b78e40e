"""Every guard of the Invoice aggregate: drafts, issue, unalterability, cancel, rectify."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from crm_ledger.domain import verifactu
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.invoice import Invoice, InvoiceStatus, invoice_snapshot, verifactu_view
from crm_ledger.domain.invoicing_errors import (
    CorrectionLimitError,
    CustomerTaxIdRequiredError,
    InvoiceCancelledError,
    InvoiceError,
    InvoiceIssuedError,
    InvoiceLinesRequiredError,
    InvoiceNotIssuedError,
    RectificationTypeError,
    SeriesNotFoundError,
    SimplifiedInvoiceCurrencyError,
    SimplifiedInvoiceLimitError,
    VerifactuRecordError,
)
from crm_ledger.domain.issuer import Issuer, issuer_snapshot

ACTOR = "user:test"
DAY = date(2026, 3, 2)
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CUSTOMER = {"name": "Cliente SA", "tax_id": "A87654321", "country": "ES"}
LINES = [
    {"description": "Widget", "quantity": "3", "unit_price": "10.015", "vat_rate": "21"},
    {"description": "Book", "quantity": "1", "unit_price": "20", "vat_rate": "4"},
]


def new_issuer() -> Issuer:
    made = Issuer.register(legal_name="Acme SL", tax_id="B12345678", actor=ACTOR)
    made.add_series("A", "{series}-{year}-{number:06d}", actor=ACTOR)
    made.add_series("R", "{series}-{year}-{number:06d}", actor=ACTOR)
    return made


def draft(issuer: Issuer, **fields: Any) -> Invoice:
    values: dict[str, Any] = {"series": "A", "customer": CUSTOMER, "lines": LINES, **fields}
    return Invoice.draft(issuer=issuer, actor=ACTOR, **values)


def issue(invoice: Invoice, issuer: Issuer) -> dict[str, Any]:
    """Issue as the use case does: check, number, alta linked to the head, both aggregates."""
    invoice.check_issuable()
    number = issuer.take_number(invoice.series, DAY.year, actor=ACTOR, on=DAY)
    fields = invoice.alta_fields(
        issuer_tax_id=issuer.tax_id,
        number=number,
        issue_date=DAY,
        previous_huella=issuer.last_huella,
        generated_at=AT,
    )
    record = verifactu.record(fields)
    issuer.append_record(record, invoice_id=invoice.id, actor=ACTOR)
    invoice.issue(number=number, issue_date=DAY, record=record, actor=ACTOR)
    return record


def cancel(invoice: Invoice, issuer: Issuer) -> dict[str, Any]:
    fields = invoice.anulacion_fields(
        issuer_tax_id=issuer.tax_id, previous_huella=issuer.last_huella, generated_at=AT
    )
    record = verifactu.record(fields)
    issuer.append_record(record, invoice_id=invoice.id, actor=ACTOR)
    invoice.cancel(record=record, reason="duplicate", actor=ACTOR)
    return record


def issued() -> tuple[Invoice, Issuer]:
    issuer = new_issuer()
    invoice = draft(issuer)
    issue(invoice, issuer)
    return invoice, issuer


def replay(aggregate: Invoice) -> Invoice:
    copy: Any = None
    for e in aggregate.collect_events():
        copy = e.mutate(copy)
    assert isinstance(copy, Invoice)
    return copy


# -- drafts -----------------------------------------------------------------------------


def test_draft_normalises_lines_and_computes_totals() -> None:
    """3 x 10.015 = 30.05 at 21% (6.31) + 20.00 at 4% (0.80): total 57.16."""
    invoice = draft(new_issuer())
    assert InvoiceStatus.DRAFT is invoice.status
    assert ("3", "10.015", "0", "21", None, False) == tuple(
        invoice.lines[0][k]
        for k in ("quantity", "unit_price", "discount", "vat_rate", "exemption", "surcharge")
    )
    snap = invoice_snapshot(invoice)
    assert ["30.05", "20.00"] == [line["base"] for line in snap["lines"]]
    assert ("7.11", "57.16", None) == (
        snap["totals"]["tax_total"],
        snap["totals"]["total"],
        snap["number"],
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"invoice_type": "R1"}, "invoice_type"),
        ({"currency": "eur"}, "currency"),
        ({"lines": [{"description": "x", "quantity": "1", "unit_price": "1"}]}, "lines/0/vat_rate"),
        ({"lines": [{**LINES[0], "quantity": 1.5}]}, "lines/0/quantity"),
        ({"lines": [{**LINES[0], "colour": "red"}]}, "lines/0"),
        ({"lines": [LINES[0], {**LINES[1], "description": " "}]}, "lines/1/description"),
        ({"lines": [{**LINES[0], "product_id": "nope"}]}, "lines/0/product_id"),
        ({"lines": "Widget"}, "lines"),
        ({"customer": {"name": "C", "tax_id": "B 1/2"}}, "customer/tax_id"),
        ({"customer": {"vat": "B1"}}, "customer"),
        ({"customer_id": "not-a-uuid"}, "customer_id"),
    ],
)
def test_draft_refuses_invalid_input(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidCommandError) as caught:
        draft(new_issuer(), **fields)
    assert field == caught.value.field


def test_draft_needs_a_series_of_the_issuer() -> None:
    with pytest.raises(SeriesNotFoundError):
        draft(new_issuer(), series="Z")


def test_update_changes_only_what_differs() -> None:
    issuer = new_issuer()
    invoice = draft(issuer)
    invoice.update(issuer=issuer, actor=ACTOR, notes=None, series="A")  # same values
    assert 1 == invoice.version
    invoice.update(issuer=issuer, actor=ACTOR, notes="30 days", lines=LINES[:1], series="R")
    assert (2, "30 days", "R", 1) == (
        invoice.version,
        invoice.notes,
        invoice.series,
        len(invoice.lines),
    )
    with pytest.raises(InvalidCommandError):
        invoice.update(issuer=issuer, actor=ACTOR, number="A-1")
    with pytest.raises(SeriesNotFoundError):
        invoice.update(issuer=issuer, actor=ACTOR, series="Z")
    rebuilt = replay(invoice)
    assert (rebuilt.notes, rebuilt.series, rebuilt.lines) == (
        invoice.notes,
        invoice.series,
        invoice.lines,
    )


# -- issue ------------------------------------------------------------------------------


def test_issue_fixes_everything_in_one_event() -> None:
    issuer = new_issuer()
    invoice = draft(issuer)
    invoice.collect_events()
    record = issue(invoice, issuer)
    events = invoice.collect_events()
    assert ["Issued"] == [type(e).__name__ for e in events]
    data = vars(events[0])
    assert ("A-2026-000001", "2026-03-02", "F1") == (
        data["number"],
        data["issue_date"],
        data["invoice_type"],
    )
    assert (LINES[0]["description"], CUSTOMER["tax_id"]) == (
        data["lines"][0]["description"],
        data["customer"]["tax_id"],
    )
    assert ("7.11", "57.16") == (data["totals"]["tax_total"], data["totals"]["total"])
    assert record == data["record"]
    assert ("7.11", "57.16", "") == (
        record["fields"]["CuotaTotal"],
        record["fields"]["ImporteTotal"],
        record["previous_huella"],
    )
    view = verifactu_view(invoice)
    assert view["qr_url"].endswith(
        "?nif=B12345678&numserie=A-2026-000001&fecha=02-03-2026&importe=57.16"
    )


def test_issue_refuses_a_record_of_another_invoice() -> None:
    """The alta must carry this invoice's number, date, type and totals."""
    issuer = new_issuer()
    invoice = draft(issuer)
    good = invoice.alta_fields(
        issuer_tax_id="B12345678",
        number="A-2026-000001",
        issue_date=DAY,
        previous_huella="",
        generated_at=AT,
    )
    for name, value in [
        ("NumSerieFactura", "A-2026-000009"),
        ("ImporteTotal", "1.00"),
        ("CuotaTotal", "0.00"),
        ("TipoFactura", "F2"),
        ("FechaExpedicionFactura", "03-03-2026"),
    ]:
        record = verifactu.record({**good, name: value})
        with pytest.raises(VerifactuRecordError):
            invoice.issue(number="A-2026-000001", issue_date=DAY, record=record, actor=ACTOR)
    anulacion = verifactu.record(
        verifactu.build_anulacion(
            issuer_tax_id="B12345678",
            number="A-2026-000001",
            issue_date=DAY,
            previous_huella="",
            generated_at=AT,
        )
    )
    with pytest.raises(VerifactuRecordError):
        invoice.issue(number="A-2026-000001", issue_date=DAY, record=anulacion, actor=ACTOR)
    assert InvoiceStatus.DRAFT is invoice.status


def test_full_invoice_needs_customer_tax_id_simplified_does_not() -> None:
    issuer = new_issuer()
    with pytest.raises(CustomerTaxIdRequiredError):
        issue(draft(issuer, customer={"name": "Walk-in"}), issuer)
    simplified = draft(issuer, invoice_type="F2", customer=None)
    issue(simplified, issuer)
    assert (InvoiceStatus.ISSUED, "A-2026-000001") == (simplified.status, simplified.number)


def test_issue_needs_lines() -> None:
    issuer = new_issuer()
    with pytest.raises(InvoiceLinesRequiredError):
        issue(draft(issuer, lines=[]), issuer)


def commands(invoice: Invoice, issuer: Issuer) -> dict[str, Callable[[], object]]:
    """Every way to try to change an issued invoice's content."""
    return {
        "update lines": lambda: invoice.update(issuer=issuer, actor=ACTOR, lines=LINES[:1]),
        "update notes": lambda: invoice.update(issuer=issuer, actor=ACTOR, notes="x"),
        "update nothing": lambda: invoice.update(issuer=issuer, actor=ACTOR),
        "issue again": lambda: issue(invoice, issuer),
        "alta again": lambda: invoice.alta_fields(
            issuer_tax_id="B12345678",
            number="A-2026-000002",
            issue_date=DAY,
            previous_huella="",
            generated_at=AT,
        ),
    }


def test_issued_invoice_refuses_every_change() -> None:
    """After issue, every command is refused naming the rule, and records no event."""
    invoice, issuer = issued()
    invoice.collect_events()
    for name, command in commands(invoice, issuer).items():
        with pytest.raises(InvoiceIssuedError) as caught:
            command()
        assert "unalterable" in caught.value.detail, name
        assert "A-2026-000001" in caught.value.detail, name
    assert [] == invoice.collect_events()


# -- cancel -----------------------------------------------------------------------------


def test_cancel_appends_an_anulacion_and_keeps_the_invoice() -> None:
    invoice, issuer = issued()
    alta = invoice.record
    record = cancel(invoice, issuer)
    assert (InvoiceStatus.CANCELLED, "A-2026-000001", alta) == (
        invoice.status,
        invoice.number,
        invoice.record,
    )
    assert ("anulacion", alta["huella"] if alta else None) == (
        record["record_type"],
        record["previous_huella"],
    )
    assert "duplicate" == invoice_snapshot(invoice)["cancellation"]["reason"]
    with pytest.raises(InvoiceCancelledError):
        cancel(invoice, issuer)
    for name, command in commands(invoice, issuer).items():
        with pytest.raises(InvoiceIssuedError):
            command()
        assert name
    rebuilt = replay(invoice)
    assert (rebuilt.status, rebuilt.cancellation) == (invoice.status, invoice.cancellation)


def test_cancel_refuses_drafts_and_foreign_records() -> None:
    issuer = new_issuer()
    with pytest.raises(InvoiceNotIssuedError):
        cancel(draft(issuer), issuer)
    invoice, issuer = issued()
    other = verifactu.record(
        verifactu.build_anulacion(
            issuer_tax_id="B12345678",
            number="A-2026-000002",
            issue_date=DAY,
            previous_huella=issuer.last_huella,
            generated_at=AT,
        )
    )
    with pytest.raises(VerifactuRecordError):
        invoice.cancel(record=other, reason=None, actor=ACTOR)
    with pytest.raises(VerifactuRecordError):
        invoice.cancel(record=dict(invoice.record or {}), reason=None, actor=ACTOR)
    assert InvoiceStatus.ISSUED is invoice.status


# -- rectify ----------------------------------------------------------------------------


def test_credit_note_by_differences_negates_every_line() -> None:
    original, issuer = issued()
    original.collect_events()
    credit = Invoice.rectifying(
        original,
        issuer=issuer,
        invoice_type="R1",
        method="differences",
        reason="goods returned",
        series="R",
        actor=ACTOR,
    )
    assert [] == original.collect_events()  # the original is not touched
    assert credit.id != original.id
    snap = invoice_snapshot(credit)
    assert ("-3", "-1") == (credit.lines[0]["quantity"], credit.lines[1]["quantity"])
    assert ("-7.11", "-57.16") == (snap["totals"]["tax_total"], snap["totals"]["total"])
    assert {
        "invoice_id": str(original.id),
        "number": "A-2026-000001",
        "issue_date": "2026-03-02",
        "invoice_type": "F1",
        "method": "differences",
        "reason": "goods returned",
        "base": "50.05",
        "tax": "7.11",
        "surcharge": "0.00",
        "exchange_rate": None,
    } == credit.rectifies
    issue(credit, issuer)
    assert ("R-2026-000001", "R1", "-57.16") == (
        credit.number,
        credit.invoice_type,
        (credit.record or {})["fields"]["ImporteTotal"],
    )


def test_rectification_by_substitution_needs_lines() -> None:
    original, issuer = issued()
    with pytest.raises(InvoiceLinesRequiredError):
        Invoice.rectifying(
            original,
            issuer=issuer,
            invoice_type="R1",
            method="substitution",
            reason="x",
            actor=ACTOR,
        )
    fixed = Invoice.rectifying(
        original,
        issuer=issuer,
        invoice_type="R1",
        method="substitution",
        reason="wrong price",
        lines=[{**LINES[0], "unit_price": "9"}],
        actor=ACTOR,
    )
    assert ("substitution", "27.00") == (
        (fixed.rectifies or {})["method"],
        invoice_snapshot(fixed)["totals"]["base_total"],
    )
    with pytest.raises(InvalidCommandError):  # a rectifying draft keeps the original's customer
        fixed.update(issuer=issuer, actor=ACTOR, customer={"name": "Other"})


def test_rectification_type_follows_the_original() -> None:
    """R5 rectifies simplified invoices; R1..R4 the others."""
    original, issuer = issued()
    with pytest.raises(RectificationTypeError):
        Invoice.rectifying(
            original,
            issuer=issuer,
            invoice_type="R5",
            method="differences",
            reason="x",
            actor=ACTOR,
        )
    simplified = draft(issuer, invoice_type="F2", customer=None)
    issue(simplified, issuer)
    with pytest.raises(RectificationTypeError):
        Invoice.rectifying(
            simplified,
            issuer=issuer,
            invoice_type="R1",
            method="differences",
            reason="x",
            actor=ACTOR,
        )
    r5 = Invoice.rectifying(
        simplified, issuer=issuer, invoice_type="R5", method="differences", reason="x", actor=ACTOR
    )
    issue(r5, issuer)  # no customer tax id needed for R5
    assert InvoiceStatus.ISSUED is r5.status
    with pytest.raises(InvalidCommandError):
        Invoice.rectifying(
            original, issuer=issuer, invoice_type="R1", method="sideways", reason="x", actor=ACTOR
        )
    with pytest.raises(InvalidCommandError):
        Invoice.rectifying(
            original,
            issuer=issuer,
            invoice_type="R1",
            method="differences",
            reason=" ",
            actor=ACTOR,
        )


def test_only_issued_not_cancelled_invoices_are_rectified() -> None:
    issuer = new_issuer()
    with pytest.raises(InvoiceNotIssuedError):
        Invoice.rectifying(
            draft(issuer),
            issuer=issuer,
            invoice_type="R1",
            method="differences",
            reason="x",
            actor=ACTOR,
        )
    original, issuer = issued()
    cancel(original, issuer)
    with pytest.raises(InvoiceCancelledError):
        Invoice.rectifying(
            original,
            issuer=issuer,
            invoice_type="R1",
            method="differences",
            reason="x",
            actor=ACTOR,
        )
    assert issubclass(InvoiceCancelledError, InvoiceError)


# -- simplified invoices: EUR only, at most the issuer's limit --------------------------


def priced(unit_price: str, vat_rate: str = "21") -> list[dict[str, Any]]:
    return [
        {"description": "Item", "quantity": "1", "unit_price": unit_price, "vat_rate": vat_rate}
    ]


def test_simplified_invoice_totals_at_most_400_eur_including_vat() -> None:
    """330.58 + 21% VAT (69.42) = 400.00 is issued; 330.59 (400.01) is refused with the
    limit and the total named, and takes no number; an F1 of the same amount is fine."""
    issuer = new_issuer()
    over = draft(issuer, invoice_type="F2", customer=None, lines=priced("330.59"))
    with pytest.raises(SimplifiedInvoiceLimitError) as caught:
        issue(over, issuer)
    assert ("400.01", "400.00", "invoice_type") == (
        caught.value.total,
        caught.value.limit,
        caught.value.field,
    )
    assert "400.00 EUR including VAT" in caught.value.detail
    assert (InvoiceStatus.DRAFT, 1) == (over.status, issuer.next_number("A", DAY.year))
    at_limit = draft(issuer, invoice_type="F2", customer=None, lines=priced("330.58"))
    issue(at_limit, issuer)
    assert ("issued", "400.00") == (
        at_limit.status_value,
        (at_limit.issued_totals or {})["gross_total"],
    )
    full = draft(issuer, lines=priced("330.59"))
    issue(full, issuer)
    assert InvoiceStatus.ISSUED is full.status


def test_simplified_limit_is_the_issuers() -> None:
    """An issuer of an art. 4.2 activity may set up to 3,000.00; the check uses the
    limit passed by the use case (the issuer's), and withholding does not count."""
    issuer = new_issuer()
    assert Decimal("400.00") == issuer.simplified_limit
    issuer.set_simplified_limit("3000", actor=ACTOR)
    assert "3000.00" == issuer_snapshot(issuer)["simplified_limit"]
    big = draft(issuer, invoice_type="F2", customer=None, lines=priced("2479.33"))  # 2999.99
    with pytest.raises(SimplifiedInvoiceLimitError):
        big.check_issuable()  # the general 400.00 when no limit is passed
    totals = big.check_issuable(simplified_limit=issuer.simplified_limit)
    assert Decimal("2999.99") == totals.gross_total
    withheld = [{**priced("400.00", "0")[0], "withholding_rate": "15"}]  # pays 340.00
    small = Invoice.draft(issuer=issuer, series="A", invoice_type="F2", lines=withheld, actor=ACTOR)
    assert Decimal("400.00") == small.check_issuable().gross_total
    small.update(issuer=issuer, actor=ACTOR, lines=[{**withheld[0], "unit_price": "400.01"}])
    with pytest.raises(SimplifiedInvoiceLimitError):
        small.check_issuable()  # 400.01 before withholding: over, though 340.01 is paid


@pytest.mark.parametrize(
    "limit", ["0", "-1", "3000.01", "400.001", "abc", 400.0, True, None, "NaN"]
)
def test_simplified_limit_must_be_a_legal_amount(limit: object) -> None:
    issuer = new_issuer()
    issuer.collect_events()
    with pytest.raises(InvalidCommandError) as caught:
        issuer.set_simplified_limit(limit, actor=ACTOR)
    assert "simplified_limit" == caught.value.field
    assert [] == issuer.collect_events()
    if isinstance(limit, str):  # the same rule when registering
        with pytest.raises(InvalidCommandError):
            Issuer.register(
                legal_name="Acme SL", tax_id="B12345678", simplified_limit=limit, actor=ACTOR
            )


def test_simplified_limit_is_an_event_only_when_it_changes() -> None:
    """Registering with the default records one event; another limit a second one,
    which a replay restores."""
    plain = Issuer.register(
        legal_name="Acme SL", tax_id="B12345678", simplified_limit="400", actor=ACTOR
    )
    assert ["Registered"] == [type(e).__name__ for e in plain.collect_events()]
    made = Issuer.register(
        legal_name="Acme SL", tax_id="B12345678", simplified_limit="3000.00", actor=ACTOR
    )
    made.set_simplified_limit("3000", actor=ACTOR)  # unchanged: no event
    events = made.collect_events()
    assert ["Registered", "SimplifiedLimitSet"] == [type(e).__name__ for e in events]
    copy: Any = None
    for e in events:
        copy = e.mutate(copy)
    assert Decimal("3000.00") == copy.simplified_limit


def test_simplified_invoice_is_in_eur_only() -> None:
    """An F2 in another currency is refused when drafted, changed, or issued; an F1 in
    USD is fine. An F2 names the customer by tax id only if it wants to."""
    issuer = new_issuer()
    with pytest.raises(SimplifiedInvoiceCurrencyError) as caught:
        draft(issuer, invoice_type="F2", currency="USD")
    assert ("currency", "USD") == (caught.value.field, caught.value.currency)
    assert "EUR" in caught.value.detail
    simplified = draft(issuer, invoice_type="F2", customer={"name": "Walk-in"})
    with pytest.raises(SimplifiedInvoiceCurrencyError):
        simplified.update(issuer=issuer, actor=ACTOR, currency="USD")
    assert "EUR" == simplified.currency
    full = draft(issuer, currency="USD")
    with pytest.raises(SimplifiedInvoiceCurrencyError):
        full.update(issuer=issuer, actor=ACTOR, invoice_type="F2")
    full.update(issuer=issuer, actor=ACTOR, invoice_type="F2", currency="EUR")
    assert ("F2", "EUR") == (full.invoice_type, full.currency)
    issue(simplified, issuer)  # no customer tax id needed
    assert InvoiceStatus.ISSUED is simplified.status


# -- corrections cap: credit notes never take back more than the original's total ------


def correction(
    original: Invoice, issuer: Issuer, lines: list[dict[str, Any]] | None = None
) -> Invoice:
    return Invoice.rectifying(
        original,
        issuer=issuer,
        invoice_type="R1",
        method="differences",
        reason="returned",
        series="R",
        lines=lines,
        actor=ACTOR,
    )


def issue_correction(original: Invoice, rectifying: Invoice, issuer: Issuer) -> None:
    """Issue as the use case does: the rectification, then its record on the original."""
    issue(rectifying, issuer)
    original.record_correction(
        invoice_id=rectifying.id,
        number=rectifying.number or "",
        amount=Decimal((rectifying.issued_totals or {})["gross_total"]),
        actor=ACTOR,
    )


REFUND = priced("-20")  # -20.00 + 21% = -24.20


def test_credit_notes_may_not_exceed_the_originals_total() -> None:
    """57.16 invoiced: two credits of -24.20 leave 8.76; a third is refused naming 8.76,
    at draft time and at record time; a credit of exactly -8.76 is taken, then nothing."""
    original, issuer = issued()
    for _ in range(2):
        issue_correction(original, correction(original, issuer, REFUND), issuer)
    assert (Decimal("8.76"), Decimal("8.76")) == (
        original.corrected_total(),
        original.correction_room(),
    )
    with pytest.raises(CorrectionLimitError) as caught:
        correction(original, issuer, REFUND)
    assert ("8.76", "-24.20", "57.16") == (
        caught.value.remaining,
        caught.value.amount,
        caught.value.total,
    )
    assert "only 8.76 of it remains" in caught.value.detail
    assert isinstance(caught.value, InvoiceError)
    with pytest.raises(CorrectionLimitError):
        correction(original, issuer)  # a full credit note: -57.16
    last = correction(original, issuer, [{**REFUND[0], "unit_price": "-7.24"}])  # -8.76
    issue_correction(original, last, issuer)
    assert Decimal("0.00") == original.correction_room()
    with pytest.raises(CorrectionLimitError) as caught:
        correction(original, issuer, [{**REFUND[0], "unit_price": "-0.01"}])
    assert "0.00" == caught.value.remaining


def test_two_drafted_credit_notes_cannot_both_be_recorded() -> None:
    """Both full credit notes pass when drafted (nothing issued yet); recording the
    second is refused, so the use case, which records on issue, refuses to issue it."""
    original, issuer = issued()
    first, second = correction(original, issuer), correction(original, issuer)
    issue_correction(original, first, issuer)
    original.collect_events()
    with pytest.raises(CorrectionLimitError):
        original.record_correction(
            invoice_id=second.id, number="R-2026-000002", amount=Decimal("-57.16"), actor=ACTOR
        )
    assert [] == original.collect_events()
    with pytest.raises(InvalidCommandError):  # the same correction twice
        original.record_correction(
            invoice_id=first.id, number="R-2026-000001", amount=Decimal("-1.00"), actor=ACTOR
        )


def test_withdrawn_and_positive_corrections_free_room() -> None:
    """A cancelled credit note no longer counts; a positive correction (an amount
    invoiced short) adds to what may later be credited; a replay keeps all of it."""
    original, issuer = issued()
    credit = correction(original, issuer)
    issue_correction(original, credit, issuer)
    assert Decimal("0.00") == original.correction_room()
    original.withdraw_correction(invoice_id=credit.id, actor=ACTOR)
    original.withdraw_correction(invoice_id=credit.id, actor=ACTOR)  # already gone: no event
    assert Decimal("57.16") == original.correction_room()
    extra = correction(original, issuer, priced("10"))  # +12.10
    issue_correction(original, extra, issuer)
    assert Decimal("69.26") == original.correction_room()
    again = correction(original, issuer, priced("-57.24"))  # -69.26: all of it
    issue_correction(original, again, issuer)
    events = original.collect_events()
    assert ["CorrectionRecorded", "CorrectionWithdrawn"] == [type(e).__name__ for e in events[2:4]]
    rebuilt: Any = None
    for e in events:
        rebuilt = e.mutate(rebuilt)
    assert (Decimal("0.00"), original.corrections) == (
        rebuilt.correction_room(),
        rebuilt.corrections,
    )


def test_substitution_is_not_capped() -> None:
    """By substitution the lines replace the original's: no cumulative correction."""
    original, issuer = issued()
    issue_correction(original, correction(original, issuer), issuer)
    replacing = Invoice.rectifying(
        original,
        issuer=issuer,
        invoice_type="R1",
        method="substitution",
        reason="wrong price",
        lines=priced("5"),
        actor=ACTOR,
    )
    assert "substitution" == (replacing.rectifies or {})["method"]
