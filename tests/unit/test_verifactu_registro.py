"""The whole VERI*FACTU record (RegistroAlta / RegistroAnulacion): order, content, checks,
and the XML it is written as."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree

import pytest

from crm_ledger.domain import verifactu
from crm_ledger.domain.taxes import compute, tax_line
from crm_ledger.domain.verifactu_registro import (
    NAMESPACE,
    SoftwareSystem,
    alta,
    anulacion,
    breakdown,
    chaining,
    check,
    description,
    recipient,
    to_xml,
)

D = Decimal
CET = timezone(timedelta(hours=1))
SYSTEM = SoftwareSystem(
    producer_name="Acme Soluciones SL",
    producer_tax_id="B12345678",
    version="0.1.0",
    installation="7",
    multiple_issuers=False,
)
# RegistroFacturacionAltaType's sequence, as far as these records use it
ALTA_ORDER = [
    "IDVersion", "IDFactura", "RefExterna", "NombreRazonEmisor", "TipoFactura",
    "TipoRectificativa", "FacturasRectificadas", "ImporteRectificacion",
    "DescripcionOperacion", "Macrodato", "Destinatarios", "Desglose", "CuotaTotal",
    "ImporteTotal", "Encadenamiento", "SistemaInformatico", "FechaHoraHusoGenRegistro",
    "TipoHuella", "Huella",
]  # fmt: skip
DETAIL_ORDER = [
    "Impuesto", "ClaveRegimen", "CalificacionOperacion", "OperacionExenta", "TipoImpositivo",
    "BaseImponibleOimporteNoSujeto", "CuotaRepercutida", "TipoRecargoEquivalencia",
    "CuotaRecargoEquivalencia",
]  # fmt: skip


def in_order(names: list[str], order: list[str]) -> bool:
    return [order.index(name) for name in names] == sorted(order.index(n) for n in names)


def alta_record(
    lines: list[dict[str, Any]],
    *,
    rate: Decimal | None = None,
    invoice_type: str = "F1",
    previous: dict[str, Any] | None = None,
    rectifies: dict[str, Any] | None = None,
) -> dict[str, Any]:
    totals = compute(tax_line(line) for line in lines)

    def euros(value: Decimal) -> Decimal:
        return value if rate is None else (value * rate).quantize(D("0.01"), "ROUND_HALF_UP")

    fields = verifactu.build_alta(
        issuer_tax_id="B12345678",
        number="A-2027-000002",
        issue_date=date(2027, 1, 15),
        invoice_type=invoice_type,
        tax_total=euros(totals.tax_total),
        total=euros(totals.gross_total),
        previous_huella="" if previous is None else previous["huella"],
        generated_at=datetime(2027, 1, 15, 10, 0, 0, tzinfo=CET),
    )
    return alta(
        fields=fields,
        huella=verifactu.huella(fields),
        invoice_id="6f1c8f5e-0000-4000-8000-000000000001",
        issuer_name="Acme Soluciones SL",
        customer={"name": "Cliente SA", "tax_id": "A87654321", "country": "ES"},
        operation=description(None, lines),
        details=breakdown(
            totals.as_dict()["rates"],
            exchange_rate=rate,
            tax_total=D(fields["CuotaTotal"]),
            gross_total=D(fields["ImporteTotal"]),
        ),
        rectifies=rectifies,
        previous=previous,
        system=SYSTEM,
    )


LINES = [
    {"description": "Widget", "quantity": "3", "unit_price": "10.015", "vat_rate": "21"},
    {"description": "Book", "quantity": "1", "unit_price": "20.00", "vat_rate": "4"},
]


def test_alta_in_xsd_order_with_breakdown_recipient_and_first_link() -> None:
    """3 x 10.015 = 30.05 at 21% (6.31) and 20.00 at 4% (0.80): CuotaTotal 7.11,
    ImporteTotal 57.16; the issuer's first record."""
    record = alta_record(LINES)
    assert in_order(list(record), ALTA_ORDER)
    assert "TipoRectificativa" not in record
    assert "Macrodato" not in record
    assert {"IDEmisorFactura": "B12345678", "NumSerieFactura": "A-2027-000002",
            "FechaExpedicionFactura": "15-01-2027"} == record["IDFactura"]  # fmt: skip
    assert [
        {"Impuesto": "01", "ClaveRegimen": "01", "CalificacionOperacion": "S1",
         "TipoImpositivo": "21.00", "BaseImponibleOimporteNoSujeto": "30.05",
         "CuotaRepercutida": "6.31"},
        {"Impuesto": "01", "ClaveRegimen": "01", "CalificacionOperacion": "S1",
         "TipoImpositivo": "4.00", "BaseImponibleOimporteNoSujeto": "20.00",
         "CuotaRepercutida": "0.80"},
    ] == record["Desglose"]["DetalleDesglose"]  # fmt: skip
    assert ("7.11", "57.16") == (record["CuotaTotal"], record["ImporteTotal"])
    assert {"IDDestinatario": [{"NombreRazon": "Cliente SA", "NIF": "A87654321"}]} == record[
        "Destinatarios"
    ]
    assert {"PrimerRegistro": "S"} == record["Encadenamiento"]
    assert "Widget; Book" == record["DescripcionOperacion"]
    hashed = ["B12345678", "A-2027-000002", "15-01-2027", "F1", "7.11", "57.16", "",
              "2027-01-15T10:00:00+01:00"]  # fmt: skip
    huella = verifactu.huella(dict(zip(verifactu.ALTA_FIELDS, hashed, strict=True)))
    assert ("01", huella) == (record["TipoHuella"], record["Huella"])
    assert {
        "NombreRazon": "Acme Soluciones SL", "NIF": "B12345678",
        "NombreSistemaInformatico": "crm_ledger", "IdSistemaInformatico": "CL",
        "Version": "0.1.0", "NumeroInstalacion": "7", "TipoUsoPosibleSoloVerifactu": "S",
        "TipoUsoPosibleMultiOT": "S", "IndicadorMultiplesOT": "N",
    } == record["SistemaInformatico"]  # fmt: skip


