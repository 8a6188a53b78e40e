"""VERI*FACTU invoicing records: the chained *huella* (hash) and the QR verification URL.

Spanish law (RD 1007/2023, Orden HAC/1177/2024) makes every invoicing system keep a chain
of *registros de facturación*: an *alta* for each invoice issued, an *anulación* for each
one cancelled. Each record carries the huella of the record before it (``Huella``, empty
for the first) and is itself fingerprinted by the huella computed here. Pure functions:
no I/O, no clock (the caller passes ``generated_at``), stdlib only.

Sources (the agency's own documents, AEAT "Sistemas informáticos de facturación y
VERI*FACTU", información técnica):

* *Detalle de las especificaciones técnicas para generación de la huella o hash de los
  registros de facturación* (``Veri-Factu_especificaciones_huella_hash_registros.pdf``,
  v0.1.2): SHA-256 over the UTF-8 string ``Name=value&Name=value...`` of a fixed list of
  fields in a fixed order (:data:`ALTA_FIELDS`, :data:`ANULACION_FIELDS`); values trimmed
  of leading and trailing spaces; an empty value is still written (``Huella=``); result in
  upper-case hexadecimal. Its §6 worked examples (alta, chained alta, chained anulación)
  are reproduced by ``tests/unit/test_verifactu.py``.
* The same document says the values are taken *exactly as they are written in the
  record*: the hash does not normalise numbers, so ``100`` and ``100.00`` give different
  huellas. This module therefore fixes one spelling and uses it for the record, the hash
  and the QR alike: amounts are plain decimal strings with exactly two decimals, ``.`` as
  separator, no thousands separator, no exponent, ``-`` for negatives (``Decimal("100")``
  -> ``"100.00"``, ``Decimal("12.35")`` -> ``"12.35"``), which is valid for the XSD type
  ``ImporteSgn12.2`` (at most 12 integer digits, at most 2 decimals). An amount with a
  non-zero third decimal is refused, never rounded here. Dates are ``dd-mm-yyyy``; the
  generation timestamp is ISO 8601 to the second with a numeric offset
  (``2024-01-01T19:20:30+01:00``; the XSD pattern admits no ``Z`` and no fraction).
* *Detalle de las especificaciones técnicas del código QR de la factura*
  (``DetalleEspecificacTecnCodigoQRfactura.pdf``, v0.5.0): the QR holds the verification
  ("cotejo") URL of the VERI*FACTU service, ``.../wlpl/TIKE-CONT/ValidarQR`` on
  ``prewww2.aeat.es`` (tests) or ``www2.agenciatributaria.gob.es`` (production), with
  exactly the four parameters ``nif``, ``numserie``, ``fecha`` (``dd-mm-yyyy``) and
  ``importe`` (``.`` decimal separator, at most 2 decimals), each value URL-encoded as
  UTF-8 (its example encodes ``12345678&G33`` as ``12345678%26G33``). Systems that do not
  send records ("NO VERI*FACTU") use ``ValidarQRNoVerifactu`` instead; this module only
  builds the VERI*FACTU URL.

Decisions of this module (not dictated by the documents):

* ``generated_at`` is written with the offset it carries; pass ``spanish_time(now)`` to
  record Spanish civil time as in the agency's examples. Naive datetimes are refused.
* Spaces inside the QR values are encoded ``%20`` (not ``+``), so that any URL decoder,
  form-style or not, reads the value back unchanged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

ALTA_FIELDS = (
    "IDEmisorFactura",
    "NumSerieFactura",
    "FechaExpedicionFactura",
    "TipoFactura",
    "CuotaTotal",
    "ImporteTotal",
    "Huella",
    "FechaHoraHusoGenRegistro",
)
ANULACION_FIELDS = (
    "IDEmisorFacturaAnulada",
    "NumSerieFacturaAnulada",
    "FechaExpedicionFacturaAnulada",
    "Huella",
    "FechaHoraHusoGenRegistro",
)
# F1 invoice, F2 simplified, F3 issued in substitution of simplified ones,
# R1-R5 corrective (rectificativas).
INVOICE_TYPES = {"F1", "F2", "F3", "R1", "R2", "R3", "R4", "R5"}

QR_BASE_TEST = "https://prewww2.aeat.es/wlpl/TIKE-CONT/ValidarQR"
QR_BASE_PRODUCTION = "https://www2.agenciatributaria.gob.es/wlpl/TIKE-CONT/ValidarQR"
SPAIN = ZoneInfo("Europe/Madrid")

CENT = Decimal("0.01")
MAX_INTEGER_DIGITS = 12  # XSD ImporteSgn12.2
MAX_NUMBER_LENGTH = 60  # XSD TextoIDFacturaType
TAX_ID = re.compile(r"^[0-9A-Z]{9}$")  # XSD NIFType: 9 characters
PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]+$")
HUELLA = re.compile(r"^[0-9A-F]{64}$")
TRIM = " "  # the huella document trims spaces only

RecordType = Literal["alta", "anulacion"]
BreakReason = Literal["huella_mismatch", "chain_link_mismatch"]


class VerifactuError(ValueError):
    """A value or record that cannot be part of a VERI*FACTU chain."""


@dataclass(frozen=True)
class ChainBreak:
    """The first record at which the chain fails: what was expected there and what is."""

    index: int
    reason: BreakReason
    expected: str
    actual: str


def spanish_time(dt: datetime) -> datetime:
    """`dt` (timezone-aware) as civil time in peninsular Spain (Europe/Madrid)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise VerifactuError("a timezone-aware datetime is required")
    return dt.astimezone(SPAIN)


