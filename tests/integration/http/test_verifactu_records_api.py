"""The whole VERI*FACTU records over HTTP (``registro`` and ``/verifactu/xml``), stored in
the issue and cancellation events, on SQLite and PostgreSQL: alta, alta, anulación chained
through ``Encadenamiento``, the huella recomputed from the XML alone, rectifications,
foreign customers and currencies."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from xml.etree import ElementTree

from crm_ledger import __version__
from crm_ledger.domain import verifactu
from crm_ledger.domain.verifactu_registro import NAMESPACE
from tests.integration.http.conftest import Api
from tests.integration.http.test_invoices_api import (
    issue,
    match,
    new_customer,
    new_draft,
    new_issuer,
    ok,
    problem,
)

NS = {"sf": NAMESPACE}


def record_of(api: Api, invoice_id: str) -> dict[str, Any]:
    return ok(api.get(f"/invoices/{invoice_id}/verifactu"))


def xml_of(api: Api, invoice_id: str, kind: str = "alta") -> ElementTree.Element:
    response = api.get(f"/invoices/{invoice_id}/verifactu/xml?record={kind}")
    assert 200 == response.status_code, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return ElementTree.fromstring(response.content)


def huella_from_xml(root: ElementTree.Element) -> str:
    """The huella recomputed from the XML document alone (its own hashed values)."""
    alta = root.tag.endswith("RegistroAlta")
    names = verifactu.ALTA_FIELDS if alta else verifactu.ANULACION_FIELDS
    values = []
    for name in names:
        if name == "Huella":
            path = "sf:Encadenamiento/sf:RegistroAnterior/sf:Huella"
            values.append(root.findtext(path, default="", namespaces=NS))
        elif name.startswith(("IDEmisor", "NumSerie", "FechaExpedicion")):
            values.append(root.findtext(f"sf:IDFactura/sf:{name}", namespaces=NS))
        else:
            values.append(root.findtext(f"sf:{name}", namespaces=NS))
    return verifactu.huella(dict(zip(names, values, strict=True)))


def test_alta_alta_anulacion_chain_with_whole_records_and_xml(api: Api) -> None:
    issuer = new_issuer(api)
    customer = new_customer(api)
    first = issue(api, new_draft(api, issuer, customer_id=customer))
    second = issue(api, new_draft(api, issuer, customer_id=customer, notes="March support"))
    path = f"/invoices/{second['id']}/cancel"
    ok(api.post(path, json={"reason": "duplicate"}, headers=match(second["version"])))

    one, two = record_of(api, first["id"]), record_of(api, second["id"])
    cancel = two["cancellation"]
    registro = one["registro"]
    assert {"PrimerRegistro": "S"} == registro["Encadenamiento"]
    assert (first["id"], "Acme Soluciones SL", "F1") == (
        registro["RefExterna"],
        registro["NombreRazonEmisor"],
        registro["TipoFactura"],
    )
    assert {"IDDestinatario": [{"NombreRazon": "Cliente SA", "NIF": "A87654321"}]} == registro[
        "Destinatarios"
    ]
    details = registro["Desglose"]["DetalleDesglose"]
    assert [("21.00", "30.05", "6.31"), ("4.00", "20.00", "0.80")] == [
        (d["TipoImpositivo"], d["BaseImponibleOimporteNoSujeto"], d["CuotaRepercutida"])
        for d in details
    ]
    assert ("7.11", "57.16", one["huella"]) == (
        registro["CuotaTotal"],
        registro["ImporteTotal"],
        registro["Huella"],
    )
    system = registro["SistemaInformatico"]
    assert ("Acme Soluciones SL", "B12345678", __version__, "1", "N") == (
        system["NombreRazon"],
        system["NIF"],
        system["Version"],
        system["NumeroInstalacion"],
        system["IndicadorMultiplesOT"],
    )
    assert "March support" == two["registro"]["DescripcionOperacion"]
    assert {
        "RegistroAnterior": {
            "IDEmisorFactura": "B12345678",
            "NumSerieFactura": first["number"],
            "FechaExpedicionFactura": one["fields"]["FechaExpedicionFactura"],
            "Huella": one["huella"],
        }
    } == two["registro"]["Encadenamiento"]
    assert {
        "IDEmisorFactura": "B12345678",
        "NumSerieFactura": second["number"],
        "FechaExpedicionFactura": two["fields"]["FechaExpedicionFactura"],
        "Huella": two["huella"],
    } == cancel["registro"]["Encadenamiento"]["RegistroAnterior"]
    assert second["number"] == cancel["registro"]["IDFactura"]["NumSerieFacturaAnulada"]

    for invoice_id, kind, expected in (
        (first["id"], "alta", one),
        (second["id"], "alta", two),
        (second["id"], "anulacion", cancel),
    ):
        root = xml_of(api, invoice_id, kind)
        assert root.tag == f"{{{NAMESPACE}}}Registro{kind.capitalize()}"
        assert list(expected["registro"]) == [child.tag.split("}")[1] for child in root]
        assert expected["huella"] == huella_from_xml(root)
        assert expected["huella"] == root.findtext("sf:Huella", namespaces=NS)
    problem(api.get(f"/invoices/{first['id']}/verifactu/xml?record=anulacion"), 404, "not_found")
    draft = new_draft(api, issuer, customer_id=customer)
    problem(api.get(f"/invoices/{draft['id']}/verifactu/xml"), 409, "invoice_not_issued")


def test_rectifications_foreign_customer_currency_and_simplified(api: Api) -> None:
    issuer = new_issuer(api)
    german = {"name": "Kunde GmbH", "tax_id": "DE123456789", "country": "DE"}
    lines = [
        {"description": "a", "quantity": "1", "unit_price": "0.05", "vat_rate": "21"},
        {"description": "b", "quantity": "1", "unit_price": "0.05", "vat_rate": "10"},
        {"description": "c", "quantity": "1", "unit_price": "0.05", "vat_rate": "4"},
        {"description": "d", "quantity": "1", "unit_price": "100", "exemption": "E5"},
    ]
    draft = new_draft(api, issuer, customer=german, currency="USD", lines=lines)
    path = f"/invoices/{draft['id']}/issue"
    body = {"exchange_rate": "1.500000"}
    original = ok(api.post(path, json=body, headers=match(draft["version"])))
    registro = record_of(api, original["id"])["registro"]
    assert {"NombreRazon": "Kunde GmbH", "IDOtro": {"CodigoPais": "DE", "IDType": "02",
            "ID": "DE123456789"}} == registro["Destinatarios"]["IDDestinatario"][0]  # fmt: skip
    details = registro["Desglose"]["DetalleDesglose"]
    # each base converted: 0.075 -> 0.08 three times + 150.00 = 150.24, but the converted
    # total base is 100.15 x 1.5 = 150.225 -> 150.23: the largest group carries the -0.01
    assert {"OperacionExenta": "E5", "BaseImponibleOimporteNoSujeto": "149.99"}.items() <= (
        details[-1].items()
    )
    quotas = sum(Decimal(d.get("CuotaRepercutida", "0")) for d in details)
    bases = sum(Decimal(d["BaseImponibleOimporteNoSujeto"]) for d in details)
    assert Decimal(registro["CuotaTotal"]) == quotas
    assert Decimal(registro["ImporteTotal"]) == bases + quotas

    replacing = [{"description": "fixed", "quantity": "1", "unit_price": "90", "vat_rate": "21"}]
    substitution = ok(
        api.post(
            f"/invoices/{original['id']}/rectify",
            json={"invoice_type": "R1", "method": "substitution", "reason": "wrong price",
                  "lines": replacing},
        ),
        201,
    )  # fmt: skip
    path = f"/invoices/{substitution['id']}/issue"
    ok(api.post(path, json=body, headers=match(substitution["version"])))
    registro = record_of(api, substitution["id"])["registro"]
    totals = original["totals"]
    assert ("R1", "S") == (registro["TipoFactura"], registro["TipoRectificativa"])
    assert [{"IDEmisorFactura": "B12345678", "NumSerieFactura": original["number"],
             "FechaExpedicionFactura": record_of(api, original["id"])["fields"][
                 "FechaExpedicionFactura"]}] == registro["FacturasRectificadas"][
        "IDFacturaRectificada"]  # fmt: skip

    def euros(key: str) -> str:
        value = Decimal(totals[key]) * Decimal("1.5")
        return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):f}"

    in_euros = {"BaseRectificada": euros("base_total"), "CuotaRectificada": euros("vat_total")}
    assert {**in_euros, "CuotaRecargoRectificado": "0.00"} == registro["ImporteRectificacion"]

    ticket = new_draft(api, issuer, invoice_type="F2")
    ticket = issue(api, ticket)
    registro = record_of(api, ticket["id"])["registro"]
    assert "Destinatarios" not in registro
    credit = ok(
        api.post(
            f"/invoices/{ticket['id']}/rectify",
            json={"invoice_type": "R5", "method": "differences", "reason": "returned"},
        ),
        201,
    )
    issue(api, credit)
    registro = record_of(api, credit["id"])["registro"]
    assert ("R5", "I", "-57.16") == (
        registro["TipoFactura"],
        registro["TipoRectificativa"],
        registro["ImporteTotal"],
    )
    assert "ImporteRectificacion" not in registro
    assert "Destinatarios" not in registro
