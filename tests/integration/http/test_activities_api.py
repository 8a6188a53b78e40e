"""Activities and timelines end to end over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from tests.integration.http.conftest import Api

STAGES = [
    {"name": "Qualified", "probability": 20, "forecast_category": "pipeline"},
    {"name": "Proposal", "probability": 50, "forecast_category": "best_case"},
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


def contact(api: Api, name: str = "Acme SL") -> str:
    return str(ok(api.post("/contacts", json={"kind": "organisation", "name": name}), 201)["id"])


def deal(api: Api, contact_id: str) -> dict[str, Any]:
    pipeline = ok(api.post("/pipelines", json={"name": "New business", "stages": STAGES}), 201)
    body = {
        "title": "Acme renewal",
        "contact_id": contact_id,
        "pipeline_id": pipeline["id"],
        "currency": "EUR",
    }
    return ok(api.post("/deals", json=body), 201) | {"pipeline": pipeline}


def links(**ids: str) -> list[dict[str, str]]:
    return [{"type": kind, "id": value} for kind, value in ids.items()]


def log(api: Api, kind: str, subject: str, record: str, **body: Any) -> dict[str, Any]:
    payload = {"kind": kind, "subject": subject, "links": links(contact=record), **body}
    return ok(api.post("/activities", json=payload), 201)


def task(api: Api, subject: str, record: str, assignee: str, due: str | None) -> str:
    return str(log(api, "task", subject, record, assignee=assignee, due_date=due)["id"])


def subjects(response: Any) -> list[str]:
    return [i["subject"] for i in ok(response)["items"]]


def walk(api: Api, url: str, limit: int) -> list[dict[str, Any]]:
    """Every item of a paginated list, following next_cursor with pages of `limit`."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    sep = "&" if "?" in url else "?"
    while True:
        query = f"{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = ok(api.get(url + query))
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_overdue_and_due_today_per_assignee(api: Api) -> None:
    """With as_of fixed, each assignee sees only their open tasks due before / on the day,
    oldest due first; completion, reopening, cancelling and reassignment move them."""
    c = contact(api)
    a1 = task(api, "A1", c, "ana", "2026-03-08")
    a2 = task(api, "A2", c, "ana", "2026-03-09")
    a3 = str(
        log(
            api,
            "task",
            "A3",
            c,
            assignee="ana",
            due_date="2026-03-10",
            remind_at="2026-03-10T09:00:00+01:00",
        )["id"]
    )
    task(api, "A4", c, "ana", "2026-03-11")
    a5 = task(api, "A5", c, "ana", "2026-03-09")
    task(api, "A6", c, "ana", None)
    task(api, "B1", c, "ben", "2026-03-09")
    task(api, "B2", c, "ben", "2026-03-10")
    log(api, "call", "Call", c, occurred_at="2026-03-01T10:00:00Z")
    ok(api.post(f"/activities/{a2}/complete", headers=match(1)))
    ok(api.post(f"/activities/{a5}/cancel", json={"reason": "duplicate"}, headers=match(1)))

    def due(who: str, when: str, as_of: str = "2026-03-10") -> list[str]:
        url = f"/activities?assignee={who}&due={when}&kind=task&as_of={as_of}"
        return subjects(api.get(url))

    assert ["A1"] == due("ana", "overdue")
    assert ["A3"] == due("ana", "today")
    assert ["B1"] == due("ben", "overdue")
    assert ["B2"] == due("ben", "today")
    assert ["A1", "A3", "A4"] == due("ana", "overdue", "2026-03-12")
    assert [] == due("ana", "today", "2026-03-12")

    ok(api.post(f"/activities/{a2}/reopen", headers=match(2)))
    assert ["A1", "A2"] == due("ana", "overdue")
    moved = api.patch(f"/activities/{a1}", json={"assignee": "ben"}, headers=match(1))
    assert ("ben", '"2"') == (ok(moved)["assignee"], moved.headers["etag"])
    assert ["A2"] == due("ana", "overdue")
    assert ["A1", "B1"] == due("ben", "overdue")
    assert ["A1", "B1"] == [
        i["subject"] for i in walk(api, "/activities?due=overdue&assignee=ben&as_of=2026-03-10", 1)
    ]

    reminded = api.get("/activities?assignee=ana&remind_before=2026-03-10T08:00:00Z")
    assert [a3] == [i["id"] for i in ok(reminded)["items"]]
    assert [] == subjects(api.get("/activities?assignee=ana&remind_before=2026-03-10T07:59:59Z"))

    done = api.get("/activities?kind=task&completed=false&assignee=ben")
    assert {"A1", "B1", "B2"} == set(subjects(done))
    assert ["A5"] == subjects(api.get("/activities?cancelled=true"))
    assert ["Call"] == subjects(api.get(f"/activities?kind=call&contact_id={c}"))


