"""An invoice in another currency is issued at an exchange rate fixed in the Issued event;
its VERI*FACTU record states the amounts in euros (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from crm_ledger.domain import verifactu
from tests.integration.http.conftest import Api
from tests.integration.http.test_invoices_api import match, new_customer, new_issuer, ok, problem

LINES = [{"description": "Licence", "quantity": "2", "unit_price": "100.00", "vat_rate": "21"}]


def test_usd_invoice_needs_a_rate_and_records_euros(api: Api) -> None:
    issuer = new_issuer(api)
    body = {
        "issuer_id": issuer["id"],
        "series": "A",
        "lines": LINES,
        "currency": "USD",
        "customer_id": new_customer(api),
    }
    draft = ok(api.post("/invoices", json=body), 201)
    path = f"/invoices/{draft['id']}/issue"
    before = api.event_count()
    problem(api.post(path, headers=match(draft["version"])), 422, "invalid_command")
    bad = {"exchange_rate": "0"}
    problem(api.post(path, json=bad, headers=match(draft["version"])), 422, "invalid_command")
    assert before == api.event_count()  # refused: no number taken, nothing stored

    issued = ok(api.post(path, json={"exchange_rate": "0.912345"}, headers=match(draft["version"])))
    assert ("USD", "0.912345") == (issued["currency"], issued["exchange_rate"])
    assert ("42.00", "242.00") == (issued["totals"]["tax_total"], issued["totals"]["total"])
    record = ok(api.get(f"/invoices/{draft['id']}/verifactu"))
    cents = Decimal("0.01")
    euros = (Decimal("242.00") * Decimal("0.912345")).quantize(cents, rounding=ROUND_HALF_UP)
    tax = (Decimal("42.00") * Decimal("0.912345")).quantize(cents, rounding=ROUND_HALF_UP)
    assert (f"{tax}", f"{euros}") == ("38.32", "220.79")
    assert ("38.32", "220.79") == (
        record["fields"]["CuotaTotal"],
        record["fields"]["ImporteTotal"],
    )
    assert verifactu.huella(record["fields"]) == record["huella"]


def test_eur_invoice_takes_no_rate(api: Api) -> None:
    issuer = new_issuer(api)
    body = {
        "issuer_id": issuer["id"],
        "series": "A",
        "lines": LINES,
        "customer_id": new_customer(api),
    }
    draft = ok(api.post("/invoices", json=body), 201)
    path = f"/invoices/{draft['id']}/issue"
    rate = {"exchange_rate": "1.100000"}
    problem(api.post(path, json=rate, headers=match(draft["version"])), 422, "invalid_command")
    issued = ok(api.post(path, headers=match(draft["version"])))
    assert issued["exchange_rate"] is None
