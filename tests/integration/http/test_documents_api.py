"""Quotes, sales orders and delivery notes end to end over HTTP, on SQLite and PostgreSQL.

The main flow: quote -> revise -> send -> accept -> convert to order -> confirm -> two
partial deliveries -> over-delivery refused -> draft invoice of what was delivered ->
issue it; then the rest delivered and billed from its delivery note. Also: the quote
conversion is atomic (a concurrent conversion leaves no half-made order behind).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from crm_ledger import documents
from crm_ledger.domain.order import SalesOrder
from crm_ledger.domain.quote import Quote
from tests.integration.http.conftest import Api

LINES = [
    {"description": "Widget", "quantity": "10", "unit_price": "10.015", "vat_rate": "21"},
    {"description": "Book", "quantity": "2", "unit_price": "20.00", "vat_rate": "4"},
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
        "series": [{"code": "A", "pattern": "{series}-{year}-{number:06d}"}],
    }
    return ok(api.post("/issuers", json=body), 201)


def new_customer(api: Api) -> str:
    body = {
        "kind": "organisation",
        "name": "Cliente SA",
        "tax_id": "A87654321",
        "addresses": [{"line1": "Gran Via 2", "city": "Madrid", "country": "ES"}],
    }
    return str(ok(api.post("/contacts", json=body), 201)["id"])


def valid_until(days: int = 30) -> str:
    return (documents.today() + timedelta(days=days)).isoformat()


def new_quote(api: Api, issuer: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    body = {
        "customer_id": new_customer(api),
        "valid_until": valid_until(),
        "lines": LINES,
        **({} if issuer is None else {"issuer_id": issuer["id"]}),
        **fields,
    }
    return ok(api.post("/quotes", json=body), 201)


def step(api: Api, url: str, version: int, **kwargs: Any) -> dict[str, Any]:
    return ok(api.post(url, headers=match(version), **kwargs))


def accepted_quote(api: Api, issuer: dict[str, Any] | None = None) -> dict[str, Any]:
    quote = new_quote(api, issuer)
    quote = step(api, f"/quotes/{quote['id']}/send", quote["version"])
    return step(api, f"/quotes/{quote['id']}/accept", quote["version"])


def deliver(api: Api, order_id: str, *lines: tuple[int, str]) -> Any:
    body = {"order_id": order_id, "lines": [{"line_no": n, "quantity": q} for n, q in lines]}
    return api.post("/delivery-notes", json=body)


def quantities(order: dict[str, Any], key: str) -> list[str]:
    return [line[key] for line in order["lines"]]


def test_quote_to_order_to_partial_deliveries_to_invoice(api: Api) -> None:
    """The whole chain before an invoice, and the invoice drafted from what was delivered."""
    issuer = new_issuer(api)
    quote = new_quote(api, issuer)
    qid = quote["id"]
    # 10 x 10.015 = 100.15 (VAT 21.03); 2 x 20.00 = 40.00 (VAT 1.60)
    assert (1, "draft", "140.15", "22.63", "162.78") == (
        quote["revision"],
        quote["status"],
        quote["totals"]["base_total"],
        quote["totals"]["tax_total"],
        quote["totals"]["total"],
    )

    # revise a sent quote: revision 2, a draft again, to be sent again
    quote = step(api, f"/quotes/{qid}/send", quote["version"])
    assert "sent" == quote["status"]
    revised_lines = [LINES[0], {**LINES[1], "discount": "50"}]
    quote = step(api, f"/quotes/{qid}/revise", quote["version"], json={"lines": revised_lines})
    assert (2, "draft", "20.00") == (quote["revision"], quote["status"], quote["lines"][1]["base"])
    problem(
        api.post(f"/quotes/{qid}/accept", headers=match(quote["version"])),
        409,
        "quote_status_conflict",
    )
    quote = step(api, f"/quotes/{qid}/send", quote["version"])
    quote = step(api, f"/quotes/{qid}/accept", quote["version"])
    assert ("accepted", documents.today().isoformat()) == (quote["status"], quote["decided_on"])
    history = ok(api.get(f"/quotes/{qid}/history"))["items"]
    assert ["Drafted", "Sent", "Revised", "Sent", "Accepted"] == [i["event"] for i in history]
    assert "0" == history[0]["data"]["lines"][1]["discount"]  # revision 1 kept in its event

    # convert: 201 with the ORDER; the quote is converted and points at it
    converted = api.post(f"/quotes/{qid}/convert", headers=match(quote["version"]))
    order = ok(converted, 201)
    oid = order["id"]
    assert f"/orders/{oid}" == converted.headers["Location"]
    assert (qid, 2, "draft", ["10", "2"]) == (
        order["quote_id"],
        order["quote_revision"],
        order["status"],
        quantities(order, "quantity"),
    )
    quote = ok(api.get(f"/quotes/{qid}"))
    assert ("converted", oid) == (quote["status"], quote["order_id"])
    problem(
        api.post(f"/quotes/{qid}/convert", headers=match(quote["version"])),
        409,
        "quote_status_conflict",
    )

    # deliveries need a confirmed order
    problem(deliver(api, oid, (1, "4")), 409, "order_status_conflict")
    order = step(api, f"/orders/{oid}/confirm", order["version"])
    assert "confirmed" == order["status"]

    # two partial deliveries
    first = ok(deliver(api, oid, (1, "4")), 201)
    second = ok(deliver(api, oid, (1, "3"), (2, "2")), 201)
    assert [(1, "Widget", "3"), (2, "Book", "2")] == [
        (line["line_no"], line["description"], line["quantity"]) for line in second["lines"]
    ]
    order = ok(api.get(f"/orders/{oid}"))
    assert ("partially_delivered", ["7", "2"]) == (order["status"], quantities(order, "delivered"))
    assert [first["id"], second["id"]] == [d["delivery_note_id"] for d in order["deliveries"]]

    # over-delivery refused: nothing written
    before = api.event_count()
    refused = problem(deliver(api, oid, (1, "3"), (2, "0.5")), 409, "over_delivery")
    assert "line 2" in refused["detail"]
    problem(deliver(api, oid, (3, "1")), 422, "invalid_delivery_line")
    assert before == api.event_count()

    # the receiver signs the first note, once
    signed = step(
        api,
        f"/delivery-notes/{first['id']}/sign",
        first["version"],
        json={"name": "Marta García", "at": "2026-03-02T10:30:00+01:00"},
    )
    assert ("Marta García", "2026-03-02T09:30:00.000000Z") == (
        signed["signed_by"],
        signed["signed_at"],
    )
    problem(
        api.post(
            f"/delivery-notes/{first['id']}/sign",
            headers=match(signed["version"]),
            json={"name": "Someone"},
        ),
        409,
        "delivery_note_signed",
    )

    # invoice from the order: what was delivered and not invoiced (7 widgets, 2 books)
    made = api.post(f"/orders/{oid}/invoice", headers=match(order["version"]), json={"series": "A"})
    invoice = ok(made, 201)
    assert f"/invoices/{invoice['id']}" == made.headers["Location"]
    assert ("draft", issuer["id"], "A87654321") == (
        invoice["status"],
        invoice["issuer_id"],
        invoice["customer"]["tax_id"],
    )
    # 7 x 10.015 = 70.105 -> 70.11 (VAT 14.72); 2 x 20 - 50% = 20.00 (VAT 0.80)
    assert (["7", "2"], ["70.11", "20.00"], "90.11", "15.52", "105.63") == (
        [line["quantity"] for line in invoice["lines"]],
        [line["base"] for line in invoice["lines"]],
        invoice["totals"]["base_total"],
        invoice["totals"]["tax_total"],
        invoice["totals"]["total"],
    )
    order = ok(api.get(f"/orders/{oid}"))
    assert (["7", "2"], "partially_delivered") == (quantities(order, "invoiced"), order["status"])
    notes = [ok(api.get(f"/delivery-notes/{n['id']}")) for n in (first, second)]
    assert [invoice["id"]] * 2 == [n["invoice_id"] for n in notes]
    problem(
        api.post(f"/orders/{oid}/invoice", headers=match(order["version"]), json={"series": "A"}),
        409,
        "nothing_to_invoice",
    )
    issued = step(api, f"/invoices/{invoice['id']}/issue", invoice["version"])
    assert ("issued", "105.63") == (issued["status"], issued["totals"]["total"])

    # the rest delivered, billed from its delivery note; the order is then invoiced
    third = ok(deliver(api, oid, (1, "3")), 201)
    order = ok(api.get(f"/orders/{oid}"))
    assert ("delivered", ["10", "2"]) == (order["status"], quantities(order, "delivered"))
    problem(
        api.post(f"/orders/{oid}/cancel", headers=match(order["version"]), json={"reason": "x"}),
        409,
        "order_status_conflict",
    )
    problem(
        api.post(
            f"/delivery-notes/{first['id']}/invoice",
            headers=match(notes[0]["version"]),
            json={"series": "A"},
        ),
        409,
        "delivery_note_invoiced",
    )
    last = ok(
        api.post(
            f"/delivery-notes/{third['id']}/invoice",
            headers=match(third["version"]),
            json={"series": "A"},
        ),
        201,
    )
    assert (["3"], ["30.05"]) == (
        [line["quantity"] for line in last["lines"]],
        [line["base"] for line in last["lines"]],
    )
    order = ok(api.get(f"/orders/{oid}"))
    assert ("invoiced", ["10", "2"]) == (order["status"], quantities(order, "invoiced"))
    assert [invoice["id"], last["id"]] == [i["invoice_id"] for i in order["invoices"]]
    events, entries = api.event_count()
    assert events == entries


def test_direct_order_and_cancel(api: Api) -> None:
    """An order made without a quote; cancelled while partially delivered; still billed
    for what left; changes need If-Match."""
    issuer = new_issuer(api)
    body = {"customer_id": new_customer(api), "issuer_id": issuer["id"], "lines": LINES}
    order = ok(api.post("/orders", json=body), 201)
    oid = order["id"]
    assert (None, "draft") == (order["quote_id"], order["status"])
    problem(api.post(f"/orders/{oid}/confirm"), 428, "precondition_required")
    problem(
        api.post(f"/orders/{oid}/confirm", headers=match(order["version"] + 1)),
        412,
        "version_conflict",
    )
    order = step(api, f"/orders/{oid}/confirm", order["version"])
    ok(deliver(api, oid, (2, "1")), 201)
    order = ok(api.get(f"/orders/{oid}"))
    order = step(api, f"/orders/{oid}/cancel", order["version"], json={"reason": "out of stock"})
    assert ("cancelled", "out of stock") == (order["status"], order["cancel_reason"])
    problem(deliver(api, oid, (1, "1")), 409, "order_status_conflict")
    invoice = ok(
        api.post(f"/orders/{oid}/invoice", headers=match(order["version"]), json={"series": "A"}),
        201,
    )
    assert [("Book", "1")] == [(line["description"], line["quantity"]) for line in invoice["lines"]]
    no_lines = {**body, "lines": []}
    problem(api.post("/orders", json=no_lines), 422, "validation_failed")
    float_money = {**body, "lines": [{**LINES[0], "unit_price": 10.5}]}
    problem(api.post("/orders", json=float_money), 422, "validation_failed")


def test_quote_expiry_rejection_and_validation(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """After valid_until a sent quote cannot be accepted, only expired; a rejected quote
    keeps its reason; a past valid_until or an unknown customer is refused."""
    quote = new_quote(api, valid_until=valid_until(1))
    quote = step(api, f"/quotes/{quote['id']}/send", quote["version"])
    problem(
        api.post(f"/quotes/{quote['id']}/expire", headers=match(quote["version"])),
        422,
        "invalid_command",
    )
    later = documents.today() + timedelta(days=2)
    monkeypatch.setattr(documents, "today", lambda: later)
    problem(
        api.post(f"/quotes/{quote['id']}/accept", headers=match(quote["version"])),
        409,
        "quote_expired",
    )
    quote = step(api, f"/quotes/{quote['id']}/expire", quote["version"])
    assert "expired" == quote["status"]
    monkeypatch.undo()

    other = new_quote(api)
    other = step(api, f"/quotes/{other['id']}/send", other["version"])
    other = step(
        api, f"/quotes/{other['id']}/reject", other["version"], json={"reason": "too dear"}
    )
    assert ("rejected", "too dear") == (other["status"], other["rejection_reason"])

    body = {"customer_id": new_customer(api), "valid_until": valid_until(-1), "lines": LINES}
    problem(api.post("/quotes", json=body), 422, "invalid_valid_until")
    unknown = {
        **body,
        "customer_id": "0b5e7a52-8d6f-4b1e-9f59-6a0f6f0e2c11",
        "valid_until": valid_until(),
    }
    problem(api.post("/quotes", json=unknown), 404, "not_found")
    empty = new_quote(api, lines=[])
    problem(
        api.post(f"/quotes/{empty['id']}/send", headers=match(empty["version"])),
        422,
        "document_lines_required",
    )


def test_conversion_is_atomic(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two conversions of one quote race: the one that stores second fails as a whole.
    Its order is NOT written although the order is a brand-new aggregate, because it is
    stored in the same transaction as the quote's (conflicting) Converted event."""
    quote = accepted_quote(api)
    qid = quote["id"]
    made: list[SalesOrder] = []
    real_from_quote = SalesOrder.from_quote

    def racing_from_quote(q: Quote, *, actor: str) -> SalesOrder:
        order = real_from_quote(q, actor=actor)
        made.append(order)
        if len(made) == 1:  # meanwhile, another request converts the same quote
            documents.convert_quote(api.crm, q.id, expected_version=q.version, actor="user:other")
        return order

    monkeypatch.setattr(SalesOrder, "from_quote", racing_from_quote)
    before_events, before_entries = api.event_count()
    problem(
        api.post(f"/quotes/{qid}/convert", headers=match(quote["version"])), 412, "version_conflict"
    )
    monkeypatch.undo()

    loser, winner = made
    problem(api.get(f"/orders/{loser.id}"), 404, "not_found")
    assert ok(api.get(f"/orders/{winner.id}"))["quote_id"] == qid
    assert ("converted", str(winner.id)) == (
        ok(api.get(f"/quotes/{qid}"))["status"],
        ok(api.get(f"/quotes/{qid}"))["order_id"],
    )
    # exactly the winner's two events (order Created, quote Converted), each in the ledger
    assert (before_events + 2, before_entries + 2) == api.event_count()


