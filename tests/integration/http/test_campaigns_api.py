"""Campaigns over HTTP: the lifecycle, the consent-aware audience, responses (an
unsubscribe withdraws consent), results, merges, roles and the feed (SQLite and
PostgreSQL)."""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any
from uuid import UUID

from tests.integration.http.conftest import Api
from tests.integration.http.test_changes import as_role, feed
from tests.integration.http.test_merge_api import merge
from tests.integration.http.test_sales_api import match, new_pipeline, ok, problem

SPRING = {
    "name": "Spring offer",
    "code": "spring-2026",
    "channel": "email",
    "purpose": "marketing_email",
    "starts_on": "2026-03-01",
    "ends_on": "2026-03-31",
    "budget": {"amount": "1500.00", "currency": "EUR"},
}


def person(api: Api, name: str, tags: list[str] | None = None) -> str:
    body = {"kind": "person", "name": name, "tags": tags or []}
    return str(ok(api.post("/contacts", json=body), 201)["id"])


def consent(api: Api, contact: str, granted: bool = True) -> None:
    body = {"purpose": "marketing_email", "granted": granted, "source": "web_form"}
    ok(api.post(f"/contacts/{contact}/consents", json=body), 201)


def ids(response: Any) -> set[str]:
    return {item["id"] for item in ok(response)["items"]}


def planned(api: Api, **fields: Any) -> dict[str, Any]:
    response = api.post("/campaigns", json={**SPRING, **fields})
    body: dict[str, Any] = ok(response, 201)
    assert response.headers["Location"] == f"/campaigns/{body['id']}"
    return body


def respond(api: Api, campaign: dict[str, Any], *pairs: tuple[str, str]) -> Any:
    body = {"responses": [{"contact_id": c, "kind": k} for c, k in pairs]}
    return api.post(f"/campaigns/{campaign['id']}/responses", json=body)


def test_audience_responses_and_results(api: Api) -> None:
    ana, bea, cai = person(api, "Ana", ["vip"]), person(api, "Bea", ["vip"]), person(api, "Cai")
    consent(api, ana)
    consent(api, cai)
    vip = ok(api.post("/segments", json={"name": "VIP", "definition": {"tags": ["vip"]}}), 201)
    campaign = planned(api, segment_id=vip["id"])
    assert (campaign["status"], campaign["budget"]) == (
        "planned",
        {"amount": "1500.00", "currency": "EUR"},
    )
    assert ids(api.get(f"/campaigns/{campaign['id']}/audience")) == {ana}  # vip and consents
    anyone = planned(api, code="anyone", purpose=None, segment_id=vip["id"])
    assert ids(api.get(f"/campaigns/{anyone['id']}/audience")) == {ana, bea}
    everyone = planned(api, code="everyone")
    assert ids(api.get(f"/campaigns/{everyone['id']}/audience")) == {ana, cai}
    # the audience as CSV for a mailing tool, recorded with the campaign it was for
    download = api.get(f"/campaigns/{campaign['id']}/audience:export")
    assert download.status_code == 200
    assert [r["id"] for r in csv.DictReader(io.StringIO(download.text))] == [ana]
    (made,) = feed(api, types=["contacts_export"])
    assert made["data"]["count"] == 1
    assert made["data"]["filters"] == {
        "campaign_id": campaign["id"],
        "tags": ["vip"],
        "consents": ["marketing_email"],
    }

    problem(respond(api, campaign, (ana, "sent")), 409, "campaign_conflict")  # planned
    problem(api.get(f"/campaigns/{campaign['id']}/launch-audience"), 404, "not_found")
    campaign = ok(api.post(f"/campaigns/{campaign['id']}/launch", headers=match(1)))
    assert campaign["status"] == "active"
    at_launch = campaign["launch_audience"]
    assert at_launch == {
        "count": 1,
        "sha256": hashlib.sha256(f"{ana}\n".encode()).hexdigest(),
        "log_position": at_launch["log_position"],
        "filters": {"tags": ["vip"], "consents": ["marketing_email"]},
    }
    assert at_launch["log_position"] > 0
    launched = ok(api.get(f"/campaigns/{campaign['id']}/launch-audience"))
    assert (launched["contact_ids"], launched["next_cursor"]) == ([ana], None)
    assert {k: launched[k] for k in at_launch} == at_launch
    made = respond(api, campaign, (ana, "sent"), (bea, "sent"), (ana, "opened"), (ana, "clicked"))
    assert len(ok(made, 201)["items"]) == 4
    assert "X-Log-Position" in made.headers
    # all or none: an unknown contact stores nothing of the batch
    problem(respond(api, campaign, (ana, "replied"), (str(UUID(int=9)), "sent")), 404, "not_found")
    problem(respond(api, campaign, (ana, "bounced")), 422, "validation_failed")

    ok(respond(api, campaign, (ana, "unsubscribed")), 201)
    consents = ok(api.get(f"/contacts/{ana}/consents"))["purposes"]["marketing_email"]
    assert (consents["granted"], consents["source"]) == (False, "campaign:spring-2026")
    assert ids(api.get(f"/campaigns/{campaign['id']}/audience")) == set()
    # who it was launched to does not change with the audience
    assert ok(api.get(f"/campaigns/{campaign['id']}/launch-audience"))["contact_ids"] == [ana]

    lead = {"name": "Dan", "campaign": "spring-2026", "emails": ["dan@example.com"]}
    ok(api.post("/leads", json=lead), 201)
    results = ok(api.get(f"/campaigns/{campaign['id']}/results"))
    counts = {r["kind"]: (r["responses"], r["contacts"]) for r in results["responses"]}
    assert counts == {
        "sent": (2, 2),
        "opened": (1, 1),
        "clicked": (1, 1),
        "replied": (0, 0),
        "registered": (0, 0),
        "attended": (0, 0),
        "unsubscribed": (1, 1),
    }
    assert (results["leads"], results["converted_leads"]) == (1, 0)
    listed = ok(api.get(f"/campaigns/{campaign['id']}/responses", params={"kind": "sent"}))
    assert {r["contact_id"] for r in listed["items"]} == {ana, bea}
    assert ids(api.get("/campaigns", params={"status": "active"})) == {campaign["id"]}

    campaign = ok(api.post(f"/campaigns/{campaign['id']}/complete", headers=match(2)))
    ok(respond(api, campaign, (bea, "replied")), 201)  # late responses still count
    problem(
        api.post(f"/campaigns/{campaign['id']}/cancel", headers=match(3)), 409, "campaign_conflict"
    )
    problem(
        api.patch(f"/campaigns/{campaign['id']}", json={"name": "x"}, headers=match(3)),
        409,
        "campaign_conflict",
    )


