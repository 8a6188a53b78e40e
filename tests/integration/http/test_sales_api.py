"""Pipelines and deals end to end over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from tests.integration.http.conftest import Api

STAGES = [
    {"name": "Qualified", "probability": 20, "forecast_category": "pipeline"},
    {"name": "Proposal", "probability": 50, "forecast_category": "best_case"},
    {"name": "Negotiation", "probability": 80, "forecast_category": "commit"},
]


@pytest.fixture
def sales(api: Api) -> Api:
    return api


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert status == response.status_code, response.text
    return dict(response.json())


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert (status, code) == (response.status_code, response.json().get("code")), response.text
    assert "application/problem+json" == response.headers["content-type"]
    return dict(response.json())


def match(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


def contact(api: Api) -> str:
    body = {"kind": "organisation", "name": "Acme SL"}
    return str(ok(api.post("/contacts", json=body), 201)["id"])


def new_pipeline(api: Api) -> dict[str, Any]:
    return ok(api.post("/pipelines", json={"name": "New business", "stages": STAGES}), 201)


def new_deal(api: Api, pipeline: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {
        "title": "Acme renewal",
        "contact_id": contact(api),
        "pipeline_id": pipeline["id"],
        "currency": "EUR",
        **fields,
    }
    return ok(api.post("/deals", json=body), 201)


def stage_ids(pipeline: dict[str, Any]) -> list[str]:
    return [s["stage_id"] for s in pipeline["stages"]]


def test_contact_pipeline_deal_move_win(sales: Api) -> None:
    """The lead-free flow: contact, pipeline with 3 stages, deal, move, win."""
    pipeline = new_pipeline(sales)
    assert ["Qualified", "Proposal", "Negotiation"] == [s["name"] for s in pipeline["stages"]]
    first, second, _ = stage_ids(pipeline)

    created = sales.post(
        "/deals",
        json={
            "title": "Acme renewal",
            "contact_id": contact(sales),
            "pipeline_id": pipeline["id"],
            "amount": "1234.5",
            "currency": "EUR",
            "expected_close": "2026-06-30",
        },
    )
    deal = ok(created, 201)
    did = deal["id"]
    assert ('"1"', f"/deals/{did}") == (created.headers["etag"], created.headers["location"])
    assert int(created.headers["x-log-position"]) > 0
    assert ("1234.50", first, "open") == (deal["amount"], deal["stage_id"], deal["status"])

    moved = sales.post(f"/deals/{did}/move", json={"stage_id": second}, headers=match(1))
    assert second == ok(moved)["stage_id"]
    assert '"2"' == moved.headers["etag"]

    won = ok(sales.post(f"/deals/{did}/win", headers=match(2)))
    assert ("won", 3) == (won["status"], won["version"])
    read = sales.get(f"/deals/{did}")
    assert ('"3"', "won") == (read.headers["etag"], read.json()["status"])
    assert [first, second] == [h["stage_id"] for h in read.json()["stage_history"]]

    history = ok(sales.get(f"/deals/{did}/history"))["items"]
    assert ["Created", "Moved", "Won"] == [h["event"] for h in history]
    assert {"stage_id": second, "from_stage_id": first} == {
        k: history[1]["data"][k] for k in ("stage_id", "from_stage_id")
    }
    assert all(h["actor"].startswith("apikey:") for h in history)
    events, entries = sales.event_count()
    assert events == entries


def test_pipeline_stage_commands(sales: Api) -> None:
    """Add, rename and reorder stages, each with If-Match and a new ETag."""
    pipeline = new_pipeline(sales)
    pid = pipeline["id"]
    a, b, c = stage_ids(pipeline)
    read = sales.get(f"/pipelines/{pid}")
    assert ('"1"', pipeline["stages"]) == (read.headers["etag"], read.json()["stages"])

    added = ok(
        sales.post(
            f"/pipelines/{pid}/stages",
            json={"name": "Won", "probability": 100, "forecast_category": "closed"},
            headers=match(1),
        )
    )
    d = stage_ids(added)[-1]
    renamed = ok(
        sales.patch(f"/pipelines/{pid}/stages/{b}", json={"name": "Demo"}, headers=match(2))
    )
    assert "Demo" == renamed["stages"][1]["name"]
    reordered = sales.post(
        f"/pipelines/{pid}/stages:reorder", json={"stage_ids": [d, c, b, a]}, headers=match(3)
    )
    assert [d, c, b, a] == stage_ids(ok(reordered))
    assert '"4"' == reordered.headers["etag"]
    problem(
        sales.post(
            f"/pipelines/{pid}/stages:reorder", json={"stage_ids": [a, b]}, headers=match(4)
        ),
        422,
        "invalid_stage_order",
    )
    problem(
        sales.patch(f"/pipelines/{pid}/stages/{a}", json={"name": "Won"}, headers=match(4)),
        422,
        "invalid_command",
    )


def test_lose_requires_a_reason_and_reopen(sales: Api) -> None:
    """A blank reason is refused by the domain, a missing one by validation."""
    deal = new_deal(sales, new_pipeline(sales))
    url = f"/deals/{deal['id']}"
    blank = problem(
        sales.post(f"{url}/lose", json={"reason": "  "}, headers=match(1)), 422, "invalid_command"
    )
    assert [{"pointer": "/reason", "detail": "a lost deal needs a reason"}] == blank["errors"]
    problem(sales.post(f"{url}/lose", json={}, headers=match(1)), 422, "validation_failed")
    lost = ok(sales.post(f"{url}/lose", json={"reason": "chose a competitor"}, headers=match(1)))
    assert ("lost", "chose a competitor") == (lost["status"], lost["lost_reason"])
    problem(sales.post(f"{url}/win", headers=match(2)), 409, "deal_closed")
    reopened = ok(sales.post(f"{url}/reopen", headers=match(2)))
    assert ("open", None) == (reopened["status"], reopened["lost_reason"])
    problem(sales.post(f"{url}/reopen", headers=match(3)), 409, "deal_not_closed")


def test_if_match_is_required_and_checked(sales: Api) -> None:
    """Stale If-Match: 412, nothing written; missing: 428."""
    deal = new_deal(sales, new_pipeline(sales))
    url = f"/deals/{deal['id']}"
    ok(sales.patch(url, json={"title": "Acme 2026"}, headers=match(1)))
    before = sales.event_count()
    problem(sales.patch(url, json={"title": "Stale"}, headers=match(1)), 412, "version_conflict")
    problem(sales.post(f"{url}/lose", json={"reason": "x"}), 428, "precondition_required")
    pid = deal["pipeline_id"]
    problem(
        sales.post(f"/pipelines/{pid}/stages/{deal['stage_id']}/retire", headers=match(9)),
        412,
        "version_conflict",
    )
    assert before == sales.event_count()
    assert "Acme 2026" == sales.get(url).json()["title"]


@pytest.mark.parametrize("amount", ["12.345", 12.5, 12, "-1", "1e3", "1234567890123", ""])
def test_bad_money_is_refused(sales: Api, amount: object) -> None:
    """Money is a JSON string with at most 2 decimals: numbers and bad strings are 422."""
    pipeline = new_pipeline(sales)
    body = {
        "title": "Acme",
        "contact_id": contact(sales),
        "pipeline_id": pipeline["id"],
        "currency": "EUR",
        "amount": amount,
    }
    failed = problem(sales.post("/deals", json=body), 422, "validation_failed")
    assert "/amount" in {e.get("pointer") for e in failed["errors"]}


def test_money_update_and_win_rules(sales: Api) -> None:
    """Amount as string round-trips exactly; win needs an amount; currency locks."""
    deal = new_deal(sales, new_pipeline(sales))
    url = f"/deals/{deal['id']}"
    problem(sales.post(f"{url}/win", headers=match(1)), 422, "deal_amount_required")
    problem(sales.patch(url, json={"amount": 0.1}, headers=match(1)), 422, "validation_failed")
    updated = ok(sales.patch(url, json={"amount": "0.10", "currency": "USD"}, headers=match(1)))
    assert ("0.10", "USD", 2) == (updated["amount"], updated["currency"], updated["version"])
    problem(
        sales.patch(url, json={"currency": "EUR"}, headers=match(2)), 409, "deal_currency_locked"
    )
    cleared = ok(sales.patch(url, json={"expected_close": None, "owner": "ana"}, headers=match(2)))
    assert (None, "ana", 3) == (cleared["expected_close"], cleared["owner"], cleared["version"])


def test_retire_stage_in_use_is_refused(sales: Api) -> None:
    """A stage holding open deals cannot be retired (409, with the count); once empty it
    can, and then no deal moves into it."""
    pipeline = new_pipeline(sales)
    pid = pipeline["id"]
    a, b, _ = stage_ids(pipeline)
    first = new_deal(sales, pipeline, amount="10.00")
    new_deal(sales, pipeline)
    refused = problem(
        sales.post(f"/pipelines/{pid}/stages/{a}/retire", headers=match(1)), 409, "stage_in_use"
    )
    assert "2 open deal(s)" in refused["detail"]

    ok(sales.post(f"/deals/{first['id']}/win", headers=match(1)))
    refused = problem(
        sales.post(f"/pipelines/{pid}/stages/{a}/retire", headers=match(1)), 409, "stage_in_use"
    )
    assert "1 open deal(s)" in refused["detail"]  # the won deal no longer counts

    retired = ok(sales.post(f"/pipelines/{pid}/stages/{b}/retire", headers=match(1)))
    assert [False, True, False] == [s["retired"] for s in retired["stages"]]
    problem(
        sales.post(f"/pipelines/{pid}/stages/{b}/retire", headers=match(2)), 409, "stage_retired"
    )
    other = new_deal(sales, pipeline)
    problem(
        sales.post(f"/deals/{other['id']}/move", json={"stage_id": b}, headers=match(1)),
        409,
        "stage_retired",
    )
    problem(sales.post("/deals", json={**_deal_body(other), "stage_id": b}), 409, "stage_retired")


def _deal_body(deal: dict[str, Any]) -> dict[str, Any]:
    keys = ("title", "contact_id", "pipeline_id", "currency")
    return {k: deal[k] for k in keys}


def test_move_closed_deal_and_unknown_references(sales: Api) -> None:
    """Moving a closed deal is 409; unknown contact, pipeline or stage is 404."""
    pipeline = new_pipeline(sales)
    _, b, _ = stage_ids(pipeline)
    deal = new_deal(sales, pipeline, amount="5")
    url = f"/deals/{deal['id']}"
    ok(sales.post(f"{url}/win", headers=match(1)))
    problem(sales.post(f"{url}/move", json={"stage_id": b}, headers=match(2)), 409, "deal_closed")
    missing = "00000000-0000-4000-8000-000000000000"
    body = _deal_body(deal)
    problem(sales.post("/deals", json={**body, "contact_id": missing}), 404, "not_found")
    problem(sales.post("/deals", json={**body, "pipeline_id": missing}), 404, "not_found")
    problem(sales.post("/deals", json={**body, "stage_id": missing}), 404, "stage_not_found")
    problem(sales.get(f"/deals/{missing}"), 404, "not_found")
    problem(sales.get(f"/pipelines/{deal['id']}"), 404, "not_found")  # a deal is no pipeline


def test_unknown_fields_are_rejected(sales: Api) -> None:
    """extra=forbid on every request body."""
    pipeline = new_pipeline(sales)
    deal = new_deal(sales, pipeline)
    url = f"/deals/{deal['id']}"
    problem(sales.patch(url, json={"status": "won"}, headers=match(1)), 422, "validation_failed")
    problem(
        sales.post("/pipelines", json={"name": "P", "stages": [{**STAGES[0], "x": 1}]}),
        422,
        "validation_failed",
    )
    problem(
        sales.post(
            "/pipelines", json={"name": "P", "stages": [{**STAGES[0], "probability": "20"}]}
        ),
        422,
        "validation_failed",
    )


def test_openapi_documents_money_as_string(sales: Api) -> None:
    """The schema shows amount as a patterned string with an example."""
    schema = sales.client.get("/openapi.json").json()
    amount = schema["components"]["schemas"]["DealCreate"]["properties"]["amount"]
    variants = amount.get("anyOf", [amount])
    assert {"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$"}.items() <= variants[0].items()
    assert "/pipelines/{pipeline_id}/stages:reorder" in schema["paths"]


# -- deal lines -----------------------------------------------------------------------


def product(api: Api, sku: str = "TRACKER-1", name: str = "GPS tracker") -> str:
    body = {"sku": sku, "name": name, "unit": "unit"}
    return str(ok(api.post("/products", json=body), 201)["id"])


def priced(
    api: Api,
    product_id: str,
    *,
    valid_from: str = "2020-01-01",
    currency: str = "EUR",
    **price: str,
) -> str:
    """A price list holding one price for the product; its id."""
    body = {"name": f"List from {valid_from}", "currency": currency, "valid_from": valid_from}
    list_id = str(ok(api.post("/price-lists", json=body), 201)["id"])
    url = f"/price-lists/{list_id}/prices/{product_id}"
    ok(api.request("PUT", url, json=price, headers=match(1)))
    return list_id


def line_values(deal: dict[str, Any]) -> list[tuple[str | None, str, str, str, str, str]]:
    return [
        (
            x["product_id"],
            x["description"],
            x["quantity"],
            x["unit_price"],
            x["discount_percent"],
            x["total"],
        )
        for x in deal["lines"]
    ]


def test_deal_lines_priced_from_the_catalogue(sales: Api) -> None:
    """A product line without a unit price takes today's price for its quantity from the
    price lists (volume price and its discount from 10 units; a list not valid yet is
    ignored); the deal's amount is the sum of the line totals, money as strings."""
    pid = product(sales)
    priced(sales, pid, unit_price="55.00")
    priced(sales, pid, unit_price="49.00", min_quantity="10", discount_percent="10")
    priced(sales, pid, valid_from="2099-01-01", unit_price="1.00")  # not valid today
    deal = new_deal(sales, new_pipeline(sales))
    url = f"/deals/{deal['id']}"
    assert [] == deal["lines"]

    added = sales.post(f"{url}/lines", json={"product_id": pid, "quantity": "12"}, headers=match(1))
    first = ok(added)
    assert ('"2"', 2, "529.20") == (added.headers["etag"], first["version"], first["amount"])
    assert [(pid, "GPS tracker", "12", "49.00", "10.00", "529.20")] == line_values(first)
    assert str(UUID(first["lines"][0]["line_id"])) == first["lines"][0]["line_id"]

    second = ok(
        sales.post(
            f"{url}/lines",
            json={"product_id": pid, "quantity": "2", "description": "Spare trackers"},
            headers=match(2),
        )
    )
    assert (pid, "Spare trackers", "2", "55.00", "0.00", "110.00") == line_values(second)[1]
    manual = {"description": "Installation", "quantity": "1", "unit_price": "150.00"}
    third = ok(
        sales.post(f"{url}/lines", json={**manual, "discount_percent": "5"}, headers=match(3))
    )
    assert (None, "Installation", "1", "150.00", "5.00", "142.50") == line_values(third)[2]
    assert "781.70" == third["amount"]
    overridden = ok(
        sales.post(
            f"{url}/lines",
            json={"product_id": pid, "quantity": "1", "unit_price": "40.00"},
            headers=match(4),
        )
    )
    assert (pid, "GPS tracker", "1", "40.00", "0.00", "40.00") == line_values(overridden)[3]

    line_id = first["lines"][0]["line_id"]
    changed = ok(sales.patch(f"{url}/lines/{line_id}", json={"quantity": "15.5"}, headers=match(5)))
    assert ("15.5", "683.55", "976.05") == (  # 15.5 x 49 x 0.9 = 683.55
        changed["lines"][0]["quantity"],
        changed["lines"][0]["total"],
        changed["amount"],
    )
    removed = sales.request("DELETE", f"{url}/lines/{line_id}", headers=match(6))
    assert ("292.50", 3, '"7"') == (
        ok(removed)["amount"],
        len(removed.json()["lines"]),
        removed.headers["etag"],
    )
    assert ok(sales.get(url))["lines"] == removed.json()["lines"]

    history = ok(sales.get(f"{url}/history"))["items"]
    events = [h["event"] for h in history]
    assert ["Created", *["LineAdded"] * 4, "LineUpdated", "LineRemoved"] == events
    assert ("529.20", "529.20") == (
        history[1]["data"]["amount"],
        history[1]["data"]["line"]["total"],
    )
    assert {"quantity": "15.5"} == history[5]["data"]["changes"]
    assert all(h["actor"].startswith("apikey:") for h in history)
    events_count, entries = sales.event_count()
    assert events_count == entries


