"""The ``/reports/...`` endpoints over HTTP, on SQLite and PostgreSQL, against a small fixed
data set built through the API, whose every figure below was worked out by hand.

Customers: C1 "Alfa SL" (owner alice), C2 "Beta SA" (owner bob; changed to carol after
every invoice was issued: revenue stays with bob, the owner when each was issued).
Products: P1 Widget (cost 9.00), P2 Service (no cost), P3 Book (no cost).

All invoices in series A, 2025, VAT 21 % unless said; due date = issue + 30 days unless
set. Bases are what revenue sums; totals (after tax) are what customers owe.

=====  ==  ===  ==========  ===========================================  ======  =======
inv    cu  cur  issued      lines                                        base    total
=====  ==  ===  ==========  ===========================================  ======  =======
I1     C1  EUR  2025-01-15  P1 10 x 10.00 = 100.00; P2 1 x 200.00        300.00   363.00
                            due 2025-02-14
I2     C2  EUR  2025-02-10  P3 5 x 40.00 = 200.00 at 4 % (tax 8.00)      200.00   208.00
                            due 2025-03-12
I5     C1  USD  2025-03-01  P1 4 x 25.00 = 100.00; due 2025-03-31        100.00   121.00
I3     C1  EUR  2025-04-05  P1 3 x 10.015 = 30.045 -> 30.05 (half up);    30.05    36.36
                            tax 6.3105 -> 6.31; due set to 2025-06-30
I4     C2  EUR  2025-04-20  P2 2 x 50.00; then CANCELLED                 (100.00) (121.00)
R1     C1  EUR  2025-05-10  credit note (R1, differences) of I1:         -50.00   -60.50
                            P2 -1 x 50.00, tax -10.50
=====  ==  ===  ==========  ===========================================  ======  =======

Cost of goods (P1 only, 9.00 each): I1 90.00, I5 36.00, I3 27.00.

Payments: PAY1 C1 EUR 200.00 received 2025-02-01 -> I1 (partial); PAY2 C2 EUR 50.00
received 2025-03-20 -> I2 (partial); PAY3 C1 USD 121.00 received 2025-06-15 -> I5 (full).

**Revenue** (net base, I4 left out):
by month: 2025-01 EUR 300.00 (1), 2025-02 EUR 200.00 (1), 2025-03 USD 100.00 (1),
2025-04 EUR 30.05 (1), 2025-05 EUR -50.00 (1).
by quarter: Q1 EUR 500.00 (2), Q1 USD 100.00 (1), Q2 EUR 30.05 - 50.00 = -19.95 (2).
by year: EUR 300 + 200 + 30.05 - 50 = 480.05 (4), USD 100.00 (1).
by product, EUR: P3 200.00 (1), P2 200 - 50 = 150.00 (2), P1 100 + 30.05 = 130.05 (2);
USD: P1 100.00 (1).
by owner / customer, EUR: alice/C1 300 + 30.05 - 50 = 280.05 (3), bob/C2 200.00 (1)
(with I4 it would be 300.00 from 2); USD: alice/C1 100.00 (1).

**Customers** (lifetime): C1 EUR revenue 280.05, cost 90 + 27 = 117.00, margin 163.05,
uncosted revenue 200 - 50 = 150.00, 3 invoices; C2 EUR 200.00, 0.00, 200.00, 200.00, 1;
C1 USD 100.00, 36.00, 64.00, 0.00, 1. By revenue: EUR C1, C2; USD C1. By margin: EUR C2,
C1; USD C1.

**Receivables** (a credit note counts with the invoice it rectifies; due date of that
invoice; payments received by the day):
as of 2025-06-10: I1 363.00 - 60.50 - 200.00 = 102.50, 116 days past due (Feb 14 ->
Jun 10: 14 + 31 + 30 + 31 + 10) -> over 90; I3 36.36 not due (-20 days); I2 208.00 -
50.00 = 158.00, 90 days (19 + 30 + 31 + 10) -> 61-90; I5 121.00 (PAY3 comes later), 71
days (30 + 31 + 10) -> 61-90. C1 EUR 2 invoices 138.86; C1 USD 121.00; C2 EUR 158.00.
EUR total: 3 invoices, 296.86 = not due 36.36 + 61-90 158.00 + over 90 102.50.
as of 2025-06-30: I5 paid; I3 0 days -> 0-30; I2 110 days, I1 136 days -> over 90.
EUR total 296.86 = 0-30 36.36 + over 90 260.50; no USD.
as of 2025-05-01 (before R1): I1 363.00 - 200.00 = 163.00, 76 days -> 61-90; I2 158.00,
50 days -> 31-60; I3 36.36 not due; EUR 357.36. I5 121.00, 31 days -> 31-60.

**Deals** (pipeline Qualified 20 % pipeline, Proposal 50 % best_case, Negotiation 80 %
commit; times 09:00 UTC):

====  ===  =======  =====  ==========================================  ==========
deal  cur  amount   owner  story                                       exp. close
====  ===  =======  =====  ==========================================  ==========
D1    EUR  1000.00  alice  open in Qualified                            2025-07-15
D2    EUR   333.33  alice  open in Proposal                             2025-07-31
D3    USD   250.00  bob    open in Negotiation                          2025-08-10
D4    EUR   500.00  alice  created 2025-01-10, won 2025-02-09 (30 d)    2025-02-28
D5    EUR   120.00  bob    created 2025-01-20, lost 2025-03-01          2025-03-31
D6    EUR   200.00  bob    created 2025-02-01, won 2025-03-18 (45 d)    2025-03-31
D7    EUR    80.00  bob    created 2025-03-01, lost 2025-03-20          2025-04-30
D8    EUR    50.00  bob    open in Qualified, no expected close         (none)
====  ===  =======  =====  ==========================================  ==========

**Forecast**: 2025-02 EUR won D4 500.00 (closed, 100 %); 2025-03 EUR won D6 200.00;
2025-07 EUR D1 + D2 = 1333.33, weighted 1000.00 x 20 % + 333.33 x 50 % = 200.00 + 166.665
= 366.665 -> 366.67 (pipeline 200.00, best_case 166.665 -> 166.67); 2025-08 USD D3 250.00
x 80 % = 200.00 (commit). D5, D7 (lost) and D8 (no date) left out.

**Win rate**: won D4, D6; lost D5, D7: 50.0 %, average days to win (30 + 45) / 2 = 37.5;
alice 1/0 100.0 % 30.0; bob 1/2 33.3 % 45.0. From 2025-03-01: D6, D5, D7: 33.3 %, 45.0.

**Activities** (March 2025; K = the API key's actor): A1 call 03-01 (K), A2 email 03-02
(K), A3 call 03-03 (K) cancelled, A4 task logged 03-04 assigned alice, A5 task logged
03-05 assigned bob then reassigned alice, A6 meeting 04-10 (K), A7 note at
2025-02-28T23:30-02:00 = 03-01 01:30 UTC (K). March: alice task 2; K call 1, email 1,
note 1 (3). Whole log: K also meeting 1 (4).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest

from crm_ledger import activities as activities_module
from crm_ledger import sales as sales_module
from crm_ledger.ledger.envelope import format_timestamp
from crm_ledger.projections.rebuild import Rebuild
from crm_ledger.projections.reporting import ReportingProjection
from tests.integration.http.conftest import Api

PATTERN = "{series}-{year}-{number:06d}"
STAGES = [
    {"name": "Qualified", "probability": 20, "forecast_category": "pipeline"},
    {"name": "Proposal", "probability": 50, "forecast_category": "best_case"},
    {"name": "Negotiation", "probability": 80, "forecast_category": "commit"},
]
BUCKETS = ("not_due", "days_0_30", "days_31_60", "days_61_90", "days_over_90")


class Clock:
    """Replaces the sales and activities use cases' clock so times are fixed."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, 9, tzinfo=UTC)

    def at(self, day: str) -> None:
        self.now = datetime.fromisoformat(f"{day}T09:00:00+00:00")

    def __call__(self) -> str:
        return format_timestamp(self.now)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fixed = Clock()
    monkeypatch.setattr(sales_module, "_now", fixed)
    monkeypatch.setattr(activities_module, "_now", fixed)
    return fixed


