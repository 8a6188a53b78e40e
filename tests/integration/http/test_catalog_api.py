"""Products and price lists end to end over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from eventsourcing.application import Repository

from crm_ledger import catalog
from crm_ledger.domain.sales_errors import SkuTakenError
from tests.integration.http.conftest import Api

MISSING = "00000000-0000-4000-8000-000000000000"


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert status == response.status_code, response.text
    return dict(response.json())


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert (status, code) == (response.status_code, response.json().get("code")), response.text
    assert "application/problem+json" == response.headers["content-type"]
    return dict(response.json())


def match(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


def new_product(api: Api, sku: str = "WIDGET-42", **fields: Any) -> dict[str, Any]:
    body = {"sku": sku, "name": "Widget", **fields}
    return ok(api.post("/products", json=body), 201)


def new_list(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"name": "Retail 2027", "currency": "EUR", "valid_from": "2027-01-01", **fields}
    return ok(api.post("/price-lists", json=body), 201)


def put_price(api: Api, plist: dict[str, Any], product: dict[str, Any], **body: Any) -> Any:
    url = f"/price-lists/{plist['id']}/prices/{product['id']}"
    current = api.get(f"/price-lists/{plist['id']}").json()["version"]
    return api.request("PUT", url, json=body, headers=match(current))


def price(api: Api, product: dict[str, Any], query: str) -> Any:
    return api.get(f"/products/{product['id']}/price?{query}")


# -- products -------------------------------------------------------------------------


def test_product_lifecycle(api: Api) -> None:
    """Create, read, update, deactivate, activate: each with If-Match and a new ETag."""
    created = api.post(
        "/products",
        json={"sku": "WIDGET-42", "name": "Widget", "cost": "4.2", "tax_category": "reduced"},
    )
    product = ok(created, 201)
    pid = product["id"]
    assert ('"1"', f"/products/{pid}") == (created.headers["etag"], created.headers["location"])
    assert int(created.headers["x-log-position"]) > 0
    assert ("WIDGET-42", "4.20", "reduced", "unit", True) == (
        product["sku"],
        product["cost"],
        product["tax_category"],
        product["unit"],
        product["active"],
    )
    read = api.get(f"/products/{pid}")
    assert ('"1"', product) == (read.headers["etag"], read.json())

    updated = ok(
        api.patch(f"/products/{pid}", json={"name": "Widget XL", "cost": None}, headers=match(1))
    )
    assert ("Widget XL", None, 2) == (updated["name"], updated["cost"], updated["version"])
    off = api.post(f"/products/{pid}/deactivate", headers=match(2))
    assert (False, '"3"') == (ok(off)["active"], off.headers["etag"])
    problem(
        api.patch(f"/products/{pid}", json={"name": "X"}, headers=match(3)), 409, "product_inactive"
    )
    problem(api.post(f"/products/{pid}/deactivate", headers=match(3)), 409, "product_inactive")
    on = ok(api.post(f"/products/{pid}/activate", headers=match(3)))
    assert (True, 4) == (on["active"], on["version"])
    problem(api.post(f"/products/{pid}/activate", headers=match(4)), 409, "product_active")
    events, entries = api.event_count()
    assert events == entries


def test_sku_is_unique_case_insensitively_and_fixed(api: Api) -> None:
    """Same SKU in another case: 409 sku_taken, nothing written; the SKU cannot be patched."""
    product = new_product(api, "WIDGET-42")
    before = api.event_count()
    taken = problem(
        api.post("/products", json={"sku": "widget-42", "name": "Other"}), 409, "sku_taken"
    )
    assert "widget-42" in taken["detail"]
    assert before == api.event_count()
    problem(
        api.patch(f"/products/{product['id']}", json={"sku": "NEW"}, headers=match(1)),
        422,
        "validation_failed",
    )
    problem(api.post("/products", json={"sku": "bad sku", "name": "X"}), 422, "validation_failed")


def test_sku_race_yields_one_product(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even when the existence check is passed by both (a race), the event store refuses
    the second create and the service answers SkuTakenError; 6 threads at once make
    exactly one product."""
    catalog.create_product(api.crm, actor="user:t", sku="RACE-1", name="First")
    monkeypatch.setattr(Repository, "__contains__", lambda self, item: False)
    with pytest.raises(SkuTakenError):
        catalog.create_product(api.crm, actor="user:t", sku="race-1", name="Second")
    monkeypatch.undo()

    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def create() -> None:
        barrier.wait()
        try:
            catalog.create_product(api.crm, actor="user:t", sku="RACE-2", name="Racer")
            outcomes.append("created")
        except SkuTakenError:
            outcomes.append("taken")

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ["created", "taken", "taken", "taken", "taken", "taken"] == sorted(outcomes)
    listed = ok(api.get("/products?limit=200"))["items"]
    assert [("RACE-1", "First"), ("RACE-2", "Racer")] == [(p["sku"], p["name"]) for p in listed]