def test_bad_campaigns_are_refused(api: Api) -> None:
    problem(
        api.post("/campaigns", json={**SPRING, "code": "Spring 2026"}), 422, "validation_failed"
    )
    problem(
        api.post("/campaigns", json={**SPRING, "ends_on": "2026-02-01"}), 422, "invalid_command"
    )
    problem(
        api.post("/campaigns", json={**SPRING, "budget": {"amount": "1.234", "currency": "EUR"}}),
        422,
        "validation_failed",
    )
    problem(
        api.post("/campaigns", json={**SPRING, "segment_id": str(UUID(int=5))}), 404, "not_found"
    )
    problem(api.get(f"/campaigns/{UUID(int=5)}"), 404, "not_found")
    campaign = planned(api)
    stored = api.event_count()
    taken = api.post("/campaigns", json={**SPRING, "name": "Another offer"})
    problem(taken, 409, "campaign_code_taken")  # leads name campaigns by code: one each
    assert api.event_count() == stored
    problem(
        api.post(f"/campaigns/{campaign['id']}/start", headers=match(1)), 422, "validation_failed"
    )
    changed = ok(
        api.patch(f"/campaigns/{campaign['id']}", json={"ends_on": "2026-04-15"}, headers=match(1))
    )
    assert (changed["ends_on"], changed["version"]) == ("2026-04-15", 2)
    problem(
        api.patch(f"/campaigns/{campaign['id']}", json={"ends_on": "2026-01-01"}, headers=match(2)),
        422,
        "invalid_command",
    )
    ok(api.post(f"/campaigns/{campaign['id']}/cancel", headers=match(2)))


