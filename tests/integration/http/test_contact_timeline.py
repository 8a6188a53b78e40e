"""A contact's timeline also shows its service cases, NPS answers and campaign
responses, in time order with its events and activities, each only to the roles that may
read its kind (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from tests.integration.http.conftest import Api
from tests.integration.http.test_activities_api import log, walk
from tests.integration.http.test_campaigns_api import SPRING
from tests.integration.http.test_changes import as_role
from tests.integration.http.test_sales_api import match, ok


def label(item: dict[str, Any]) -> str:
    kind = item["type"]
    if kind == "event":
        return str(item["event"])
    if kind == "activity":
        return f"activity {item['activity']['subject']}"
    if kind == "case":
        return f"case {item['case']['subject']}"
    if kind == "nps":
        return f"nps {item['nps']['score']}"
    return f"campaign {item['campaign_response']['kind']}"


def test_the_timeline_shows_what_the_contact_did_and_what_was_done_for_it(api: Api) -> None:
    contact = str(ok(api.post("/contacts", json={"kind": "person", "name": "Ana"}), 201)["id"])
    other = str(ok(api.post("/contacts", json={"kind": "person", "name": "Bea"}), 201)["id"])
    log(api, "call", "first call", contact, occurred_at="2020-01-01T10:00:00Z")
    body = {"contact_id": contact, "subject": "Wrong address"}
    case = ok(api.post("/cases", json=body), 201)
    ok(api.post("/cases", json={**body, "contact_id": other}), 201)
    ok(api.post(f"/cases/{case['id']}/respond", headers=match(1)))
    nps = {"survey": "nps-2026-q4", "score": 9, "answered_at": "2021-05-01T00:00:00Z"}
    ok(api.post(f"/contacts/{contact}/nps", json=nps), 201)
    campaign = ok(api.post("/campaigns", json=SPRING), 201)
    ok(api.post(f"/campaigns/{campaign['id']}/launch", headers=match(1)))
    responses = {"responses": [{"contact_id": contact, "kind": "opened"}]}
    ok(api.post(f"/campaigns/{campaign['id']}/responses", json=responses), 201)

    page = ok(api.get(f"/contacts/{contact}/timeline"))
    assert [label(i) for i in page["items"]] == [
        "campaign opened",
        "case Wrong address",
        "Registered",
        "nps 9",
        "activity first call",
    ]
    shown = {i["type"]: i for i in page["items"]}
    assert shown["case"]["case"]["status"] == "open"  # as GET /cases/{id} shows it now
    assert shown["case"]["case"] == ok(api.get(f"/cases/{case['id']}"))
    assert shown["nps"]["at"] == "2021-05-01T00:00:00.000000Z"
    ats = [i["at"] for i in page["items"]]
    assert sorted(ats, reverse=True) == ats
    for limit in (1, 2, 3):
        assert walk(api, f"/contacts/{contact}/timeline", limit) == page["items"]

    # an accountant reads contacts (and their activities), not cases, NPS or campaigns
    accountant = ok(as_role(api, "accountant").get(f"/contacts/{contact}/timeline"))
    assert [label(i) for i in accountant["items"]] == ["Registered", "activity first call"]


def test_campaign_responses_are_read_a_page_at_a_time_in_key_order(api: Api) -> None:
    """Many responses, some at the very time of an activity and an NPS answer (keys that
    tie on the time sort by kind letter, then id): walking the pages gives the one order
    of a single page, with every item once."""
    contact = str(ok(api.post("/contacts", json={"kind": "person", "name": "Ana"}), 201)["id"])
    tie = "2024-02-02T09:00:00Z"
    log(api, "call", "the call", contact, occurred_at=tie)
    nps = {"survey": "nps-2024-q1", "score": 7, "answered_at": tie}
    ok(api.post(f"/contacts/{contact}/nps", json=nps), 201)
    campaign = ok(api.post("/campaigns", json=SPRING), 201)
    ok(api.post(f"/campaigns/{campaign['id']}/launch", headers=match(1)))
    times = [tie] * 4 + ["2024-02-02T08:59:59Z", "2024-02-02T09:00:01Z", "2023-01-01T00:00:00Z"]
    kinds = ["sent", "opened", "clicked", "replied", "sent", "opened", "sent"]
    body = {
        "responses": [
            {"contact_id": contact, "kind": k, "at": t} for k, t in zip(kinds, times, strict=True)
        ]
    }
    ok(api.post(f"/campaigns/{campaign['id']}/responses", json=body), 201)

    whole = ok(api.get(f"/contacts/{contact}/timeline", params={"limit": 200}))["items"]
    assert len(whole) == 1 + 1 + 7 + 1  # Registered, the call, 7 responses, the NPS answer
    at_tie = [label(i) for i in whole if i["at"] == "2024-02-02T09:00:00.000000Z"]
    # same time: campaign responses (r) above the NPS answer (n) above the activity (a)
    assert at_tie[-2:] == ["nps 7", "activity the call"]
    assert sorted(at_tie[:-2]) == [
        "campaign clicked",
        "campaign opened",
        "campaign replied",
        "campaign sent",
    ]
    ats = [i["at"] for i in whole]
    assert ats == sorted(ats, reverse=True)
    for limit in (1, 2, 3, 4):
        assert walk(api, f"/contacts/{contact}/timeline", limit) == whole
