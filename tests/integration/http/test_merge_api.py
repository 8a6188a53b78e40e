"""``POST /contacts/{id}/merge`` end to end over HTTP, on SQLite and PostgreSQL.

Both histories are kept, references (deals, members, activities) are redirected with an
event each, every refusal stores nothing, and a conflict midway stores nothing at all.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate

from crm_ledger.sales import update_deal
from tests.integration.http.conftest import Api

STAGES = [{"name": "Qualified", "probability": 20, "forecast_category": "pipeline"}]


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert status == response.status_code, response.text
    return dict(response.json())


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert (status, code) == (response.status_code, response.json().get("code")), response.text
    assert "application/problem+json" == response.headers["content-type"]
    return dict(response.json())


def match(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


def create(api: Api, **body: Any) -> dict[str, Any]:
    return ok(api.post("/contacts", json={"kind": "person", **body}), 201)


def merge(api: Api, survivor: str, duplicate: str, version: int = 1) -> Any:
    return api.post(
        f"/contacts/{survivor}/merge", json={"duplicate_id": duplicate}, headers=match(version)
    )


def new_deal(api: Api, contact_id: str, title: str = "Renewal") -> dict[str, Any]:
    pipeline = ok(api.post("/pipelines", json={"name": "Sales", "stages": STAGES}), 201)
    body = {
        "title": title,
        "contact_id": contact_id,
        "pipeline_id": pipeline["id"],
        "currency": "EUR",
        "amount": "100.00",
    }
    return ok(api.post("/deals", json=body), 201)


def log(api: Api, subject: str, *links: tuple[str, str]) -> dict[str, Any]:
    body = {
        "kind": "call",
        "subject": subject,
        "links": [{"type": t, "id": i} for t, i in links],
    }
    return ok(api.post("/activities", json=body), 201)


def events(api: Api, path: str) -> list[dict[str, Any]]:
    return list(ok(api.get(f"{path}/history"))["items"])


def linked_subjects(api: Api, contact_id: str, **params: Any) -> list[str]:
    page = ok(api.get("/activities", params={"contact_id": contact_id, **params}))
    return sorted(i["subject"] for i in page["items"])


def names(api: Api, **params: Any) -> list[str]:
    return [c["name"] for c in ok(api.get("/contacts", params=params))["items"]]


def test_merge_keeps_both_histories_and_redirects_references(api: Api) -> None:
    """The survivor absorbs, the duplicate is frozen with both histories readable, and
    deals and activities of the duplicate move to the survivor, each by an event."""
    survivor = create(api, name="Ana García", emails=["ana@example.com"], tags=["vip"])
    duplicate = create(api, name="Ana G.", emails=["ana.g@home.test"])
    dup, sid = duplicate["id"], survivor["id"]
    ok(api.patch(f"/contacts/{dup}", json={"phones": ["+34 600 000 000"]}, headers=match(1)))
    deal = new_deal(api, dup)
    own_deal = new_deal(api, sid, "Own deal")
    lost = new_deal(api, dup, "Lost deal")
    ok(api.post(f"/deals/{lost['id']}/lose", json={"reason": "price"}, headers=match(1)))
    call = log(api, "Intro call", ("contact", dup))
    both = log(api, "Joint call", ("contact", sid), ("contact", dup), ("deal", deal["id"]))
    cancelled = log(api, "Cancelled call", ("contact", dup))
    ok(api.post(f"/activities/{cancelled['id']}/cancel", json={}, headers=match(1)))
    before = events(api, f"/contacts/{dup}")

    response = merge(api, sid, dup)
    result = ok(response)
    assert '"2"' == response.headers["etag"]
    assert int(response.headers["x-log-position"]) > 0
    assert ["ana@example.com", "ana.g@home.test"] == result["survivor"]["emails"]
    assert (["+34 600 000 000"], "Ana García") == (
        result["survivor"]["phones"],
        result["survivor"]["name"],
    )
    assert (sid, 3) == (result["duplicate"]["merged_into"], result["duplicate"]["version"])
    assert sorted([deal["id"], lost["id"]]) == sorted(result["relinked"]["deals"])
    assert sorted([call["id"], both["id"], cancelled["id"]]) == sorted(
        result["relinked"]["activities"]
    )
    assert [] == result["relinked"]["people"]

    # the duplicate: readable, frozen, its whole history plus MergedInto
    read = api.get(f"/contacts/{dup}")
    assert (sid, '"3"') == (ok(read)["merged_into"], read.headers["etag"])
    after = events(api, f"/contacts/{dup}")
    assert before == after[:-1]
    assert ["Registered", "Updated", "MergedInto"] == [e["event"] for e in after]
    assert sid == after[-1]["data"]["survivor_id"]
    merged = events(api, f"/contacts/{sid}")[-1]
    assert ("Merged", dup) == (merged["event"], merged["data"]["duplicate_id"])
    assert ["ana@example.com", "ana.g@home.test"] == merged["data"]["absorbed"]["emails"]

    # deals: moved with a ContactRelinked event, closed ones too; the survivor's untouched
    for moved in (deal, lost):
        assert sid == ok(api.get(f"/deals/{moved['id']}"))["contact_id"]
        last = events(api, f"/deals/{moved['id']}")[-1]
        assert "ContactRelinked" == last["event"]
    assert "lost" == ok(api.get(f"/deals/{lost['id']}"))["status"]
    assert 1 == ok(api.get(f"/deals/{own_deal['id']}"))["version"]

    # activities: the read model now files them under the survivor only
    assert ["Intro call", "Joint call"] == linked_subjects(api, sid)
    assert ["Cancelled call"] == linked_subjects(api, sid, cancelled="true")
    assert [] == linked_subjects(api, dup) == linked_subjects(api, dup, cancelled="true")
    joint = ok(api.get(f"/activities/{both['id']}"))
    assert [("contact", sid), ("deal", deal["id"])] == [
        (x["type"], x["id"]) for x in joint["links"]
    ]

    # lists: the duplicate is out of default and archived lists, listed with merged=true
    assert ["Ana García"] == names(api)
    assert [] == names(api, archived="true")
    merged_list = ok(api.get("/contacts", params={"merged": "true"}))["items"]
    assert [(dup, sid)] == [(c["id"], c["merged_into"]) for c in merged_list]

    # every command on the duplicate is refused
    for path, body in [
        ("/archive", None),
        ("/restore", None),
        ("/notes", {"text": "hi"}),
    ]:
        problem(
            api.post(f"/contacts/{dup}{path}", json=body, headers=match(3)), 409, "contact_merged"
        )
    refused = api.patch(f"/contacts/{dup}", json={"name": "X"}, headers=match(3))
    assert sid in problem(refused, 409, "contact_merged")["detail"]
    events_now, entries_now = api.event_count()
    assert events_now == entries_now


def test_merging_organisations_relinks_their_people(api: Api) -> None:
    """People of the duplicate organisation (archived ones too) move to the survivor."""
    acme = create(api, kind="organisation", name="Acme SL")
    acme_dup = create(api, kind="organisation", name="ACME", tax_id="B12345678")
    ana = create(api, name="Ana", organisation_id=acme_dup["id"])
    bob = create(api, name="Bob", organisation_id=acme_dup["id"])
    ok(api.post(f"/contacts/{bob['id']}/archive", headers=match(1)))
    other = create(api, name="Carla", organisation_id=acme["id"])

    result = ok(merge(api, acme["id"], acme_dup["id"]))
    assert sorted([ana["id"], bob["id"]]) == sorted(result["relinked"]["people"])
    assert "B12345678" == result["survivor"]["tax_id"]
    for person, archived in ((ana, False), (bob, True)):
        read = ok(api.get(f"/contacts/{person['id']}"))
        assert (acme["id"], archived) == (read["organisation_id"], read["archived"])
        assert "OrganisationRelinked" == events(api, f"/contacts/{person['id']}")[-1]["event"]
    assert 1 == ok(api.get(f"/contacts/{other['id']}"))["version"]


def test_refused_merges_store_nothing(api: Api) -> None:
    """Self, kind mismatch (422); archived, already merged (409); unknown (404);
    stale or missing If-Match (412, 428): no event is stored by any of them."""
    ana = create(api, name="Ana")["id"]
    acme = create(api, kind="organisation", name="Acme")["id"]
    archived = create(api, name="Archived")["id"]
    ok(api.post(f"/contacts/{archived}/archive", headers=match(1)))
    gone = create(api, name="Gone")["id"]
    keeper = create(api, name="Keeper")["id"]
    ok(merge(api, keeper, gone))
    counts = api.event_count()

    body = problem(merge(api, ana, ana), 422, "contact_self_merge")
    assert [{"pointer": "/duplicate_id", "detail": body["detail"]}] == body["errors"]
    problem(merge(api, ana, acme), 422, "contact_kind_mismatch")
    problem(merge(api, acme, ana), 422, "contact_kind_mismatch")
    assert archived in problem(merge(api, ana, archived), 409, "contact_archived")["detail"]
    problem(merge(api, archived, ana, version=2), 409, "contact_archived")
    problem(merge(api, ana, gone), 409, "contact_merged")
    problem(merge(api, gone, ana, version=2), 409, "contact_merged")
    problem(merge(api, ana, str(uuid4())), 404, "not_found")
    problem(merge(api, str(uuid4()), ana), 404, "not_found")
    problem(merge(api, ana, keeper, version=7), 412, "version_conflict")
    missing = api.post(f"/contacts/{ana}/merge", json={"duplicate_id": keeper})
    problem(missing, 428, "precondition_required")
    bad = api.post(f"/contacts/{ana}/merge", json={"duplicate_id": "nope"}, headers=match(1))
    problem(bad, 422, "validation_failed")
    assert counts == api.event_count()


def test_conflict_midway_stores_nothing_of_the_merge(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rival changes a deal of the duplicate after the merge loaded it and before the
    merge saves: 412, and not one event of the merge is stored (contacts, deal, activity
    unchanged, no MergedInto in the history); a retry then succeeds."""
    survivor = create(api, name="Ana")["id"]
    dup = create(api, name="Ana G.", emails=["g@x.test"])["id"]
    deal = new_deal(api, dup)
    call = log(api, "Intro call", ("contact", dup))
    counts = api.event_count()

    real_store = api.crm.store
    rivals: list[str] = []

    def racing_store(*aggregates: Aggregate, actor: str) -> int | None:
        if not rivals and any(str(a.id) == dup for a in aggregates):
            rivals.append(actor)  # the rival's own save below goes straight through
            update_deal(
                api.crm,
                UUID(deal["id"]),
                expected_version=1,
                actor="user:rival",
                changes={"title": "Changed meanwhile"},
            )
        return real_store(*aggregates, actor=actor)

    monkeypatch.setattr(api.crm, "store", racing_store)
    refused = problem(merge(api, survivor, dup), 412, "version_conflict")
    assert "nothing was merged" in refused["detail"]
    assert 1 == len(rivals)

    assert (counts[0] + 1, counts[1] + 1) == api.event_count()  # only the rival's event
    assert ["Registered"] == [e["event"] for e in events(api, f"/contacts/{dup}")]
    assert ["Registered"] == [e["event"] for e in events(api, f"/contacts/{survivor}")]
    read_dup = ok(api.get(f"/contacts/{dup}"))
    assert (None, 1) == (read_dup["merged_into"], read_dup["version"])
    read_deal = ok(api.get(f"/deals/{deal['id']}"))
    assert (dup, "Changed meanwhile", 2) == (
        read_deal["contact_id"],
        read_deal["title"],
        read_deal["version"],
    )
    assert [("contact", dup)] == [
        (x["type"], x["id"]) for x in ok(api.get(f"/activities/{call['id']}"))["links"]
    ]
    assert {"Ana", "Ana G."} == set(names(api))

    result = ok(merge(api, survivor, dup))
    assert ([deal["id"]], [call["id"]]) == (
        result["relinked"]["deals"],
        result["relinked"]["activities"],
    )
    assert (survivor, 3) == (
        ok(api.get(f"/deals/{deal['id']}"))["contact_id"],
        ok(api.get(f"/deals/{deal['id']}"))["version"],
    )


