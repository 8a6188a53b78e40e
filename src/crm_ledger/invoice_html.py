"""A printable HTML rendering of an issued invoice, with its VERI*FACTU QR and legend.

What it shows: the issuer's and the customer's fiscal data, the number, the issue date,
the lines, the totals per tax rate, the withholding, the total, and, first of all (the
AEAT's placement guidance: at the beginning of the invoice, before its content), the QR of
the verification URL drawn inline as SVG with the legend that Orden HAC/1177/2024
requires on invoices of VERI*FACTU systems: "Factura verificable en la sede electrónica
de la AEAT" (the short form is "VERI*FACTU"; both are printed).

Every piece of text from the invoice goes through :func:`html.escape`; the only markup not
built here is the SVG that segno draws from the URL. The page is assembled with
:class:`string.Template` (no template engine is installed, none is added). The QR keeps
the size :func:`crm_ledger.verifactu_qr.qr_svg` gives it in millimetres (35 mm plus the
quiet zone); no style here scales it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from html import escape
from string import Template
from typing import Any

from crm_ledger.domain.invoice import Invoice, InvoiceStatus, invoice_snapshot
from crm_ledger.domain.invoicing_errors import InvoiceNotIssuedError
from crm_ledger.domain.issuer import Issuer
from crm_ledger.verifactu_qr import qr_svg

LEGEND = "Factura verificable en la sede electrónica de la AEAT"
LEGEND_SHORT = "VERI*FACTU"
TITLES = {
    "F1": "Factura",
    "F2": "Factura simplificada",
    "F3": "Factura emitida en sustitución de facturas simplificadas",
}
RECTIFYING_TITLE = "Factura rectificativa"
METHODS = {"differences": "por diferencias", "substitution": "por sustitución"}
ADDRESS_ORDER = ("line1", "line2", "postal_code", "city", "region", "country")

PAGE = Template(
    """<!DOCTYPE html>