def ok(response: Any, status: int = 200) -> Any:
    assert status == response.status_code, response.text
    return response.json()


def match(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


def line(product: str, quantity: str, price: str, vat: str = "21") -> dict[str, Any]:
    return {
        "description": "item",
        "quantity": quantity,
        "unit_price": price,
        "vat_rate": vat,
        "product_id": product,
    }


class Data:
    """The data set of the module docstring, built through the API."""

    def __init__(self, api: Api, clock: Clock) -> None:
        self.api, self.clock = api, clock
        self.c1 = self.contact("Alfa SL", "B11111111", "alice")
        self.c2 = self.contact("Beta SA", "A22222222", "bob")
        self.p1 = self.product("W-1", "Widget", "9.00")
        self.p2 = self.product("S-1", "Service", None)
        self.p3 = self.product("B-1", "Book", None)
        body = {
            "legal_name": "Acme Soluciones SL",
            "tax_id": "B12345678",
            "series": [{"code": "A", "pattern": PATTERN}],
        }
        self.issuer = ok(api.post("/issuers", json=body), 201)["id"]
        self.invoices: dict[str, dict[str, Any]] = {}
        self.deals: dict[str, dict[str, Any]] = {}
        self.activities: dict[str, dict[str, Any]] = {}
        self.pipeline = ""

    def contact(self, name: str, tax_id: str, owner: str) -> dict[str, Any]:
        body = {"kind": "organisation", "name": name, "tax_id": tax_id, "owner": owner}
        return dict(ok(self.api.post("/contacts", json=body), 201))

    def product(self, sku: str, name: str, cost: str | None) -> str:
        body = {"sku": sku, "name": name, "cost": cost}
        return str(ok(self.api.post("/products", json=body), 201)["id"])

    def invoice(
        self, name: str, customer: dict[str, Any], day: str, lines: list[Any], **fields: Any
    ) -> None:
        body = {
            "issuer_id": self.issuer,
            "series": "A",
            "customer_id": customer["id"],
            "lines": lines,
            **fields,
        }
        draft = ok(self.api.post("/invoices", json=body), 201)
        self.issue(name, draft, day)

    def issue(self, name: str, draft: dict[str, Any], day: str) -> None:
        path = f"/invoices/{draft['id']}/issue"
        body = {"issue_date": day}
        if draft["currency"] != "EUR":
            body["exchange_rate"] = "0.900000"  # fixed at issue; reports stay in USD
        self.invoices[name] = ok(self.api.post(path, json=body, headers=match(draft["version"])))

    def pay(self, customer: dict[str, Any], day: str, amount: str, currency: str, inv: str) -> None:
        body = {
            "customer_id": customer["id"],
            "method": "transfer",
            "received_on": day,
            "amount": amount,
            "currency": currency,
            "allocations": [{"invoice_id": self.invoices[inv]["id"], "amount": amount}],
        }
        ok(self.api.post("/payments", json=body), 201)

    def deal(self, name: str, day: str, stage: str, **fields: Any) -> None:
        self.clock.at(day)
        body = {"title": f"deal {name}", "contact_id": self.c1["id"], "pipeline_id": self.pipeline}
        body |= {"stage_id": stage, **fields}
        self.deals[name] = ok(self.api.post("/deals", json=body), 201)

    def close(self, name: str, day: str, verb: str) -> None:
        self.clock.at(day)
        deal = self.deals[name]
        body = {"reason": "budget"} if verb == "lose" else None
        path = f"/deals/{deal['id']}/{verb}"
        self.deals[name] = ok(self.api.post(path, json=body, headers=match(deal["version"])))

    def activity(self, name: str, day: str, kind: str, **fields: Any) -> None:
        self.clock.at(day)
        links = [{"type": "contact", "id": self.c1["id"]}]
        body = {"kind": kind, "subject": f"activity {name}", "links": links, **fields}
        self.activities[name] = ok(self.api.post("/activities", json=body), 201)

    def activity_command(self, name: str, verb: str, body: dict[str, Any]) -> None:
        """POST /activities/{id}/<verb>, or PATCH /activities/{id} for verb ``update``."""
        activity = self.activities[name]
        path = f"/activities/{activity['id']}" + ("" if verb == "update" else f"/{verb}")
        method = "PATCH" if verb == "update" else "POST"
        headers = match(activity["version"])
        self.activities[name] = ok(self.api.request(method, path, json=body, headers=headers))


def build(api: Api, clock: Clock) -> Data:
    d = Data(api, clock)
    p1, p2, p3 = d.p1, d.p2, d.p3
    d.invoice("I1", d.c1, "2025-01-15", [line(p1, "10", "10.00"), line(p2, "1", "200.00")])
    d.invoice("I2", d.c2, "2025-02-10", [line(p3, "5", "40.00", vat="4")])
    d.pay(d.c1, "2025-02-01", "200.00", "EUR", "I1")
    d.invoice("I5", d.c1, "2025-03-01", [line(p1, "4", "25.00")], currency="USD")
    d.pay(d.c2, "2025-03-20", "50.00", "EUR", "I2")
    d.invoice("I3", d.c1, "2025-04-05", [line(p1, "3", "10.015")], due_date="2025-06-30")
    d.invoice("I4", d.c2, "2025-04-20", [line(p2, "2", "50.00")])
    i4 = d.invoices["I4"]
    cancel = {"reason": "issued by mistake"}
    path = f"/invoices/{i4['id']}/cancel"
    d.invoices["I4"] = ok(api.post(path, json=cancel, headers=match(i4["version"])))
    rectify = {
        "invoice_type": "R1",
        "method": "differences",
        "reason": "service discount",
        "lines": [line(p2, "-1", "50.00")],
    }
    r1 = ok(api.post(f"/invoices/{d.invoices['I1']['id']}/rectify", json=rectify), 201)
    d.issue("R1", r1, "2025-05-10")
    d.pay(d.c1, "2025-06-15", "121.00", "USD", "I5")
    owner = {"owner": "carol"}  # after every invoice: revenue stays with bob
    ok(api.patch(f"/contacts/{d.c2['id']}", json=owner, headers=match(d.c2["version"])))

    pipeline = ok(api.post("/pipelines", json={"name": "Sales", "stages": STAGES}), 201)
    d.pipeline = pipeline["id"]
    q, p, n = (s["stage_id"] for s in pipeline["stages"])
    d.deal("D1", "2025-01-05", q, amount="1000.00", owner="alice", expected_close="2025-07-15",
           currency="EUR")  # fmt: skip
    d.deal("D2", "2025-01-06", p, amount="333.33", owner="alice", expected_close="2025-07-31",
           currency="EUR")  # fmt: skip
    d.deal("D3", "2025-01-07", n, amount="250.00", owner="bob", expected_close="2025-08-10",
           currency="USD")  # fmt: skip
    d.deal("D4", "2025-01-10", q, amount="500.00", owner="alice", expected_close="2025-02-28",
           currency="EUR")  # fmt: skip
    d.close("D4", "2025-02-09", "win")
    d.deal("D5", "2025-01-20", q, amount="120.00", owner="bob", expected_close="2025-03-31",
           currency="EUR")  # fmt: skip
    d.close("D5", "2025-03-01", "lose")
    d.deal("D6", "2025-02-01", p, amount="200.00", owner="bob", expected_close="2025-03-31",
           currency="EUR")  # fmt: skip
    d.close("D6", "2025-03-18", "win")
    d.deal("D7", "2025-03-01", q, amount="80.00", owner="bob", expected_close="2025-04-30",
           currency="EUR")  # fmt: skip
    d.close("D7", "2025-03-20", "lose")
    d.deal("D8", "2025-03-02", q, amount="50.00", owner="bob", currency="EUR")

    d.activity("A1", "2025-03-01", "call", occurred_at="2025-03-01T10:00:00Z")
    d.activity("A2", "2025-03-02", "email", occurred_at="2025-03-02T11:00:00Z")
    d.activity("A3", "2025-03-03", "call", occurred_at="2025-03-03T12:00:00Z")
    d.activity_command("A3", "cancel", {"reason": "wrong contact"})
    d.activity("A4", "2025-03-04", "task", due_date="2025-03-10", assignee="alice")
    d.activity("A5", "2025-03-05", "task", due_date="2025-03-11", assignee="bob")
    d.activity_command("A5", "update", {"assignee": "alice"})
    d.activity("A6", "2025-04-10", "meeting", occurred_at="2025-04-10T09:00:00Z")
    d.activity("A7", "2025-03-01", "note", occurred_at="2025-02-28T23:30:00-02:00")
    return d


@pytest.fixture
def data(api: Api, clock: Clock) -> Data:
    return build(api, clock)


def revenue(api: Api, query: str) -> list[tuple[Any, ...]]:
    body = ok(api.get(f"/reports/revenue?{query}"))
    return [
        (r["key"], r["label"], r["currency"], r["invoice_count"], r["revenue"])
        for r in body["rows"]
    ]


def parse_csv(response: Any) -> list[list[str]]:
    assert 200 == response.status_code, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(response.text)))