def test_new_references_to_a_merged_contact_are_refused(api: Api) -> None:
    """After a merge, nothing new may point at the duplicate: deals, activities, members;
    and lead duplicate warnings name the survivor, not the merged contact."""
    survivor = create(api, kind="organisation", name="Acme", emails=["hq@acme.example"])
    duplicate = create(api, kind="organisation", name="ACME S.L.", emails=["info@acme.example"])
    ok(merge(api, survivor["id"], duplicate["id"]))
    before = api.event_count()
    pipeline = ok(api.post("/pipelines", json={"name": "Sales", "stages": STAGES}), 201)
    after_pipeline = api.event_count()
    deal = {"title": "X", "contact_id": duplicate["id"], "pipeline_id": pipeline["id"]}
    problem(api.post("/deals", json={**deal, "currency": "EUR"}), 409, "contact_merged")
    activity = {
        "kind": "call",
        "subject": "S",
        "links": [{"type": "contact", "id": duplicate["id"]}],
    }
    problem(api.post("/activities", json=activity), 409, "contact_merged")
    person = {"kind": "person", "name": "Eve", "organisation_id": duplicate["id"]}
    problem(api.post("/contacts", json=person), 409, "contact_merged")
    assert after_pipeline == api.event_count()
    assert before != after_pipeline  # the pipeline itself was stored
    lead = {"source": "web", "name": "Lee", "emails": ["info@acme.example"]}
    warned = problem(api.post("/leads", json=lead), 409, "possible_duplicates")
    assert [survivor["id"]] == [m["contact_id"] for m in warned["matches"]]


