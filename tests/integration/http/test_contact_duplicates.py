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
