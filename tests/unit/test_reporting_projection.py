"""The reporting read model's pure helpers, and its event handling on an in-memory SQLite
database fed with real domain events (no application, no HTTP)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest

from crm_ledger.domain import verifactu
from crm_ledger.domain.contact import Contact
from crm_ledger.domain.deal import Deal
from crm_ledger.domain.invoice import Invoice
from crm_ledger.domain.issuer import Issuer
from crm_ledger.domain.pipeline import Pipeline
from crm_ledger.domain.product import Product
from crm_ledger.projections.reporting import ReportingProjection, due_on, line_cost_cents
from crm_ledger.projections.reporting_queries import (
    Period,
    bucket_of,
    customers,
    one_decimal,
    period_of,
    receivables,
    revenue,
)
from crm_ledger.storage.sql import Tx

ACTOR = "user:test"
DAY = date(2026, 3, 2)
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CUSTOMER = {"name": "Cliente SA", "tax_id": "A87654321", "country": "ES"}


def test_line_cost_rounds_once_half_up_and_negates_exactly() -> None:
    """3 x 0.015 = 0.045 -> 0.05; the negated line costs exactly -0.05; unknown is None."""
    assert (5, -5, 9000, None) == (
        line_cost_cents("3", "0.015"),
        line_cost_cents("-3", "0.015"),
        line_cost_cents("10", "9.00"),
        line_cost_cents("2", None),
    )


def test_due_date_defaults_to_thirty_days_after_issue() -> None:
    assert ("2025-02-14", "2025-06-30") == (
        due_on("2025-01-15", None),
        due_on("2025-04-05", "2025-06-30"),
    )


def test_ageing_buckets_at_their_boundaries() -> None:
    """Due today is 0 days past due (0-30); 90 days is still 61-90."""
    days = [-1, 0, 30, 31, 60, 61, 90, 91]
    assert [
        "not_due",
        "days_0_30",
        "days_0_30",
        "days_31_60",
        "days_31_60",
        "days_61_90",
        "days_61_90",
        "days_over_90",
    ] == [bucket_of(d) for d in days]


def test_periods_and_one_decimal_figures() -> None:
    assert ["2025-12", "2025-Q4", "2025", "2025-Q1", "2025-Q2"] == [
        period_of("2025-12-31", "month"),
        period_of("2025-12-31", "quarter"),
        period_of("2025-12-31", "year"),
        period_of("2025-03-31", "quarter"),
        period_of("2025-04-01", "quarter"),
    ]
    assert ["33.3", "66.7", "0.1", "37.5", None] == [
        one_decimal(100, 3),
        one_decimal(200, 3),
        one_decimal(1, 20),  # 0.05 -> 0.1, half up
        one_decimal(75, 2),
        one_decimal(1, 0),
    ]


def test_period_bounds_are_inclusive() -> None:
    period = Period(date(2025, 3, 1), date(2025, 3, 31))
    assert [False, True, True, False] == [
        period.holds(d) for d in ("2025-02-28", "2025-03-01", "2025-03-31", "2025-04-01")
    ]


# -- the projection on SQLite ------------------------------------------------------------


@pytest.fixture
def tx() -> Iterator[Tx]:
    connection = sqlite3.connect(":memory:")
    cursor = connection.cursor()
    for statement in ReportingProjection().ddl("sqlite"):
        cursor.execute(statement)
    yield Tx(cursor, "sqlite")
    connection.close()


def apply(tx: Tx, *aggregates: Any) -> None:
    """Apply the pending events of `aggregates`, in the order given."""
    events = [e for a in aggregates for e in a.collect_events()]
    ReportingProjection().apply_batch(tx, [(e, i + 1) for i, e in enumerate(events)])


def issue(invoice: Invoice, issuer: Issuer) -> None:
    """Issue as the use case does: number, alta record linked to the issuer's head."""
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


def test_substitution_replaces_the_rectified_lines(tx: Tx) -> None:
    """F: 2 x 100.00 of a product costing 30.00 (base 200.00, total 242.00, cost 60.00);
    R (substitution): 1 x 100.00 (base 100.00, total 121.00, cost 30.00). Net: revenue
    200 + 100 - 200 = 100.00 from 2 invoices, cost 60 + 30 - 60 = 30.00, margin 70.00;
    the family owes 242.00 + (121.00 - 242.00) = 121.00, not due (due DAY + 30)."""
    issuer = Issuer.register(legal_name="Acme SL", tax_id="B12345678", actor=ACTOR)
    issuer.add_series("A", "{series}-{year}-{number:06d}", actor=ACTOR)
    contact = Contact.register(kind="organisation", name="Cliente SA", owner="ana", actor=ACTOR)
    product = Product.create(sku="P-1", name="Widget", cost="30.00", actor=ACTOR)
    item = {"description": "Widget", "quantity": "2", "unit_price": "100.00", "vat_rate": "21"}
    item["product_id"] = str(product.id)
    original = Invoice.draft(
        issuer=issuer,
        series="A",
        customer_id=contact.id,
        customer=CUSTOMER,
        lines=[item],
        actor=ACTOR,
    )
    issue(original, issuer)
    apply(tx, contact, product, original)
    fix = Invoice.rectifying(
        original,
        issuer=issuer,
        invoice_type="R1",
        method="substitution",
        reason="one unit only",
        lines=[{**item, "quantity": "1"}],
        actor=ACTOR,
    )
    issue(fix, issuer)
    apply(tx, fix)
    by_product = revenue(tx, "product", Period())
    assert [(str(product.id), "Widget", "EUR", 2, "100.00")] == [
        (r["key"], r["label"], r["currency"], r["invoice_count"], r["revenue"]) for r in by_product
    ]
    assert [("ana", "100.00")] == [(r["key"], r["revenue"]) for r in revenue(tx, "owner", Period())]
    items, next_key = customers(tx, sort="margin", currency=None, limit=10, after=None)
    assert (None, [("100.00", "30.00", "70.00", "0.00")]) == (
        next_key,
        [(i["revenue"], i["cost"], i["margin"], i["uncosted_revenue"]) for i in items],
    )
    report = receivables(tx, DAY)
    assert [("EUR", 1, "121.00", "121.00")] == [
        (t["currency"], t["invoice_count"], t["outstanding"], t["buckets"]["not_due"])
        for t in report["totals"]
    ]


def test_events_not_followed_write_nothing(tx: Tx) -> None:
    """A deal's ContactRelinked is neither among the topics nor applied; Created is."""
    pipeline = Pipeline.create(
        name="P",
        stages=[{"name": "Q", "probability": 20, "forecast_category": "pipeline"}],
        actor=ACTOR,
    )
    deal = Deal.create(
        title="D",
        contact_id=uuid4(),
        pipeline=pipeline,
        currency="EUR",
        at="2026-01-01",
        actor=ACTOR,
    )
    deal.relink_contact(uuid4(), actor=ACTOR)
    created, relinked = deal.collect_events()
    projection = ReportingProjection()
    assert not any(t.endswith(".ContactRelinked") for t in projection.topics)
    projection.apply_batch(tx, [(relinked, 1)])
    assert 0 == tx.scalar("SELECT COUNT(*) FROM proj_report_deals")
    projection.apply_batch(tx, [(created, 2)])
    assert 1 == tx.scalar("SELECT COUNT(*) FROM proj_report_deals")
