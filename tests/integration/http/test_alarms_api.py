"""``GET /alarms``: an issue over a damaged VERI*FACTU chain head succeeds and is listed."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from crm_ledger import invoicing
from tests.integration.http.conftest import Api

LINES = [{"description": "Widget", "quantity": "2", "unit_price": "10.00", "vat_rate": "21"}]


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert status == response.status_code, response.text
    return dict(response.json())


def issue(api: Api, issuer_id: str) -> dict[str, Any]:
    body = {"issuer_id": issuer_id, "series": "A", "invoice_type": "F2", "lines": LINES}
    draft = ok(api.post("/invoices", json=body), 201)
    path = f"/invoices/{draft['id']}/issue"
    return ok(api.post(path, headers={"If-Match": f'"{draft["version"]}"'}))


def damage_head(api: Api, issuer_id: str) -> None:
    """Append, without the issuer's guards, a record whose stored huella is not its own."""
    issuer = invoicing.get_issuer(api.crm, UUID(issuer_id))
    record = dict(issuer.last_record or {})
    damaged = {**record, "huella": "E" * 64, "previous_huella": issuer.last_huella}
    damaged["fields"] = {**record["fields"], "Huella": issuer.last_huella}
    issuer._record_appended(
        index=issuer.record_count + 1, invoice_id=uuid4(), record=damaged, actor="system:tests"
    )
    api.crm.store(issuer, actor="system:tests")


def test_alarm_is_raised_and_listed(api: Api) -> None:
    body = {
        "legal_name": "Acme Soluciones SL",
        "tax_id": "B12345678",
        "series": [{"code": "A", "pattern": "{series}-{year}-{number:06d}"}],
    }
    issuer_id = ok(api.post("/issuers", json=body), 201)["id"]
    issue(api, issuer_id)
    assert {"items": [], "next_cursor": None} == ok(api.get("/alarms"))
    damage_head(api, issuer_id)
    third = issue(api, issuer_id)  # invoicing goes on from the stored head
    assert third["number"].endswith("-000002")
    issue(api, issuer_id)  # the head is whole again: no second alarm
    page = ok(api.get("/alarms?limit=1"))
    assert None is page["next_cursor"]
    [alarm] = page["items"]
    assert "verifactu_chain_head" == alarm["kind"]
    assert alarm["actor"].startswith("apikey:")
    assert (issuer_id, "issue", 2, "huella_mismatch", "E" * 64) == tuple(
        alarm["context"][k] for k in ("issuer_id", "during", "record_index", "reason", "actual")
    )
    assert 401 == api.client.get("/alarms").status_code