def test_list_products_pages_and_filters(api: Api) -> None:
    """Oldest first, cursor pagination, and the active filter."""
    skus = [f"P-{i}" for i in range(5)]
    products = [new_product(api, s) for s in skus]
    ok(api.post(f"/products/{products[1]['id']}/deactivate", headers=match(1)))
    first = ok(api.get("/products?limit=2"))
    assert (skus[:2], True) == ([p["sku"] for p in first["items"]], bool(first["next_cursor"]))
    rest = ok(api.get(f"/products?limit=10&cursor={first['next_cursor']}"))
    assert (skus[2:], None) == ([p["sku"] for p in rest["items"]], rest["next_cursor"])
    active = ok(api.get("/products?active=true&limit=3"))
    assert ["P-0", "P-2", "P-3"] == [p["sku"] for p in active["items"]]
    more = ok(api.get(f"/products?active=true&limit=3&cursor={active['next_cursor']}"))
    assert (["P-4"], None) == ([p["sku"] for p in more["items"]], more["next_cursor"])
    assert ["P-1"] == [p["sku"] for p in ok(api.get("/products?active=false"))["items"]]
    problem(api.get("/products?cursor=abc"), 422, "validation_failed")


def test_idempotent_create(api: Api) -> None:
    """Same Idempotency-Key and body replays the 201; another body with it is 422."""
    body = {"sku": "IDEM-1", "name": "Widget"}
    first = api.post("/products", json=body, headers={"Idempotency-Key": "p-1"})
    replay = api.post("/products", json=body, headers={"Idempotency-Key": "p-1"})
    assert (201, 201, first.json()) == (first.status_code, replay.status_code, replay.json())
    assert "true" == replay.headers["idempotent-replayed"]
    other = api.post("/products", json={**body, "name": "X"}, headers={"Idempotency-Key": "p-1"})
    problem(other, 422, "idempotency_key_reused")


@pytest.mark.parametrize("cost", [4.2, 4, "4.201", "-1", "1e3", ""])
def test_bad_cost_is_refused(api: Api, cost: object) -> None:
    """Cost is a JSON string with at most 2 decimals."""
    failed = problem(
        api.post("/products", json={"sku": "C-1", "name": "X", "cost": cost}),
        422,
        "validation_failed",
    )
    assert "/cost" in {e.get("pointer") for e in failed["errors"]}


# -- price lists ----------------------------------------------------------------------


def test_price_list_commands(api: Api) -> None:
    """Create, set and replace a price, remove it, change validity, retire."""
    product = new_product(api)
    created = api.post(
        "/price-lists",
        json={
            "name": "Retail",
            "currency": "EUR",
            "valid_from": "2027-01-01",
            "valid_until": "2027-12-31",
        },
    )
    plist = ok(created, 201)
    lid, url = plist["id"], f"/price-lists/{plist['id']}"
    assert (f"/price-lists/{lid}", [], False) == (
        created.headers["location"],
        plist["prices"],
        plist["retired"],
    )
    priced = api.request(
        "PUT",
        f"{url}/prices/{product['id']}",
        json={"unit_price": "12.5", "min_quantity": "10", "discount_percent": "5"},
        headers=match(1),
    )
    entry = {
        "product_id": product["id"],
        "unit_price": "12.50",
        "min_quantity": "10",
        "discount_percent": "5.00",
    }
    assert ([entry], '"2"') == (ok(priced)["prices"], priced.headers["etag"])
    replaced = ok(put_price(api, plist, product, unit_price="11.00"))
    assert [{**entry, "unit_price": "11.00", "min_quantity": None, "discount_percent": None}] == (
        replaced["prices"]
    )
    removed = ok(api.request("DELETE", f"{url}/prices/{product['id']}", headers=match(3)))
    assert ([], 4) == (removed["prices"], removed["version"])
    problem(
        api.request("DELETE", f"{url}/prices/{product['id']}", headers=match(4)),
        404,
        "price_not_found",
    )
    validity = ok(
        api.request("PUT", f"{url}/validity", json={"valid_from": "2027-02-01"}, headers=match(4))
    )
    assert ("2027-02-01", None, 5) == (
        validity["valid_from"],
        validity["valid_until"],
        validity["version"],
    )
    problem(
        api.request(
            "PUT",
            f"{url}/validity",
            json={"valid_from": "2027-02-01", "valid_until": "2027-01-01"},
            headers=match(5),
        ),
        422,
        "invalid_validity_period",
    )
    retired = ok(api.post(f"{url}/retire", headers=match(5)))
    assert (True, 6) == (retired["retired"], retired["version"])
    problem(api.post(f"{url}/retire", headers=match(6)), 409, "price_list_retired")
    problem(put_price(api, plist, product, unit_price="1.00"), 409, "price_list_retired")
    read = api.get(url)
    assert ('"6"', retired) == (read.headers["etag"], read.json())
    events, entries = api.event_count()
    assert events == entries