def test_chained_alta_names_the_previous_record() -> None:
    first = verifactu.record(
        verifactu.build_anulacion(
            issuer_tax_id="B12345678",
            number="A-2027-000001",
            issue_date=date(2027, 1, 14),
            previous_huella="",
            generated_at=datetime(2027, 1, 14, 9, 0, 0, tzinfo=CET),
        )
    )
    record = alta_record(LINES, previous=first)
    assert {
        "RegistroAnterior": {
            "IDEmisorFactura": "B12345678",
            "NumSerieFactura": "A-2027-000001",
            "FechaExpedicionFactura": "14-01-2027",
            "Huella": first["huella"],
        }
    } == record["Encadenamiento"]


def test_exempt_zero_rate_and_surcharge_details() -> None:
    """500 exempt E1 (base only), 50 at 0% (S1, quota 0.00), 100 at 21% + RE 5.2."""
    lines = [
        {"description": "Course", "quantity": "1", "unit_price": "500", "exemption": "E1"},
        {"description": "Export", "quantity": "1", "unit_price": "50", "vat_rate": "0"},
        {"description": "Retail", "quantity": "1", "unit_price": "100", "vat_rate": "21",
         "surcharge": True},
    ]  # fmt: skip
    details = alta_record(lines)["Desglose"]["DetalleDesglose"]
    for detail in details:
        assert in_order(list(detail), DETAIL_ORDER)
    assert [
        {"Impuesto": "01", "ClaveRegimen": "01", "CalificacionOperacion": "S1",
         "TipoImpositivo": "21.00", "BaseImponibleOimporteNoSujeto": "100.00",
         "CuotaRepercutida": "21.00", "TipoRecargoEquivalencia": "5.20",
         "CuotaRecargoEquivalencia": "5.20"},
        {"Impuesto": "01", "ClaveRegimen": "01", "CalificacionOperacion": "S1",
         "TipoImpositivo": "0.00", "BaseImponibleOimporteNoSujeto": "50.00",
         "CuotaRepercutida": "0.00"},
        {"Impuesto": "01", "ClaveRegimen": "01", "OperacionExenta": "E1",
         "BaseImponibleOimporteNoSujeto": "500.00"},
    ] == details  # fmt: skip