def test_merges_roles_feed_and_personal_data(api: Api) -> None:
    survivor, duplicate = person(api, "Ana"), person(api, "Ana R.")
    campaign = planned(api)
    campaign = ok(api.post(f"/campaigns/{campaign['id']}/launch", headers=match(1)))
    (before,) = ok(respond(api, campaign, (duplicate, "opened")), 201)["items"]
    merged = ok(merge(api, survivor, duplicate))
    assert merged["relinked"]["campaign_responses"] == [before["id"]]
    (after,) = ok(respond(api, campaign, (duplicate, "clicked")), 201)["items"]
    assert after["contact_id"] == survivor  # an old tracking link: for the survivor
    document = ok(api.get(f"/contacts/{survivor}/personal-data"))
    assert {r["id"] for r in document["campaign_responses"]} == {before["id"], after["id"]}

    sales, accountant = as_role(api, "sales"), as_role(api, "accountant")
    ok(sales.get("/campaigns"))
    problem(accountant.get("/campaigns"), 403, "forbidden_for_role")
    problem(as_role(api, "auditor").post("/campaigns", json=SPRING), 403, "forbidden_for_role")
    types = [(c["type"], c["event"]) for c in feed(sales) if c["type"].startswith("campaign")]
    assert types == [
        ("campaign", "Planned"),
        ("campaign", "Launched"),
        ("campaign_response", "Recorded"),
        ("campaign_response", "Relinked"),
        ("campaign_response", "Recorded"),
    ]


def test_results_sum_the_won_deals_its_leads_became(api: Api) -> None:
    campaign = planned(api)
    pipeline = new_pipeline(api)
    won_deals = []
    for n, amount in enumerate(("1500.50", "999.50", "10.00")):
        lead = ok(api.post("/leads", json={"name": f"Lead {n}", "campaign": "spring-2026"}), 201)
        deal = {"pipeline_id": pipeline["id"], "title": f"Order {n}", "amount": amount}
        converted = ok(
            api.post(
                f"/leads/{lead['id']}/convert",
                params={"force": "true"},
                json={"deal": deal},
                headers=match(1),
            )
        )
        won_deals.append(converted["deal"])
    for deal in won_deals[:2]:  # the third stays open
        ok(api.post(f"/deals/{deal['id']}/win", headers=match(1)))
    ok(api.post("/leads", json={"name": "Elsewhere", "campaign": "autumn"}), 201)
    results = ok(api.get(f"/campaigns/{campaign['id']}/results"))
    assert (results["leads"], results["converted_leads"]) == (3, 3)
    assert results["won"] == [{"currency": "EUR", "deals": 2, "amount": "2500.00"}]


def test_the_audience_at_launch_is_recorded_in_pages(api: Api) -> None:
    people = sorted(person(api, f"P{n}") for n in range(5))
    for contact in people[:4]:
        consent(api, contact)
    campaign = planned(api)
    stale = api.post(f"/campaigns/{campaign['id']}/launch", headers=match(2))
    problem(stale, 412, "version_conflict")
    launched = ok(api.post(f"/campaigns/{campaign['id']}/launch", headers=match(1)))
    consent(api, people[4])  # consents after the launch: not in its audience
    again = api.post(f"/campaigns/{campaign['id']}/launch", headers=match(2))
    problem(again, 409, "campaign_conflict")
    pages, cursor = [], None
    while True:
        params = {"limit": 3} if cursor is None else {"limit": 3, "cursor": cursor}
        page = ok(api.get(f"/campaigns/{campaign['id']}/launch-audience", params=params))
        pages.append(page["contact_ids"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [people[:3], people[3:4]]
    text = "".join(f"{c}\n" for c in people[:4])
    assert page["sha256"] == launched["launch_audience"]["sha256"]
    assert page["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert page["count"] == 4
    bad = api.get(f"/campaigns/{campaign['id']}/launch-audience", params={"cursor": "!!"})
    problem(bad, 400, "malformed_cursor")
    (event,) = [c for c in feed(api, types=["campaign"]) if c["event"] == "Launched"]
    assert event["data"]["audience"] == launched["launch_audience"]

    # the recorded audience as CSV for the mailing tool, itself recorded as an export
    ok(api.post(f"/contacts/{people[0]}/consents", json={"purpose": "marketing_email",
       "granted": False, "source": "unsubscribe_link"}), 201)  # fmt: skip
    download = api.get(f"/campaigns/{campaign['id']}/launch-audience:export")
    assert download.status_code == 200, download.text
    assert [r["id"] for r in csv.DictReader(io.StringIO(download.text))] == people[:4]
    (made,) = feed(api, types=["contacts_export"])
    assert (made["data"]["count"], made["data"]["filters"]) == (
        4,
        {"campaign_id": campaign["id"], "launch_audience": True},
    )
    other = planned(api, code="not-launched")
    problem(api.get(f"/campaigns/{other['id']}/launch-audience:export"), 404, "not_found")