def test_set_price_checks_the_product_and_the_money(api: Api) -> None:
    """Unknown product 404, inactive product 409, numbers for money 422, nothing written."""
    product, plist = new_product(api), new_list(api)
    url = f"/price-lists/{plist['id']}/prices"
    before = api.event_count()
    problem(
        api.request("PUT", f"{url}/{MISSING}", json={"unit_price": "1"}, headers=match(1)),
        404,
        "not_found",
    )
    for body in (
        {"unit_price": 1.5},
        {"unit_price": "1", "discount_percent": "101"},
        {"unit_price": "1", "min_quantity": 2},
        {"unit_price": "1", "min_quantity": "0"},
        {},
    ):
        problem(
            api.request("PUT", f"{url}/{product['id']}", json=body, headers=match(1)),
            422,
            "validation_failed",
        )
    ok(api.post(f"/products/{product['id']}/deactivate", headers=match(1)))
    after_deactivate = api.event_count()
    assert (before[0] + 1, before[1] + 1) == after_deactivate
    problem(put_price(api, plist, product, unit_price="1"), 409, "product_inactive")
    assert after_deactivate == api.event_count()
    problem(
        api.request("PUT", f"{url}/{product['id']}", json={"unit_price": "1"}),
        428,
        "precondition_required",
    )


def test_price_list_reads_and_listing(api: Api) -> None:
    """List by currency and retired flag; unknown id is 404; a product id is no price list."""
    product = new_product(api)
    eur, usd = new_list(api), new_list(api, currency="USD", name="US")
    ok(api.post(f"/price-lists/{usd['id']}/retire", headers=match(1)))
    assert [eur["id"], usd["id"]] == [p["id"] for p in ok(api.get("/price-lists"))["items"]]
    assert [eur["id"]] == [p["id"] for p in ok(api.get("/price-lists?currency=EUR"))["items"]]
    assert [usd["id"]] == [p["id"] for p in ok(api.get("/price-lists?retired=true"))["items"]]
    page = ok(api.get("/price-lists?limit=1"))
    assert ([eur["id"]], True) == ([p["id"] for p in page["items"]], bool(page["next_cursor"]))
    problem(api.get(f"/price-lists/{MISSING}"), 404, "not_found")
    problem(api.get(f"/price-lists/{product['id']}"), 404, "not_found")
    problem(
        api.post("/price-lists", json={"name": "X", "currency": "eur", "valid_from": "2027-01-01"}),
        422,
        "validation_failed",
    )
    problem(
        api.post(
            "/price-lists",
            json={
                "name": "X",
                "currency": "EUR",
                "valid_from": "2027-01-01",
                "valid_until": "2026-01-01",
            },
        ),
        422,
        "invalid_validity_period",
    )


# -- pricing --------------------------------------------------------------------------