def test_deal_line_guards(sales: Api) -> None:
    """Lines fix the currency and the amount; a product needs a price in the deal's
    currency and must be active; unknown lines are 404; If-Match is required."""
    pid = product(sales)
    priced(sales, pid, unit_price="49.00")
    deal = new_deal(sales, new_pipeline(sales), amount="10.00")
    url = f"/deals/{deal['id']}"
    one = {"product_id": pid, "quantity": "1"}
    problem(sales.post(f"{url}/lines", json=one), 428, "precondition_required")
    problem(sales.post(f"{url}/lines", json=one, headers=match(9)), 412, "version_conflict")
    problem(
        sales.post(f"{url}/lines", json={**one, "quantity": 1}, headers=match(1)),
        422,
        "validation_failed",
    )
    problem(
        sales.post(f"{url}/lines", json={**one, "unit_price": 1.5}, headers=match(1)),
        422,
        "validation_failed",
    )
    free = problem(
        sales.post(
            f"{url}/lines", json={"description": "Free text", "quantity": "1"}, headers=match(1)
        ),
        422,
        "invalid_command",
    )
    assert "unit_price" in free["detail"]
    missing = "00000000-0000-4000-8000-000000000000"
    problem(
        sales.post(f"{url}/lines", json={**one, "product_id": missing}, headers=match(1)),
        404,
        "not_found",
    )
    with_line = ok(sales.post(f"{url}/lines", json=one, headers=match(1)))
    assert "49.00" == with_line["amount"]  # the hand-set 10.00 gave way to the lines
    line_id = with_line["lines"][0]["line_id"]

    amount = problem(
        sales.patch(url, json={"amount": "99.00"}, headers=match(2)), 409, "deal_amount_from_lines"
    )
    assert "49.00" in amount["detail"]
    locked = problem(
        sales.patch(url, json={"currency": "USD"}, headers=match(2)), 409, "deal_currency_locked"
    )
    assert "lines" in locked["detail"]
    problem(
        sales.patch(f"{url}/lines/{missing}", json={"quantity": "2"}, headers=match(2)),
        404,
        "deal_line_not_found",
    )
    problem(
        sales.patch(f"{url}/lines/{line_id}", json={"product_id": pid}, headers=match(2)),
        422,
        "validation_failed",
    )
    problem(
        sales.request("DELETE", f"{url}/lines/{missing}", headers=match(2)),
        404,
        "deal_line_not_found",
    )
    emptied = ok(sales.request("DELETE", f"{url}/lines/{line_id}", headers=match(2)))
    assert ([], "0.00") == (emptied["lines"], emptied["amount"])
    usd = ok(sales.patch(url, json={"currency": "USD"}, headers=match(3)))
    assert "USD" == usd["currency"]
    no_price = problem(sales.post(f"{url}/lines", json=one, headers=match(4)), 404, "no_price")
    assert "USD" in no_price["detail"]

    other = product(sales, "TRACKER-2", "Old tracker")
    priced(sales, other, currency="USD", unit_price="9.00")
    ok(sales.post(f"/products/{other}/deactivate", headers=match(1)))
    problem(
        sales.post(
            f"{url}/lines",
            json={"product_id": other, "quantity": "1", "unit_price": "9.00"},
            headers=match(4),
        ),
        409,
        "product_inactive",
    )
    assert 4 == ok(sales.get(url))["version"]


