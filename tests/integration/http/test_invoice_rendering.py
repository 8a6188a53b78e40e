"""The QR image and the printable HTML of an issued invoice, over HTTP.

``GET /invoices/{id}/qr?format=png|svg`` is the QR of the VERI*FACTU verification URL
(test or production service by ``CRM_VERIFACTU_PRODUCTION``); ``GET /invoices/{id}/html``
(or ``GET /invoices/{id}`` preferring ``text/html``) a page with the fiscal data, the
totals, the QR inline and the legend, every text escaped. Drafts have neither (409).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from html import escape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crm_ledger.api.app import create_app
from crm_ledger.api.routers.invoices import wants_html
from crm_ledger.application import CrmApplication
from crm_ledger.domain import verifactu
from crm_ledger.invoice_html import LEGEND
from crm_ledger.settings import Settings, load_settings
from crm_ledger.verifactu_qr import qr_png, qr_svg
from tests.integration.http.conftest import Api

PATTERN = "{series}-{year}-{number:06d}"
EVIL = "<script>alert('x')</script> & Hijos"
LINES = [
    {"description": "Widget <b>", "quantity": "3", "unit_price": "10.015", "vat_rate": "21"},
    {"description": "Book", "quantity": "1", "unit_price": "20.00", "vat_rate": "4"},
    {
        "description": "Advice",
        "quantity": "1",
        "unit_price": "100.00",
        "vat_rate": "21",
        "withholding_rate": "15",
    },
]
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert status == response.status_code, response.text
    return dict(response.json())


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert (status, code) == (response.status_code, response.json().get("code")), response.text
    assert "application/problem+json" == response.headers["content-type"]
    return dict(response.json())


def issued_invoice(api: Api, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """An issuer and one issued invoice to a customer named like a script tag."""
    issuer = ok(
        api.post(
            "/issuers",
            json={
                "legal_name": "Acme Soluciones SL",
                "tax_id": "B12345678",
                "address": {"line1": "Calle Mayor 1", "city": "Madrid", "country": "ES"},
                "series": [{"code": "A", "pattern": PATTERN}],
            },
        ),
        201,
    )
    body = {
        "issuer_id": issuer["id"],
        "series": "A",
        "customer": {
            "name": EVIL,
            "tax_id": "A87654321",
            "address": {"line1": 'Gran Vía 2 "bis"', "city": "Madrid"},
            "country": "ES",
        },
        "lines": LINES,
        "notes": "Pago <i>por</i> transferencia",
        **fields,
    }
    draft = ok(api.post("/invoices", json=body), 201)
    invoice = ok(
        api.post(f"/invoices/{draft['id']}/issue", headers={"If-Match": f'"{draft["version"]}"'})
    )
    return issuer, invoice


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk (right after the signature)."""
    assert b"IHDR" == data[12:16]
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_qr_png_and_svg_of_an_issued_invoice(api: Api) -> None:
    """PNG (default) and SVG of exactly the invoice's verification URL, on the AEAT test
    service by default; a square PNG; an unknown format is a 422."""
    _, invoice = issued_invoice(api)
    path = f"/invoices/{invoice['id']}"
    url = ok(api.get(f"{path}/verifactu"))["qr_url"]
    assert url.startswith(verifactu.QR_BASE_TEST + "?nif=B12345678&numserie=")
    assert url.endswith("&importe=" + invoice["totals"]["gross_total"])

    png = api.get(f"{path}/qr")
    assert (200, "image/png") == (png.status_code, png.headers["content-type"])
    assert png.content.startswith(PNG_SIGNATURE)
    width, height = png_size(png.content)
    assert width == height > 100
    assert qr_png(url) == png.content
    assert png.content == api.get(f"{path}/qr?format=png").content

    svg = api.get(f"{path}/qr?format=svg")
    assert (200, "image/svg+xml") == (svg.status_code, svg.headers["content-type"])
    assert svg.text.startswith("<svg")
    assert svg.text.rstrip().endswith("</svg>")
    assert qr_svg(url) == svg.text
    assert qr_svg(url.replace("importe=", "importe=1")) != svg.text  # the URL shapes it

    problem(api.get(f"{path}/qr?format=gif"), 422, "validation_failed")


def test_drafts_and_unknown_invoices_have_no_qr_or_page(api: Api) -> None:
    issuer, _ = issued_invoice(api)
    draft = ok(api.post("/invoices", json={"issuer_id": issuer["id"], "series": "A"}), 201)
    path = f"/invoices/{draft['id']}"
    for suffix in ("/qr", "/qr?format=svg", "/html"):
        problem(api.get(path + suffix), 409, "invoice_not_issued")
    problem(api.get(path, headers={"Accept": "text/html"}), 409, "invoice_not_issued")
    missing = "/invoices/00000000-0000-4000-8000-000000000000"
    problem(api.get(f"{missing}/qr"), 404, "not_found")
    problem(api.get(f"{missing}/html"), 404, "not_found")


