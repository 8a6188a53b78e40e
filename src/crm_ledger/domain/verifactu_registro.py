"""The whole VERI*FACTU invoicing record, ready for the agency's XML: ``RegistroAlta`` and
``RegistroAnulacion``.

:mod:`crm_ledger.domain.verifactu` builds the fields a record's huella is computed over.
The record the agency receives says much more: who issued it and to whom, the tax
breakdown (``Desglose``), what a rectifying invoice corrects, the link to the previous
record (``Encadenamiento``) and the software that produced it (``SistemaInformatico``).
This module builds that record as nested dicts whose keys are the official element names
**in the order of the XSD sequence** (``SuministroInformacion.xsd``, types
``RegistroFacturacionAltaType`` and ``RegistroFacturacionAnulacionType``), with every
value a string as it is written in the XML; :func:`to_xml` writes it. Pure: no I/O, no
clock; stdlib only.

What is filled in, and from where (the invoice's Issued/Cancelled event stores the result):

* ``IDVersion`` ``1.0``; ``IDFactura`` and every hashed value copied from the record's
  fields, so the huella can be recomputed from the XML alone; ``RefExterna`` = our
  invoice id.
* ``NombreRazonEmisor`` = the issuer's legal name; ``TipoFactura`` from the invoice.
* Rectifying invoices (R1-R5): ``TipoRectificativa`` ``I`` (by differences) or ``S`` (by
  substitution), ``FacturasRectificadas`` naming the original, and for ``S`` the
  original's base and quotas in ``ImporteRectificacion``.
* ``DescripcionOperacion``: the invoice's notes, else its line descriptions joined by
  ``"; "``, cut to 500 characters.
* ``Destinatarios`` for every type but the simplified ones (F2, R5): the customer's name
  and, for a Spanish (or country-less) customer with a 9-character tax id, ``NIF``;
  otherwise ``IDOtro`` with the country, ``IDType`` ``02`` (NIF-IVA) inside the EU or
  ``04`` (an id of the country of residence) outside it.
* ``Macrodato`` ``S`` when the total reaches 100,000,000 euros (omitted otherwise).
* ``Desglose``: one ``DetalleDesglose`` per tax group of the invoice (VAT ``01``, regime
  ``01`` general): ``CalificacionOperacion`` ``S1`` with ``TipoImpositivo``, the base,
  ``CuotaRepercutida`` and any equivalence surcharge; or ``OperacionExenta`` E1-E6 with
  the base only. In euros: an invoice in another currency has each group converted at
  the exchange rate fixed at issue, and the cents that conversion rounding leaves
  between the groups and the record's ``CuotaTotal`` / ``ImporteTotal`` (which are the
  converted totals) are put on the largest group, so the breakdown always adds up to
  the totals exactly.
* ``Encadenamiento``: ``PrimerRegistro`` ``S`` for the issuer's first record, else
  ``RegistroAnterior`` with the previous record's invoice id fields and huella.
* ``SistemaInformatico``: the producer (configured; by default the issuer itself, i.e. an
  in-house system), ``NombreSistemaInformatico`` ``crm_ledger``, ``IdSistemaInformatico``
  ``CL``, the version, the installation number, ``TipoUsoPosibleSoloVerifactu`` ``S``
  (records are not signed with XAdES, so the system cannot run as "NO VERI*FACTU"),
  ``TipoUsoPosibleMultiOT`` ``S`` and ``IndicadorMultiplesOT``.
* ``TipoHuella`` ``01`` (SHA-256) and ``Huella``. No ``Signature`` (VERI*FACTU records
  sent to the agency are not signed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from xml.etree import ElementTree

from crm_ledger.domain.verifactu import (
    ALTA_FIELDS,
    ANULACION_FIELDS,
    VerifactuError,
    amount_text,
    date_text,
)

NAMESPACE = (
    "https://www2.agenciatributaria.gob.es/static_files/common/internet/dep/aplicaciones"
    "/es/aeat/tike/cont/ws/SuministroInformacion.xsd"
)
PREFIX = "sum1"
VERSION = "1.0"
SHA_256 = "01"
VAT = "01"
GENERAL_REGIME = "01"
SUBJECT = "S1"
SIMPLIFIED = frozenset({"F2", "R5"})
MACRODATO = Decimal(100_000_000)
MAX_DESCRIPTION = 500
MAX_NAME = 120
MAX_DETAILS = 12
CENT = Decimal("0.01")
EU = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
NIF_LENGTH = 9


@dataclass(frozen=True)
class SoftwareSystem:
    """The ``SistemaInformatico`` block: who produced the software and which install."""

    producer_name: str
    producer_tax_id: str
    version: str
    installation: str
    multiple_issuers: bool
    name: str = "crm_ledger"
    system_id: str = "CL"

    def block(self) -> dict[str, str]:
        """The block in XSD order."""
        return {
            "NombreRazon": self.producer_name[:MAX_NAME],
            "NIF": self.producer_tax_id,
            "NombreSistemaInformatico": self.name[:30],
            "IdSistemaInformatico": self.system_id[:2],
            "Version": self.version[:50],
            "NumeroInstalacion": self.installation[:100],
            "TipoUsoPosibleSoloVerifactu": "S",
            "TipoUsoPosibleMultiOT": "S",
            "IndicadorMultiplesOT": "S" if self.multiple_issuers else "N",
        }


def _id_of(fields: Mapping[str, str]) -> dict[str, str]:
    """The invoice id (issuer, number, date) of a record, by the non-``Anulada`` names."""
    suffix = "" if "IDEmisorFactura" in fields else "Anulada"
    return {
        "IDEmisorFactura": fields["IDEmisorFactura" + suffix],
        "NumSerieFactura": fields["NumSerieFactura" + suffix],
        "FechaExpedicionFactura": fields["FechaExpedicionFactura" + suffix],
    }


def chaining(previous: Mapping[str, Any] | None, link: str) -> dict[str, Any]:
    """``Encadenamiento``: the first record (`link` empty), else the previous record's
    invoice id and `link`, the huella the hashed fields chain to. A damaged chain never
    stops invoicing: if `previous` cannot be read, its id is left empty (the break itself
    is raised as an alarm and reported by ``crm-ledger verify``)."""
    if not link:
        return {"PrimerRegistro": "S"}
    try:
        ids = _id_of(previous["fields"]) if previous is not None else {}
    except (KeyError, TypeError):
        ids = {}
    names = ("IDEmisorFactura", "NumSerieFactura", "FechaExpedicionFactura")
    return {"RegistroAnterior": {**{n: str(ids.get(n, "")) for n in names}, "Huella": link}}


def _rate(value: str | None) -> str:
    return f"{Decimal(value or 0).quantize(CENT):f}"


def _in_euros(amount: str, rate: Decimal | None) -> Decimal:
    value = Decimal(amount)
    return value if rate is None else (value * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def breakdown(
    groups: Iterable[Mapping[str, Any]],
    *,
    exchange_rate: Decimal | None,
    tax_total: Decimal,
    gross_total: Decimal,
) -> list[dict[str, str]]:
    """``DetalleDesglose`` per tax group (as :meth:`RateTotal.as_dict` writes them), in
    euros, adding up exactly to `tax_total` and `gross_total` (also in euros)."""
    rows: list[list[Any]] = []
    for group in groups:
        base = _in_euros(group["base"], exchange_rate)
        tax = _in_euros(group["tax"], exchange_rate)
        surcharge = _in_euros(group["surcharge"], exchange_rate)
        rows.append([group, base, tax, surcharge])
    if not rows:
        raise VerifactuError("an invoicing record needs at least one tax group")
    if len(rows) > MAX_DETAILS:
        raise VerifactuError(f"a record has at most {MAX_DETAILS} tax groups")
    taxed = [row for row in rows if not row[0]["exemption"]] or rows
    max(taxed, key=lambda row: abs(row[1]))[2] += tax_total - sum(r[2] + r[3] for r in rows)
    max(rows, key=lambda row: abs(row[1]))[1] += gross_total - tax_total - sum(r[1] for r in rows)
    details = []
    for group, base, tax, surcharge in rows:
        detail = {"Impuesto": VAT, "ClaveRegimen": GENERAL_REGIME}
        if group["exemption"]:
            detail["OperacionExenta"] = group["exemption"]
            detail["BaseImponibleOimporteNoSujeto"] = amount_text(base)
        else:
            detail["CalificacionOperacion"] = SUBJECT
            detail["TipoImpositivo"] = _rate(group["vat_rate"])
            detail["BaseImponibleOimporteNoSujeto"] = amount_text(base)
            detail["CuotaRepercutida"] = amount_text(tax)
            if Decimal(group["surcharge_rate"]):
                detail["TipoRecargoEquivalencia"] = _rate(group["surcharge_rate"])
                detail["CuotaRecargoEquivalencia"] = amount_text(surcharge)
        details.append(detail)
    return details


def recipient(customer: Mapping[str, Any]) -> dict[str, Any]:
    """``IDDestinatario``: name and NIF (Spain), or IDOtro (elsewhere)."""
    name = str(customer.get("name") or "")[:MAX_NAME]
    tax_id = str(customer.get("tax_id") or "")
    country = customer.get("country")
    if not name or not tax_id:
        raise VerifactuError("the customer needs a name and a tax id")
    if country in (None, "ES") and len(tax_id) == NIF_LENGTH:
        return {"NombreRazon": name, "NIF": tax_id}
    other = {"IDType": "02" if country in EU else "04", "ID": tax_id[:20]}
    return {"NombreRazon": name, "IDOtro": {"CodigoPais": country or "ES", **other}}


def description(notes: str | None, lines: Iterable[Mapping[str, Any]]) -> str:
    """``DescripcionOperacion``: the notes, else the line descriptions (<= 500 chars)."""
    text = (notes or "").strip() or "; ".join(str(line["description"]) for line in lines)
    return text[:MAX_DESCRIPTION] or "-"


def alta(
    *,
    fields: Mapping[str, str],
    huella: str,
    invoice_id: str,
    issuer_name: str,
    customer: Mapping[str, Any],
    operation: str,
    details: list[dict[str, str]],
    rectifies: Mapping[str, Any] | None,
    previous: Mapping[str, Any] | None,
    system: SoftwareSystem,
) -> dict[str, Any]:
    """The ``RegistroAlta`` of an invoice whose hashed `fields` are given."""
    if tuple(fields) != ALTA_FIELDS:
        raise VerifactuError("alta fields expected")
    kind = fields["TipoFactura"]
    record: dict[str, Any] = {
        "IDVersion": VERSION,
        "IDFactura": _id_of(fields),
        "RefExterna": invoice_id,
        "NombreRazonEmisor": issuer_name[:MAX_NAME],
        "TipoFactura": kind,
    }
    if rectifies is not None:
        record.update(_rectification(fields, rectifies))
    record["DescripcionOperacion"] = operation
    if abs(Decimal(fields["ImporteTotal"])) >= MACRODATO:
        record["Macrodato"] = "S"
    if kind not in SIMPLIFIED:
        record["Destinatarios"] = {"IDDestinatario": [recipient(customer)]}
    record["Desglose"] = {"DetalleDesglose": details}
    record.update(
        {
            "CuotaTotal": fields["CuotaTotal"],
            "ImporteTotal": fields["ImporteTotal"],
            **_sealed(fields, huella, previous, system),
        }
    )
    check(record, fields, huella)
    return record


def _sealed(
    fields: Mapping[str, str],
    huella: str,
    previous: Mapping[str, Any] | None,
    system: SoftwareSystem,
) -> dict[str, Any]:
    """The elements that end both record types: link, software, time and fingerprint."""
    return {
        "Encadenamiento": chaining(previous, fields["Huella"]),
        "SistemaInformatico": system.block(),
        "FechaHoraHusoGenRegistro": fields["FechaHoraHusoGenRegistro"],
        "TipoHuella": SHA_256,
        "Huella": huella,
    }


def _rectification(fields: Mapping[str, str], rectifies: Mapping[str, Any]) -> dict[str, Any]:
    original = {
        "IDEmisorFactura": fields["IDEmisorFactura"],
        "NumSerieFactura": str(rectifies["number"]),
        "FechaExpedicionFactura": date_text(date.fromisoformat(rectifies["issue_date"])),
    }
    block: dict[str, Any] = {
        "TipoRectificativa": "S" if rectifies["method"] == "substitution" else "I",
        "FacturasRectificadas": {"IDFacturaRectificada": [original]},
    }
    if rectifies["method"] == "substitution":
        rate = rectifies.get("exchange_rate")
        factor = None if rate is None else Decimal(rate)
        block["ImporteRectificacion"] = {
            "BaseRectificada": amount_text(_in_euros(rectifies["base"], factor)),
            "CuotaRectificada": amount_text(_in_euros(rectifies["tax"], factor)),
            "CuotaRecargoRectificado": amount_text(
                _in_euros(rectifies.get("surcharge") or "0", factor)
            ),
        }
    return block


def anulacion(
    *,
    fields: Mapping[str, str],
    huella: str,
    invoice_id: str,
    previous: Mapping[str, Any] | None,
    system: SoftwareSystem,
) -> dict[str, Any]:
    """The ``RegistroAnulacion`` cancelling the invoice named in `fields`."""
    if tuple(fields) != ANULACION_FIELDS:
        raise VerifactuError("anulación fields expected")
    record = {
        "IDVersion": VERSION,
        "IDFactura": {
            "IDEmisorFacturaAnulada": fields["IDEmisorFacturaAnulada"],
            "NumSerieFacturaAnulada": fields["NumSerieFacturaAnulada"],
            "FechaExpedicionFacturaAnulada": fields["FechaExpedicionFacturaAnulada"],
        },
        "RefExterna": invoice_id,
        **_sealed(fields, huella, previous, system),
    }
    check(record, fields, huella)
    return record


def check(record: Mapping[str, Any], fields: Mapping[str, str], huella: str) -> None:
    """Raise VerifactuError unless `record` says what its hashed `fields` say: the same
    invoice id, type, totals, timestamp, huella and link; for an alta, a breakdown that
    adds up to its ``CuotaTotal`` and ``ImporteTotal``."""
    try:
        ids = record["IDFactura"]
        says = {**ids, "FechaHoraHusoGenRegistro": record["FechaHoraHusoGenRegistro"]}
        chain = record["Encadenamiento"]
        link = chain["RegistroAnterior"]["Huella"] if "RegistroAnterior" in chain else ""
        says["Huella"] = link
        if "TipoFactura" in fields:
            for name in ("TipoFactura", "CuotaTotal", "ImporteTotal"):
                says[name] = record[name]
            details = record["Desglose"]["DetalleDesglose"]
            quotas = sum(
                Decimal(d.get("CuotaRepercutida", "0"))
                + Decimal(d.get("CuotaRecargoEquivalencia", "0"))
                for d in details
            )
            bases = sum(Decimal(d["BaseImponibleOimporteNoSujeto"]) for d in details)
    except (KeyError, TypeError, ArithmeticError) as error:
        raise VerifactuError(f"malformed invoicing record: {error!r}") from None
    for name, value in fields.items():
        if says.get(name) != value:
            raise VerifactuError(f"the record says {name}={says.get(name)}, the fields {value}")
    if record.get("Huella") != huella or record.get("TipoHuella") != SHA_256:
        raise VerifactuError("the record's Huella is not its fingerprint")
    if "TipoFactura" in fields:
        if quotas != Decimal(fields["CuotaTotal"]):
            raise VerifactuError(f"the breakdown's quotas add up to {quotas}, not CuotaTotal")
        if bases + quotas != Decimal(fields["ImporteTotal"]):
            raise VerifactuError("the breakdown does not add up to ImporteTotal")


def to_xml(record: Mapping[str, Any]) -> bytes:
    """The record as a UTF-8 ``sum1:RegistroAlta`` or ``sum1:RegistroAnulacion`` document."""
    root_name = "RegistroAlta" if "TipoFactura" in record else "RegistroAnulacion"
    ElementTree.register_namespace(PREFIX, NAMESPACE)
    root = ElementTree.Element(f"{{{NAMESPACE}}}{root_name}")
    _children(root, record)
    ElementTree.indent(root)
    body: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def _children(parent: ElementTree.Element, content: Mapping[str, Any]) -> None:
    for name, value in content.items():
        for item in value if isinstance(value, list) else [value]:
            child = ElementTree.SubElement(parent, f"{{{NAMESPACE}}}{name}")
            if isinstance(item, Mapping):
                _children(child, item)
            else:
                child.text = str(item)