def test_convert_replayed_with_idempotency_key_makes_one_order(api: Api) -> None:
    """A retried conversion with the same Idempotency-Key answers the first order again."""
    quote = accepted_quote(api)
    headers = {**match(quote["version"]), "Idempotency-Key": "convert-once"}
    first = ok(api.post(f"/quotes/{quote['id']}/convert", headers=headers), 201)
    again = api.post(f"/quotes/{quote['id']}/convert", headers=headers)
    assert (201, first["id"], "true") == (
        again.status_code,
        again.json()["id"],
        again.headers.get("idempotent-replayed"),
    )


def test_invoice_needs_an_issuer(api: Api) -> None:
    """An order with no issuer is billed only when the request names one."""
    quote = accepted_quote(api)  # no issuer on the quote, so none on the order
    order = ok(api.post(f"/quotes/{quote['id']}/convert", headers=match(quote["version"])), 201)
    order = step(api, f"/orders/{order['id']}/confirm", order["version"])
    ok(deliver(api, order["id"], (1, "1")), 201)
    order = ok(api.get(f"/orders/{order['id']}"))
    url = f"/orders/{order['id']}/invoice"
    refused = problem(
        api.post(url, headers=match(order["version"]), json={"series": "A"}), 422, "invalid_command"
    )
    assert [{"pointer": "/issuer_id", "detail": refused["detail"]}] == refused["errors"]
    issuer = new_issuer(api)
    invoice = ok(
        api.post(
            url, headers=match(order["version"]), json={"series": "A", "issuer_id": issuer["id"]}
        ),
        201,
    )
    assert issuer["id"] == invoice["issuer_id"]
