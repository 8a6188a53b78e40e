"""``POST /contacts:batch``: all or nothing, per-item pointers, idempotent, at most 1,000."""

from __future__ import annotations

from typing import Any

from tests.integration.http.conftest import Api


def person(i: int, **extra: Any) -> dict[str, Any]:
    return {"kind": "person", "name": f"Person {i}", "emails": [f"p{i}@example.com"], **extra}


def pointers(response: Any) -> dict[str, str]:
    return {e["pointer"]: e["detail"] for e in response.json()["errors"]}


def test_batch_stores_every_contact_and_answers_ids_in_order(api: Api) -> None:
    """201 lists each new contact's id and version in the order sent; each can be read."""
    before = api.event_count()
    body = {"contacts": [person(i, tags=["bulk"]) for i in range(25)]}
    response = api.post("/contacts:batch", json=body)
    assert 201 == response.status_code, response.text
    items = response.json()["items"]
    assert 25 == len(items)
    assert [1] * 25 == [i["version"] for i in items]
    names = [api.get(f"/contacts/{i['id']}").json()["name"] for i in items]
    assert [f"Person {i}" for i in range(25)] == names
    events, entries = api.event_count()
    assert (before[0] + 25, before[1] + 25) == (events, entries)
    assert int(response.headers["x-log-position"]) == api.crm.head_position()


def test_one_bad_item_refuses_the_batch_with_a_pointer_per_error(api: Api) -> None:
    """Schema and business-rule errors of every item come back together; nothing is stored."""
    before = api.event_count()
    contacts = [person(i) for i in range(20)]
    contacts[3] = person(3, name="   ")  # passes the schema, refused by the aggregate
    contacts[5] = person(5, organisation_id="00000000-0000-0000-0000-000000000001")
    contacts[8] = person(8, colour="red")
    contacts[11] = {"kind": "organisation", "name": "Acme", "organisation_id": None, "tags": ["ok"]}
    contacts[17] = person(17, emails=["not-an-email", "ok@example.com"])
    response = api.post("/contacts:batch", json={"contacts": contacts})
    assert 422 == response.status_code, response.text
    assert "application/problem+json" == response.headers["content-type"]
    assert "validation_failed" == response.json()["code"]
    found = pointers(response)
    assert [
        "/contacts/3/name",
        "/contacts/5/organisation_id",
        "/contacts/8/colour",
        "/contacts/17/emails/0",
    ] == list(found)
    assert "no organisation" in found["/contacts/5/organisation_id"]
    assert "name must have" in found["/contacts/3/name"]
    assert before == api.event_count()


def test_organisation_rule_is_checked_per_item(api: Api) -> None:
    """A person may link to an existing organisation; an organisation may not link at all."""
    org = api.post("/contacts", json={"kind": "organisation", "name": "Acme SL"}).json()["id"]
    before = api.event_count()
    bad = api.post(
        "/contacts:batch",
        json={
            "contacts": [
                person(0, organisation_id=org),
                {"kind": "organisation", "name": "Sub", "organisation_id": org},
            ]
        },
    )
    assert 422 == bad.status_code, bad.text
    assert ["/contacts/1/organisation_id"] == list(pointers(bad))
    assert before == api.event_count()
    good = api.post("/contacts:batch", json={"contacts": [person(0, organisation_id=org)]})
    assert 201 == good.status_code, good.text
    cid = good.json()["items"][0]["id"]
    assert org == api.get(f"/contacts/{cid}").json()["organisation_id"]


def test_idempotency_key_replays_and_refuses_another_body(api: Api) -> None:
    """Same key and body: the first 201 again and nothing stored twice; another body: 422."""
    body = {"contacts": [person(i) for i in range(3)]}
    first = api.post("/contacts:batch", json=body, headers={"Idempotency-Key": "batch-1"})
    assert 201 == first.status_code, first.text
    after_first = api.event_count()
    replay = api.post("/contacts:batch", json=body, headers={"Idempotency-Key": "batch-1"})
    assert 201 == replay.status_code
    assert "true" == replay.headers["idempotent-replayed"]
    assert first.json() == replay.json()
    assert after_first == api.event_count()
    other = api.post(
        "/contacts:batch",
        json={"contacts": [person(9)]},
        headers={"Idempotency-Key": "batch-1"},
    )
    assert 422 == other.status_code
    assert "idempotency_key_reused" == other.json()["code"]
    assert after_first == api.event_count()
    fresh_key = api.post("/contacts:batch", json=body, headers={"Idempotency-Key": "batch-2"})
    assert 201 == fresh_key.status_code
    assert {i["id"] for i in fresh_key.json()["items"]}.isdisjoint(
        i["id"] for i in first.json()["items"]
    )


def test_more_than_1000_items_is_a_422_on_contacts_and_1000_pass(api: Api) -> None:
    """1,001 items: 422 pointing at /contacts, nothing stored; 1,000 fit (body limit too)."""
    before = api.event_count()
    minimal = [{"kind": "person", "name": f"P{i}"} for i in range(1001)]
    too_many = api.post("/contacts:batch", json={"contacts": minimal})
    assert 422 == too_many.status_code, too_many.text
    assert ["/contacts"] == list(pointers(too_many))
    assert before == api.event_count()
    empty = api.post("/contacts:batch", json={"contacts": []})
    assert 422 == empty.status_code
    assert ["/contacts"] == list(pointers(empty))
    full = api.post("/contacts:batch", json={"contacts": [person(i) for i in range(1000)]})
    assert 201 == full.status_code, full.text
    assert 1000 == len(full.json()["items"])
    assert before[0] + 1000 == api.event_count()[0]


def test_batch_path_is_not_taken_for_a_contact_id(api: Api) -> None:
    """``/contacts:batch`` is its own route: GET is 405 (not a bad id), and no slash form."""
    assert 405 == api.get("/contacts:batch").status_code
    assert api.post("/contacts/:batch", json={"contacts": [person(1)]}).status_code in (404, 405)
    created = api.post("/contacts:batch", json={"contacts": [person(1)]})
    assert 201 == created.status_code


def test_openapi_items_refer_to_the_single_create_schema(api: Api) -> None:
    """The documented item schema is ContactCreate, and that schema exists."""
    spec = api.get("/openapi.json").json()
    post = spec["paths"]["/contacts:batch"]["post"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    batch = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    items = batch["properties"]["contacts"]
    assert "#/components/schemas/ContactCreate" == items["items"]["$ref"]
    assert 1000 == items["maxItems"]
    assert "ContactCreate" in spec["components"]["schemas"]


def test_a_person_cannot_be_linked_to_a_person_or_a_merged_organisation(api: Api) -> None:
    """Batch items follow the single create's rules: only a live organisation can be linked."""
    someone = api.post("/contacts", json=person(9)).json()["id"]
    survivor = api.post("/contacts", json={"kind": "organisation", "name": "A"}).json()["id"]
    merged = api.post("/contacts", json={"kind": "organisation", "name": "A bis"}).json()["id"]
    done = api.post(
        f"/contacts/{survivor}/merge", json={"duplicate_id": merged}, headers={"If-Match": '"1"'}
    )
    assert 200 == done.status_code, done.text
    before = api.event_count()
    bad = api.post(
        "/contacts:batch",
        json={"contacts": [person(0, organisation_id=someone), person(1, organisation_id=merged)]},
    )
    assert 422 == bad.status_code, bad.text
    errors = pointers(bad)
    assert ["/contacts/0/organisation_id", "/contacts/1/organisation_id"] == sorted(errors)
    assert "merged" in errors["/contacts/1/organisation_id"]
    assert before == api.event_count()
