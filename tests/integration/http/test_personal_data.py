"""``GET /contacts/{id}/personal-data``: everything that names a person, and nothing that
does not, each part as its own route shows it (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from tests.integration.http.conftest import Api
from tests.integration.http.test_activities_api import log
from tests.integration.http.test_campaigns_api import planned
from tests.integration.http.test_cases_api import opened
from tests.integration.http.test_changes import as_role, feed
from tests.integration.http.test_documents_api import new_quote
from tests.integration.http.test_merge_api import merge
from tests.integration.http.test_payments_api import issued, new_customer, new_issuer, record
from tests.integration.http.test_sales_api import match, new_pipeline, ok, problem
from tests.integration.http.test_surveys_api import answer as nps_answer


def deal(api: Api, pipeline: dict[str, Any], contact: str) -> str:
    body = {"title": "Fleet", "contact_id": contact, "pipeline_id": pipeline["id"]}
    return str(ok(api.post("/deals", json={**body, "currency": "EUR"}), 201)["id"])


def ids(items: list[dict[str, Any]]) -> set[str]:
    return {str(item["id"]) for item in items}


def test_the_document_holds_what_names_the_person_and_nothing_else(api: Api) -> None:
    pipeline, issuer = new_pipeline(api), new_issuer(api)
    person, duplicate, other = (new_customer(api, n) for n in ("Ruiz SL", "Ruiz S.L.", "Otra SA"))
    ok(
        api.post(
            f"/contacts/{duplicate}/consents",
            json={"purpose": "newsletter", "granted": True, "source": "web_form"},
        ),
        201,
    )
    mine = {
        "deals": {deal(api, pipeline, person), deal(api, pipeline, duplicate)},
        "activities": {log(api, "call", "Intro", person)["id"]},
        "quotes": {new_quote(api, issuer, customer_id=person)["id"]},
        "invoices": {issued(api, issuer, person)["id"], issued(api, issuer, duplicate)["id"]},
        "payments": {record(api, person, "10.00")["id"]},
        "cases": {opened(api, person)["id"], opened(api, duplicate)["id"]},
        "nps": {ok(nps_answer(api, duplicate, 9), 201)["id"]},
    }
    # launched while the duplicate (only it consents to newsletter) was its own contact
    told = planned(api, code="news-1", purpose="newsletter")
    ok(api.post(f"/campaigns/{told['id']}/launch", headers=match(1)))
    nobody = planned(api, code="sms-1", purpose="sms")
    ok(api.post(f"/campaigns/{nobody['id']}/launch", headers=match(1)))
    mine["campaigns_launched_to"] = {told["id"]}
    opened(api, other)
    ok(nps_answer(api, other, 2), 201)
    deal(api, pipeline, other)
    new_quote(api, issuer, customer_id=other)
    issued(api, issuer, other)
    record(api, other, "5.00")
    log(api, "call", "Other", other)
    ok(merge(api, person, duplicate))

    answer = api.get(f"/contacts/{person}/personal-data")
    assert answer.status_code == 200, answer.text
    disposition = f'attachment; filename="personal-data-{person}.json"'
    assert answer.headers["content-disposition"] == disposition
    document = answer.json()
    assert document["contact"] == ok(api.get(f"/contacts/{person}"))
    assert document["merged_contacts"] == [duplicate]
    assert list(document["history"]) == [person, duplicate]
    for contact in (person, duplicate):
        history = api.every_page(f"/contacts/{contact}/history", limit=50)
        assert document["history"][contact] == history
    consents = ok(api.get(f"/contacts/{person}/consents"))
    assert document["consents"]["statements"] == consents["statements"]
    assert document["consents"]["purposes"]["newsletter"]["contact_id"] == duplicate
    for part, expected in mine.items():
        assert ids(document[part]) == expected, part
    assert document["orders"] == document["delivery_notes"] == []
    # each part as its list shows it (the merge moved the duplicate's deal to the person)
    assert document["deals"] == api.every_page("/deals", contact_id=person)
    assert document["payments"] == api.every_page("/payments", customer_id=person)
    assert document["quotes"] == api.every_page("/quotes", customer_id=person)
    assert document["cases"] == api.every_page("/cases", contact_id=person)
    assert document["nps"] == api.every_page("/nps", contact_id=person)
    invoices = {i["id"]: i for i in document["invoices"]}
    for customer in (person, duplicate):
        for item in api.every_page("/invoices", customer_id=customer):
            assert invoices[item["id"]] == item
    (launched,) = document["campaigns_launched_to"]
    assert launched == ok(api.get(f"/campaigns/{told['id']}"))  # with its launch_audience
    assert "tax law" in document["retention"]

    # the export itself is on record, with its actor, before the document was sent
    head = ok(api.get("/changes"))["head"]
    assert document["log_position"] == head - 1
    assert answer.headers["X-Log-Position"] == str(head)
    (made,) = feed(api, types=["personal_data_export"])
    assert (made["id"], made["position"], made["actor"]) == (
        document["export_id"],
        head,
        api.crm.authenticate(api.token).actor,
    )  # type: ignore[union-attr]
    assert made["data"]["contact_id"] == person
    assert made["data"]["log_position"] == document["log_position"]
    assert made["data"]["counts"] == {
        "activities": 1,
        "campaign_responses": 0,
        "campaigns_launched_to": 1,
        "cases": 2,
        "consent_statements": 1,
        "deals": 2,
        "delivery_notes": 0,
        "history_events": len(document["history"][person]) + len(document["history"][duplicate]),
        "invoices": 2,
        "leads": 0,
        "merged_contacts": 1,
        "nps": 1,
        "orders": 0,
        "payments": 1,
        "quotes": 1,
    }
    for role in ("sales", "accountant"):
        assert feed(as_role(api, role), types=["personal_data_export"]) == []


def test_only_admin_and_auditor_read_it(api: Api) -> None:
    person = new_customer(api)
    problem(api.get(f"/contacts/{new_customer(api)}0/personal-data"), 422, "validation_failed")
    for role in ("sales", "accountant"):
        problem(
            as_role(api, role).get(f"/contacts/{person}/personal-data"), 403, "forbidden_for_role"
        )
    assert ok(as_role(api, "auditor").get(f"/contacts/{person}/personal-data"))["contact_id"] == (
        person
    )
    problem(
        api.get("/contacts/00000000-0000-0000-0000-000000000009/personal-data"), 404, "not_found"
    )