def test_revenue_by_period_net_of_credit_notes_without_cancelled(api: Api, data: Data) -> None:
    """Months, quarters and years: credit note R1 negative in May, cancelled I4 absent,
    USD never added to EUR."""
    assert [
        ("2025-01", None, "EUR", 1, "300.00"),
        ("2025-02", None, "EUR", 1, "200.00"),
        ("2025-03", None, "USD", 1, "100.00"),
        ("2025-04", None, "EUR", 1, "30.05"),
        ("2025-05", None, "EUR", 1, "-50.00"),
    ] == revenue(api, "group_by=month")
    assert [
        ("2025-Q1", None, "EUR", 2, "500.00"),
        ("2025-Q1", None, "USD", 1, "100.00"),
        ("2025-Q2", None, "EUR", 2, "-19.95"),
    ] == revenue(api, "group_by=quarter")
    assert [("2025", None, "EUR", 4, "480.05"), ("2025", None, "USD", 1, "100.00")] == revenue(
        api, "group_by=year"
    )
    assert [
        ("2025-02", None, "EUR", 1, "200.00"),
        ("2025-03", None, "USD", 1, "100.00"),
        ("2025-04", None, "EUR", 1, "30.05"),
    ] == revenue(api, "group_by=month&from=2025-02-01&to=2025-04-30")
    assert [("2025", None, "USD", 1, "100.00")] == revenue(api, "group_by=year&currency=USD")