def test_list_by_record_is_newest_first_and_paginated(api: Api) -> None:
    """?contact_id / ?deal_id list the activities linked to that record, newest first."""
    c, other = contact(api), contact(api, "Other SA")
    d = deal(api, c)["id"]
    log(api, "call", "old call", c, occurred_at="2020-01-01T10:00:00Z")
    log(api, "email", "mail", c, occurred_at="2024-05-01T10:00:00Z")
    ok(
        api.post(
            "/activities",
            json={
                "kind": "meeting",
                "subject": "both",
                "links": links(contact=c, deal=d),
                "occurred_at": "2025-01-01T10:00:00Z",
            },
        ),
        201,
    )
    log(api, "note", "elsewhere", other)
    expected = ["both", "mail", "old call"]
    assert expected == subjects(api.get(f"/activities?contact_id={c}"))
    for limit in (1, 2, 3):
        assert expected == [i["subject"] for i in walk(api, f"/activities?contact_id={c}", limit)]
    assert ["both"] == subjects(api.get(f"/activities?deal_id={d}"))
    assert [] == subjects(api.get(f"/activities?lead_id={uuid4()}"))
    problem(api.get(f"/activities?contact_id={c}&deal_id={d}"), 400, "too_many_links")
    problem(api.get("/activities?cursor=%%%"), 400, "malformed_cursor")


def test_contact_timeline_merges_events_and_activities_newest_first(api: Api) -> None:
    """The contact's own events and its activities, newest first, every page size equal."""
    c = contact(api)
    log(api, "call", "old call", c, occurred_at="2020-01-01T10:00:00Z")
    ok(api.patch(f"/contacts/{c}", json={"name": "Acme SLU"}, headers=match(1)))
    note = log(api, "note", "note", c)
    log(api, "meeting", "future meeting", c, occurred_at="2099-01-01T10:00:00Z")
    d = deal(api, c)["id"]
    ok(
        api.post(
            "/activities",
            json={
                "kind": "task",
                "subject": "task",
                "links": links(deal=d, contact=c),
                "due_date": "2026-03-10",
                "assignee": "ana",
            },
        ),
        201,
    )
    ok(api.post(f"/contacts/{c}/archive", headers=match(2)))
    ok(api.post(f"/activities/{note['id']}/cancel", headers=match(1)))
    log(api, "note", "other contact", contact(api, "Other SA"))

    page = ok(api.get(f"/contacts/{c}/timeline"))
    labels = [i["event"] or i["activity"]["subject"] for i in page["items"]]
    assert [
        "future meeting",
        "Archived",
        "task",
        "note",
        "Updated",
        "Registered",
        "old call",
    ] == labels
    assert page["next_cursor"] is None
    ats = [i["at"] for i in page["items"]]
    assert sorted(ats, reverse=True) == ats
    by_label = dict(zip(labels, page["items"], strict=True))
    assert "cancelled" == by_label["note"]["activity"]["status"]
    assert ("event", 3, {"name": "Acme SLU"}) == (
        by_label["Updated"]["type"],
        by_label["Updated"]["version"] + 1,
        by_label["Updated"]["data"]["changes"],
    )
    assert all(i["actor"].startswith("apikey:") for i in page["items"])
    for limit in (1, 2, 3, 6):
        assert page["items"] == walk(api, f"/contacts/{c}/timeline", limit)


