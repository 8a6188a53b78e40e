"""``POST /contacts/{id}/erasure``: crypto-shredding a person's personal data (SQLite and
PostgreSQL).

Personal values are stored sealed with the contact's own key: the stored event bytes and
the ledger never hold them in clear. Erasure records ``Erased`` and destroys the keys of
the contact and of every contact merged into it; afterwards nothing the API shows (the
contact, its history, lists, search) holds those values, no stored byte of the log
changed, and the ledger still verifies.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from uuid import UUID

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import ERASED_NAME
from crm_ledger.erasure import RETENTION, sealing_of
from crm_ledger.privacy.sealing import SEALED_MEMBER, sealed_kid
from crm_ledger.settings import Settings
from crm_ledger.storage.seal_keys import CACHE_SECONDS
from tests.integration.http.conftest import Api
from tests.integration.http.test_activities_api import log
from tests.integration.http.test_cases_api import opened
from tests.integration.http.test_changes import as_role
from tests.integration.http.test_merge_api import merge
from tests.integration.http.test_payments_api import issued, new_customer, new_issuer
from tests.integration.http.test_sales_api import match, ok, problem
from tests.integration.test_import_contacts import verify_ledger

SECRETS = (
    b"Ana Secreta",
    b"ana.secreta@example.com",
    b"600 123 987",
    b"Calle Oculta 7",
    b"X1234567Z",
    b"prefers mornings",
    b"blue-eyed",
    b"second-address@example.com",
    b"Dup Secreta",
)


def stored_states(api: Api, contact_id: str | None = None) -> dict[tuple[str, int], bytes]:
    """The stored event bytes, by (aggregate id, version), of one contact or all."""
    crm = api.crm
    table = crm.recorder.events_table_name  # type: ignore[attr-defined]
    with crm.db.transaction(write=False) as tx:
        rows = tx.all(f"SELECT originator_id, originator_version, state FROM {table}")
    found = {(str(UUID(str(i))), int(v)): bytes(s) for i, v, s in rows}
    return {k: v for k, v in found.items() if contact_id is None or k[0] == contact_id}


def ledger_bytes(api: Api) -> bytes:
    """Every entry's envelope bytes and leaf hash (as read back: on SQLite, rebuilt)."""
    return b"".join(e.canonical + e.leaf_hash for e in api.crm.ledger_store().entries())


def person_with_history(api: Api) -> tuple[str, str]:
    """A person (updated, with a note) and a duplicate merged into it; (survivor, dup)."""
    body = {
        "kind": "person",
        "name": "Ana Secreta",
        "emails": ["ana.secreta@example.com"],
        "phones": ["600 123 987"],
        "addresses": [{"line1": "Calle Oculta 7", "city": "Soria", "country": "ES"}],
        "tax_id": "X1234567Z",
        "tags": ["vip"],
        "custom_fields": {"eyes": "blue-eyed"},
    }
    person = str(ok(api.post("/contacts", json=body), 201)["id"])
    ok(api.patch(f"/contacts/{person}", json={"tags": ["vip", "b2b"]}, headers=match(1)))
    ok(api.post(f"/contacts/{person}/notes", json={"text": "prefers mornings"},
                headers=match(2)))  # fmt: skip
    dup_body = {"kind": "person", "name": "Dup Secreta",
                "emails": ["second-address@example.com"]}  # fmt: skip
    duplicate = str(ok(api.post("/contacts", json=dup_body), 201)["id"])
    ok(merge(api, person, duplicate, version=3))
    return person, duplicate