def test_revenue_by_product_owner_and_customer(api: Api, data: Data) -> None:
    """Per currency, highest revenue first; the owner is the customer's owner when the
    invoice was issued (bob, not carol)."""
    assert [
        (data.p3, "Book", "EUR", 1, "200.00"),
        (data.p2, "Service", "EUR", 2, "150.00"),
        (data.p1, "Widget", "EUR", 2, "130.05"),
        (data.p1, "Widget", "USD", 1, "100.00"),
    ] == revenue(api, "group_by=product")
    assert [
        ("alice", None, "EUR", 3, "280.05"),
        ("bob", None, "EUR", 1, "200.00"),
        ("alice", None, "USD", 1, "100.00"),
    ] == revenue(api, "group_by=owner")
    c1, c2 = data.c1["id"], data.c2["id"]
    assert [
        (c1, "Alfa SL", "EUR", 3, "280.05"),
        (c2, "Beta SA", "EUR", 1, "200.00"),
        (c1, "Alfa SL", "USD", 1, "100.00"),
    ] == revenue(api, "group_by=customer")


def test_revenue_csv(api: Api, data: Data) -> None:
    """The CSV has the JSON's rows; negative amounts stay plain numbers."""
    rows = parse_csv(api.get("/reports/revenue?group_by=quarter&format=csv"))
    assert [
        ["key", "label", "currency", "invoice_count", "revenue"],
        ["2025-Q1", "", "EUR", "2", "500.00"],
        ["2025-Q1", "", "USD", "1", "100.00"],
        ["2025-Q2", "", "EUR", "2", "-19.95"],
    ] == rows
    by_accept = api.get("/reports/revenue?group_by=quarter", headers={"Accept": "text/csv"})
    assert rows == parse_csv(by_accept)


