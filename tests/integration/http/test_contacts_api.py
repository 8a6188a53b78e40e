"""The contacts resource end to end over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

from crm_ledger.webhooks import revoke_api_key
from tests.integration.http.conftest import Api

ANA = {"kind": "person", "name": "Ana García", "emails": ["Ana@Example.com"], "tags": ["vip"]}


def create(api: Api, body: dict[str, object] | None = None, **headers: str) -> dict[str, object]:
    response = api.post("/contacts", json=body or ANA, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_create_read_update_history(api: Api) -> None:
    """A contact is created, read with its ETag, updated with If-Match, and has history."""
    created = create(api)
    cid = created["id"]
    assert created["emails"] == ["ana@example.com"]

    read = api.get(f"/contacts/{cid}")
    assert read.status_code == 200
    assert read.headers["etag"] == '"1"'

    updated = api.patch(
        f"/contacts/{cid}", json={"phones": ["+34 600 000 000"]}, headers={"If-Match": '"1"'}
    )
    assert updated.status_code == 200, updated.text
    assert updated.headers["etag"] == '"2"'
    assert updated.json()["phones"] == ["+34 600 000 000"]

    history = api.get(f"/contacts/{cid}/history").json()["items"]
    assert [h["event"] for h in history] == ["Registered", "Updated"]
    actors = {h["actor"] for h in history}
    assert {f"apikey:{api.crm.authenticate(api.token).key_id}"} == actors  # type: ignore[union-attr]


def test_list_filters_search_and_paginates(api: Api) -> None:
    """The list is served by the projection, filtered, searched and cursor-paginated."""
    for i in range(5):
        create(api, {"kind": "person", "name": f"Person {i}", "tags": ["bulk"]})
    create(api, {"kind": "organisation", "name": "Acme SL", "emails": ["hello@acme.test"]})

    first = api.get("/contacts", params={"tag": "bulk", "limit": 2}).json()
    assert [c["name"] for c in first["items"]] == ["Person 0", "Person 1"]
    second = api.get(
        "/contacts", params={"tag": "bulk", "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [c["name"] for c in second["items"]] == ["Person 2", "Person 3"]

    orgs = api.get("/contacts", params={"kind": "organisation"}).json()["items"]
    assert [c["name"] for c in orgs] == ["Acme SL"]
    found = api.get("/contacts", params={"q": "ACME.TEST"}).json()["items"]
    assert [c["name"] for c in found] == ["Acme SL"]


def test_archive_hides_from_default_list_and_restore(api: Api) -> None:
    """Archived contacts leave the default list and come back on restore."""
    cid = create(api)["id"]
    archived = api.post(f"/contacts/{cid}/archive", headers={"If-Match": '"1"'})
    assert archived.status_code == 200
    assert api.get("/contacts").json()["items"] == []
    assert len(api.get("/contacts", params={"archived": "true"}).json()["items"]) == 1
    again = api.post(f"/contacts/{cid}/archive", headers={"If-Match": '"2"'})
    assert again.status_code == 409
    restored = api.post(f"/contacts/{cid}/restore", headers={"If-Match": '"2"'})
    assert restored.status_code == 200
    assert len(api.get("/contacts").json()["items"]) == 1


def test_every_event_has_a_ledger_entry(api: Api) -> None:
    """Events and ledger entries are written together, one for one."""
    cid = create(api)["id"]
    api.patch(f"/contacts/{cid}", json={"name": "Ana B"}, headers={"If-Match": '"1"'})
    events, entries = api.event_count()
    assert events == entries
    assert events >= 3  # the API key, the registration, the update


def test_missing_and_stale_if_match(api: Api) -> None:
    """No If-Match: 428; a stale one: 412; nothing is stored either way."""
    cid = create(api)["id"]
    before = api.event_count()
    missing = api.patch(f"/contacts/{cid}", json={"name": "X"})
    assert missing.status_code == 428
    assert missing.headers["content-type"] == "application/problem+json"
    stale = api.patch(f"/contacts/{cid}", json={"name": "X"}, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    assert stale.json()["code"] == "version_conflict"
    assert before == api.event_count()


def test_bad_input_stores_nothing(api: Api) -> None:
    """Malformed JSON, wrong types, unknown fields, oversized bodies, unknown ids."""
    before = api.event_count()
    malformed = api.post(
        "/contacts", content=b'{"kind": "person",', headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "malformed_json"

    wrong = api.post("/contacts", json={"kind": "robot", "name": 5, "emails": "x"})
    assert wrong.status_code == 422
    pointers = {e["pointer"] for e in wrong.json()["errors"]}
    assert {"/kind", "/name", "/emails"} == pointers

    unknown_field = api.post("/contacts", json={**ANA, "colour": "red"})
    assert unknown_field.status_code == 422
    assert [e["pointer"] for e in unknown_field.json()["errors"]] == ["/colour"]

    huge = api.post(
        "/contacts",
        content=b"{" + b" " * 2_000_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413

    float_field = api.post("/contacts", json={**ANA, "custom_fields": {"score": 1.5}})
    assert float_field.status_code == 422
    big_int = api.post("/contacts", json={**ANA, "custom_fields": {"score": 2**60}})
    assert big_int.status_code == 422
    pointers = [e["pointer"] for e in big_int.json()["errors"]]
    assert "/custom_fields/score/constrained-int" in pointers

    missing = api.get(f"/contacts/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    patch_missing = api.patch(
        f"/contacts/{uuid.uuid4()}", json={"name": "X"}, headers={"If-Match": '"1"'}
    )
    assert patch_missing.status_code == 404
    assert before == api.event_count()


def test_idempotency_key_replays_and_rejects_other_bodies(api: Api) -> None:
    """Same key + same body: the first response again; same key + other body: 422."""
    first = api.post("/contacts", json=ANA, headers={"Idempotency-Key": "k-1"})
    before = api.event_count()
    replay = api.post("/contacts", json=ANA, headers={"Idempotency-Key": "k-1"})
    assert replay.status_code == 201
    assert first.json() == replay.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert before == api.event_count()
    other = api.post("/contacts", json={**ANA, "name": "Other"}, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


def test_authentication_required(api: Api) -> None:
    """No token, a malformed token and a revoked token all get 401 problems."""
    assert api.client.get("/contacts").status_code == 401
    bad = api.client.get("/contacts", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.json()["code"] == "invalid_api_key"
    key, token = api.crm.issue_api_key(name="temp", role="sales", actor="system:tests")
    revoke_api_key(api.crm, key.id, actor="system:tests")
    revoked = api.client.get("/contacts", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401


def test_request_id_is_echoed(api: Api) -> None:
    """X-Request-ID is echoed, or generated when absent, and appears in problems."""
    echoed = api.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    problem = api.get(f"/contacts/{uuid.uuid4()}", headers={"X-Request-ID": "req-9"})
    assert problem.json()["request_id"] == "req-9"


def test_health_and_readiness(api: Api) -> None:
    """Liveness needs no auth; readiness checks the database."""
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_a_person_can_only_belong_to_an_organisation(api: Api) -> None:
    """Linking a person to another person is refused and stores nothing."""
    other = api.post("/contacts", json={"kind": "person", "name": "Not a company"}).json()
    before = api.event_count()
    refused = api.post(
        "/contacts", json={"kind": "person", "name": "Eve", "organisation_id": other["id"]}
    )
    assert 422 == refused.status_code, refused.text
    assert "organisation_id" in refused.text
    assert before == api.event_count()
