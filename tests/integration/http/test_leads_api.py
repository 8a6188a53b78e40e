"""Leads end to end over HTTP, on SQLite and PostgreSQL: lifecycle, duplicates, conversion."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from crm_ledger import leads
from crm_ledger.domain.errors import VersionConflictError
from crm_ledger.domain.lead import Lead
from tests.integration.http.conftest import Api

STAGES = [
    {"name": "Qualified", "probability": 20, "forecast_category": "pipeline"},
    {"name": "Proposal", "probability": 50, "forecast_category": "best_case"},
]
LEAD = {
    "name": "Ana García",
    "company_name": "Acme SL",
    "emails": ["Ana@Acme.example"],
    "phones": ["+34 600 11 22 33"],
    "tax_id": "B-12345678",
    "source": "web form",
    "campaign": "spring-2026",
    "score": 40,
}


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert status == response.status_code, response.text
    return dict(response.json())


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert (status, code) == (response.status_code, response.json().get("code")), response.text
    assert "application/problem+json" == response.headers["content-type"]
    return dict(response.json())


def match(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


def new_lead(api: Api, **fields: Any) -> dict[str, Any]:
    return ok(api.post("/leads", json={**LEAD, **fields}), 201)


def new_pipeline(api: Api) -> dict[str, Any]:
    return ok(api.post("/pipelines", json={"name": "New business", "stages": STAGES}), 201)


def contact_count(api: Api) -> int:
    """Contacts as the read model shows them (it waits for every acknowledged write)."""
    people = ok(api.get("/contacts", params={"limit": 200}))["items"]
    archived = ok(api.get("/contacts", params={"limit": 200, "archived": True}))["items"]
    return len(people) + len(archived)


def test_lead_lifecycle(api: Api) -> None:
    """Create, read, patch (score too), contact, qualify, disqualify, reopen: each with
    If-Match, a new ETag, and events that record the actor."""
    created = api.post("/leads", json=LEAD)
    lead = ok(created, 201)
    lid = lead["id"]
    assert ('"1"', f"/leads/{lid}") == (created.headers["etag"], created.headers["location"])
    assert ("new", 40, ["ana@acme.example"]) == (lead["status"], lead["score"], lead["emails"])
    read = api.get(f"/leads/{lid}")
    assert ('"1"', lead) == (read.headers["etag"], read.json())

    problem(api.patch(f"/leads/{lid}", json={"score": 90}), 428, "precondition_required")
    problem(
        api.patch(f"/leads/{lid}", json={"score": 90}, headers=match(7)), 412, "version_conflict"
    )
    patched = api.patch(f"/leads/{lid}", json={"score": 90, "owner": "luis"}, headers=match(1))
    assert ('"3"', 90, "luis") == (
        patched.headers["etag"],
        patched.json()["score"],
        patched.json()["owner"],
    )
    problem(
        api.patch(f"/leads/{lid}", json={"score": 101}, headers=match(3)), 422, "validation_failed"
    )

    assert "contacted" == ok(api.post(f"/leads/{lid}/contact", headers=match(3)))["status"]
    problem(api.post(f"/leads/{lid}/contact", headers=match(4)), 409, "lead_status_conflict")
    assert "qualified" == ok(api.post(f"/leads/{lid}/qualify", headers=match(4)))["status"]
    problem(api.post(f"/leads/{lid}/reopen", headers=match(5)), 409, "lead_status_conflict")
    problem(
        api.post(f"/leads/{lid}/disqualify", json={"reason": "  "}, headers=match(5)),
        422,
        "invalid_command",
    )
    lost = ok(api.post(f"/leads/{lid}/disqualify", json={"reason": "no budget"}, headers=match(5)))
    assert ("disqualified", "no budget") == (lost["status"], lost["disqualified_reason"])
    reopened = ok(api.post(f"/leads/{lid}/reopen", headers=match(6)))
    assert ("new", None, 7) == (
        reopened["status"],
        reopened["disqualified_reason"],
        reopened["version"],
    )

    events = list(api.crm.history(UUID(lid)))
    assert [
        "Registered",
        "Updated",
        "Scored",
        "Contacted",
        "Qualified",
        "Disqualified",
        "Reopened",
    ] == [type(e).__name__ for e in events]
    assert all(e.actor.startswith("apikey:") for e in events)
    stored, entries = api.event_count()
    assert stored == entries


def test_unknown_lead_and_unknown_fields(api: Api) -> None:
    """404 for an unknown id; unknown body fields are refused."""
    problem(api.get(f"/leads/{uuid4()}"), 404, "not_found")
    problem(api.post("/leads", json={**LEAD, "colour": "red"}), 422, "validation_failed")


def test_duplicate_on_create_is_refused_unless_forced(api: Api) -> None:
    """Same email (other case), same phone digits or same tax id (other punctuation) as an
    existing contact: 409 listing the matches; ?force=true stores the lead."""
    ana = ok(
        api.post(
            "/contacts",
            json={"kind": "person", "name": "Ana G.", "emails": ["ana@acme.EXAMPLE"]},
        ),
        201,
    )
    acme = ok(
        api.post(
            "/contacts",
            json={
                "kind": "organisation",
                "name": "Acme SL",
                "tax_id": "b12345678",
                "phones": ["+34 (600) 112-233"],
            },
        ),
        201,
    )
    ok(
        api.post("/contacts", json={"kind": "person", "name": "Bob", "emails": ["bob@x.example"]}),
        201,
    )
    before = api.event_count()

    refused = problem(api.post("/leads", json=LEAD), 409, "possible_duplicates")
    assert [
        {"contact_id": acme["id"], "name": "Acme SL", "matched_on": ["tax_id", "phone"]},
        {"contact_id": ana["id"], "name": "Ana G.", "matched_on": ["email"]},
    ] == refused["matches"]
    assert before == api.event_count()

    clean = {**LEAD, "emails": ["new@acme.example"], "phones": ["+34 699"], "tax_id": None}
    assert "new" == ok(api.post("/leads", json=clean), 201)["status"]

    forced = ok(api.post("/leads", params={"force": "true"}, json=LEAD), 201)
    assert ["ana@acme.example"] == forced["emails"]


def test_an_open_lead_with_the_same_email_is_a_possible_duplicate(api: Api) -> None:
    """A second lead sharing an email (other case) with an open lead: 409 listing it in
    ``lead_matches`` (``matches`` lists contacts only); ``?force=true`` stores it. A
    disqualified lead is no match, a reopened one is again, and a converted one is found
    as the contact it became."""
    first = new_lead(api, emails=["web@form.example", "other@form.example"], phones=[],
                     tax_id=None)  # fmt: skip
    again = {**LEAD, "name": "Ana G.", "emails": ["WEB@form.example"], "phones": [],
             "tax_id": None}  # fmt: skip
    before = api.event_count()
    refused = problem(api.post("/leads", json=again), 409, "possible_duplicates")
    assert [] == refused["matches"]
    assert [{"lead_id": first["id"], "name": "Ana García", "matched_on": ["email"]}] == (
        refused["lead_matches"]
    )
    assert "1 open lead(s)" in refused["detail"]
    assert before == api.event_count()

    gone = ok(api.post(f"/leads/{first['id']}/disqualify", json={"reason": "spam"},
                       headers=match(first["version"])))  # fmt: skip
    second = ok(api.post("/leads", json=again), 201)
    ok(api.post(f"/leads/{first['id']}/reopen", headers=match(gone["version"])))
    third = {**again, "name": "Ana Tres"}
    refused = problem(api.post("/leads", json=third), 409, "possible_duplicates")
    assert [second["id"], first["id"]] == [m["lead_id"] for m in refused["lead_matches"]]  # by name

    ok(api.post(f"/leads/{second['id']}/convert", params={"force": "true"}, json={},
                headers=match(second["version"])))  # fmt: skip
    refused = problem(api.post("/leads", json=third), 409, "possible_duplicates")
    assert [first["id"]] == [m["lead_id"] for m in refused["lead_matches"]]
    assert ["Ana G."] == [m["name"] for m in refused["matches"]]  # the converted person
    forced = ok(api.post("/leads", params={"force": "true"}, json=third), 201)
    assert ["web@form.example"] == forced["emails"]


def test_convert_creates_contact_organisation_and_deal(api: Api) -> None:
    """One atomic save: person linked to a new organisation, a deal in the chosen stage,
    and the lead recording all three ids; the lead is then frozen."""
    pipeline = new_pipeline(api)
    second = pipeline["stages"][1]["stage_id"]
    lead = new_lead(api, owner="luis")
    lid = lead["id"]
    ok(api.post(f"/leads/{lid}/qualify", headers=match(1)))
    head_before = api.crm.head_position()

    body = {
        "create_organisation": True,
        "deal": {
            "pipeline_id": pipeline["id"],
            "stage_id": second,
            "title": "Acme first order",
            "amount": "1500.5",
        },
    }
    problem(api.post(f"/leads/{lid}/convert", json=body), 428, "precondition_required")
    answered = api.post(f"/leads/{lid}/convert", json=body, headers=match(2))
    result = ok(answered)
    assert '"3"' == answered.headers["etag"]
    converted, person, org, deal = (result[k] for k in ("lead", "contact", "organisation", "deal"))
    assert "converted" == converted["status"]
    conversion = converted["conversion"]
    assert (person["id"], org["id"], deal["id"]) == (
        conversion["contact_id"],
        conversion["organisation_id"],
        conversion["deal_id"],
    )
    assert conversion["actor"].startswith("apikey:")

    # Everything is really stored, and in one transaction (consecutive log positions).
    stored_person = ok(api.get(f"/contacts/{person['id']}"))
    assert ("person", "Ana García", ["ana@acme.example"], None, org["id"], "luis") == (
        stored_person["kind"],
        stored_person["name"],
        stored_person["emails"],
        stored_person["tax_id"],
        stored_person["organisation_id"],
        stored_person["owner"],
    )
    stored_org = ok(api.get(f"/contacts/{org['id']}"))
    assert ("organisation", "Acme SL", "B-12345678") == (
        stored_org["kind"],
        stored_org["name"],
        stored_org["tax_id"],
    )
    stored_deal = ok(api.get(f"/deals/{deal['id']}"))
    assert (person["id"], second, "1500.50", "EUR", "open") == (
        stored_deal["contact_id"],
        stored_deal["stage_id"],
        stored_deal["amount"],
        stored_deal["currency"],
        stored_deal["status"],
    )
    assert head_before + 4 == int(answered.headers["x-log-position"])
    assert conversion == ok(api.get(f"/leads/{lid}"))["conversion"]

    # Frozen: every change is refused.
    problem(api.post(f"/leads/{lid}/convert", json={}, headers=match(3)), 409, "lead_converted")
    problem(api.patch(f"/leads/{lid}", json={"score": 1}, headers=match(3)), 409, "lead_converted")
    problem(api.post(f"/leads/{lid}/qualify", headers=match(3)), 409, "lead_converted")
    stored, entries = api.event_count()
    assert stored == entries


def test_convert_links_existing_contact(api: Api) -> None:
    """Linking an existing person creates no person; its own email is no duplicate, but
    another contact with the lead's tax id is (for the new organisation)."""
    ana = ok(
        api.post("/contacts", json={"kind": "person", "name": "Ana", "emails": LEAD["emails"]}), 201
    )
    lead = ok(api.post("/leads", params={"force": "true"}, json={**LEAD, "tax_id": None}), 201)
    lid = lead["id"]

    problem(
        api.post(f"/leads/{lid}/convert", json={}, headers=match(1)), 409, "possible_duplicates"
    )
    linked = ok(
        api.post(
            f"/leads/{lid}/convert",
            json={"existing_contact_id": ana["id"], "create_organisation": True},
            headers=match(1),
        )
    )
    assert ana["id"] == linked["contact"]["id"] == linked["lead"]["conversion"]["contact_id"]
    assert linked["organisation"]["id"] == ok(api.get(f"/contacts/{ana['id']}"))["organisation_id"]
    assert linked["deal"] is None
    assert 2 == contact_count(api)  # Ana and the new organisation, no second Ana


