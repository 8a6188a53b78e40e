"""Consents: every statement kept as evidence, the state of a purpose is its latest
statement by the time the person made it, merged contacts are one person, and a
withdrawal is never refused (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from crm_ledger import consents
from tests.integration.http.conftest import Api
from tests.integration.http.test_changes import as_role, feed
from tests.integration.http.test_merge_api import merge
from tests.integration.http.test_sales_api import match, ok, problem


def person(api: Api, name: str = "Ana Ruiz") -> str:
    return str(ok(api.post("/contacts", json={"kind": "person", "name": name}), 201)["id"])


def state(api: Api, contact: str, **fields: Any) -> Any:
    body = {"purpose": "marketing_email", "source": "web_form", **fields}
    return api.post(f"/contacts/{contact}/consents", json=body)


def test_statements_are_kept_and_the_latest_by_time_decides(api: Api) -> None:
    contact = person(api)
    given = state(api, contact, granted=True, wording="notice v3", at="2026-11-01T09:00:00Z")
    assert given.status_code == 201, given.text
    assert given.headers["Location"] == f"/contacts/{contact}/consents"
    assert given.headers["ETag"] == '"2"'  # opened, then the statement
    body = given.json()
    recorded_at = body["purposes"]["marketing_email"].pop("recorded_at")
    assert abs(datetime.fromisoformat(recorded_at) - datetime.now(UTC)) < timedelta(minutes=1)
    assert body["purposes"]["marketing_email"] == {
        "purpose": "marketing_email",
        "granted": True,
        "at": "2026-11-01T09:00:00.000000Z",
        "source": "web_form",
        "wording": "notice v3",
        "wording_version": None,
        "wording_sha256": None,
        "actor": api.crm.authenticate(api.token).actor,  # type: ignore[union-attr]
        "contact_id": contact,
    }

    withdrawn = ok(state(api, contact, granted=False, source="unsubscribe_link"), 201)
    assert withdrawn["purposes"]["marketing_email"]["granted"] is False
    # a paper form dated before the withdrawal is evidence, but does not undo it
    late = ok(
        state(api, contact, granted=True, source="paper", at="2026-10-01T00:00:00+02:00"), 201
    )
    assert late["purposes"]["marketing_email"]["granted"] is False
    ok(state(api, contact, purpose="newsletter", granted=True), 201)
    read = api.get(f"/contacts/{contact}/consents")
    assert read.headers["ETag"] == '"5"'
    body = ok(read)
    assert list(body["purposes"]) == ["marketing_email", "newsletter"]
    assert [(s["purpose"], s["granted"], s["source"]) for s in body["statements"]] == [
        ("marketing_email", True, "paper"),
        ("marketing_email", True, "web_form"),
        ("marketing_email", False, "unsubscribe_link"),
        ("newsletter", True, "web_form"),
    ]

    # refused statements store nothing
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    problem(state(api, contact, granted=True, at=future), 422, "invalid_command")
    problem(state(api, contact, granted=True, at="2026-11-01T09:00:00"), 422, "validation_failed")
    problem(state(api, contact, granted=True, purpose="Marketing"), 422, "validation_failed")
    problem(state(api, contact, granted="yes"), 422, "validation_failed")
    problem(state(api, str(UUID(int=5)), granted=True), 404, "not_found")
    problem(api.get(f"/contacts/{UUID(int=5)}/consents"), 404, "not_found")
    assert ok(api.get(f"/contacts/{contact}/consents"))["version"] == 5

    fresh = ok(api.get(f"/contacts/{person(api, 'Bea')}/consents"))
    assert (fresh["version"], fresh["purposes"], fresh["statements"]) == (0, {}, [])


def test_merged_contacts_are_one_person(api: Api) -> None:
    survivor, duplicate = person(api, "Ana Ruiz"), person(api, "Ana Ruiz G.")
    ok(state(api, duplicate, granted=True, at="2026-11-02T00:00:00Z"), 201)
    ok(merge(api, survivor, duplicate))

    seen = ok(api.get(f"/contacts/{survivor}/consents"))
    assert seen["purposes"]["marketing_email"]["contact_id"] == duplicate
    assert seen["version"] == 0  # nothing recorded for the survivor itself yet

    # an old unsubscribe link names the duplicate: recorded on the survivor
    withdrawn = state(api, duplicate, granted=False, source="unsubscribe_link")
    assert withdrawn.status_code == 201, withdrawn.text
    assert withdrawn.headers["Location"] == f"/contacts/{survivor}/consents"
    body = withdrawn.json()
    assert body["contact_id"] == survivor
    assert body["purposes"]["marketing_email"]["granted"] is False
    assert [s["contact_id"] for s in body["statements"]] == [duplicate, survivor]
    own = ok(api.get(f"/contacts/{duplicate}/consents"))
    assert [s["granted"] for s in own["statements"]] == [True]


def test_archived_contacts_can_withdraw_and_roles_apply(api: Api) -> None:
    contact = person(api)
    ok(state(api, contact, granted=True), 201)
    ok(api.post(f"/contacts/{contact}/archive", headers=match(1)))
    ok(state(api, contact, granted=False), 201)

    sales, accountant, auditor = (as_role(api, r) for r in ("sales", "accountant", "auditor"))
    ok(state(sales, contact, purpose="newsletter", granted=True), 201)
    for reader in (accountant, auditor):
        assert len(ok(reader.get(f"/contacts/{contact}/consents"))["statements"]) == 3
        problem(state(reader, contact, granted=True), 403, "forbidden_for_role")

    changes = [c for c in feed(accountant) if c["type"] == "consent"]
    assert [c["event"] for c in changes] == ["Opened", "Given", "Withdrawn", "Given"]
    assert {c["data"].get("purpose") for c in changes[1:]} == {"marketing_email", "newsletter"}


def test_concurrent_first_statements_are_all_kept(api: Api) -> None:
    contact = UUID(person(api))
    errors: list[BaseException] = []

    def statement(i: int) -> None:
        try:
            consents.record_consent(
                api.crm,
                contact,
                purpose=f"purpose_{i}",
                granted=True,
                source="api",
                actor="system:tests",
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=statement, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    view = consents.consent_view(api.crm, contact)
    assert sorted(view.purposes) == [f"purpose_{i}" for i in range(8)]
    assert view.version == 9


def ids(page: Any) -> set[str]:
    return {item["id"] for item in ok(page)["items"]}


def test_lists_and_segments_keep_only_contacts_who_consent_now(api: Api) -> None:
    """``?consent=`` and a segment's ``consents``: the person's latest statement for each
    purpose gave consent; merged contacts are their survivor's person."""
    given, withdrawn, silent, backdated = (person(api, n) for n in ("Ana", "Bea", "Cai", "Dan"))
    survivor, duplicate = person(api, "Eva"), person(api, "Eva G.")
    ok(state(api, given, granted=True), 201)
    ok(state(api, given, purpose="newsletter", granted=True), 201)
    ok(state(api, withdrawn, granted=True, at="2026-11-01T00:00:00Z"), 201)
    ok(state(api, withdrawn, granted=False), 201)
    ok(state(api, backdated, granted=False), 201)
    ok(state(api, backdated, granted=True, source="paper", at="2026-01-01T00:00:00Z"), 201)
    ok(state(api, duplicate, granted=True, at="2026-11-02T00:00:00Z"), 201)
    ok(state(api, survivor, granted=False, at="2026-11-01T00:00:00Z"), 201)  # older
    assert ids(api.get("/contacts", params={"consent": "marketing_email"})) == {
        given,
        duplicate,
    }
    ok(merge(api, survivor, duplicate))
    assert silent in ids(api.get("/contacts"))  # left out below only for want of consent
    assert ids(api.get("/contacts", params={"consent": "marketing_email"})) == {given, survivor}
    searched = {"consent": "marketing_email", "q": "eva"}  # PostgreSQL: the name walk
    assert ids(api.get("/contacts", params=searched)) == {survivor}
    assert ids(api.get("/contacts", params={**searched, "sort": "created"})) == {survivor}
    both = {"consent": ["marketing_email", "newsletter"]}
    assert ids(api.get("/contacts", params=both)) == {given}
    merged = {"consent": "marketing_email", "merged": "true"}
    assert ids(api.get("/contacts", params=merged)) == {duplicate}

    # an old unsubscribe link naming the duplicate withdraws the person's consent
    ok(state(api, duplicate, granted=False, source="unsubscribe_link"), 201)
    assert ids(api.get("/contacts", params={"consent": "marketing_email"})) == {given}
    assert ids(api.get("/contacts", params=merged)) == set()

    segment = ok(
        api.post(
            "/segments",
            json={"name": "Mailable", "definition": {"consents": ["marketing_email"]}},
        ),
        201,
    )
    assert segment["definition"] == {"consents": ["marketing_email"]}
    assert ids(api.get(f"/segments/{segment['id']}/contacts")) == {given}
    ok(state(api, silent, granted=True), 201)
    assert ids(api.get(f"/segments/{segment['id']}/contacts")) == {given, silent}

    problem(api.get("/contacts", params={"consent": "Marketing"}), 422, "validation_failed")
    too_many = {"consent": [f"p{i}" for i in range(11)]}
    problem(api.get("/contacts", params=too_many), 422, "validation_failed")
    bad = {"name": "Bad", "definition": {"consents": ["Marketing"]}}
    problem(api.post("/segments", json=bad), 422, "validation_failed")
