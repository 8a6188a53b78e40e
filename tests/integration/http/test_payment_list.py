"""``GET /payments`` and ``GET /contacts/{id}/credit``: the payments read model follows
allocations, refunds and voids; each listed payment equals ``GET /payments/{id}``
(SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.integration.http.conftest import Api
from tests.integration.http.test_payments_api import (
    issued,
    match,
    new_customer,
    new_issuer,
    ok,
    problem,
    record,
)


def listed(api: Api, **params: Any) -> list[dict[str, Any]]:
    return api.every_page("/payments", **params)


def credit(api: Api, contact_id: str) -> list[dict[str, Any]]:
    answer = ok(api.get(f"/contacts/{contact_id}/credit"))
    assert contact_id == answer["customer_id"]
    return list(answer["credit"])


def test_payments_are_listed_and_a_customers_credit_follows_them(api: Api) -> None:
    issuer = new_issuer(api)
    acme = new_customer(api)
    other = new_customer(api, "Otra SL")
    bill = issued(api, issuer, acme)
    early = record(api, acme, "100.00", received_on="2026-03-01")
    usd = record(api, acme, "30.00", received_on="2026-03-02", currency="USD")
    late = record(api, acme, "50.00", received_on="2026-03-03")
    theirs = record(api, other, "10.00", received_on="2026-03-04")
    assert [{"currency": "EUR", "credit": "150.00", "payments": 2},
            {"currency": "USD", "credit": "30.00", "payments": 1}] == credit(api, acme)  # fmt: skip

    amount = min(Decimal(bill["totals"]["total"]), Decimal("100.00"))
    early = ok(api.post(f"/payments/{early['id']}/allocations",
                        json={"invoice_id": bill["id"], "amount": str(amount)},
                        headers=match(early["version"])))  # fmt: skip
    late = ok(api.post(f"/payments/{late['id']}/refund",
                       json={"amount": "20.00", "reason": "overpaid"},
                       headers=match(late["version"])))  # fmt: skip
    usd = ok(api.post(f"/payments/{usd['id']}/void", json={"reason": "entered twice"},
                      headers=match(usd["version"])))  # fmt: skip

    everything = listed(api)
    assert [theirs["id"], late["id"], usd["id"], early["id"]] == [p["id"] for p in everything]
    for payment in everything:
        assert ok(api.get(f"/payments/{payment['id']}")) == payment
    mine = listed(api, customer_id=acme)
    assert [late["id"], usd["id"], early["id"]] == [p["id"] for p in mine]
    left = Decimal("100.00") - amount
    with_credit = [late["id"]] + ([early["id"]] if left > 0 else [])
    assert with_credit == [p["id"] for p in listed(api, customer_id=acme, with_credit=True)]
    euros = str(Decimal("30.00") + left)  # 50 received - 20 refunded, and what is left
    assert [{"currency": "EUR", "credit": euros, "payments": len(with_credit)}] == credit(
        api, acme)  # fmt: skip
    assert [{"currency": "EUR", "credit": "10.00", "payments": 1}] == credit(api, other)

    nobody = ok(api.post("/contacts", json={"kind": "person", "name": "Sin Pagos"}), 201)
    assert [] == credit(api, nobody["id"])
    problem(api.get("/contacts/0b5e7a52-8d6f-4b1e-9f59-6a0f6f0e2c11/credit"), 404, "not_found")
    problem(api.get("/payments", params={"cursor": "nope"}), 400, "malformed_cursor")
