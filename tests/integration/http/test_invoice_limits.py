"""Simplified-invoice limits and the corrections cap, end to end over HTTP.

* an F2 totals at most the issuer's ``simplified_limit`` (400.00 EUR by default, VAT
  included; ``PUT /issuers/{id}/simplified-limit`` up to 3,000.00) and is in EUR;
* credit notes (rectifications by differences) never take back more than the original's
  total: checked when drafted, and again when issued, when the correction is recorded on
  the original in the same save; cancelling a credit note gives its amount back.
"""

from __future__ import annotations

from typing import Any

from tests.integration.http.conftest import Api

PATTERN = "{series}-{year}-{number:06d}"
LINES = [
    {"description": "Widget", "quantity": "3", "unit_price": "10.015", "vat_rate": "21"},
    {"description": "Book", "quantity": "1", "unit_price": "20.00", "vat_rate": "4"},
]  # 57.16
CUSTOMER = {"name": "Cliente SA", "tax_id": "A87654321"}


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert status == response.status_code, response.text
    return dict(response.json())


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert (status, code) == (response.status_code, response.json().get("code")), response.text
    assert "application/problem+json" == response.headers["content-type"]
    return dict(response.json())


def match(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


def new_issuer(api: Api, **fields: Any) -> dict[str, Any]:
    body = {
        "legal_name": "Acme Soluciones SL",
        "tax_id": "B12345678",
        "series": [{"code": "A", "pattern": PATTERN}],
        **fields,
    }
    return ok(api.post("/issuers", json=body), 201)


def priced(unit_price: str) -> list[dict[str, str]]:
    return [{"description": "Item", "quantity": "1", "unit_price": unit_price, "vat_rate": "21"}]


def draft(api: Api, issuer: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"issuer_id": issuer["id"], "series": "A", "lines": LINES, **fields}
    return ok(api.post("/invoices", json=body), 201)


def issue_response(api: Api, invoice: dict[str, Any]) -> Any:
    return api.post(f"/invoices/{invoice['id']}/issue", headers=match(invoice["version"]))


def rectify(api: Api, invoice: dict[str, Any], **fields: Any) -> Any:
    body = {"invoice_type": "R1", "method": "differences", "reason": "returned", **fields}
    return api.post(f"/invoices/{invoice['id']}/rectify", json=body)


def fiscal(invoice: dict[str, Any]) -> dict[str, Any]:
    keys = ("number", "issue_date", "invoice_type", "customer", "lines", "totals", "huella")
    return {k: invoice[k] for k in keys}


def test_simplified_invoice_limit_is_the_issuers(api: Api) -> None:
    """400.01 EUR is refused (422, nothing written, no number taken) until the issuer
    raises its limit; the limit is validated and needs If-Match."""
    issuer = new_issuer(api)
    assert "400.00" == issuer["simplified_limit"]
    over = draft(api, issuer, invoice_type="F2", lines=priced("330.59"))  # 400.01
    count = api.event_count()
    body = problem(issue_response(api, over), 422, "simplified_invoice_limit")
    assert "400.00 EUR including VAT" in body["detail"]
    assert [{"pointer": "/invoice_type", "detail": body["detail"]}] == body["errors"]
    assert count == api.event_count()

    path, version = f"/issuers/{issuer['id']}/simplified-limit", issuer["version"]
    problem(
        api.request("PUT", path, json={"simplified_limit": "3000"}), 428, "precondition_required"
    )
    problem(
        api.request("PUT", path, json={"simplified_limit": "3000.01"}, headers=match(version)),
        422,
        "invalid_command",
    )
    problem(
        api.request("PUT", path, json={"simplified_limit": 3000}, headers=match(version)),
        422,
        "validation_failed",
    )
    raised = ok(api.request("PUT", path, json={"simplified_limit": "3000"}, headers=match(version)))
    assert ("3000.00", version + 1) == (raised["simplified_limit"], raised["version"])
    issued = ok(issue_response(api, over))
    assert "400.01" == issued["totals"]["gross_total"]
    assert issued["number"].endswith("-000001")  # the refusal took no number
    assert "1000.00" == new_issuer(api, simplified_limit="1000")["simplified_limit"]


def test_simplified_invoice_in_another_currency_is_refused(api: Api) -> None:
    issuer = new_issuer(api)
    body = {"issuer_id": issuer["id"], "series": "A", "invoice_type": "F2", "currency": "USD"}
    problem(api.post("/invoices", json=body), 422, "simplified_invoice_currency")
    usd = draft(api, issuer, currency="USD", customer=CUSTOMER)
    problem(
        api.patch(
            f"/invoices/{usd['id']}", json={"invoice_type": "F2"}, headers=match(usd["version"])
        ),
        422,
        "simplified_invoice_currency",
    )
    simplified = ok(issue_response(api, draft(api, issuer, invoice_type="F2")))
    assert ("F2", None) == (simplified["invoice_type"], simplified["customer"]["tax_id"])


def test_credit_notes_never_exceed_the_originals_total(api: Api) -> None:
    """Two full credit notes may be drafted while nothing is credited; issuing the first
    records it on the original (its fiscal content unchanged); issuing the second is
    refused (409 naming what remains, nothing written, no number taken); a third is
    refused at once. Cancelling the first gives the room back to the second."""
    issuer = new_issuer(api)
    original = ok(issue_response(api, draft(api, issuer, customer=CUSTOMER)))
    first = ok(rectify(api, original), 201)
    second = ok(rectify(api, original), 201)
    partial = ok(rectify(api, original, lines=priced("-20")), 201)  # -24.20
    assert ("-57.16", "-57.16") == (
        first["totals"]["gross_total"],
        second["totals"]["gross_total"],
    )

    credited = ok(issue_response(api, first))
    after = ok(api.get(f"/invoices/{original['id']}"))
    assert fiscal(original) == fiscal(after)
    assert after["version"] == original["version"] + 1  # CorrectionRecorded

    count = api.event_count()
    body = problem(issue_response(api, second), 409, "correction_limit_exceeded")
    assert "only 0.00 of it remains" in body["detail"]
    assert original["number"] in body["detail"]
    assert count == api.event_count()
    problem(issue_response(api, partial), 409, "correction_limit_exceeded")
    body = problem(rectify(api, original, lines=priced("-0.01")), 409, "correction_limit_exceeded")
    assert "-0.01" in body["detail"]
    assert count == api.event_count()

    ok(
        api.post(
            f"/invoices/{credited['id']}/cancel",
            json={"reason": "sent by mistake"},
            headers=match(credited["version"]),
        )
    )
    assert fiscal(original) == fiscal(ok(api.get(f"/invoices/{original['id']}")))
    partly = ok(issue_response(api, partial))  # 57.16 - 24.20 = 32.96 left
    assert partly["number"].endswith("-000003")  # refusals took no number: gapless
    body = problem(issue_response(api, second), 409, "correction_limit_exceeded")
    assert "only 32.96 of it remains" in body["detail"]
    more = ok(rectify(api, original, lines=priced("-27.24")), 201)  # -32.96
    ok(issue_response(api, more))
    problem(rectify(api, original, lines=priced("-0.01")), 409, "correction_limit_exceeded")
