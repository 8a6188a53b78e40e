"""``GET /quotes``, ``GET /orders``, ``GET /pipelines`` and ``GET /delivery-notes``: their
read models, newest first, with their filters, paged; every listed document equals the
one read by id (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.integration.http.conftest import Api
from tests.integration.http.test_documents_api import (
    LINES,
    deliver,
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


def test_delivery_notes_are_listed_as_they_are_read(api: Api) -> None:
    issuer = new_issuer(api)
    orders = []
    for _ in range(2):
        quote = step(api, f"/quotes/{new_quote(api, issuer)['id']}/send", 1)
        quote = step(api, f"/quotes/{quote['id']}/accept", quote["version"])
        order = ok(api.post(f"/quotes/{quote['id']}/convert",
                            headers=match(quote["version"])), 201)  # fmt: skip
        orders.append(step(api, f"/orders/{order['id']}/confirm", order["version"]))
    first_order, other_order = orders
    first = ok(deliver(api, first_order["id"], (1, "4")), 201)
    second = ok(deliver(api, first_order["id"], (1, "3"), (2, "2")), 201)
    third = ok(deliver(api, other_order["id"], (1, "10")), 201)
    signed = step(api, f"/delivery-notes/{first['id']}/sign", first["version"],
                  json={"name": "Marta García"})  # fmt: skip
    billed = ok(api.post(f"/delivery-notes/{second['id']}/invoice",
                         headers=match(second["version"]), json={"series": "A"}), 201)  # fmt: skip

    notes = api.every_page("/delivery-notes")
    assert [third["id"], second["id"], first["id"]] == [n["id"] for n in notes]
    for note in notes:
        assert ok(api.get(f"/delivery-notes/{note['id']}")) == note
    assert signed == notes[2]
    assert billed["id"] == notes[1]["invoice_id"]

    def listed(**filters: object) -> list[str]:
        return [n["id"] for n in api.every_page("/delivery-notes", **filters)]

    assert [second["id"], first["id"]] == listed(order_id=first_order["id"])
    assert [third["id"]] == listed(customer_id=other_order["customer_id"])
    assert [third["id"], first["id"]] == listed(invoiced="false")
    assert [second["id"]] == listed(invoiced="true")
    assert [first["id"]] == listed(signed="true")
    assert [third["id"]] == listed(signed="false", invoiced="false")
    problem(api.get("/delivery-notes", params={"invoiced": "maybe"}), 422, "validation_failed")
    problem(api.get("/delivery-notes", params={"cursor": "nope"}), 400, "malformed_cursor")


def test_issuers_are_listed_as_they_are_read(api: Api) -> None:
    first, second = new_issuer(api), new_issuer(api)
    added = ok(api.post(f"/issuers/{second['id']}/series",
                        json={"code": "R", "pattern": "R/{year}/{series}{number:05d}"},
                        headers=match(second["version"])))  # fmt: skip
    body = {"issuer_id": first["id"], "series": "A", "customer_id": new_customer(api),
            "lines": LINES}  # fmt: skip
    draft = ok(api.post("/invoices", json=body), 201)
    ok(api.post(f"/invoices/{draft['id']}/issue", headers=match(draft["version"])))

    listed = api.every_page("/issuers", limit=1)
    assert [second["id"], first["id"]] == [i["id"] for i in listed]
    for issuer in listed:
        assert ok(api.get(f"/issuers/{issuer['id']}")) == issuer
    assert (
        ["A", "R"]
        == [s["code"] for s in listed[0]["series"]]
        == [s["code"] for s in added["series"]]
    )
    # one invoice issued by the first: its next number and its VERI*FACTU chain moved
    assert ([2], 0, 1) == (
        list(listed[1]["series"][0]["next_numbers"].values()),
        first["chain"]["count"],
        listed[1]["chain"]["count"],
    )
    problem(api.get("/issuers", params={"cursor": "nope"}), 400, "malformed_cursor")
