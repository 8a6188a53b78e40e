"""``GET /contacts:export``: the contacts a list shows as CSV, in the columns an import
reads (so the file imports as it is), formulas guarded, and every export recorded in the
ledger before it is sent (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import contact_snapshot
from crm_ledger.imports import contact_id, file_digest, import_contacts
from crm_ledger.settings import Settings
from tests.integration.http.conftest import Api
from tests.integration.http.test_changes import as_role, feed
from tests.integration.http.test_sales_api import match, ok, problem

ANA = {
    "kind": "person",
    "name": "Ana García",
    "emails": ["ana@example.com", "ana@work.example"],
    "phones": ["+34 600 111 222"],
    "tax_id": "12345678Z",
    "tags": ["vip", "es"],
    "owner": "bea",
    "addresses": [{"line1": "Calle Mayor 1", "city": "Madrid", "country": "ES"}],
    "custom_fields": {"tier": "gold"},
}
FORMULA = '=HYPERLINK("http://x.example","click")'


def exported(api: Api, **params: Any) -> tuple[list[str], list[dict[str, str]]]:
    answer = api.get("/contacts:export", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == 'attachment; filename="contacts.csv"'
    reader = csv.DictReader(io.StringIO(answer.text))
    rows = list(reader)
    assert reader.fieldnames is not None
    return list(reader.fieldnames), rows


def public(contact: dict[str, Any]) -> dict[str, Any]:
    kept = ("kind", "name", "emails", "phones", "tax_id", "tags", "owner", "addresses")
    return {k: contact[k] for k in (*kept, "custom_fields")}


def test_the_list_as_csv_recorded_and_importable(api: Api, tmp_path: Path) -> None:
    ana = ok(api.post("/contacts", json=ANA), 201)
    ok(api.post("/contacts", json={"kind": "organisation", "name": FORMULA}), 201)
    cai = ok(api.post("/contacts", json={"kind": "person", "name": "Cai", "tags": ["vip"]}), 201)
    gone = ok(api.post("/contacts", json={"kind": "person", "name": "Archived"}), 201)
    ok(api.post(f"/contacts/{gone['id']}/archive", headers=match(1)))

    header, rows = exported(api)
    assert header == [
        "id",
        "kind",
        "name",
        "emails",
        "phones",
        "tax_id",
        "tags",
        "owner",
        "organisation_id",
        "address.line1",
        "address.line2",
        "address.city",
        "address.region",
        "address.postal_code",
        "address.country",
        "custom.tier",
    ]
    # in name order (by its words: "hyperlink http ..."), the formula guarded
    assert [r["name"] for r in rows] == ["Ana García", "Cai", "'" + FORMULA]
    first = rows[0]
    assert first["id"] == ana["id"]
    assert first["emails"] == "ana@example.com;ana@work.example"
    assert first["phones"] == "+34 600 111 222"  # a phone is never a formula: not guarded
    assert (first["tags"], first["address.city"], first["custom.tier"]) == (
        "es;vip",
        "Madrid",
        "gold",
    )
    assert [r["name"] for r in exported(api, tag="vip")[1]] == ["Ana García", "Cai"]

    # each export is on record before it is sent: filters, count, position, who
    made = feed(api, types=["contacts_export"])
    assert [m["data"]["count"] for m in made] == [3, 2]
    assert [m["data"]["filters"] for m in made] == [{}, {"tags": ["vip"]}]
    assert made[0]["actor"] == ok(api.get("/auth/me"))["actor"]
    assert feed(as_role(api, "sales"), types=["contacts_export"]) == []
    assert as_role(api, "sales").get("/contacts:export").status_code == 200  # recorded too
    assert len(feed(api, types=["contacts_export"])) == 3
    problem(api.get("/contacts:export", params={"kind": "robot"}), 422, "validation_failed")

    # the file imports as it is into another deployment (ids ignored: new contacts)
    source = tmp_path / "contacts.csv"
    source.write_text(api.get("/contacts:export", params={"tag": "vip"}).text, encoding="utf-8")
    other = CrmApplication(
        Settings(database_url=f"sqlite:///{tmp_path}/other.db", data_dir=tmp_path / "other")
    )
    summary = import_contacts(other, source, actor="system:tests", rejects=tmp_path / "r.csv")
    assert (summary.imported, summary.rejected) == (2, 0)
    digest = file_digest(source)[0]
    copies = [contact_snapshot(other.get_contact(contact_id(digest, row))) for row in (2, 3)]
    other.close()
    assert [public(c) for c in copies] == [public(ana), public(cai)]
    assert {c["id"] for c in copies}.isdisjoint({ana["id"], cai["id"]})


def test_a_list_too_large_is_refused_and_not_recorded(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("crm_ledger.api.contact_export.MAX_EXPORT", 2)
    for name in ("Ana", "Bea", "Cai"):
        ok(api.post("/contacts", json={"kind": "person", "name": name}), 201)
    problem(api.get("/contacts:export"), 422, "export_too_large")
    assert feed(api, types=["contacts_export"]) == []
    assert api.get("/contacts:export", params={"q": "ana"}).status_code == 200
    assert [m["data"]["count"] for m in feed(api, types=["contacts_export"])] == [1]
