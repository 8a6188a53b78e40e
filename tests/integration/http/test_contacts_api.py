"""The contacts resource end to end over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

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
    assert ["ana@example.com"] == created["emails"]

    read = api.get(f"/contacts/{cid}")
    assert 200 == read.status_code
    assert '"1"' == read.headers["etag"]

    updated = api.patch(f"/contacts/{cid}", json={"phones": ["+34 600 000 000"]},
                        headers={"If-Match": '"1"'})
    assert 200 == updated.status_code, updated.text
    assert '"2"' == updated.headers["etag"]
    assert ["+34 600 000 000"] == updated.json()["phones"]

    history = api.get(f"/contacts/{cid}/history").json()["items"]
    assert ["Registered", "Updated"] == [h["event"] for h in history]
    actors = {h["actor"] for h in history}
    assert {f"apikey:{api.crm.authenticate(api.token).key_id}"} == actors  # type: ignore[union-attr]


def test_list_filters_search_and_paginates(api: Api) -> None:
    """The list is served by the projection, filtered, searched and cursor-paginated."""
    for i in range(5):
        create(api, {"kind": "person", "name": f"Person {i}", "tags": ["bulk"]})
    create(api, {"kind": "organisation", "name": "Acme SL", "emails": ["hello@acme.test"]})

    first = api.get("/contacts", params={"tag": "bulk", "limit": 2}).json()
    assert ["Person 0", "Person 1"] == [c["name"] for c in first["items"]]
    second = api.get("/contacts", params={"tag": "bulk", "limit": 2,
                                          "cursor": first["next_cursor"]}).json()
    assert ["Person 2", "Person 3"] == [c["name"] for c in second["items"]]

    orgs = api.get("/contacts", params={"kind": "organisation"}).json()["items"]
    assert ["Acme SL"] == [c["name"] for c in orgs]
    found = api.get("/contacts", params={"q": "ACME.TEST"}).json()["items"]
    assert ["Acme SL"] == [c["name"] for c in found]


def test_archive_hides_from_default_list_and_restore(api: Api) -> None:
    """Archived contacts leave the default list and come back on restore."""
    cid = create(api)["id"]
    archived = api.post(f"/contacts/{cid}/archive", headers={"If-Match": '"1"'})
    assert 200 == archived.status_code
    assert [] == api.get("/contacts").json()["items"]
    assert 1 == len(api.get("/contacts", params={"archived": "true"}).json()["items"])
    again = api.post(f"/contacts/{cid}/archive", headers={"If-Match": '"2"'})
    assert 409 == again.status_code
    restored = api.post(f"/contacts/{cid}/restore", headers={"If-Match": '"2"'})
    assert 200 == restored.status_code
    assert 1 == len(api.get("/contacts").json()["items"])


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
    assert 428 == missing.status_code
    assert "application/problem+json" == missing.headers["content-type"]
    stale = api.patch(f"/contacts/{cid}", json={"name": "X"}, headers={"If-Match": '"7"'})
    assert 412 == stale.status_code
    assert "version_conflict" == stale.json()["code"]
    assert before == api.event_count()


def test_bad_input_stores_nothing(api: Api) -> None:
    """Malformed JSON, wrong types, unknown fields, oversized bodies, unknown ids."""
    before = api.event_count()
    malformed = api.post("/contacts", content=b'{"kind": "person",',
                         headers={"Content-Type": "application/json"})
    assert 400 == malformed.status_code
    assert "malformed_json" == malformed.json()["code"]

    wrong = api.post("/contacts", json={"kind": "robot", "name": 5, "emails": "x"})
    assert 422 == wrong.status_code
    pointers = {e["pointer"] for e in wrong.json()["errors"]}
    assert {"/kind", "/name", "/emails"} == pointers

    unknown_field = api.post("/contacts", json={**ANA, "colour": "red"})
    assert 422 == unknown_field.status_code
    assert ["/colour"] == [e["pointer"] for e in unknown_field.json()["errors"]]

    huge = api.post("/contacts", content=b"{" + b" " * 2_000_000 + b"}",
                    headers={"Content-Type": "application/json"})
    assert 413 == huge.status_code

    float_field = api.post("/contacts", json={**ANA, "custom_fields": {"score": 1.5}})
    assert 422 == float_field.status_code

    missing = api.get(f"/contacts/{uuid.uuid4()}")
    assert 404 == missing.status_code
    assert "not_found" == missing.json()["code"]
    patch_missing = api.patch(f"/contacts/{uuid.uuid4()}", json={"name": "X"},
                              headers={"If-Match": '"1"'})
    assert 404 == patch_missing.status_code
    assert before == api.event_count()


def test_idempotency_key_replays_and_rejects_other_bodies(api: Api) -> None:
    """Same key + same body: the first response again; same key + other body: 422."""
    first = api.post("/contacts", json=ANA, headers={"Idempotency-Key": "k-1"})
    before = api.event_count()
    replay = api.post("/contacts", json=ANA, headers={"Idempotency-Key": "k-1"})
    assert 201 == replay.status_code
    assert first.json() == replay.json()
    assert "true" == replay.headers["idempotent-replayed"]
    assert before == api.event_count()
    other = api.post("/contacts", json={**ANA, "name": "Other"}, headers={"Idempotency-Key": "k-1"})
    assert 422 == other.status_code
    assert "idempotency_key_reused" == other.json()["code"]


def test_authentication_required(api: Api) -> None:
    """No token, a malformed token and a revoked token all get 401 problems."""
    assert 401 == api.client.get("/contacts").status_code
    bad = api.client.get("/contacts", headers={"Authorization": "Bearer nope"})
    assert 401 == bad.status_code
    assert "invalid_api_key" == bad.json()["code"]
    key, token = api.crm.issue_api_key(name="temp", role="sales", actor="system:tests")
    api.crm.revoke_api_key(key.id, actor="system:tests")
    revoked = api.client.get("/contacts", headers={"Authorization": f"Bearer {token}"})
    assert 401 == revoked.status_code


def test_request_id_is_echoed(api: Api) -> None:
    """X-Request-ID is echoed, or generated when absent, and appears in problems."""
    echoed = api.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert "abc-123" == echoed.headers["x-request-id"]
    problem = api.get(f"/contacts/{uuid.uuid4()}", headers={"X-Request-ID": "req-9"})
    assert "req-9" == problem.json()["request_id"]


def test_health_and_readiness(api: Api) -> None:
    """Liveness needs no auth; readiness checks the database."""
    assert {"status": "ok"} == api.client.get("/healthz").json()
    ready = api.client.get("/readyz")
    assert 200 == ready.status_code
    assert "ready" == ready.json()["status"]