def test_convert_duplicates_are_refused_unless_forced(api: Api) -> None:
    """On convert the matches come back as a 409 and nothing is stored; force proceeds."""
    lead = new_lead(api, tax_id=None, company_name=None)
    lid = lead["id"]
    other = ok(
        api.post(
            "/contacts", json={"kind": "person", "name": "Ana bis", "phones": ["34-600-112-233"]}
        ),
        201,
    )
    before = api.event_count()
    refused = problem(
        api.post(f"/leads/{lid}/convert", json={}, headers=match(1)), 409, "possible_duplicates"
    )
    assert [{"contact_id": other["id"], "name": "Ana bis", "matched_on": ["phone"]}] == refused[
        "matches"
    ]
    assert before == api.event_count()
    forced = ok(
        api.post(f"/leads/{lid}/convert", params={"force": "true"}, json={}, headers=match(1))
    )
    assert (None, None) == (forced["organisation"], forced["deal"])
    assert 2 == contact_count(api)


def test_convert_refusals_store_nothing(api: Api) -> None:
    """A conversion whose deal part fails (unknown stage, retired... ), whose organisation
    cannot be named, or whose lead is disqualified stores nothing at all."""
    pipeline = new_pipeline(api)
    lead = new_lead(api, company_name=None)
    lid = lead["id"]
    before = api.event_count()
    deal = {"pipeline_id": pipeline["id"], "title": "Order"}

    problem(
        api.post(
            f"/leads/{lid}/convert",
            json={"deal": {**deal, "stage_id": str(uuid4())}},
            headers=match(1),
        ),
        404,
        "stage_not_found",
    )
    problem(
        api.post(
            f"/leads/{lid}/convert",
            json={"deal": {**deal, "pipeline_id": str(uuid4())}},
            headers=match(1),
        ),
        404,
        "not_found",
    )
    problem(
        api.post(f"/leads/{lid}/convert", json={"create_organisation": True}, headers=match(1)),
        422,
        "invalid_command",
    )
    assert before == api.event_count()
    assert 0 == contact_count(api)
    assert lead == ok(api.get(f"/leads/{lid}"))

    ok(api.post(f"/leads/{lid}/disqualify", json={"reason": "spam"}, headers=match(1)))
    problem(
        api.post(f"/leads/{lid}/convert", json={}, headers=match(2)), 409, "lead_status_conflict"
    )
    assert 0 == contact_count(api)