<html lang="es">
<head>
<meta charset="utf-8">
<title>$title $number</title>
<style>
body { font-family: sans-serif; font-size: 10pt; margin: 15mm; color: #000; }
.verifactu { display: flex; align-items: center; gap: 4mm; margin-bottom: 6mm; }
.cancelled { border: 2px solid #000; padding: 2mm; font-weight: bold; }
.parties { display: flex; gap: 10mm; margin: 4mm 0; }
.parties section { flex: 1; }
table { border-collapse: collapse; width: 100%; margin: 3mm 0; }
th, td { border-bottom: 1px solid #999; padding: 1mm 2mm; text-align: left; }
td.amount, th.amount { text-align: right; }
@media print { body { margin: 0; } }
</style>
</head>
<body>
<header class="verifactu">
<div class="qr">$qr</div>
<div><p class="legend">$legend</p><p class="legend-short">$legend_short</p></div>
</header>
$cancelled<h1>$title</h1>
<dl class="identity">
<dt>Número</dt><dd class="number">$number</dd>
<dt>Fecha de expedición</dt><dd class="issue-date">$issue_date</dd>
<dt>Tipo</dt><dd>$invoice_type</dd>
$due</dl>
$rectifies<div class="parties">
<section class="issuer"><h2>Emisor</h2>$issuer</section>
<section class="customer"><h2>Destinatario</h2>$customer</section>
</div>
<table class="lines">
<thead><tr><th>Descripción</th><th class="amount">Cantidad</th>\
<th class="amount">Precio unitario</th><th class="amount">Descuento %</th>\
<th>IVA</th><th class="amount">Base imponible</th></tr></thead>
<tbody>
$lines</tbody>
</table>
<table class="rates">
<thead><tr><th>IVA</th><th class="amount">Base imponible</th><th class="amount">Cuota</th>\
<th class="amount">Recargo de equivalencia %</th><th class="amount">Cuota recargo</th></tr></thead>
<tbody>
$rates</tbody>
</table>
$withholdings<table class="totals">
<tbody>
$totals</tbody>
</table>
$notes</body>
</html>
"""
)


def _text(value: object) -> str:
    """`value` as escaped text ("" for None)."""
    return "" if value is None else escape(str(value), quote=True)


def _day(text: str | None) -> str:
    """An ISO date as the invoice prints it (dd-mm-yyyy)."""
    if not text:
        return ""
    day = date.fromisoformat(text)
    return f"{day.day:02d}-{day.month:02d}-{day.year:04d}"


def _address(address: Mapping[str, Any], country: str | None = None) -> str:
    parts = [address.get(key) for key in ADDRESS_ORDER]
    if country and country not in parts:
        parts.append(country)
    return ", ".join(_text(p) for p in parts if p)


def _party(name: object, tax_id: object, address: str) -> str:
    rows = [
        f'<p class="name">{_text(name) or "&mdash;"}</p>',
        f'<p class="tax-id">NIF: {_text(tax_id) or "&mdash;"}</p>',
    ]
    if address:
        rows.append(f'<p class="address">{address}</p>')
    return "".join(rows)


def _tax(vat_rate: object, exemption: object) -> str:
    return f"{_text(vat_rate)} %" if vat_rate is not None else f"Exenta ({_text(exemption)})"


def _row(cells: Iterable[tuple[str, str]]) -> str:
    """One table row from (css class, already escaped content) pairs."""
    body = "".join(f'<td class="{css}">{content}</td>' for css, content in cells)
    return f"<tr>{body}</tr>\n"


def render_invoice(invoice: Invoice, issuer: Issuer, *, qr_url: str) -> str:
    """The HTML page of an issued (or issued then cancelled) invoice; a draft is refused
    with InvoiceNotIssuedError. `qr_url` is its verification URL."""
    if invoice.status is InvoiceStatus.DRAFT or invoice.number is None:
        raise InvoiceNotIssuedError(f"invoice {invoice.id} is a draft: it has no printable form")
    snap = invoice_snapshot(invoice)
    totals, currency = snap["totals"], _text(snap["currency"])
    kind = snap["invoice_type"]
    title = RECTIFYING_TITLE if snap["rectifies"] else TITLES.get(kind, "Factura")
    customer = snap["customer"]
    lines = "".join(
        _row(
            (
                ("description", _text(line["description"])),
                ("amount", _text(line["quantity"])),
                ("amount", _text(line["unit_price"])),
                ("amount", _text(line["discount"])),
                ("tax", _tax(line["vat_rate"], line["exemption"])),
                ("amount", f"{_text(line['base'])} {currency}"),
            )
        )
        for line in snap["lines"]
    )
    rates = "".join(
        _row(
            (
                ("tax", _tax(rate["vat_rate"], rate["exemption"])),
                ("amount", f"{_text(rate['base'])} {currency}"),
                ("amount", f"{_text(rate['tax'])} {currency}"),
                ("amount", _text(rate["surcharge_rate"])),
                ("amount", f"{_text(rate['surcharge'])} {currency}"),
            )
        )
        for rate in totals["rates"]
    )
    withholdings = ""
    if totals["withholdings"]:
        rows = "".join(
            _row(
                (
                    ("rate", f"{_text(w['rate'])} %"),
                    ("amount", f"{_text(w['base'])} {currency}"),
                    ("amount", f"{_text(w['amount'])} {currency}"),
                )
            )
            for w in totals["withholdings"]
        )
        withholdings = (
            '<table class="withholdings">\n<thead><tr><th>Retención IRPF</th>'
            '<th class="amount">Base</th><th class="amount">Importe</th></tr></thead>\n'
            f"<tbody>\n{rows}</tbody>\n</table>\n"
        )
    summary = [
        ("base-total", "Base imponible", totals["base_total"]),
        ("vat-total", "Cuota de IVA", totals["vat_total"]),
        ("surcharge-total", "Recargo de equivalencia", totals["surcharge_total"]),
        ("gross-total", "Importe total (IVA incluido)", totals["gross_total"]),
        ("withholding-total", "Retenciones", totals["withholding_total"]),
        ("total", "Total a pagar", totals["total"]),
    ]
    total_rows = "".join(
        f'<tr class="{css}"><th>{label}</th>'
        f'<td class="amount">{_text(value)} {currency}</td></tr>\n'
        for css, label, value in summary
    )
    rectifies = ""
    if snap["rectifies"]:
        ref = snap["rectifies"]
        rectifies = (
            '<p class="rectifies">Rectifica la factura '
            f"{_text(ref.get('number'))} de {_text(_day(ref.get('issue_date')))}, "
            f"{_text(METHODS.get(str(ref.get('method')), ref.get('method')))}: "
            f"{_text(ref.get('reason'))}</p>\n"
        )
    cancelled = ""
    if invoice.status is InvoiceStatus.CANCELLED:
        reason = (snap["cancellation"] or {}).get("reason")
        cancelled = (
            '<p class="cancelled">FACTURA ANULADA'
            + (f": {_text(reason)}" if reason else "")
            + "</p>\n"
        )
    due = f"<dt>Vencimiento</dt><dd>{_text(_day(snap['due_date']))}</dd>\n"
    notes = f'<p class="notes">{_text(snap["notes"])}</p>\n' if snap["notes"] else ""
    return PAGE.substitute(
        title=_text(title),
        number=_text(snap["number"]),
        issue_date=_text(_day(snap["issue_date"])),
        invoice_type=_text(kind),
        due=due if snap["due_date"] else "",
        qr=qr_svg(qr_url),
        legend=_text(LEGEND),
        legend_short=_text(LEGEND_SHORT),
        cancelled=cancelled,
        rectifies=rectifies,
        issuer=_party(issuer.legal_name, issuer.tax_id, _address(issuer.address)),
        customer=_party(
            customer.get("name"),
            customer.get("tax_id"),
            _address(customer.get("address") or {}, customer.get("country")),
        ),
        lines=lines,
        rates=rates,
        withholdings=withholdings,
        totals=total_rows,
        notes=notes,
    )