def test_personal_values_are_never_stored_in_clear(api: Api, settings: Settings) -> None:
    person, duplicate = person_with_history(api)
    states = stored_states(api)
    for state in states.values():
        for secret in SECRETS:
            assert secret not in state
    assert all(secret not in ledger_bytes(api) for secret in SECRETS)
    sealed = {k for k, state in states.items() if SEALED_MEMBER.encode() in state}
    # registered, note and merge of the person, registration of the duplicate; the tag
    # update carries no personal value, and MergedInto neither
    assert {(person, 1), (person, 3), (person, 4), (duplicate, 1)} == sealed
    shown = ok(api.get(f"/contacts/{person}"))
    assert "Ana Secreta" == shown["name"]
    assert ["ana.secreta@example.com", "second-address@example.com"] == shown["emails"]
    assert {"eyes": "blue-eyed"} == shown["custom_fields"]
    assert "prefers mornings" == shown["notes"][0]["text"]
    assert shown["erased"] is False
    assert 0 == sealing_of(api.crm, UUID(person)).unsealed
    # another process (no key cached) reads the keys from the database
    other = CrmApplication(settings)
    try:
        again = other.get_contact(UUID(person))
        assert (again.name, again.tax_id) == ("Ana Secreta", "X1234567Z")
        assert "Dup Secreta" == other.get_contact(UUID(duplicate)).name
    finally:
        other.close()


