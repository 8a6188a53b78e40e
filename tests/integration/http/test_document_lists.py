"""``GET /quotes`` and ``GET /orders``: the quotes and orders read models, newest first,
by customer and status, paged; every listed document equals the one read by id (SQLite
and PostgreSQL)."""

from __future__ import annotations

from tests.integration.http.conftest import Api
from tests.integration.http.test_documents_api import (
    LINES,
    match,
    new_customer,
    new_issuer,
    new_quote,
    ok,
    problem,
    step,
)


def test_quotes_and_orders_are_listed_as_they_are_read(api: Api) -> None:
    issuer = new_issuer(api)
    first = new_quote(api, issuer)
    customer = first["customer_id"]
    sent = step(api, f"/quotes/{new_quote(api, issuer, customer_id=customer)['id']}/send", 1)
    accepted = step(api, f"/quotes/{sent['id']}/accept", sent["version"])
    converted = ok(api.post(f"/quotes/{accepted['id']}/convert",
                            headers=match(accepted["version"])), 201)  # fmt: skip
    other = new_quote(api, issuer)  # another customer
    direct = ok(api.post("/orders", json={"customer_id": customer, "issuer_id": issuer["id"],
                                          "lines": LINES}), 201)  # fmt: skip
    direct = step(api, f"/orders/{direct['id']}/confirm", direct["version"])

    quotes = api.every_page("/quotes")
    assert [other["id"], sent["id"], first["id"]] == [q["id"] for q in quotes]
    for quote in quotes:
        assert ok(api.get(f"/quotes/{quote['id']}")) == quote
    assert "converted" == quotes[1]["status"]
    mine = api.every_page("/quotes", customer_id=customer)
    assert [sent["id"], first["id"]] == [q["id"] for q in mine]
    drafts = api.every_page("/quotes", status="draft")
    assert [other["id"], first["id"]] == [q["id"] for q in drafts]
    assert [] == api.every_page("/quotes", status="expired")

    orders = api.every_page("/orders")
    assert [direct["id"], converted["id"]] == [o["id"] for o in orders]
    for order in orders:
        assert ok(api.get(f"/orders/{order['id']}")) == order
    assert [direct["id"]] == [o["id"] for o in api.every_page("/orders", status="confirmed")]
    assert [] == api.every_page("/orders", customer_id=new_customer(api))

    problem(api.get("/quotes", params={"status": "won"}), 422, "validation_failed")
    problem(api.get("/orders", params={"cursor": "nope"}), 400, "malformed_cursor")


def test_pipelines_are_listed_as_they_are_read(api: Api) -> None:
    stages = [{"name": "Qualified", "probability": 20, "forecast_category": "pipeline"}]
    made = [
        ok(api.post("/pipelines", json={"name": name, "stages": stages}), 201)
        for name in ("Sales", "Renewals", "Partners")
    ]
    first = made[0]
    stage = first["stages"][0]["stage_id"]
    renamed = ok(api.patch(f"/pipelines/{first['id']}/stages/{stage}", json={"name": "Lead"},
                           headers=match(first["version"])))  # fmt: skip

    listed = api.every_page("/pipelines")
    assert [p["id"] for p in reversed(made)] == [p["id"] for p in listed]
    for pipeline in listed:
        assert ok(api.get(f"/pipelines/{pipeline['id']}")) == pipeline
    assert "Lead" == listed[-1]["stages"][0]["name"] == renamed["stages"][0]["name"]
    problem(api.get("/pipelines", params={"cursor": "nope"}), 400, "malformed_cursor")
