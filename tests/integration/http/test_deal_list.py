"""``GET /deals``: every deal across pipelines from the deals read model, newest first,
by contact, pipeline, stage, status, owner and expected close; each listed deal equals
the one read by id, after moves, a win, a loss and a merge (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from tests.integration.http.conftest import Api
from tests.integration.http.test_sales_api import (
    contact,
    match,
    new_deal,
    new_pipeline,
    ok,
    problem,
    stage_ids,
)


def ids(deals: list[dict[str, Any]]) -> list[str]:
    return [deal["id"] for deal in deals]


def test_deals_are_listed_as_they_are_read(api: Api) -> None:
    sales, renewals = new_pipeline(api), new_pipeline(api)
    first, second, _ = stage_ids(sales)
    customer = contact(api)
    a = new_deal(api, sales, contact_id=customer, owner="ana", expected_close="2026-03-31")
    b = new_deal(api, sales, owner="ben", expected_close="2026-06-30", amount="500")
    c = new_deal(api, renewals, contact_id=customer, owner="ana")  # no expected close
    d = new_deal(api, sales, owner="ana", expected_close="2026-04-15")

    moved = ok(api.post(f"/deals/{a['id']}/move", json={"stage_id": second}, headers=match(1)))
    won = ok(api.post(f"/deals/{b['id']}/win", headers=match(b["version"])))
    lost = ok(api.post(f"/deals/{d['id']}/lose", json={"reason": "budget"}, headers=match(1)))

    listed = api.every_page("/deals")
    assert ids([d, c, b, a]) == ids(listed)
    for deal in listed:
        assert ok(api.get(f"/deals/{deal['id']}")) == deal
    assert (second, "won", "lost") == (listed[3]["stage_id"], won["status"], lost["status"])
    assert moved == listed[3]

    assert ids([c, a]) == ids(api.every_page("/deals", contact_id=customer))
    assert ids([c]) == ids(api.every_page("/deals", pipeline_id=renewals["id"]))
    assert ids([a]) == ids(api.every_page("/deals", pipeline_id=sales["id"], stage_id=second))
    assert ids([c, a]) == ids(api.every_page("/deals", status="open"))
    assert ids([d, c, a]) == ids(api.every_page("/deals", owner="ana"))
    assert ids([c, a]) == ids(api.every_page("/deals", owner="ana", status="open"))
    assert [] == api.every_page("/deals", owner="zoe")
    in_spring = api.every_page(
        "/deals", expected_close_from="2026-04-01", expected_close_to="2026-06-30"
    )
    assert ids([d, b]) == ids(in_spring)
    assert ids([d, a]) == ids(api.every_page("/deals", expected_close_to="2026-04-15"))
    assert ids([b]) == ids(api.every_page("/deals", expected_close_from="2026-04-16"))
    assert stage_ids(renewals)[0] == listed[1]["stage_id"] != first

    bad_range = {"expected_close_from": "2026-05-01", "expected_close_to": "2026-04-01"}
    problem(api.get("/deals", params=bad_range), 400, "invalid_range")
    problem(api.get("/deals", params={"status": "closed"}), 422, "validation_failed")
    problem(api.get("/deals", params={"cursor": "nope"}), 400, "malformed_cursor")


def test_a_merge_moves_the_deals_to_the_survivor(api: Api) -> None:
    pipeline = new_pipeline(api)
    survivor, duplicate = contact(api), contact(api)
    deal = new_deal(api, pipeline, contact_id=duplicate)
    merged = api.post(
        f"/contacts/{survivor}/merge", json={"duplicate_id": duplicate}, headers=match(1)
    )
    ok(merged)

    assert [] == api.every_page("/deals", contact_id=duplicate)
    (listed,) = api.every_page("/deals", contact_id=survivor)
    assert (deal["id"], survivor) == (listed["id"], listed["contact_id"])
    assert ok(api.get(f"/deals/{deal['id']}")) == listed
