"""NPS answers over HTTP: recording, lists, the NPS report, merges, roles and the feed
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from tests.integration.http.conftest import Api
from tests.integration.http.test_changes import as_role, feed
from tests.integration.http.test_merge_api import merge
from tests.integration.http.test_sales_api import ok, problem


def person(api: Api, name: str = "Ana Ruiz") -> str:
    return str(ok(api.post("/contacts", json={"kind": "person", "name": name}), 201)["id"])


def answer(api: Api, contact: str, score: Any, **fields: Any) -> Any:
    return api.post(
        f"/contacts/{contact}/nps", json={"survey": "nps-2026-q4", "score": score, **fields}
    )


def ids(response: Any) -> list[str]:
    return [item["id"] for item in ok(response)["items"]]


def test_answers_are_recorded_listed_and_scored(api: Api) -> None:
    ana, bea = person(api, "Ana"), person(api, "Bea")
    made = answer(api, ana, 10, comment=" Great support ", channel="email")
    first = ok(made, 201)
    assert made.headers["Location"] == f"/nps/{first['id']}"
    assert (first["group"], first["comment"], first["contact_id"]) == (
        "promoter",
        "Great support",
        ana,
    )
    assert ok(api.get(f"/nps/{first['id']}")) == first
    scores = {9: ana, 8: bea, 6: bea, 0: ana}
    made_ids = [first["id"]] + [ok(answer(api, c, s), 201)["id"] for s, c in scores.items()]
    other = ok(answer(api, bea, 10, survey="onboarding"), 201)["id"]
    old = ok(answer(api, bea, 3, answered_at="2025-06-01T12:00:00+02:00"), 201)
    assert old["answered_at"] == "2025-06-01T10:00:00.000000Z"

    assert ids(api.get("/nps")) == [other, *reversed(made_ids), old["id"]]
    assert set(ids(api.get("/nps", params={"survey": "onboarding"}))) == {other}
    assert ids(api.get("/nps", params={"group": "detractor", "contact_id": bea})) == [
        made_ids[3],
        old["id"],
    ]
    page = ok(api.get("/nps", params={"limit": 4}))
    rest = ok(api.get("/nps", params={"limit": 4, "cursor": page["next_cursor"]}))
    assert [i["id"] for i in page["items"] + rest["items"]] == ids(api.get("/nps"))

    report = ok(api.get("/reports/nps", params={"from": "2026-01-01"}))
    # q4: 10, 9 promoters; 8 passive; 6, 0 detractors -> (2 - 2) / 5 = 0
    assert report["surveys"] == [
        {"survey": "nps-2026-q4", "responses": 5, "promoters": 2, "passives": 1,
         "detractors": 2, "nps": 0.0},
        {"survey": "onboarding", "responses": 1, "promoters": 1, "passives": 0,
         "detractors": 0, "nps": 100.0},
    ]  # fmt: skip
    assert report["total"] == {
        "responses": 6, "promoters": 3, "passives": 1, "detractors": 2, "nps": 16.7
    }  # fmt: skip
    everything = ok(api.get("/reports/nps", params={"survey": "nps-2026-q4"}))
    assert (everything["total"]["responses"], everything["total"]["nps"]) == (6, -16.7)
    empty = ok(api.get("/reports/nps", params={"to": "2020-01-01"}))
    assert (empty["total"]["nps"], empty["surveys"]) == (None, [])
    csv = api.get("/reports/nps", params={"format": "csv", "from": "2026-01-01"}).text
    assert csv.splitlines()[:2] == [
        "survey,responses,promoters,passives,detractors,nps",
        "all,6,3,1,2,16.7",
    ]


def test_bad_answers_are_refused(api: Api) -> None:
    ana = person(api)
    for score in (11, -1, 5.5, True, "9"):
        problem(answer(api, ana, score), 422, "validation_failed")
    problem(answer(api, ana, 5, survey="NPS 2026"), 422, "validation_failed")
    problem(answer(api, ana, 5, answered_at="2026-01-01T00:00:00"), 422, "validation_failed")
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    problem(answer(api, ana, 5, answered_at=future), 422, "invalid_command")
    problem(answer(api, str(UUID(int=8)), 5), 404, "not_found")
    problem(api.get(f"/nps/{UUID(int=8)}"), 404, "not_found")
    assert ids(api.get("/nps")) == []


def test_merged_contacts_roles_feed_and_personal_data(api: Api) -> None:
    survivor, duplicate = person(api, "Ana"), person(api, "Ana R.")
    before = ok(answer(api, duplicate, 9), 201)["id"]
    merged = ok(merge(api, survivor, duplicate))
    assert merged["relinked"]["nps"] == [before]
    after = ok(answer(api, duplicate, 4), 201)  # an old survey link: for the survivor
    assert after["contact_id"] == survivor
    assert set(ids(api.get("/nps", params={"contact_id": survivor}))) == {before, after["id"]}
    document = ok(api.get(f"/contacts/{survivor}/personal-data"))
    assert {a["id"] for a in document["nps"]} == {before, after["id"]}

    sales, accountant, auditor = (as_role(api, r) for r in ("sales", "accountant", "auditor"))
    ok(answer(sales, survivor, 7), 201)
    ok(auditor.get("/nps"))
    ok(sales.get("/reports/nps"))
    problem(answer(auditor, survivor, 7), 403, "forbidden_for_role")
    problem(accountant.get("/nps"), 403, "forbidden_for_role")
    problem(accountant.get("/reports/nps"), 403, "forbidden_for_role")
    assert [c["event"] for c in feed(sales) if c["type"] == "nps"] == [
        "Recorded",
        "Relinked",
        "Recorded",
        "Recorded",
    ]
    assert [c for c in feed(accountant) if c["type"] == "nps"] == []