def aged(count: int, outstanding: str, **buckets: str) -> dict[str, Any]:
    return {
        "invoice_count": count,
        "outstanding": outstanding,
        "buckets": {b: buckets.get(b, "0.00") for b in BUCKETS},
    }


def test_receivables_ageing_with_credit_notes_and_partial_payments(api: Api, data: Data) -> None:
    """As of 2025-06-10, 2025-06-30 and 2025-05-01 (see the module docstring)."""
    c1, c2 = data.c1["id"], data.c2["id"]
    report = ok(api.get("/reports/receivables?as_of=2025-06-10"))
    assert "2025-06-10" == report["as_of"]
    assert [
        {"customer_id": c1, "name": "Alfa SL", "currency": "EUR",
         **aged(2, "138.86", not_due="36.36", days_over_90="102.50")},
        {"customer_id": c1, "name": "Alfa SL", "currency": "USD",
         **aged(1, "121.00", days_61_90="121.00")},
        {"customer_id": c2, "name": "Beta SA", "currency": "EUR",
         **aged(1, "158.00", days_61_90="158.00")},
    ] == report["customers"]  # fmt: skip
    assert [
        {"currency": "EUR",
         **aged(3, "296.86", not_due="36.36", days_61_90="158.00", days_over_90="102.50")},
        {"currency": "USD", **aged(1, "121.00", days_61_90="121.00")},
    ] == report["totals"]  # fmt: skip
    later = ok(api.get("/reports/receivables?as_of=2025-06-30"))
    assert [
        {"currency": "EUR", **aged(3, "296.86", days_0_30="36.36", days_over_90="260.50")}
    ] == later["totals"]
    before_credit = ok(api.get("/reports/receivables?as_of=2025-05-01"))
    assert [
        {"currency": "EUR",
         **aged(3, "357.36", not_due="36.36", days_31_60="158.00", days_61_90="163.00")},
        {"currency": "USD", **aged(1, "121.00", days_31_60="121.00")},
    ] == before_credit["totals"]  # fmt: skip
    rows = parse_csv(api.get("/reports/receivables?as_of=2025-06-10&format=csv"))
    assert [
        ["scope", "customer_id", "name", "currency", "invoice_count", "outstanding", *BUCKETS],
        ["customer", c1, "Alfa SL", "EUR", "2", "138.86", "36.36", "0.00", "0.00", "0.00",
         "102.50"],
        ["customer", c1, "Alfa SL", "USD", "1", "121.00", "0.00", "0.00", "0.00", "121.00",
         "0.00"],
        ["customer", c2, "Beta SA", "EUR", "1", "158.00", "0.00", "0.00", "0.00", "158.00",
         "0.00"],
        ["total", "", "", "EUR", "3", "296.86", "36.36", "0.00", "0.00", "158.00", "102.50"],
        ["total", "", "", "USD", "1", "121.00", "0.00", "0.00", "0.00", "121.00", "0.00"],
    ] == rows  # fmt: skip