def amount_text(value: object) -> str:
    """`value` (Decimal or int) as the record writes it: ``"100.00"``, ``"-12.35"``."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise VerifactuError(f"amount must be a Decimal, not {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise VerifactuError(f"amount must be finite: {amount}")
    if amount.adjusted() >= MAX_INTEGER_DIGITS:  # before quantize, which traps on huge values
        raise VerifactuError(f"amount has more than {MAX_INTEGER_DIGITS} integer digits")
    cents = amount.quantize(CENT)
    if cents != amount:
        raise VerifactuError(f"amount has more than 2 decimals: {amount}")
    return f"{cents + 0:f}"  # `+ 0` turns -0.00 into 0.00


def date_text(value: date) -> str:
    """`value` as ``dd-mm-yyyy``; a datetime is refused (its date depends on a zone)."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise VerifactuError("issue date must be a date (not a datetime)")
    return f"{value.day:02d}-{value.month:02d}-{value.year:04d}"


def timestamp_text(value: datetime) -> str:
    """`value` (timezone-aware) as ``2024-01-01T19:20:30+01:00``, to the second."""
    if not isinstance(value, datetime):
        raise VerifactuError("generated_at must be a datetime")
    offset = value.utcoffset()
    if offset is None:
        raise VerifactuError("generated_at must be timezone-aware")
    if offset % timedelta(minutes=1):
        raise VerifactuError(f"offset {offset} is not a whole number of minutes")
    return value.replace(microsecond=0).isoformat(timespec="seconds")


def _tax_id(value: str) -> str:
    text = value.strip(TRIM) if isinstance(value, str) else ""
    if not TAX_ID.fullmatch(text):
        raise VerifactuError(f"issuer tax id must be 9 letters or digits: {value!r}")
    return text


def _number(value: str) -> str:
    text = value.strip(TRIM) if isinstance(value, str) else ""
    if not text or len(text) > MAX_NUMBER_LENGTH or not PRINTABLE_ASCII.fullmatch(text):
        raise VerifactuError(
            f"invoice number must be 1-{MAX_NUMBER_LENGTH} printable ASCII characters: {value!r}"
        )
    return text


def _previous(value: str) -> str:
    if not isinstance(value, str) or (value and not HUELLA.fullmatch(value)):
        raise VerifactuError(f"previous huella must be '' or 64 upper-case hex: {value!r}")
    return value


