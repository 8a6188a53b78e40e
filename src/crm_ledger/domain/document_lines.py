"""Lines of quotes and sales orders: the same stored form as invoice lines.

A line is validated by :func:`crm_ledger.domain.invoice.line_of` (description, quantity,
unit price, discount, VAT rate or exemption, surcharge, withholding, product id), so a
quote or order line becomes an invoice line by copying it and setting its quantity.
Unlike an invoice line (negative on a credit note), a quantity here is above zero.
Totals follow :mod:`crm_ledger.domain.taxes` (the one rounding rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from crm_ledger.domain import taxes
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.invoice import line_of

MAX_LINES = 500


def plain(value: Decimal) -> str:
    """A quantity without exponent or trailing zeros (``"1.5"``, ``"0"``)."""
    return f"{value.normalize():f}" if value else "0"


def lines_of(raw: object) -> list[dict[str, Any]]:
    """The stored form of a document's lines (0 to MAX_LINES, each quantity above zero)."""
    if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Iterable):
        raise InvalidCommandError("lines must be a list", field="lines")
    items = list(raw)
    if len(items) > MAX_LINES:
        raise InvalidCommandError(f"a document has at most {MAX_LINES} lines", field="lines")
    lines = [line_of(item, i) for i, item in enumerate(items)]
    for i, line in enumerate(lines):
        if Decimal(line["quantity"]) <= 0:
            raise InvalidCommandError("quantity must be above zero", field=f"lines/{i}/quantity")
    return lines


def totals(lines: Iterable[Mapping[str, Any]]) -> taxes.InvoiceTotals:
    """The tax breakdown and totals of `lines`, exactly as an invoice computes them."""
    return taxes.compute(taxes.tax_line(line) for line in lines)


def priced(lines: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each line numbered (``line_no`` from 1) with its rounded base, and the totals."""
    figures = totals(lines).as_dict()
    numbered = [
        {"line_no": n, **line, "base": base}
        for n, (line, base) in enumerate(zip(lines, figures.pop("line_bases"), strict=True), 1)
    ]
    return numbered, figures