def value(customer_id: str, name: str, currency: str, *figures: Any) -> dict[str, Any]:
    count, revenue, cost, margin, uncosted = figures
    return {
        "customer_id": customer_id,
        "name": name,
        "currency": currency,
        "invoice_count": count,
        "revenue": revenue,
        "cost": cost,
        "margin": margin,
        "uncosted_revenue": uncosted,
    }


def test_customers_lifetime_value_and_margin_paginated(api: Api, data: Data) -> None:
    """Ranked per currency by revenue or by margin; one per page through the cursor."""
    c1, c2 = data.c1["id"], data.c2["id"]
    c1_eur = value(c1, "Alfa SL", "EUR", 3, "280.05", "117.00", "163.05", "150.00")
    c2_eur = value(c2, "Beta SA", "EUR", 1, "200.00", "0.00", "200.00", "200.00")
    c1_usd = value(c1, "Alfa SL", "USD", 1, "100.00", "36.00", "64.00", "0.00")
    assert [c1_eur, c2_eur, c1_usd] == ok(api.get("/reports/customers"))["items"]
    assert [c2_eur, c1_eur, c1_usd] == ok(api.get("/reports/customers?sort=margin"))["items"]
    assert [c2_eur, c1_eur] == ok(api.get("/reports/customers?sort=margin&currency=EUR"))["items"]
    pages, cursor = [], ""
    while True:
        page = ok(api.get(f"/reports/customers?sort=margin&limit=1{cursor}"))
        pages.append(page["items"])
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert [[c2_eur], [c1_eur], [c1_usd]] == pages
    rows = parse_csv(api.get("/reports/customers?sort=margin&format=csv"))
    assert list(c1_eur) == rows[0]
    assert [[str(v) for v in r.values()] for r in (c2_eur, c1_eur, c1_usd)] == rows[1:]
    bad = api.get("/reports/customers?cursor=bm9wZQ")
    assert (400, "malformed_cursor") == (bad.status_code, bad.json()["code"])


