"""``GET /contacts/{id}/duplicates``: other active contacts sharing an email, a phone, the
tax id or (same kind) the name, compared as the search compares them, each with what it
shares (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tests.integration.http.conftest import Api
from tests.integration.http.test_merge_api import merge
from tests.integration.http.test_sales_api import match, ok, problem


def contact(api: Api, name: str, kind: str = "person", **fields: Any) -> str:
    body = {"kind": kind, "name": name, **fields}
    return str(ok(api.post("/contacts", json=body), 201)["id"])


def duplicates(api: Api, contact_id: str, **params: Any) -> list[tuple[str, list[str]]]:
    found = ok(api.get(f"/contacts/{contact_id}/duplicates", params=params))["items"]
    return [(d["contact"]["name"], d["reasons"]) for d in found]


def test_likely_duplicates_and_what_they_share(api: Api) -> None:
    ana = contact(
        api,
        "Ana García",
        emails=["Ana@Example.com"],
        phones=["+34 600 111 222"],
        tax_id="12345678Z",
    )
    contact(api, "Beatriz", emails=["ana@example.COM"], phones=["+34-600-111-222"])
    contact(api, "ana garcia")  # the same words, another case and no accent
    contact(api, "Ana Garcia", kind="organisation")  # a company is not that person
    contact(api, "Dan", tax_id="12.345.678-z")
    contact(api, "Eva", emails=["x.ana@example.com"], phones=["600 111 22"])  # near misses
    contact(api, "Ana García López")  # a longer name
    archived = contact(api, "Archived Ana", emails=["ana@example.com"])
    ok(api.post(f"/contacts/{archived}/archive", headers=match(1)))
    merged = contact(api, "Merged Ana", emails=["ana@example.com"])
    survivor = contact(api, "Survivor")
    ok(merge(api, survivor, merged))

    assert duplicates(api, ana) == [
        ("Beatriz", ["email", "phone"]),
        ("ana garcia", ["name"]),
        ("Dan", ["tax_id"]),
        ("Survivor", ["email"]),  # it took the merged contact's email
    ]
    assert duplicates(api, ana, limit=1) == [("Beatriz", ["email", "phone"])]
    # an emergency number is too short to say two people are one
    fay = contact(api, "Fay", phones=["112"])
    contact(api, "Gus", phones=["112"])
    assert duplicates(api, fay) == []
    problem(api.get(f"/contacts/{UUID(int=7)}/duplicates"), 404, "not_found")
    problem(api.get(f"/contacts/{ana}/duplicates", params={"limit": 0}), 422, "validation_failed")


def report_pairs(api: Api, **params: Any) -> list[tuple[str, str, list[str]]]:
    found = ok(api.get("/contacts:duplicates", params=params))
    return [(p["contact"]["name"], p["other"]["name"], p["reasons"]) for p in found["pairs"]]


def names_in_order(api: Api, a: str, b: str) -> tuple[str, str]:
    """The pair as the report gives it: the contact with the smaller id first."""
    ids = {ok(api.get("/contacts", params={"q": name}))["items"][0]["id"]: name for name in (a, b)}
    first, second = sorted(ids)
    return ids[first], ids[second]


def test_the_duplicates_report_pairs_the_whole_list(api: Api, monkeypatch: Any) -> None:
    contact(api, "Ana García", emails=["Ana@Example.com"], phones=["+34 600 111 222"])
    contact(api, "Beatriz", emails=["ana@example.COM"], phones=["+34-600-111-222"])
    contact(api, "Cai Ltd", kind="organisation", tax_id="B-12345678")
    contact(api, "Cai Limited", kind="organisation", tax_id="b12345678")
    contact(api, "Dan", emails=["dan@example.com"])
    archived = contact(api, "Archived Ana", emails=["ana@example.com"])
    ok(api.post(f"/contacts/{archived}/archive", headers=match(1)))

    ab, cc = (
        names_in_order(api, "Ana García", "Beatriz"),
        names_in_order(api, "Cai Ltd", "Cai Limited"),
    )
    report = ok(api.get("/contacts:duplicates"))
    assert (report["contacts"], report["pair_count"]) == (5, 2)  # not the archived one
    assert report_pairs(api) == [(*ab, ["email", "phone"]), (*cc, ["tax_id"])]
    assert report_pairs(api, limit=1) == [(*ab, ["email", "phone"])]
    assert report_pairs(api, kind="organisation") == [(*cc, ["tax_id"])]  # the list's filters
    assert report["too_common"] == {"email": 0, "phone": 0, "tax_id": 0, "name": 0}

    as_csv = api.get("/contacts:duplicates", params={"format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.text.splitlines()
    assert lines[0] == "contact_id,contact_name,other_id,other_name,reasons"
    assert [line.split(",")[-1] for line in lines[1:]] == ["email phone", "tax_id"]

    # a value many contacts share (a switchboard) pairs none of them
    monkeypatch.setattr("crm_ledger.projections.contact_duplicates.MAX_GROUP", 1)
    crowded = ok(api.get("/contacts:duplicates"))
    assert (crowded["pairs"], crowded["too_common"]["email"]) == ([], 1)
    problem(api.get("/contacts:duplicates", params={"limit": 0}), 422, "validation_failed")