def test_documents_suppliers_and_conversions_refuse_a_merged_contact(api: Api) -> None:
    """Invoices (new, or a draft's customer changed), quotes, orders, suppliers and lead
    conversions may not name a merged contact: 409 contact_merged naming the survivor,
    nothing stored. An order confirmed and delivered before the merge is still invoiced,
    to the customer it names."""
    from tests.integration.http.test_documents_api import LINES, deliver, new_issuer, step

    issuer = new_issuer(api)
    survivor = create(api, kind="organisation", name="Acme", tax_id="A87654321")
    duplicate = create(api, kind="organisation", name="ACME S.L.", tax_id="A87654321")
    dup = duplicate["id"]
    order_body = {"customer_id": dup, "issuer_id": issuer["id"], "lines": LINES}
    order = ok(api.post("/orders", json=order_body), 201)
    order = step(api, f"/orders/{order['id']}/confirm", order["version"])
    ok(deliver(api, order["id"], (1, "1")), 201)
    invoice_body = {"issuer_id": issuer["id"], "series": "A", "lines": LINES}
    draft = ok(api.post("/invoices", json=invoice_body), 201)
    lead_body = {"source": "web", "name": "Eve Lead"}
    lead = ok(api.post("/leads", params={"force": "true"}, json=lead_body), 201)
    ok(merge(api, survivor["id"], dup))
    person = create(api, kind="person", name="Eve")
    gone = create(api, kind="person", name="Eve L.")
    ok(merge(api, person["id"], gone["id"]))

    before = api.event_count()
    quote_body = {"customer_id": dup, "valid_until": "2999-01-01", "lines": LINES}
    supplier_body = {"contact_id": dup, "legal_name": "Acme", "tax_id": "A87654321"}
    refused = [
        api.post("/invoices", json={**invoice_body, "customer_id": dup}),
        api.patch(f"/invoices/{draft['id']}", json={"customer_id": dup}, headers=match(1)),
        api.post("/quotes", json=quote_body),
        api.post("/orders", json=order_body),
        api.post("/suppliers", json=supplier_body),
    ]
    for response in refused:
        assert survivor["id"] in problem(response, 409, "contact_merged")["detail"]
    convert = {"existing_contact_id": gone["id"]}
    converted = api.post(f"/leads/{lead['id']}/convert", json=convert, headers=match(1))
    assert person["id"] in problem(converted, 409, "contact_merged")["detail"]
    assert before == api.event_count()

    order = ok(api.get(f"/orders/{order['id']}"))
    path = f"/orders/{order['id']}/invoice"
    invoice = ok(api.post(path, headers=match(order["version"]), json={"series": "A"}), 201)
    assert dup == invoice["customer_id"]