def test_closed_deal_refuses_line_changes(sales: Api) -> None:
    """A deal is won on the amount of its lines; then lines cannot be added, changed or
    removed (409 deal_closed) until it is reopened."""
    deal = new_deal(sales, new_pipeline(sales))
    url = f"/deals/{deal['id']}"
    body = {
        "description": "Consulting day",
        "quantity": "3",
        "unit_price": "10.01",
        "discount_percent": "50",
    }
    line = ok(sales.post(f"{url}/lines", json=body, headers=match(1)))
    assert "15.02" == line["amount"]  # 15.015, rounded half up
    line_id = line["lines"][0]["line_id"]
    won = ok(sales.post(f"{url}/win", headers=match(2)))
    assert ("won", "15.02") == (won["status"], won["amount"])
    before = sales.event_count()
    problem(sales.post(f"{url}/lines", json=body, headers=match(3)), 409, "deal_closed")
    problem(
        sales.patch(f"{url}/lines/{line_id}", json={"quantity": "1"}, headers=match(3)),
        409,
        "deal_closed",
    )
    problem(sales.request("DELETE", f"{url}/lines/{line_id}", headers=match(3)), 409, "deal_closed")
    assert before == sales.event_count()
    ok(sales.post(f"{url}/reopen", headers=match(3)))
    again = ok(sales.post(f"{url}/lines", json=body, headers=match(4)))
    assert ("30.04", 2) == (again["amount"], len(again["lines"]))


def test_openapi_documents_deal_lines(sales: Api) -> None:
    """The line endpoints exist and their bodies show examples; numbers are strings."""
    schema = sales.client.get("/openapi.json").json()
    assert {"patch", "delete"} <= set(schema["paths"]["/deals/{deal_id}/lines/{line_id}"])
    create = schema["components"]["schemas"]["DealLineCreate"]
    assert {"product_id": create["examples"][0]["product_id"], "quantity": "12"} == create[
        "examples"
    ][0]
    assert "string" == create["properties"]["quantity"]["type"]
    public = schema["components"]["schemas"]["DealLinePublic"]["properties"]
    assert {
        "line_id",
        "product_id",
        "description",
        "quantity",
        "unit_price",
        "discount_percent",
        "total",
    } == set(public)