def test_erasure_shreds_the_person_and_what_was_merged_into_it(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    person, duplicate = person_with_history(api)
    sales = as_role(api, "sales")
    before = stored_states(api)
    ledger_before = ledger_bytes(api)
    # the duplicate is merged: its survivor is the one to erase
    problem(api.post(f"/contacts/{duplicate}/erasure", headers=match(2)), 409, "contact_merged")
    # only admin erases
    problem(sales.post(f"/contacts/{person}/erasure", headers=match(4)), 403, "forbidden_for_role")
    problem(api.post(f"/contacts/{person}/erasure"), 428, "precondition_required")
    problem(api.post(f"/contacts/{person}/erasure", headers=match(3)), 412, "version_conflict")

    answer = api.post(f"/contacts/{person}/erasure", headers=match(4))
    result = ok(answer)
    assert [person, duplicate] == result["erased_contacts"]
    assert 4 == result["keys_destroyed"]  # the events that sealed something
    assert 0 == result["unsealed_events"]
    assert RETENTION == result["retention"]
    assert '"5"' == answer.headers["etag"]
    erased = result["contact"]
    assert erased == ok(api.get(f"/contacts/{person}"))
    expected = {"name": ERASED_NAME, "emails": [], "phones": [], "addresses": [],
                "tax_id": None, "custom_fields": {}, "erased": True, "tags": ["b2b", "vip"],
                "kind": "person", "version": 5}  # fmt: skip
    assert expected == {k: erased[k] for k in expected}
    assert [ERASED_NAME] == [n["text"] for n in erased["notes"]]
    assert ok(api.get(f"/contacts/{duplicate}"))["erased"] is True

    # no stored byte changed, only Erased events were added; the keys are gone
    after = stored_states(api)
    assert before == {k: after[k] for k in before}
    assert {(person, 5), (duplicate, 3)} == set(after) - set(before)
    assert ledger_bytes(api).startswith(ledger_before)
    kids = [sealed_kid(state) for state in before.values()]
    sealed_kids = {kid for kid in kids if kid is not None}
    assert 4 == len(sealed_kids)  # one key per sealed event
    with api.crm.db.transaction(write=False) as tx:
        rows = tx.all("SELECT kid, key_bytes, erased_at FROM seal_keys WHERE erased_at IS NOT NULL")
    assert sealed_kids == {kid for kid, _, _ in rows}
    assert all(key is None for _, key, _ in rows)

    # everything the API shows reads as erased
    for contact_id in (person, duplicate):
        history = api.every_page(f"/contacts/{contact_id}/history", limit=50)
        text = repr(history).encode()
        assert all(secret not in text for secret in SECRETS), contact_id
    document = api.get(f"/contacts/{person}/personal-data")
    assert all(secret not in document.content for secret in SECRETS)
    erased_at = answer.headers["x-log-position"]
    listed = ok(api.get("/contacts", params={"q": "secreta", "min_position": erased_at}))
    assert [] == listed["items"]
    assert [] == ok(api.get("/contacts", params={"tag": "b2b", "min_position": erased_at}))["items"]
    row = ok(api.get("/contacts", params={"erased": "true"}))["items"]  # listed on their own
    assert [(person, ERASED_NAME), (duplicate, ERASED_NAME)] == sorted(
        ((c["id"], c["name"]) for c in row), key=lambda pair: pair[0] != person
    )

    # it takes no more commands; a repeat stores nothing and destroys nothing more
    problem(api.patch(f"/contacts/{person}", json={"name": "Back"}, headers=match(5)),
            409, "contact_erased")  # fmt: skip
    problem(api.post(f"/contacts/{person}/notes", json={"text": "x"}, headers=match(5)),
            409, "contact_erased")  # fmt: skip
    again = ok(api.post(f"/contacts/{person}/erasure", headers=match(5)))
    assert (0, [person, duplicate]) == (again["keys_destroyed"], again["erased_contacts"])
    assert 5 == len(stored_states(api, person))

    checked = verify_ledger(database_url, tmp_path / "data")
    assert 0 == checked.returncode, checked.stdout + checked.stderr


def test_events_stored_before_sealing_are_counted_not_erased(api: Api) -> None:
    keys = api.crm.mapper.keys  # type: ignore[attr-defined]
    api.crm.mapper.keys = None  # type: ignore[attr-defined]  # as before sealing existed
    try:
        old = ok(api.post("/contacts", json={"kind": "person", "name": "Old Clear"}), 201)
    finally:
        api.crm.mapper.keys = keys  # type: ignore[attr-defined]
    assert b"Old Clear" in stored_states(api, old["id"])[(old["id"], 1)]
    ok(api.patch(f"/contacts/{old['id']}", json={"emails": ["old@example.com"]},
                 headers=match(1)))  # fmt: skip
    assert b"old@example.com" not in stored_states(api, old["id"])[(old["id"], 2)]

    result = ok(api.post(f"/contacts/{old['id']}/erasure", headers=match(2)))
    assert (1, 1) == (result["unsealed_events"], result["keys_destroyed"])  # the update's
    assert ERASED_NAME == result["contact"]["name"]
    history: list[dict[str, Any]] = api.every_page(f"/contacts/{old['id']}/history", limit=10)
    # what was stored in clear stays readable in the log (and is counted); the rest not
    assert "Old Clear" == history[0]["data"]["name"]
    assert [] == history[1]["data"]["changes"]["emails"]


def test_issued_invoices_keep_the_customer_s_fiscal_data(api: Api) -> None:
    """The law keeps issued invoices whole; the CRM's reports read the customer as erased."""
    issuer = new_issuer(api)
    customer = new_customer(api, "Cliente Secreto SA")
    invoice = issued(api, issuer, customer)
    answer = api.post(f"/contacts/{customer}/erasure", headers=match(1))
    assert ERASED_NAME == ok(answer)["contact"]["name"]
    kept = ok(api.get(f"/invoices/{invoice['id']}"))
    assert ("Cliente Secreto SA", "A87654321") == (
        kept["customer"]["name"],
        kept["customer"]["tax_id"],
    )
    at = answer.headers["x-log-position"]
    listed = ok(api.get("/invoices", params={"min_position": at}))["items"]
    assert [ERASED_NAME] == [i["customer_name"] for i in listed]
    customers = ok(api.get("/reports/customers", params={"min_position": at}))["items"]
    assert [ERASED_NAME] == [c["name"] for c in customers]


LEAD = {"name": "Lola Oculta", "company_name": "Oculta SL", "emails": ["lola@oculta.example"],
        "phones": ["611 222 333"], "tax_id": "Y7654321X", "notes": "met at the fair",
        "source": "web form"}  # fmt: skip
LEAD_SECRETS = (b"Lola Oculta", b"lola@oculta.example", b"611 222 333", b"Y7654321X",
                b"met at the fair")  # fmt: skip


def test_a_lead_is_sealed_and_erased(api: Api) -> None:
    lead = ok(api.post("/leads", json=LEAD), 201)
    lid = lead["id"]
    ok(api.patch(f"/leads/{lid}", json={"phones": ["699 000 111"]}, headers=match(1)))
    states = stored_states(api, lid)
    assert 2 == len(states)
    for state in states.values():
        assert all(secret not in state for secret in (*LEAD_SECRETS, b"699 000 111"))
        assert SEALED_MEMBER.encode() in state
    assert b"Oculta SL" in states[(lid, 1)]  # the company is not a person's data
    assert "Lola Oculta" == ok(api.get(f"/leads/{lid}"))["name"]

    own = {"kind": "call", "subject": "Lola Oculta called", "links": [{"type": "lead", "id": lid}]}
    alone = ok(api.post("/activities", json=own), 201)
    someone = str(ok(api.post("/contacts", json={"kind": "person", "name": "Otro"}), 201)["id"])
    both = {**own, "links": [*own["links"], {"type": "contact", "id": someone}]}
    shared = ok(api.post("/activities", json=both), 201)
    problem(api.post(f"/leads/{lid}/erasure", headers=match(1)), 412, "version_conflict")
    answer = api.post(f"/leads/{lid}/erasure", headers=match(2))
    result = ok(answer)
    assert (3, 0) == (result["keys_destroyed"], result["unsealed_events"])  # 2 + activity
    assert ([alone["id"]], [shared["id"]]) == (
        result["redacted_activities"],
        result["kept_activities"],
    )
    assert ERASED_NAME == ok(api.get(f"/activities/{alone['id']}"))["subject"]
    assert "Lola Oculta called" == ok(api.get(f"/activities/{shared['id']}"))["subject"]
    erased = result["lead"]
    assert erased == ok(api.get(f"/leads/{lid}"))
    expected = {"name": ERASED_NAME, "emails": [], "phones": [], "tax_id": None,
                "notes": None, "erased": True, "company_name": "Oculta SL",
                "source": "web form", "version": 3}  # fmt: skip
    assert expected == {k: erased[k] for k in expected}
    assert states == {k: v for k, v in stored_states(api, lid).items() if k[1] < 3}
    problem(api.patch(f"/leads/{lid}", json={"name": "Back"}, headers=match(3)),
            409, "lead_erased")  # fmt: skip
    at = answer.headers["x-log-position"]
    assert [] == ok(api.get("/leads", params={"q": "lola", "min_position": at}))["items"]
    assert 0 == ok(api.post(f"/leads/{lid}/erasure", headers=match(3)))["keys_destroyed"]


def test_a_contact_s_erasure_erases_the_leads_converted_into_it(api: Api) -> None:
    lead = ok(api.post("/leads", json=LEAD), 201)
    other = ok(api.post("/leads", json={"name": "Someone Else"}), 201)
    converted = ok(api.post(f"/leads/{lead['id']}/convert", json={}, headers=match(1)))
    contact = converted["contact"]
    document = ok(api.get(f"/contacts/{contact['id']}/personal-data"))
    assert [ok(api.get(f"/leads/{lead['id']}"))] == document["leads"]  # what they gave
    result = ok(api.post(f"/contacts/{contact['id']}/erasure", headers=match(1)))
    assert [lead["id"]] == result["erased_leads"]
    assert 2 == result["keys_destroyed"]  # the registrations of the lead and the contact
    gone = ok(api.get(f"/leads/{lead['id']}"))
    assert (ERASED_NAME, True, "converted") == (gone["name"], gone["erased"], gone["status"])
    assert "Someone Else" == ok(api.get(f"/leads/{other['id']}"))["name"]


def test_stored_idempotent_answers_naming_an_erased_contact_are_redacted(api: Api) -> None:
    body = {"kind": "person", "name": "Ana Secreta", "emails": ["ana.secreta@example.com"]}
    keyed = {"Idempotency-Key": "signup-ana-1"}
    first = api.post("/contacts", json=body, headers=keyed)
    contact = ok(first, 201)["id"]
    other = api.post("/contacts", json={"kind": "person", "name": "Keep"},
                     headers={"Idempotency-Key": "signup-keep-1"})  # fmt: skip
    assert b"Ana Secreta" in api.post("/contacts", json=body, headers=keyed).content  # replay
    ok(api.post(f"/contacts/{contact}/erasure", headers=match(1)))

    replay = api.post("/contacts", json=body, headers=keyed)
    problem(replay, 410, "answer_erased")
    assert b"Ana Secreta" not in replay.content
    assert "true" == replay.headers["idempotent-replayed"]
    with api.crm.db.transaction(write=False) as tx:
        bodies = [bytes(b) for (b,) in tx.all("SELECT body FROM idempotency_keys")]
    assert not any(b"ana.secreta" in b for b in bodies)
    kept = api.post("/contacts", json={"kind": "person", "name": "Keep"},
                    headers={"Idempotency-Key": "signup-keep-1"})  # fmt: skip
    assert (201, other.content) == (kept.status_code, kept.content)  # others untouched
    assert 1 == len(ok(api.get("/contacts", params={"erased": "true"}))["items"])
    assert ["Keep"] == [c["name"] for c in ok(api.get("/contacts"))["items"]]  # none created


def test_the_free_text_about_the_person_alone_is_redacted(api: Api) -> None:
    """Cases of the person and activities about them alone lose their texts; an activity
    that names someone else too is kept and listed."""
    person, _ = person_with_history(api)
    other = str(ok(api.post("/contacts", json={"kind": "person", "name": "Otro"}), 201)["id"])
    alone = log(api, "call", "Ana Secreta asked about X1234567Z", person,
                body="prefers mornings")  # fmt: skip
    people = [{"type": "contact", "id": person}, {"type": "contact", "id": other}]
    both = {"kind": "meeting", "subject": "Ana Secreta and Otro", "links": people}
    shared = ok(api.post("/activities", json=both), 201)
    case = opened(api, person, description="lives at Calle Oculta 7")
    for record in (alone["id"], case["id"]):
        assert all(secret not in state for state in stored_states(api, record).values()
                   for secret in SECRETS)  # fmt: skip

    result = ok(api.post(f"/contacts/{person}/erasure", headers=match(4)))
    assert [alone["id"]] == result["redacted_activities"]
    assert [shared["id"]] == result["kept_activities"]
    assert [case["id"]] == result["redacted_cases"]
    assert 6 == result["keys_destroyed"]  # 4 contact events, the activity, the case
    redacted = ok(api.get(f"/activities/{alone['id']}"))
    assert (ERASED_NAME, None) == (redacted["subject"], redacted["body"])
    assert "Ana Secreta and Otro" == ok(api.get(f"/activities/{shared['id']}"))["subject"]
    shown = ok(api.get(f"/cases/{case['id']}"))
    assert (ERASED_NAME, None) == (shown["subject"], shown["description"])
    assert "Otro" == ok(api.get(f"/contacts/{other}"))["name"]


def test_another_process_stops_reading_the_values_within_the_cache_time(
    api: Api, settings: Settings
) -> None:
    """What docs/api-guide.md promises: every process stops using a destroyed key within
    `CACHE_SECONDS` (here a second application on the same database, its key cache and
    aggregate cache warm when the erasure happens)."""
    person, _ = person_with_history(api)
    other = CrmApplication(settings)
    try:
        assert "Ana Secreta" == other.get_contact(UUID(person)).name  # caches warm
        assert "Ana Secreta" == next(iter(other.history(UUID(person)))).name
        ok(api.post(f"/contacts/{person}/erasure", headers=match(4)))
        time.sleep(CACHE_SECONDS + 0.1)
        assert ERASED_NAME == other.get_contact(UUID(person)).name
        registered = next(iter(other.history(UUID(person))))
        assert (ERASED_NAME, [], None) == (registered.name, registered.emails, registered.tax_id)
    finally:
        other.close()