def figures(count: int, amount: str, weighted: str, **more: Any) -> dict[str, Any]:
    return {**more, "count": count, "amount": amount, "weighted": weighted}


def test_forecast_by_month_and_category(api: Api, data: Data) -> None:
    """Weighted amounts rounded once (166.665 -> 166.67); won deals in ``closed`` by the
    month they were won; lost and undated deals left out."""
    report = ok(api.get("/reports/forecast"))
    closed = {"category": "closed"}
    assert [
        {"month": "2025-02", "currency": "EUR", **figures(1, "500.00", "500.00"),
         "categories": [figures(1, "500.00", "500.00", **closed)]},
        {"month": "2025-03", "currency": "EUR", **figures(1, "200.00", "200.00"),
         "categories": [figures(1, "200.00", "200.00", **closed)]},
        {"month": "2025-07", "currency": "EUR", **figures(2, "1333.33", "366.67"),
         "categories": [figures(1, "1000.00", "200.00", category="pipeline"),
                        figures(1, "333.33", "166.67", category="best_case")]},
        {"month": "2025-08", "currency": "USD", **figures(1, "250.00", "200.00"),
         "categories": [figures(1, "250.00", "200.00", category="commit")]},
    ] == report["months"]  # fmt: skip
    assert [
        figures(1, "1000.00", "200.00", category="pipeline", currency="EUR"),
        figures(1, "333.33", "166.67", category="best_case", currency="EUR"),
        figures(2, "700.00", "700.00", category="closed", currency="EUR"),
        figures(1, "250.00", "200.00", category="commit", currency="USD"),
    ] == report["categories"]
    july = ok(api.get("/reports/forecast?from=2025-07-01&to=2025-07-31"))
    assert ["2025-07"] == [m["month"] for m in july["months"]]
    rows = parse_csv(api.get("/reports/forecast?from=2025-07-01&to=2025-07-31&format=csv"))
    assert [
        ["month", "currency", "category", "count", "amount", "weighted"],
        ["2025-07", "EUR", "pipeline", "1", "1000.00", "200.00"],
        ["2025-07", "EUR", "best_case", "1", "333.33", "166.67"],
        ["2025-07", "EUR", "", "2", "1333.33", "366.67"],
    ] == rows


