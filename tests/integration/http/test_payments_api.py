"""Payments end to end over HTTP, on SQLite and PostgreSQL: partial and full payment,
overpayment kept as credit then allocated to a second invoice, refund, void, overdue."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tests.integration.http.conftest import Api

PATTERN = "{series}-{year}-{number:06d}"
# 3 x 10.015 = 30.05 at 21% (6.31) + 20.00 at 4% (0.80): total 57.16
LINES = [
    {"description": "Widget", "quantity": "3", "unit_price": "10.015", "vat_rate": "21"},
    {"description": "Book", "quantity": "1", "unit_price": "20.00", "vat_rate": "4"},
]


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert status == response.status_code, response.text
    return dict(response.json())


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert (status, code) == (response.status_code, response.json().get("code")), response.text
    assert "application/problem+json" == response.headers["content-type"]
    return dict(response.json())


def match(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


def new_issuer(api: Api) -> dict[str, Any]:
    body = {
        "legal_name": "Acme Soluciones SL",
        "tax_id": "B12345678",
        "series": [{"code": "A", "pattern": PATTERN}],
    }
    return ok(api.post("/issuers", json=body), 201)


def new_customer(api: Api, name: str = "Cliente SA") -> str:
    body = {"kind": "organisation", "name": name, "tax_id": "A87654321"}
    return str(ok(api.post("/contacts", json=body), 201)["id"])


def issued(api: Api, issuer: dict[str, Any], customer_id: str, **fields: Any) -> dict[str, Any]:
    body = {"issuer_id": issuer["id"], "series": "A", "customer_id": customer_id, "lines": LINES}
    draft = ok(api.post("/invoices", json={**body, **fields}), 201)
    path = f"/invoices/{draft['id']}/issue"
    rate = {} if draft["currency"] == "EUR" else {"exchange_rate": "0.900000"}
    return ok(api.post(path, json=rate or None, headers=match(draft["version"])))


def invoice(api: Api, invoice_id: str, as_of: str | None = None) -> dict[str, Any]:
    query = "" if as_of is None else f"?as_of={as_of}"
    return ok(api.get(f"/invoices/{invoice_id}{query}"))


def record(api: Api, customer_id: str, amount: str, **fields: Any) -> dict[str, Any]:
    body = {
        "customer_id": customer_id,
        "method": "transfer",
        "received_on": "2026-03-10",
        "amount": amount,
        "currency": "EUR",
        **fields,
    }
    return ok(api.post("/payments", json=body), 201)


def allocate(api: Api, payment: dict[str, Any], invoice_id: str, amount: str) -> Any:
    return api.post(
        f"/payments/{payment['id']}/allocations",
        json={"invoice_id": invoice_id, "amount": amount},
        headers=match(payment["version"]),
    )


def owed(inv: dict[str, Any]) -> tuple[str, str, str | None]:
    return inv["paid"], inv["outstanding"], inv["payment_status"]


def test_partial_then_full_payment(api: Api) -> None:
    """57.16 owed: 20.00 then 37.16 from two payments; paid, nothing outstanding."""
    issuer, customer = new_issuer(api), new_customer(api)
    inv = issued(api, issuer, customer)
    assert ("0.00", "57.16", "open") == owed(inv)
    first = record(api, customer, "20.00", method="card")
    first = ok(allocate(api, first, inv["id"], "20.00"))
    assert ("20.00", "0.00") == (first["allocated"], first["unallocated"])
    assert ("20.00", "37.16", "partially_paid") == owed(invoice(api, inv["id"]))
    second = record(
        api, customer, "37.16", allocations=[{"invoice_id": inv["id"], "amount": "37.16"}]
    )
    assert [{"invoice_id": inv["id"], "amount": "37.16"}] == second["allocations"]
    paid = invoice(api, inv["id"])
    assert ("57.16", "0.00", "paid") == owed(paid)
    assert {first["id"], second["id"]} == {p["payment_id"] for p in paid["payments"]}
    assert ok(api.get(f"/payments/{second['id']}")) == second
    assert (inv["number"], inv["totals"], inv["huella"]) == (
        paid["number"],
        paid["totals"],
        paid["huella"],
    )  # payments never touch the fiscal content


def test_overpayment_is_credit_allocated_to_a_second_invoice_then_refunded(api: Api) -> None:
    issuer, customer = new_issuer(api), new_customer(api)
    first, second = issued(api, issuer, customer), issued(api, issuer, customer)
    pay = record(
        api, customer, "150.00", allocations=[{"invoice_id": first["id"], "amount": "57.16"}]
    )
    assert "92.84" == pay["unallocated"]  # the overpayment is the customer's credit
    count = api.event_count()
    problem(allocate(api, pay, second["id"], "57.17"), 409, "invoice_overpayment")
    assert count == api.event_count()
    pay = ok(allocate(api, pay, second["id"], "57.16"))
    assert ("35.68", "114.32") == (pay["unallocated"], pay["allocated"])
    assert [("57.16", "0.00", "paid")] * 2 == [owed(invoice(api, i["id"])) for i in (first, second)]
    problem(
        api.post(
            f"/payments/{pay['id']}/refund",
            json={"amount": "35.69", "reason": "overpaid"},
            headers=match(pay["version"]),
        ),
        409,
        "payment_credit_exceeded",
    )
    refunded = ok(
        api.post(
            f"/payments/{pay['id']}/refund",
            json={"amount": "35.68", "reason": "overpaid", "refunded_on": "2026-03-12"},
            headers=match(pay["version"]),
        )
    )
    assert ("35.68", "0.00") == (refunded["refunded"], refunded["unallocated"])
    assert [{"amount": "35.68", "reason": "overpaid", "refunded_on": "2026-03-12"}] == refunded[
        "refunds"
    ]
    problem(
        api.post(
            f"/payments/{pay['id']}/void",
            json={"reason": "bounced"},
            headers=match(refunded["version"]),
        ),
        409,
        "payment_refunded",
    )


def test_deallocate_and_void(api: Api) -> None:
    issuer, customer = new_issuer(api), new_customer(api)
    first, second = issued(api, issuer, customer), issued(api, issuer, customer)
    pay = record(
        api,
        customer,
        "100.00",
        allocations=[
            {"invoice_id": first["id"], "amount": "57.16"},
            {"invoice_id": second["id"], "amount": "40.00"},
        ],
    )
    path = f"/payments/{pay['id']}/allocations/{first['id']}"
    problem(api.request("DELETE", path), 428, "precondition_required")
    freed = ok(api.request("DELETE", path, headers=match(pay["version"])))
    assert ("60.00", [second["id"]]) == (
        freed["unallocated"],
        [a["invoice_id"] for a in freed["allocations"]],
    )
    assert ("0.00", "57.16", "open") == owed(invoice(api, first["id"]))
    problem(
        api.request("DELETE", path, headers=match(freed["version"])),
        404,
        "payment_allocation_not_found",
    )
    problem(
        api.post(f"/payments/{pay['id']}/void", json={"reason": "x"}, headers=match(1)),
        412,
        "version_conflict",
    )
    voided = ok(
        api.post(
            f"/payments/{pay['id']}/void",
            json={"reason": "direct debit returned"},
            headers=match(freed["version"]),
        )
    )
    assert ("voided", [], "100.00") == (
        voided["status"],
        voided["allocations"],
        voided["unallocated"],
    )
    assert ("0.00", "57.16", "open") == owed(invoice(api, second["id"]))
    problem(allocate(api, voided, first["id"], "1.00"), 409, "payment_voided")


def test_allocation_rules(api: Api) -> None:
    """Another customer's invoice, another currency, a draft, a cancelled invoice, an
    unknown contact, and money as a JSON number are all refused, writing nothing."""
    issuer, customer, other = new_issuer(api), new_customer(api), new_customer(api, "Otro SL")
    theirs = issued(api, issuer, other)
    dollars = issued(api, issuer, customer, currency="USD")
    body = {"issuer_id": issuer["id"], "series": "A", "customer_id": customer, "lines": LINES}
    draft = ok(api.post("/invoices", json=body), 201)
    cancelled = issued(api, issuer, customer)
    ok(
        api.post(
            f"/invoices/{cancelled['id']}/cancel", json={}, headers=match(cancelled["version"])
        )
    )
    pay = record(api, customer, "10.00")
    count = api.event_count()
    for target, status, code in (
        (theirs, 422, "payment_customer_mismatch"),
        (dollars, 422, "payment_currency_mismatch"),
        (draft, 409, "invoice_not_issued"),
        (cancelled, 409, "invoice_cancelled"),
    ):
        problem(allocate(api, pay, target["id"], "1.00"), status, code)
    problem(
        record_raw(api, {"customer_id": customer, "amount": 10, "method": "cash"}),
        422,
        "validation_failed",
    )
    unknown = {"customer_id": theirs["id"], "amount": "1.00", "method": "cash"}
    problem(record_raw(api, unknown), 404, "not_found")
    assert count == api.event_count()
    assert ok(api.get(f"/payments/{pay['id']}")) == pay


def record_raw(api: Api, body: dict[str, Any]) -> Any:
    return api.post("/payments", json={"received_on": "2026-03-10", "currency": "EUR", **body})


def test_overdue_by_as_of_date(api: Api) -> None:
    """Due 30 days after issue by default, or on the date set on the draft; overdue the
    day after while anything is owed, never once paid."""
    issuer, customer = new_issuer(api), new_customer(api)
    inv = issued(api, issuer, customer)
    issue_day = date.fromisoformat(inv["issue_date"])
    due = issue_day + timedelta(days=30)
    assert due.isoformat() == inv["due_date"]
    assert "open" == invoice(api, inv["id"], due.isoformat())["payment_status"]
    late = (due + timedelta(days=1)).isoformat()
    assert "overdue" == invoice(api, inv["id"], late)["payment_status"]
    set_due = issued(api, issuer, customer, due_date=issue_day.isoformat())
    assert issue_day.isoformat() == set_due["due_date"]
    after = (issue_day + timedelta(days=1)).isoformat()
    assert "overdue" == invoice(api, set_due["id"], after)["payment_status"]
    pay = record(api, customer, "57.16")
    ok(allocate(api, pay, set_due["id"], "57.16"))
    assert ("57.16", "0.00", "paid") == owed(invoice(api, set_due["id"], after))


def merge(api: Api, survivor: str, duplicate: str) -> None:
    version = ok(api.get(f"/contacts/{survivor}"))["version"]
    body = {"duplicate_id": duplicate}
    ok(api.post(f"/contacts/{survivor}/merge", json=body, headers=match(version)))


def test_one_customer_after_a_merge_pays_the_invoices_of_both(api: Api) -> None:
    """After a merge, the survivor's payment pays an invoice billed to the duplicate and a
    payment recorded for the duplicate pays the survivor's, also once the survivor itself
    was merged into a third contact (two merges away); an unrelated customer's invoice is
    still refused. The invoices keep the customer they were billed to."""
    issuer = new_issuer(api)
    keeper, duplicate, older = (new_customer(api, n) for n in ("Keeper SA", "Dup SA", "Old SA"))
    stranger = new_customer(api, "Otro SL")
    billed_to_duplicate = issued(api, issuer, duplicate)
    billed_to_keeper = issued(api, issuer, keeper)
    billed_to_older = issued(api, issuer, older)
    theirs = issued(api, issuer, stranger)
    early = record(api, duplicate, "100.00")  # recorded before the merge
    pay = record(api, keeper, "200.00")
    problem(allocate(api, pay, billed_to_duplicate["id"], "1.00"), 422, "payment_customer_mismatch")

    merge(api, keeper, duplicate)
    pay = ok(allocate(api, pay, billed_to_duplicate["id"], "57.16"))
    early = ok(allocate(api, early, billed_to_keeper["id"], "57.16"))
    assert ("paid", "paid") == (
        invoice(api, billed_to_duplicate["id"])["payment_status"],
        invoice(api, billed_to_keeper["id"])["payment_status"],
    )
    assert duplicate == invoice(api, billed_to_duplicate["id"])["customer_id"]

    problem(allocate(api, early, billed_to_older["id"], "1.00"), 422, "payment_customer_mismatch")
    merge(api, older, keeper)  # the duplicate is now two merges from its survivor
    early = ok(allocate(api, early, billed_to_older["id"], "10.00"))
    assert {billed_to_keeper["id"]: "57.16", billed_to_older["id"]: "10.00"} == {
        a["invoice_id"]: a["amount"] for a in early["allocations"]
    }
    count = api.event_count()
    problem(allocate(api, pay, theirs["id"], "1.00"), 422, "payment_customer_mismatch")
    problem(allocate(api, early, theirs["id"], "1.00"), 422, "payment_customer_mismatch")
    assert count == api.event_count()