def test_html_shows_the_fiscal_content_escaped(api: Api) -> None:
    """Number, date, both parties, lines, totals per rate, withholding, total, the QR
    inline and the legend; the customer's name (a script tag), line text, address and
    notes appear escaped, never as markup."""
    _, invoice = issued_invoice(api)
    path = f"/invoices/{invoice['id']}"
    response = api.get(f"{path}/html")
    assert 200 == response.status_code, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    totals = invoice["totals"]
    year, month, day = invoice["issue_date"].split("-")
    expected = [
        invoice["number"],
        f"{day}-{month}-{year}",
        "Acme Soluciones SL",
        "B12345678",
        "Calle Mayor 1",
        "A87654321",
        LEGEND,
        "VERI*FACTU",
        totals["gross_total"],
        totals["total"],
        totals["tax_total"],
        totals["base_total"],
        totals["withholding_total"],
        *(rate["tax"] for rate in totals["rates"]),
        *(rate["base"] for rate in totals["rates"]),
        *(w["amount"] for w in totals["withholdings"]),
        *(line["base"] for line in invoice["lines"]),
        escape(EVIL),
        "Widget &lt;b&gt;",
        "Gran Vía 2 &quot;bis&quot;",
        "Pago &lt;i&gt;por&lt;/i&gt; transferencia",
    ]
    assert [] == [text for text in expected if text not in page]
    assert ("-15.00", "163.16") == (totals["withholding_total"], totals["total"])
    for markup in ("<script", "<b>", "<i>"):
        assert markup not in page
    svg = re.search(r"<svg.*?</svg>", page, re.S)
    assert svg is not None
    url = ok(api.get(f"{path}/verifactu"))["qr_url"]
    assert qr_svg(url) in page
    assert page.index(LEGEND) < page.index(invoice["number"] + "</dd>")  # QR + legend first


def test_get_invoice_negotiates_html_or_json(api: Api) -> None:
    """JSON stays the default (also for */* and ties); a browser's Accept gets the page."""
    _, invoice = issued_invoice(api)
    path = f"/invoices/{invoice['id']}"
    page = api.get(f"{path}/html").text
    for accept in ("text/html", BROWSER, "application/json;q=0.5, text/html"):
        response = api.get(path, headers={"Accept": accept})
        assert response.headers["content-type"].startswith("text/html"), accept
        assert page == response.text, accept
    for accept in ("application/json", "*/*", "text/html, application/json", "text/html;q=0"):
        response = api.get(path, headers={"Accept": accept})
        assert invoice == ok(response), accept
    assert invoice == ok(api.get(path))


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (None, False),
        ("", False),
        ("text/*", True),
        ("text/*;q=0.9, application/json;q=0.8", True),
        ("application/*, text/html;q=0.9", False),
        ("text/html;q=0.5, */*;q=0.4", True),
        ("text/html;q=oops", False),
    ],
)
def test_wants_html(accept: str | None, html: bool) -> None:
    assert html is wants_html(accept)


def test_cancelled_invoice_page_says_so(api: Api) -> None:
    _, invoice = issued_invoice(api)
    path = f"/invoices/{invoice['id']}"
    ok(
        api.post(
            f"{path}/cancel",
            json={"reason": "duplicada <x>"},
            headers={"If-Match": f'"{invoice["version"]}"'},
        )
    )
    page = api.get(f"{path}/html").text
    assert "FACTURA ANULADA: duplicada &lt;x&gt;" in page
    assert 200 == api.get(f"{path}/qr").status_code


@pytest.fixture
def production_api(settings: Settings) -> Iterator[Api]:
    """The app with CRM_VERIFACTU_PRODUCTION on."""
    live = settings.model_copy(update={"verifactu_production": True})
    crm = CrmApplication(live)
    app = create_app(live, crm=crm)
    _, token = crm.issue_api_key(name="tests", role="admin", actor="system:tests")
    with TestClient(app) as client:
        yield Api(client, crm, token)
    crm.close()


def test_production_setting_points_the_qr_at_the_production_service(
    production_api: Api,
) -> None:
    _, invoice = issued_invoice(production_api)
    path = f"/invoices/{invoice['id']}"
    url = ok(production_api.get(f"{path}/verifactu"))["qr_url"]
    assert url.startswith(verifactu.QR_BASE_PRODUCTION + "?nif=B12345678&")
    assert qr_png(url) == production_api.get(f"{path}/qr").content
    assert qr_svg(url) in production_api.get(f"{path}/html").text


def test_production_setting_reads_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CRM_VERIFACTU_PRODUCTION", raising=False)
    assert load_settings().verifactu_production is False
    monkeypatch.setenv("CRM_VERIFACTU_PRODUCTION", "true")
    assert load_settings().verifactu_production is True