def test_conversion_is_atomic_when_the_save_itself_fails(api: Api) -> None:
    """The lead changes concurrently after it was loaded, while the conversion is being
    prepared: the one save (lead + organisation + person + deal) fails on the lead's
    version and NOTHING is stored: no contact, no deal, the lead not converted."""
    pipeline = new_pipeline(api)
    lead = new_lead(api)
    lid = UUID(lead["id"])

    def concurrent_writer(**_: Any) -> list[dict[str, Any]]:
        leads.update_lead(
            api.crm, lid, expected_version=1, actor="system:other", changes={"score": 99}
        )
        return []

    events_before, entries_before = api.event_count()
    with pytest.raises(VersionConflictError):
        leads.convert_lead(
            api.crm,
            lid,
            expected_version=1,
            actor="system:tests",
            find_matches=concurrent_writer,
            create_organisation=True,
            deal=leads.DealSpec(pipeline_id=UUID(pipeline["id"]), title="Order"),
        )
    assert (events_before + 1, entries_before + 1) == api.event_count()  # only the Scored
    assert 0 == contact_count(api)
    stored = api.crm.load(Lead, lid, "lead")
    assert ("new", None, 99, 2) == (
        stored.status_value,
        stored.conversion,
        stored.score,
        stored.version,
    )


def test_openapi_documents_leads(api: Api) -> None:
    """Every lead route is in the OpenAPI document, with the duplicates problem example."""
    spec = ok(api.get("/openapi.json"))
    paths = spec["paths"]
    assert {
        "/leads",
        "/leads/{lead_id}",
        "/leads/{lead_id}/contact",
        "/leads/{lead_id}/qualify",
        "/leads/{lead_id}/disqualify",
        "/leads/{lead_id}/reopen",
        "/leads/{lead_id}/convert",
    } <= set(paths)
    conflict = paths["/leads/{lead_id}/convert"]["post"]["responses"]["409"]
    example = conflict["content"]["application/problem+json"]["example"]
    assert ("possible_duplicates", ["email"]) == (
        example["code"],
        example["matches"][0]["matched_on"],
    )
    force = [p for p in paths["/leads"]["post"]["parameters"] if p["name"] == "force"]
    assert [("query", False)] == [(p["in"], p["required"]) for p in force]