def test_win_rate_and_days_to_win(api: Api, data: Data) -> None:
    """2 won, 2 lost: 50.0 %, (30 + 45) / 2 = 37.5 days; per owner; from March only."""
    report = ok(api.get("/reports/win-rate"))
    assert (2, 2, "50.0", "37.5") == (
        report["won"],
        report["lost"],
        report["win_rate"],
        report["average_days_to_win"],
    )
    assert [
        {"owner": "alice", "won": 1, "lost": 0, "win_rate": "100.0", "average_days_to_win": "30.0"},
        {"owner": "bob", "won": 1, "lost": 2, "win_rate": "33.3", "average_days_to_win": "45.0"},
    ] == report["owners"]
    assert [{"currency": "EUR", "count": 2, "amount": "700.00"}] == report["won_amounts"]
    march = ok(api.get("/reports/win-rate?from=2025-03-01&to=2025-03-31"))
    assert (1, 2, "33.3", "45.0", ["bob"]) == (
        march["won"],
        march["lost"],
        march["win_rate"],
        march["average_days_to_win"],
        [o["owner"] for o in march["owners"]],
    )
    assert [
        ["scope", "owner", "won", "lost", "win_rate", "average_days_to_win"],
        ["all", "", "2", "2", "50.0", "37.5"],
        ["owner", "alice", "1", "0", "100.0", "30.0"],
        ["owner", "bob", "1", "2", "33.3", "45.0"],
    ] == parse_csv(api.get("/reports/win-rate?format=csv"))
    nothing = ok(api.get("/reports/win-rate?from=2024-01-01&to=2024-12-31"))
    assert (0, 0, None, None) == (
        nothing["won"],
        nothing["lost"],
        nothing["win_rate"],
        nothing["average_days_to_win"],
    )


def test_activity_per_owner_and_kind(api: Api, data: Data) -> None:
    """Cancelled A3 left out; tasks count for their (re)assignee; A7 is on 03-01 UTC."""
    actor = data.activities["A1"]["created_by"]
    assert actor > "alice"  # owners come sorted by name
    march = ok(api.get("/reports/activity?from=2025-03-01&to=2025-03-31"))
    assert ("2025-03-01", "2025-03-31") == (march["from"], march["to"])
    assert [
        {"owner": "alice", "count": 2, "kinds": [{"kind": "task", "count": 2}]},
        {"owner": actor, "count": 3, "kinds": [{"kind": "call", "count": 1},
                                               {"kind": "email", "count": 1},
                                               {"kind": "note", "count": 1}]},
    ] == march["owners"]  # fmt: skip
    whole = ok(api.get("/reports/activity"))
    assert [2, 4] == [o["count"] for o in whole["owners"]]
    assert [
        ["owner", "kind", "count"],
        ["alice", "task", "2"],
        [actor, "call", "1"],
        [actor, "email", "1"],
        [actor, "note", "1"],
    ] == parse_csv(api.get("/reports/activity?from=2025-03-01&to=2025-03-31&format=csv"))


def tables(api: Api) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every reporting table, in a fixed order."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with api.crm.db.transaction(write=False) as tx:
        for statement in ReportingProjection().ddl(tx.dialect):
            if " TABLE " in statement:
                name = statement.split()[5]
                found[name] = sorted(tx.all(f"SELECT * FROM {name}"), key=repr)
    return found


def test_a_rebuild_from_the_log_gives_the_same_rows(api: Api, data: Data) -> None:
    """Every figure is reproducible from the log: rebuilding the read model from scratch
    gives back exactly the rows kept up to date event by event."""
    ok(api.get("/reports/revenue"))  # caught up with every write
    live = tables(api)
    assert 9 == len(live)
    assert all(live.values())  # every table holds rows of the data set
    Rebuild(api.crm, ReportingProjection()).run()
    assert live == tables(api)


def test_bad_range_is_a_problem(api: Api) -> None:
    """`to` before `from` is 400 invalid_range, as RFC 9457 problem JSON."""
    response = api.get("/reports/forecast?from=2025-03-01&to=2025-02-01")
    assert (400, "invalid_range") == (response.status_code, response.json()["code"])
    assert response.headers["content-type"].startswith("application/problem+json")
