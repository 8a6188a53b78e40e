"""``GET /leads``: the leads read model's filters, orders and cursor pages, read-your-writes,
and a rebuild that gives back the same rows, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from crm_ledger.projections.leads import LeadsProjection
from crm_ledger.projections.rebuild import Rebuild
from tests.integration.http.conftest import Api
from tests.integration.http.test_leads_api import match, ok, problem
from tests.property.projection_helpers import table_rows


def lead(api: Api, name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, **fields}
    return ok(api.post("/leads", json=body, params={"force": "true"}), 201)


def names(page: dict[str, Any]) -> list[str]:
    return [item["name"] for item in page["items"]]


def every_page(api: Api, **params: Any) -> list[str]:
    """Names over every page, following the cursor."""
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = {**params, **({} if cursor is None else {"cursor": cursor})}
        page = ok(api.get("/leads", params=query))
        seen.extend(names(page))
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_filters_orders_and_pages(api: Api) -> None:
    ana = lead(api, "Ana García", company_name="Acme SL", emails=["ana@acme.example"],
               source="web form", campaign="spring", owner="luis", score=40)  # fmt: skip
    bea = lead(api, "Bea Ruiz", source="fair", owner="luis", score=90)
    lead(api, "Carl Berg", company_name="Nordic AB", source="web form", score=10)
    lead(api, "Dani Sol", emails=["dani@sol.example"], campaign="spring", score=90)

    # newest first by default; the written lead is visible at once (read-your-writes)
    assert ["Dani Sol", "Carl Berg", "Bea Ruiz", "Ana García"] == names(ok(api.get("/leads")))
    assert ["Dani Sol", "Bea Ruiz", "Ana García", "Carl Berg"] == names(
        ok(api.get("/leads", params={"sort": "-score"}))
    )  # 90 (newest first), 90, 40, 10
    assert ["Dani Sol", "Bea Ruiz", "Ana García", "Carl Berg"] == every_page(
        api, sort="-score", limit=1
    )
    assert ["Dani Sol", "Carl Berg", "Bea Ruiz", "Ana García"] == every_page(api, limit=3)

    assert ["Bea Ruiz", "Ana García"] == names(ok(api.get("/leads", params={"owner": "luis"})))
    assert ["Carl Berg", "Ana García"] == names(
        ok(api.get("/leads", params={"source": "web form"}))
    )
    assert ["Dani Sol", "Ana García"] == names(ok(api.get("/leads", params={"campaign": "spring"})))
    assert ["Dani Sol", "Bea Ruiz"] == names(ok(api.get("/leads", params={"min_score": 50})))
    assert ["Ana García"] == names(ok(api.get("/leads", params={"q": "ACME"})))  # company
    assert ["Carl Berg"] == names(ok(api.get("/leads", params={"q": "nordic"})))
    assert ["Dani Sol"] == names(ok(api.get("/leads", params={"q": "@sol.ex"})))  # an email
    assert [] == names(ok(api.get("/leads", params={"q": "%"})))  # LIKE wildcards are text

    path = f"/leads/{bea['id']}/disqualify"
    ok(api.post(path, json={"reason": "no budget"}, headers=match(bea["version"])))
    assert ["Bea Ruiz"] == names(ok(api.get("/leads", params={"status": "disqualified"})))
    assert ["Dani Sol", "Carl Berg", "Ana García"] == names(
        ok(api.get("/leads", params={"status": "new"}))
    )
    path = f"/leads/{ana['id']}"
    changed = ok(api.patch(path, json={"score": 95}, headers=match(ana["version"])))
    top = ok(api.get("/leads", params={"sort": "-score", "limit": 1}))["items"][0]
    assert (ana["id"], 95, changed["version"]) == (top["id"], top["score"], top["version"])
    assert ok(api.get(path)) == top  # the list shows exactly what the lead shows

    problem(api.get("/leads", params={"cursor": "bm90LWEta2V5"}), 400, "malformed_cursor")
    assert 422 == api.get("/leads", params={"status": "lost"}).status_code
    assert 422 == api.get("/leads", params={"sort": "name"}).status_code


def test_a_rebuild_gives_the_same_rows(api: Api) -> None:
    first = lead(api, "Eva Mora", score=30, owner="marta")
    lead(api, "Fede Paz", source="referral")
    path = f"/leads/{first['id']}/qualify"
    ok(api.post(path, headers=match(first["version"])))
    ok(api.get("/leads"))  # caught up
    before = table_rows(api.crm, "proj_leads")
    assert 2 == len(before)
    job = Rebuild(api.crm, LeadsProjection(api.crm.mapper), batch_size=1)
    job.prepare()
    job.run()
    assert before == table_rows(api.crm, "proj_leads")
    assert ["Fede Paz", "Eva Mora"] == names(ok(api.get("/leads")))
