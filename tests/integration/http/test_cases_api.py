"""Service cases over HTTP: the lifecycle, SLA states and filters, merges, roles, the
feed and the personal-data document (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from crm_ledger.domain.case import Case
from tests.integration.http.conftest import Api
from tests.integration.http.test_changes import as_role, feed
from tests.integration.http.test_merge_api import merge
from tests.integration.http.test_sales_api import match, ok, problem


def person(api: Api, name: str = "Ana Ruiz") -> str:
    return str(ok(api.post("/contacts", json={"kind": "person", "name": name}), 201)["id"])


def opened(api: Api, contact: str, **fields: Any) -> dict[str, Any]:
    response = api.post(
        "/cases", json={"contact_id": contact, "subject": "Wrong address", **fields}
    )
    body: dict[str, Any] = ok(response, 201)
    assert response.headers["Location"] == f"/cases/{body['id']}"
    assert response.headers["ETag"] == '"1"'
    return body


def step(api: Api, case: dict[str, Any], action: str, **body: Any) -> dict[str, Any]:
    changed: dict[str, Any] = ok(
        api.post(f"/cases/{case['id']}/{action}", json=body or None, headers=match(case["version"]))
    )
    return changed


def ids(response: Any) -> list[str]:
    return [item["id"] for item in ok(response)["items"]]


def backdated(api: Api, contact: str, hours: float, priority: str = "urgent") -> str:
    """A case opened `hours` ago (through the domain: the API opens cases now)."""
    case = Case.open(
        contact_id=UUID(contact),
        subject="Old one",
        priority=priority,
        actor="system:tests",
        now=datetime.now(UTC) - timedelta(hours=hours),
    )
    api.crm.store(case, actor="system:tests")
    return str(case.id)


def test_a_case_from_opening_to_rating(api: Api) -> None:
    contact = person(api)
    case = opened(api, contact, priority="high", channel="email", assignee="user:ana")
    assert (case["status"], case["priority"], case["responses"]) == ("new", "high", 0)
    assert case["sla"]["first_response"] == case["sla"]["resolution"] == "running"
    opened_at = datetime.fromisoformat(case["opened_at"])
    assert datetime.fromisoformat(case["sla"]["respond_by"]) - opened_at == timedelta(hours=4)
    assert datetime.fromisoformat(case["sla"]["resolve_by"]) - opened_at == timedelta(hours=24)

    case = step(api, case, "respond")
    assert (case["status"], case["sla"]["first_response"]) == ("open", "met")
    case = step(api, case, "wait")
    assert (case["status"], case["sla"]["resolution"]) == ("pending", "paused")
    case = step(api, case, "resume")
    case = step(api, case, "priority", priority="urgent")
    assert datetime.fromisoformat(case["sla"]["respond_by"]) - opened_at == timedelta(hours=1)
    changed = api.patch(
        f"/cases/{case['id']}", json={"assignee": "user:luis"}, headers=match(case["version"])
    )
    case = ok(changed)
    assert case["assignee"] == "user:luis"
    case = step(api, case, "resolve", resolution="Re-issued the invoice")
    assert (case["status"], case["sla"]["resolution"]) == ("resolved", "met")
    case = step(api, case, "rating", score=5, comment="fast")
    assert case["rating"] == {"score": 5, "comment": "fast"}
    case = step(api, case, "close")
    assert case["status"] == "closed"

    read = api.get(f"/cases/{case['id']}")
    assert read.headers["ETag"] == f'"{case["version"]}"'
    assert ok(read) == case
    events = [e["event"] for e in ok(api.get(f"/cases/{case['id']}/history"))["items"]]
    assert events == [
        "Opened",
        "Responded",
        "Waiting",
        "Resumed",
        "Prioritised",
        "Updated",
        "Resolved",
        "Rated",
        "Closed",
    ]

    # refused commands store nothing
    problem(step_raw(api, case, "respond"), 409, "case_conflict")
    problem(step_raw(api, case, "rating", score=4), 409, "case_conflict")
    problem(
        api.post(f"/cases/{case['id']}/close", headers=match(case["version"] - 1)),
        412,
        "version_conflict",
    )
    problem(api.post(f"/cases/{case['id']}/close"), 428, "precondition_required")
    problem(step_raw(api, case, "reopen", reason=""), 422, "validation_failed")
    reopened = step(api, case, "reopen", reason="still wrong")
    assert (reopened["status"], reopened["rating"]) == ("open", None)


def step_raw(api: Api, case: dict[str, Any], action: str, **body: Any) -> Any:
    return api.post(
        f"/cases/{case['id']}/{action}", json=body or None, headers=match(case["version"])
    )


def test_bad_cases_are_refused(api: Api) -> None:
    contact = person(api)
    problem(
        api.post("/cases", json={"contact_id": str(UUID(int=3)), "subject": "x"}), 404, "not_found"
    )
    problem(
        api.post("/cases", json={"contact_id": contact, "subject": ""}), 422, "validation_failed"
    )
    problem(
        api.post("/cases", json={"contact_id": contact, "subject": "x", "priority": "asap"}),
        422,
        "validation_failed",
    )
    problem(
        api.post("/cases", json={"contact_id": contact, "subject": "x", "colour": 1}),
        422,
        "validation_failed",
    )
    duplicate = person(api, "Ana R.")
    ok(merge(api, contact, duplicate))
    problem(
        api.post("/cases", json={"contact_id": duplicate, "subject": "x"}), 409, "contact_merged"
    )
    problem(api.get(f"/cases/{UUID(int=4)}"), 404, "not_found")


def test_lists_filter_sort_and_flag_breaches(api: Api) -> None:
    ana, bea = person(api, "Ana"), person(api, "Bea")
    late = backdated(api, ana, hours=6)  # urgent: respond by 1 h, resolve by 4 h: breached
    answered_late = backdated(api, bea, hours=2)
    ok(api.post(f"/cases/{answered_late}/respond", headers=match(1)))  # 2 h > 1 h: breached
    fresh = opened(api, bea, priority="low", assignee="user:luis")["id"]
    normal = opened(api, ana)["id"]

    assert ids(api.get("/cases")) == [normal, fresh, answered_late, late]  # newest first
    assert ids(api.get("/cases", params={"sort": "resolve_by"})) == [
        late,
        answered_late,
        normal,
        fresh,
    ]
    assert set(ids(api.get("/cases", params={"breached": "true"}))) == {late, answered_late}
    assert set(ids(api.get("/cases", params={"breached": "false"}))) == {fresh, normal}
    assert ids(api.get("/cases", params={"contact_id": bea})) == [fresh, answered_late]
    assert ids(api.get("/cases", params={"status": "open"})) == [answered_late]
    assert ids(api.get("/cases", params={"priority": "low", "assignee": "user:luis"})) == [fresh]
    listed = {c["id"]: c for c in ok(api.get("/cases"))["items"]}
    assert listed[late]["sla"] == {
        **listed[late]["sla"],
        "first_response": "breached",
        "resolution": "breached",
    }
    assert listed[answered_late]["sla"]["first_response"] == "breached"
    assert listed[fresh]["sla"]["first_response"] == "running"

    first = ok(api.get("/cases", params={"limit": 3, "sort": "resolve_by"}))
    second = ok(
        api.get("/cases", params={"limit": 3, "sort": "resolve_by", "cursor": first["next_cursor"]})
    )
    assert [c["id"] for c in first["items"] + second["items"]] == [
        late,
        answered_late,
        normal,
        fresh,
    ]
    assert second["next_cursor"] is None
    problem(api.get("/cases", params={"cursor": "bm90IGEga2V5"}), 400, "malformed_cursor")
    problem(api.get("/cases", params={"sort": "priority"}), 422, "validation_failed")


def test_merges_roles_feed_and_personal_data(api: Api) -> None:
    survivor, duplicate = person(api, "Ana"), person(api, "Ana R.")
    case = opened(api, duplicate)
    merged = ok(merge(api, survivor, duplicate))
    assert merged["relinked"]["cases"] == [case["id"]]
    moved = ok(api.get(f"/cases/{case['id']}"))
    assert (moved["contact_id"], moved["version"]) == (survivor, 2)
    assert ids(api.get("/cases", params={"contact_id": survivor})) == [case["id"]]

    document = ok(api.get(f"/contacts/{survivor}/personal-data"))
    assert [c["id"] for c in document["cases"]] == [case["id"]]
    assert document["cases"][0]["sla"]["first_response"] == "running"

    sales, accountant, auditor = (as_role(api, r) for r in ("sales", "accountant", "auditor"))
    ok(sales.post("/cases", json={"contact_id": survivor, "subject": "From sales"}), 201)
    ok(auditor.get("/cases"))
    problem(
        auditor.post("/cases", json={"contact_id": survivor, "subject": "x"}),
        403,
        "forbidden_for_role",
    )
    problem(accountant.get("/cases"), 403, "forbidden_for_role")
    assert [c["event"] for c in feed(sales) if c["type"] == "case"] == [
        "Opened",
        "Relinked",
        "Opened",
    ]
    assert [c for c in feed(accountant) if c["type"] == "case"] == []


def test_the_service_report(api: Api) -> None:
    ana = person(api)
    backdated(api, ana, hours=6)  # urgent, never answered: both clocks breached
    late = backdated(api, ana, hours=2)  # urgent: answered after 2 h (late), solved in time
    ok(api.post(f"/cases/{late}/respond", headers=match(1)))
    ok(api.post(f"/cases/{late}/resolve", json={"resolution": "ok"}, headers=match(2)))
    ok(api.post(f"/cases/{late}/rating", json={"score": 5}, headers=match(3)))
    quick = opened(api, ana, priority="high")
    quick = step(api, step(api, quick, "respond"), "resolve", resolution="done")
    step(api, quick, "rating", score=3)
    opened(api, ana, priority="low")  # both clocks still running

    report = ok(api.get("/reports/service"))
    total = report["total"]
    assert {k: v for k, v in total.items() if not k.startswith("mean_")} == {
        "opened": 4,
        "resolved": 2,
        "active": 2,
        "first_response_met": 1,
        "first_response_breached": 2,
        "first_response_met_share": 0.3333,
        "resolution_met": 2,
        "resolution_breached": 1,
        "resolution_met_share": 0.6667,
        "rated": 2,
        "csat_mean": 4.0,
        "csat_satisfied_share": 0.5,
    }
    assert abs(total["mean_hours_to_first_response"] - 1.0) < 0.05  # (2 h + 0 h) / 2
    assert abs(total["mean_hours_to_resolution"] - 1.0) < 0.05
    assert [(p["priority"], p["opened"]) for p in report["priorities"]] == [
        ("urgent", 2),
        ("high", 1),
        ("low", 1),
    ]
    urgent = report["priorities"][0]
    assert (urgent["first_response_breached"], urgent["csat_mean"]) == (2, 5.0)

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert ok(api.get("/reports/service", params={"from": tomorrow}))["total"]["opened"] == 0
    problem(
        api.get("/reports/service", params={"from": tomorrow, "to": "2026-01-01"}),
        400,
        "invalid_range",
    )
    csv = api.get("/reports/service", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0].startswith("priority,opened,resolved,active,")
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["all", "4"],
        ["urgent", "2"],
        ["high", "1"],
        ["low", "1"],
    ]
    problem(as_role(api, "accountant").get("/reports/service"), 403, "forbidden_for_role")