def test_converted_breakdown_adds_up_to_the_converted_totals() -> None:
    """Three groups of 0.05 at rate 1.5: each base 0.075 -> 0.08 (0.24 in all) while the
    converted total base is 0.15 x 1.5 = 0.225 -> 0.23; quotas likewise. The cents left
    go on the largest group so the breakdown adds up exactly."""
    lines = [
        {"description": "a", "quantity": "1", "unit_price": "0.05", "vat_rate": "21"},
        {"description": "b", "quantity": "1", "unit_price": "0.05", "vat_rate": "10"},
        {"description": "c", "quantity": "1", "unit_price": "0.05", "vat_rate": "4"},
    ]
    record = alta_record(lines, rate=D("1.5"))
    details = record["Desglose"]["DetalleDesglose"]
    bases = [D(d["BaseImponibleOimporteNoSujeto"]) for d in details]
    quotas = [D(d["CuotaRepercutida"]) for d in details]
    assert D(record["CuotaTotal"]) == sum(quotas)
    assert D(record["ImporteTotal"]) == sum(bases) + sum(quotas)
    for base in bases:  # each group within a cent of its own conversion (0.075 -> 0.08)
        assert abs(base - D("0.08")) <= D("0.01")


def test_rectification_by_substitution_and_by_differences() -> None:
    original = {"number": "A-2027-000001", "issue_date": "2027-01-10",
                "method": "substitution", "base": "100.00", "tax": "21.00",
                "surcharge": "0.00", "exchange_rate": None}  # fmt: skip
    record = alta_record(LINES, invoice_type="R1", rectifies=original)
    assert in_order(list(record), ALTA_ORDER)
    assert "S" == record["TipoRectificativa"]
    assert {"IDFacturaRectificada": [{"IDEmisorFactura": "B12345678",
            "NumSerieFactura": "A-2027-000001", "FechaExpedicionFactura": "10-01-2027"}]
            } == record["FacturasRectificadas"]  # fmt: skip
    assert {"BaseRectificada": "100.00", "CuotaRectificada": "21.00",
            "CuotaRecargoRectificado": "0.00"} == record["ImporteRectificacion"]  # fmt: skip
    by_differences = alta_record(
        LINES, invoice_type="R1", rectifies={**original, "method": "differences"}
    )
    assert "I" == by_differences["TipoRectificativa"]
    assert "ImporteRectificacion" not in by_differences


def test_simplified_invoices_name_no_recipient_and_foreign_customers_use_idotro() -> None:
    assert "Destinatarios" not in alta_record(LINES, invoice_type="F2")
    assert {"NombreRazon": "Kunde GmbH", "IDOtro": {"CodigoPais": "DE", "IDType": "02",
            "ID": "DE123456789"}} == recipient(
        {"name": "Kunde GmbH", "tax_id": "DE123456789", "country": "DE"})  # fmt: skip
    assert (
        "04" == recipient({"name": "X Inc", "tax_id": "123", "country": "US"})["IDOtro"]["IDType"]
    )
    assert {"NombreRazon": "Cliente SA", "NIF": "A87654321"} == recipient(
        {"name": "Cliente SA", "tax_id": "A87654321", "country": None}
    )


def test_check_refuses_a_record_that_contradicts_its_fields() -> None:
    record = alta_record(LINES)
    fields = dict(zip(verifactu.ALTA_FIELDS, [
        "B12345678", "A-2027-000002", "15-01-2027", "F1", "7.11", "57.16", "",
        "2027-01-15T10:00:00+01:00"], strict=True))  # fmt: skip
    check(record, fields, record["Huella"])
    tampered = [
        ("CuotaTotal", "7.12"),
        ("TipoFactura", "F2"),
        ("FechaHoraHusoGenRegistro", "2027-01-15T10:00:01+01:00"),
        ("Huella", "0" * 64),
    ]
    for name, value in tampered:
        with pytest.raises(verifactu.VerifactuError):
            check({**record, name: value}, fields, record["Huella"])
    details = [dict(d) for d in record["Desglose"]["DetalleDesglose"]]
    details[0]["CuotaRepercutida"] = "6.32"
    with pytest.raises(verifactu.VerifactuError, match="CuotaTotal"):
        check({**record, "Desglose": {"DetalleDesglose": details}}, fields, record["Huella"])
    with pytest.raises(verifactu.VerifactuError, match="Huella"):
        check({**record, "Encadenamiento": {"RegistroAnterior": {"Huella": "A" * 64}}},
              fields, record["Huella"])  # fmt: skip


