"""``GET /changes``: the log's events in order after a position, each as its record's
history shows it, only of records the caller's role may read, never an API key
(SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from crm_ledger.api.routers import changes as change_routes
from tests.integration.http.conftest import Api
from tests.integration.http.test_payments_api import issued, new_customer, new_issuer
from tests.integration.http.test_sales_api import match, new_deal, new_pipeline, ok, problem


def feed(api: Api, after: int = 0, **params: Any) -> list[dict[str, Any]]:
    """Every change after `after`, following ``after`` page by page (3 at a time)."""
    items: list[dict[str, Any]] = []
    while True:
        page = ok(api.get("/changes", params={"after": after, "limit": 3, **params}))
        items += page["items"]
        assert page["after"] <= page["head"]
        if page["after"] == page["head"]:
            return items
        after = page["after"]


def as_role(api: Api, role: str) -> Api:
    _, token = api.crm.issue_api_key(name=f"{role} feed", role=role, actor="system:tests")
    return Api(api.client, api.crm, token)


def test_the_feed_follows_the_log_with_each_event_as_its_history_shows_it(api: Api) -> None:
    pipeline = new_pipeline(api)
    deal = new_deal(api, pipeline)
    moved = ok(api.post(f"/deals/{deal['id']}/move",
                        json={"stage_id": pipeline["stages"][1]["stage_id"]},
                        headers=match(1)))  # fmt: skip
    issuer = new_issuer(api)
    invoice = issued(api, issuer, new_customer(api))

    changes = feed(api)
    positions = [c["position"] for c in changes]
    assert positions == sorted(set(positions))
    assert {"pipeline", "contact", "deal", "issuer", "invoice"} == {c["type"] for c in changes}
    deal_changes = [c for c in changes if c["id"] == deal["id"]]
    history = ok(api.get(f"/deals/{deal['id']}/history"))["items"]
    assert history == [
        {k: c[k] for k in ("version", "event", "at", "actor", "data")} for c in deal_changes
    ]
    assert ["Created", "Moved"] == [c["event"] for c in deal_changes]
    assert moved["version"] == deal_changes[-1]["version"]
    assert invoice["id"] in {c["id"] for c in changes if c["type"] == "invoice"}

    # continue from any position; filter by type
    middle = positions[len(positions) // 2]
    assert changes[len(positions) // 2 + 1 :] == feed(api, after=middle)
    assert deal_changes == feed(api, types=["deal"])
    assert [c for c in changes if c["type"] in ("deal", "pipeline")] == feed(
        api, types=["deal", "pipeline"]
    )
    assert [] == feed(api, after=positions[-1])
    problem(api.get("/changes", params={"types": "api_key"}), 422, "validation_failed")
    problem(api.get("/changes", params={"after": -1}), 422, "validation_failed")


def test_each_role_sees_only_what_it_may_read_and_no_one_sees_api_keys(api: Api) -> None:
    pipeline = new_pipeline(api)
    new_deal(api, pipeline)
    new_issuer(api)
    accountant, sales, auditor = (as_role(api, r) for r in ("accountant", "sales", "auditor"))

    everything = feed(api)
    assert everything == feed(auditor)
    assert {"pipeline", "contact", "deal", "issuer"} == {c["type"] for c in everything}
    by_position = {c["position"]: c for c in everything}
    head = ok(api.get("/changes"))["head"]
    assert len(everything) < head  # the keys issued above are in the log, not in the feed
    assert {"contact", "issuer"} == {c["type"] for c in feed(accountant)}
    assert {"pipeline", "contact", "deal"} == {c["type"] for c in feed(sales)}
    for role in (accountant, sales):
        assert all(by_position[c["position"]] == c for c in feed(role))


def test_a_page_reads_a_bounded_stretch_of_the_log(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller who may see little gets an answer and a position to go on from."""
    for _ in range(4):
        new_pipeline(api)  # positions 2 to 5 (1: the admin key)
    new_issuer(api)
    accountant = as_role(api, "accountant")  # sees the issuer only
    monkeypatch.setattr(change_routes, "SCAN", 2)
    first = ok(accountant.get("/changes", params={"after": 0}))
    assert ([], 2) == ([c["type"] for c in first["items"]], first["after"])
    issuer_changes = feed(accountant)
    monkeypatch.setattr(change_routes, "SCAN", 5000)
    assert feed(api, types=["issuer"]) == issuer_changes
