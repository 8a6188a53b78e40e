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