def test_xml_has_the_records_elements_and_its_huella_recomputes() -> None:
    record = alta_record(LINES)
    root = ElementTree.fromstring(to_xml(record))
    ns = {"sf": NAMESPACE}
    assert f"{{{NAMESPACE}}}RegistroAlta" == root.tag
    assert list(record) == [child.tag.split("}")[1] for child in root]
    values = [
        root.findtext("sf:IDFactura/sf:IDEmisorFactura", namespaces=ns),
        root.findtext("sf:IDFactura/sf:NumSerieFactura", namespaces=ns),
        root.findtext("sf:IDFactura/sf:FechaExpedicionFactura", namespaces=ns),
        root.findtext("sf:TipoFactura", namespaces=ns),
        root.findtext("sf:CuotaTotal", namespaces=ns),
        root.findtext("sf:ImporteTotal", namespaces=ns),
        "",  # PrimerRegistro
        root.findtext("sf:FechaHoraHusoGenRegistro", namespaces=ns),
    ]
    fields = dict(zip(verifactu.ALTA_FIELDS, values, strict=True))
    assert verifactu.huella(fields) == root.findtext("sf:Huella", namespaces=ns)
    assert "S" == root.findtext("sf:Encadenamiento/sf:PrimerRegistro", namespaces=ns)
    assert 2 == len(root.findall("sf:Desglose/sf:DetalleDesglose", namespaces=ns))


def test_anulacion_record_and_xml() -> None:
    previous = verifactu.record(
        verifactu.build_alta(
            issuer_tax_id="B12345678",
            number="A-2027-000002",
            issue_date=date(2027, 1, 15),
            invoice_type="F1",
            tax_total=D("7.11"),
            total=D("57.16"),
            previous_huella="",
            generated_at=datetime(2027, 1, 15, 10, 0, 0, tzinfo=CET),
        )
    )
    fields = verifactu.build_anulacion(
        issuer_tax_id="B12345678",
        number="A-2027-000002",
        issue_date=date(2027, 1, 15),
        previous_huella=previous["huella"],
        generated_at=datetime(2027, 1, 16, 8, 0, 0, tzinfo=CET),
    )
    record = anulacion(
        fields=fields,
        huella=verifactu.huella(fields),
        invoice_id="x",
        previous=previous,
        system=SYSTEM,
    )
    assert [
        "IDVersion", "IDFactura", "RefExterna", "Encadenamiento", "SistemaInformatico",
        "FechaHoraHusoGenRegistro", "TipoHuella", "Huella",
    ] == list(record)  # fmt: skip
    assert previous["huella"] == record["Encadenamiento"]["RegistroAnterior"]["Huella"]
    root = ElementTree.fromstring(to_xml(record))
    assert f"{{{NAMESPACE}}}RegistroAnulacion" == root.tag
    with pytest.raises(verifactu.VerifactuError):
        check({**record, "IDFactura": {**record["IDFactura"], "NumSerieFacturaAnulada": "B"}},
              fields, record["Huella"])  # fmt: skip


def test_a_damaged_previous_record_never_stops_the_chain_link() -> None:
    """The link is the huella the hashed fields chain to, even when the previous record
    is unreadable (its id is left empty; the break is an alarm, not a refusal)."""
    assert {"PrimerRegistro": "S"} == chaining(None, "")
    link = "A" * 64
    expected = {"IDEmisorFactura": "", "NumSerieFactura": "", "FechaExpedicionFactura": "",
                "Huella": link}  # fmt: skip
    assert {"RegistroAnterior": expected} == chaining({"fields": None}, link)
    assert {"RegistroAnterior": expected} == chaining(None, link)
    readable = {"fields": {"IDEmisorFactura": "B12345678", "NumSerieFactura": "A-1",
                           "FechaExpedicionFactura": "01-01-2027"}, "huella": "B" * 64}  # fmt: skip
    assert link == chaining(readable, link)["RegistroAnterior"]["Huella"]