def test_deal_timeline(api: Api) -> None:
    """A deal's timeline holds its events and the activities linked to the deal only."""
    c = contact(api)
    created = deal(api, c)
    d, second = created["id"], created["pipeline"]["stages"][1]["stage_id"]
    ok(
        api.post(
            "/activities",
            json={"kind": "task", "subject": "prepare", "links": links(deal=d)},
        ),
        201,
    )
    log(api, "call", "contact only", c)
    ok(api.post(f"/deals/{d}/move", json={"stage_id": second}, headers=match(1)))
    ok(
        api.post(
            "/activities",
            json={
                "kind": "email",
                "subject": "old mail",
                "links": links(deal=d),
                "occurred_at": "2021-06-01T00:00:00Z",
            },
        ),
        201,
    )
    items = walk(api, f"/deals/{d}/timeline", 2)
    assert ["Moved", "prepare", "Created", "old mail"] == [
        i["event"] or i["activity"]["subject"] for i in items
    ]
    problem(api.get(f"/deals/{uuid4()}/timeline"), 404, "not_found")
    problem(api.get(f"/contacts/{d}/timeline"), 404, "not_found")


def test_activity_guards_over_http(api: Api) -> None:
    """Links must exist with the right type; task commands, versions and cancel are
    enforced; every event is chained in the ledger."""
    c = contact(api)
    body = {"kind": "task", "subject": "Follow up", "links": links(contact=c)}
    problem(
        api.post("/activities", json={**body, "links": links(contact=str(uuid4()))}),
        404,
        "not_found",
    )
    problem(api.post("/activities", json={**body, "links": links(deal=c)}), 404, "not_found")
    problem(
        api.post("/activities", json={**body, "links": links(lead=str(uuid4()))}),
        404,
        "not_found",
    )
    problem(api.post("/activities", json={**body, "links": []}), 422, "validation_failed")
    problem(api.post("/activities", json={**body, "kind": "visit"}), 422, "validation_failed")
    problem(
        api.post("/activities", json={**body, "due_date": "2026-03-10T00:00:00Z"}),
        422,
        "validation_failed",
    )
    problem(
        api.post("/activities", json={**body, "kind": "call", "due_date": "2026-03-10"}),
        422,
        "invalid_command",
    )

    created = api.post("/activities", json=body)
    t = ok(created, 201)
    tid = t["id"]
    assert ('"1"', f"/activities/{tid}") == (created.headers["etag"], created.headers["location"])
    assert ("task", "open", links(contact=c)) == (t["kind"], t["status"], t["links"])
    call = log(api, "call", "Call", c)
    problem(
        api.post(f"/activities/{call['id']}/complete", headers=match(1)), 409, "activity_not_task"
    )
    problem(api.post(f"/activities/{tid}/complete"), 428, "precondition_required")
    problem(api.post(f"/activities/{tid}/complete", headers=match(2)), 412, "version_conflict")
    problem(api.post(f"/activities/{tid}/reopen", headers=match(1)), 409, "activity_not_completed")
    done = ok(api.post(f"/activities/{tid}/complete", headers=match(1)))
    assert ("done", 2) == (done["status"], done["version"])
    assert done["completed_by"].startswith("apikey:")
    problem(api.post(f"/activities/{tid}/complete", headers=match(2)), 409, "activity_completed")
    problem(api.post(f"/activities/{tid}/cancel", headers=match(2)), 409, "activity_completed")
    ok(api.post(f"/activities/{tid}/reopen", headers=match(2)))
    cancelled = ok(api.post(f"/activities/{tid}/cancel", json={"reason": "moot"}, headers=match(3)))
    assert ("cancelled", "moot") == (cancelled["status"], cancelled["cancel_reason"])
    problem(
        api.patch(f"/activities/{tid}", json={"subject": "x"}, headers=match(4)),
        409,
        "activity_cancelled",
    )
    problem(
        api.patch(f"/activities/{call['id']}", json={"assignee": "ana"}, headers=match(1)),
        409,
        "activity_not_task",
    )
    problem(
        api.patch(f"/activities/{call['id']}", json={"links": links(deal=c)}, headers=match(1)),
        404,
        "not_found",
    )
    read = api.get(f"/activities/{tid}")
    assert ('"4"', "cancelled") == (read.headers["etag"], read.json()["status"])
    problem(api.get(f"/activities/{c}"), 404, "not_found")
    events, entries = api.event_count()
    assert events == entries
