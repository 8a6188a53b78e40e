"""Every guard of the Invoice aggregate: drafts, issue, unalterability, cancel, rectify."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from crm_ledger.domain import verifactu
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.invoice import Invoice, InvoiceStatus, invoice_snapshot, verifactu_view
from crm_ledger.domain.invoicing_errors import (
    CustomerTaxIdRequiredError,
    InvoiceCancelledError,
    InvoiceError,
    InvoiceIssuedError,
    InvoiceLinesRequiredError,
    InvoiceNotIssuedError,
    RectificationTypeError,
    SeriesNotFoundError,
    VerifactuRecordError,
)
from crm_ledger.domain.issuer import Issuer

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
