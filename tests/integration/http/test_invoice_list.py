"""``GET /invoices``: summaries from the reporting read model, newest first (drafts
first), filtered and paged; each issued summary agrees with ``GET /invoices/{id}``
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from crm_ledger.domain.invoice import today
from tests.integration.http.conftest import Api
from tests.integration.http.test_invoices_api import (
    issue,
    match,
    new_customer,
    new_draft,
    new_issuer,
    ok,
    problem,
)


def listed(api: Api, **params: Any) -> list[dict[str, Any]]:
    return api.every_page("/invoices", **params)


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["id"] for i in items]


def test_invoices_are_listed_filtered_and_paged(api: Api) -> None:
    issuer = new_issuer(api)
    acme = new_customer(api)
    bea = {"kind": "person", "name": "Bea Ruiz", "tax_id": "12345678Z"}
    other = ok(api.post("/contacts", json=bea), 201)["id"]
    draft = new_draft(api, issuer, customer_id=acme)
    open_one = issue(api, new_draft(api, issuer, customer_id=acme))
    paid_one = issue(api, new_draft(api, issuer, customer_id=other))
    total = paid_one["totals"]["total"]
    body = {"customer_id": other, "method": "transfer", "received_on": today().isoformat(),
            "amount": total, "currency": "EUR",
            "allocations": [{"invoice_id": paid_one["id"], "amount": total}]}  # fmt: skip
    ok(api.post("/payments", json=body), 201)
    cancelled = issue(api, new_draft(api, issuer, customer_id=acme))
    ok(api.post(f"/invoices/{cancelled['id']}/cancel", json={"reason": "wrong customer"},
                headers=match(cancelled["version"])))  # fmt: skip

    everything = listed(api)
    assert draft["id"] == everything[0]["id"]  # drafts first
    issued = [open_one["id"], paid_one["id"], cancelled["id"]]
    assert sorted(issued, reverse=True) == ids(everything[1:])  # one day: then by id
    assert ids(everything) == ids(ok(api.get("/invoices", params={"limit": 200}))["items"])

    summary = {i["id"]: i for i in everything}
    assert {"status": "draft", "number": None, "total": None, "paid": None,
            "outstanding": None, "payment_status": None, "customer_name": "Cliente SA",
            "customer_id": acme} == {k: summary[draft["id"]][k] for k in (
                "status", "number", "total", "paid", "outstanding", "payment_status",
                "customer_name", "customer_id")}  # fmt: skip
    for invoice_id in issued:
        full = ok(api.get(f"/invoices/{invoice_id}"))
        mine = summary[invoice_id]
        assert (full["status"], full["number"], full["invoice_type"], full["issue_date"]) == (
            mine["status"], mine["number"], mine["invoice_type"], mine["issue_date"])  # fmt: skip
        assert (full["totals"]["total"], full["paid"], full["outstanding"]) == (
            mine["total"], mine["paid"], mine["outstanding"])  # fmt: skip
        assert (full["payment_status"], full["due_date"]) == (
            mine["payment_status"], mine["due_date"])  # fmt: skip
    paid = summary[paid_one["id"]]
    assert ("paid", "0.00") == (paid["payment_status"], paid["outstanding"])
    assert "open" == summary[open_one["id"]]["payment_status"]
    assert "Bea Ruiz" == summary[paid_one["id"]]["customer_name"]

    assert sorted([open_one["id"], paid_one["id"]], reverse=True) == ids(
        listed(api, status="issued"))  # fmt: skip
    assert [cancelled["id"]] == ids(listed(api, status="cancelled"))
    assert {draft["id"], open_one["id"], cancelled["id"]} == set(ids(listed(api, customer_id=acme)))
    day = today()
    assert set(issued) == set(ids(listed(api, issued_from=day.isoformat(),
                                          issued_to=day.isoformat())))  # fmt: skip
    assert [] == listed(api, issued_from=(day + timedelta(days=1)).isoformat())
    assert [] == listed(api, issued_to=(day - timedelta(days=1)).isoformat())

    problem(api.get("/invoices", params={"cursor": "not-ours"}), 400, "malformed_cursor")
    problem(api.get("/invoices", params={"status": "paid"}), 422, "validation_failed")
    problem(api.get("/invoices", params={"limit": 0}), 422, "validation_failed")