def build_alta(
    *,
    issuer_tax_id: str,
    number: str,
    issue_date: date,
    invoice_type: str,
    tax_total: Decimal,
    total: Decimal,
    previous_huella: str,
    generated_at: datetime,
) -> dict[str, str]:
    """The hashed fields of an alta record, in :data:`ALTA_FIELDS` order."""
    if invoice_type not in INVOICE_TYPES:
        raise VerifactuError(f"unknown invoice type {invoice_type!r}")
    values = (
        _tax_id(issuer_tax_id),
        _number(number),
        date_text(issue_date),
        invoice_type,
        amount_text(tax_total),
        amount_text(total),
        _previous(previous_huella),
        timestamp_text(generated_at),
    )
    return dict(zip(ALTA_FIELDS, values, strict=True))


def build_anulacion(
    *,
    issuer_tax_id: str,
    number: str,
    issue_date: date,
    previous_huella: str,
    generated_at: datetime,
) -> dict[str, str]:
    """The hashed fields of an anulación record (cancelling invoice `number`)."""
    values = (
        _tax_id(issuer_tax_id),
        _number(number),
        date_text(issue_date),
        _previous(previous_huella),
        timestamp_text(generated_at),
    )
    return dict(zip(ANULACION_FIELDS, values, strict=True))


def record_type(fields: Mapping[str, str]) -> RecordType:
    """``"alta"`` or ``"anulacion"`` from the field names and order, else VerifactuError."""
    names = tuple(fields)
    if names == ALTA_FIELDS:
        return "alta"
    if names == ANULACION_FIELDS:
        return "anulacion"
    raise VerifactuError(f"fields are neither an alta nor an anulación, in order: {names}")


def hash_input(fields: Mapping[str, str]) -> str:
    """The exact string the huella is computed over."""
    record_type(fields)
    parts = []
    for name, value in fields.items():
        if not isinstance(value, str):
            raise VerifactuError(f"{name} must be a string, not {type(value).__name__}")
        parts.append(f"{name}={value.strip(TRIM)}")
    return "&".join(parts)


def huella(fields: Mapping[str, str]) -> str:
    """SHA-256, upper-case hex, of :func:`hash_input` encoded as UTF-8."""
    return hashlib.sha256(hash_input(fields).encode("utf-8")).hexdigest().upper()


def record(fields: Mapping[str, str]) -> dict[str, Any]:
    """A record as stored: its type, a copy of its fields, its huella and the one before."""
    return {
        "record_type": record_type(fields),
        "fields": dict(fields),
        "huella": huella(fields),
        "previous_huella": fields["Huella"],
    }


def verify_chain(records: Iterable[Mapping[str, Any]]) -> ChainBreak | None:
    """The first break in a chain of :func:`record` dicts, or None if it is whole.

    At each index the link is checked first (``fields["Huella"]`` and ``previous_huella``
    must both equal the previous record's stored huella, ``""`` for the first), then the
    stored huella against the one recomputed from the fields. A record whose shape is
    wrong (missing keys, unknown field order, a type that contradicts its fields) raises
    VerifactuError.
    """
    previous = ""
    for index, item in enumerate(records):
        try:
            fields, stored = item["fields"], item["huella"]
            declared, kind = item["record_type"], record_type(fields)
            link, previous_huella = fields["Huella"], item["previous_huella"]
        except (KeyError, TypeError, VerifactuError) as error:
            raise VerifactuError(f"record {index} is malformed: {error}") from error
        if declared != kind:
            raise VerifactuError(f"record {index} says {declared!r} but its fields are {kind}")
        for actual in (link, previous_huella):
            if actual != previous:
                return ChainBreak(index, "chain_link_mismatch", previous, actual)
        computed = huella(fields)
        if computed != stored:
            return ChainBreak(index, "huella_mismatch", computed, stored)
        previous = stored
    return None


def qr_url(
    *,
    issuer_tax_id: str,
    number: str,
    issue_date: date,
    total: Decimal,
    production: bool = False,
) -> str:
    """The VERI*FACTU verification URL that the invoice's QR code encodes."""
    params = (
        ("nif", _tax_id(issuer_tax_id)),
        ("numserie", _number(number)),
        ("fecha", date_text(issue_date)),
        ("importe", amount_text(total)),
    )
    base = QR_BASE_PRODUCTION if production else QR_BASE_TEST
    query = "&".join(f"{name}={quote(value, safe='')}" for name, value in params)
    return f"{base}?{query}"