def test_latest_valid_from_wins(api: Api) -> None:
    """Of the lists valid on the day, the latest valid_from wins; other days, other lists."""
    product = new_product(api)
    base = new_list(api, name="Base", valid_from="2027-01-01")
    spring = new_list(api, name="Spring", valid_from="2027-03-01", valid_until="2027-05-31")
    put_price(api, base, product, unit_price="10.00")
    put_price(api, spring, product, unit_price="9.00", discount_percent="2.5")

    def winner(day: str) -> tuple[str, str, str | None]:
        p = ok(price(api, product, f"currency=EUR&on={day}"))
        return p["price_list_name"], p["unit_price"], p["discount_percent"]

    assert ("Base", "10.00", None) == winner("2027-02-28")
    assert ("Spring", "9.00", "2.50") == winner("2027-03-01")
    assert ("Spring", "9.00", "2.50") == winner("2027-05-31")
    assert ("Base", "10.00", None) == winner("2027-06-01")
    problem(price(api, product, "currency=EUR&on=2026-12-31"), 404, "no_price")
    problem(price(api, product, "currency=USD&on=2027-03-01"), 404, "no_price")
    full = ok(price(api, product, "currency=EUR&on=2027-04-01&quantity=3"))
    assert {
        "product_id": product["id"],
        "price_list_id": spring["id"],
        "price_list_name": "Spring",
        "currency": "EUR",
        "valid_from": "2027-03-01",
        "valid_until": "2027-05-31",
        "on": "2027-04-01",
        "quantity": "3",
        "unit_price": "9.00",
        "min_quantity": None,
        "discount_percent": "2.50",
    } == full

    ok(api.post(f"/price-lists/{spring['id']}/retire", headers=match(2)))
    assert ("Base", "10.00", None) == winner("2027-04-01")


def test_minimum_quantity_and_ties(api: Api) -> None:
    """A volume list applies from its minimum; on the same valid_from it beats the base
    list; with equal keys the list created last wins."""
    product = new_product(api)
    base = new_list(api, name="Base")
    volume = new_list(api, name="Volume")
    put_price(api, base, product, unit_price="10.00")
    put_price(api, volume, product, unit_price="8.00", min_quantity="10")

    def name(quantity: str) -> str:
        return str(
            ok(price(api, product, f"currency=EUR&on=2027-06-01&quantity={quantity}"))[
                "price_list_name"
            ]
        )

    assert ["Base", "Base", "Volume", "Volume"] == [name(q) for q in ("1", "9.999", "10", "500")]
    later = new_list(api, name="Later base")
    put_price(api, later, product, unit_price="9.50")
    assert ["Later base", "Volume"] == [name("1"), name("10")]
    problem(price(api, product, "currency=EUR&on=2027-06-01&quantity=0"), 422, "invalid_command")
    problem(
        price(api, product, "currency=EUR&on=2027-06-01&quantity=1.5e3"), 422, "validation_failed"
    )
    problem(price(api, product, "currency=eur&on=2027-06-01"), 422, "validation_failed")
    problem(price(api, product, "on=2027-06-01"), 422, "validation_failed")


def test_inactive_or_unknown_product_has_no_price(api: Api) -> None:
    """An inactive product is 409 product_inactive; an unknown one 404."""
    product = new_product(api)
    plist = new_list(api, valid_from="2020-01-01")
    put_price(api, plist, product, unit_price="1.00")
    assert "1.00" == ok(price(api, product, "currency=EUR"))["unit_price"]  # today
    ok(api.post(f"/products/{product['id']}/deactivate", headers=match(1)))
    problem(price(api, product, "currency=EUR"), 409, "product_inactive")
    problem(api.get(f"/products/{MISSING}/price?currency=EUR"), 404, "not_found")


def test_openapi_documents_catalog(api: Api) -> None:
    """Money as patterned strings with examples; every catalog path is documented."""
    schema = api.client.get("/openapi.json").json()
    unit_price = schema["components"]["schemas"]["PriceSet"]["properties"]["unit_price"]
    assert {"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$"}.items() <= unit_price.items()
    assert schema["components"]["schemas"]["ProductCreate"]["examples"]
    paths = schema["paths"]
    assert {"post", "get"} <= set(paths["/products"])
    assert {"get", "patch"} <= set(paths["/products/{product_id}"])
    assert {"put", "delete"} <= set(paths["/price-lists/{price_list_id}/prices/{product_id}"])
    for path in (
        "/products/{product_id}/deactivate",
        "/products/{product_id}/activate",
        "/price-lists",
        "/price-lists/{price_list_id}",
        "/price-lists/{price_list_id}/retire",
        "/price-lists/{price_list_id}/validity",
        "/products/{product_id}/price",
    ):
        assert path in paths
