"""Invoice arithmetic: line amounts, Spanish VAT, equivalence surcharge, IRPF withholding.

Pure functions over ``Decimal`` (never ``float``); no I/O, no clock.

Rounding rule (the one place it is decided):

1. **Line base** = ``quantity x unit_price x (1 - discount / 100)``, computed exactly and
   then rounded **once, per line**, to cents with ``ROUND_HALF_UP`` (halves away from
   zero, so a credit note by differences is exactly the negation of the original).
2. **Taxes per line**: each line's VAT quota ``base x rate / 100`` and its surcharge
   quota ``base x surcharge / 100`` are rounded to cents (``ROUND_HALF_UP``) **per line**;
   the totals of a tax group (same VAT rate or exemption reason, same surcharge rate) are
   the **sums** of its lines' rounded bases and quotas. A group's quota can therefore
   differ from ``group base x rate / 100`` by at most half a cent per line, well inside
   the tolerance the tax agency applies to ``CuotaRepercutida``.
3. **Withholding** (IRPF): each line's ``base x rate / 100`` is rounded to cents per line
   and counts **negative**; the totals per rate are the sums.
4. ``tax_total`` = every VAT quota + every surcharge quota (the VERI*FACTU
   ``CuotaTotal``); ``gross_total`` = bases + ``tax_total`` (the ``ImporteTotal``: the
   AEAT excludes withholding); ``total`` = ``gross_total + withholding_total`` (what the
   customer pays; ``withholding_total`` <= 0 on an ordinary invoice).

Worked examples (also in ``tests/unit/test_taxes.py``): 3 x 10.015 at 21% -> 30.045 ->
base 30.05 (half up), VAT 6.3105 -> 6.31, total 36.36. Three lines of 0.50 at 21%: each
line's VAT 0.105 -> 0.11, so the group's VAT is 0.33 (rounding the group once would give
1.50 x 21% = 0.315 -> 0.32).

Tax categories: VAT rates 21, 10, 4 and 0 (subject), or exempt with a reason code
E1..E6 (no rate, no quota). The equivalence surcharge is paired with the VAT rate:
21 -> 5.2, 10 -> 1.4, 4 -> 0.5; it does not exist for 0% or exempt lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from crm_ledger.domain.errors import InvalidCommandError

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
ZERO = Decimal("0.00")
VAT_RATES = frozenset({Decimal(21), Decimal(10), Decimal(4), Decimal(0)})
SURCHARGE_RATES = {
    Decimal(21): Decimal("5.2"),
    Decimal(10): Decimal("1.4"),
    Decimal(4): Decimal("0.5"),
}
EXEMPTIONS = frozenset({"E1", "E2", "E3", "E4", "E5", "E6"})
MAX_WITHHOLDING = Decimal(50)
MAX_INTEGER_DIGITS = 12
QUANTITY_PLACES = 6
PRICE_PLACES = 6
DISCOUNT_PLACES = 2


def round_cents(value: Decimal) -> Decimal:
    """`value` rounded to cents, halves away from zero (``ROUND_HALF_UP``)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(value: Decimal) -> str:
    """A cents amount as text with two places (``"-12.50"``); ``-0.00`` becomes ``0.00``."""
    cents = round_cents(value)
    return f"{cents:f}" if cents else "0.00"


def rate_text(value: Decimal) -> str:
    """A percentage without trailing zeros (``Decimal("21.00")`` -> ``"21"``)."""
    return f"{value.normalize():f}"


@dataclass(frozen=True)
class TaxLine:
    """What the arithmetic needs from one invoice line (already validated)."""

    quantity: Decimal
    unit_price: Decimal
    discount: Decimal = Decimal(0)
    vat_rate: Decimal | None = Decimal(21)
    exemption: str | None = None
    surcharge: bool = False
    withholding_rate: Decimal = Decimal(0)

    @property
    def surcharge_rate(self) -> Decimal:
        """The equivalence surcharge paired with the VAT rate (0 when not applied)."""
        if not self.surcharge or self.vat_rate is None:
            return Decimal(0)
        return SURCHARGE_RATES[self.vat_rate]

    @property
    def group(self) -> tuple[str, str]:
        """The tax group key: (VAT rate or exemption code, surcharge rate)."""
        category = self.exemption if self.vat_rate is None else rate_text(self.vat_rate)
        return (category or "", rate_text(self.surcharge_rate))


def line_base(line: TaxLine) -> Decimal:
    """The line's taxable base: quantity x price less the discount %, rounded per line."""
    gross = line.quantity * line.unit_price
    return round_cents(gross - gross * line.discount / HUNDRED)


@dataclass(frozen=True)
class RateTotal:
    """The sums of one tax group (VAT rate or exemption, surcharge rate)."""

    vat_rate: Decimal | None
    exemption: str | None
    surcharge_rate: Decimal
    base: Decimal
    tax: Decimal
    surcharge: Decimal

    def as_dict(self) -> dict[str, str | None]:
        """The group as JSON-ready text."""
        return {
            "vat_rate": None if self.vat_rate is None else rate_text(self.vat_rate),
            "exemption": self.exemption,
            "surcharge_rate": rate_text(self.surcharge_rate),
            "base": money(self.base),
            "tax": money(self.tax),
            "surcharge": money(self.surcharge),
        }


@dataclass(frozen=True)
class WithholdingTotal:
    """The IRPF withheld at one rate (``amount`` is negative for a positive base)."""

    rate: Decimal
    base: Decimal
    amount: Decimal

    def as_dict(self) -> dict[str, str]:
        """The withholding as JSON-ready text."""
        return {
            "rate": rate_text(self.rate),
            "base": money(self.base),
            "amount": money(self.amount),
        }


@dataclass(frozen=True)
class InvoiceTotals:
    """Every figure of an invoice, rounded as the module docstring says."""

    line_bases: tuple[Decimal, ...]
    rates: tuple[RateTotal, ...]
    withholdings: tuple[WithholdingTotal, ...]
    base_total: Decimal
    vat_total: Decimal
    surcharge_total: Decimal
    tax_total: Decimal
    withholding_total: Decimal
    gross_total: Decimal
    total: Decimal

    def as_dict(self) -> dict[str, Any]:
        """The totals as JSON-ready text (money with two decimals)."""
        return {
            "line_bases": [money(b) for b in self.line_bases],
            "rates": [r.as_dict() for r in self.rates],
            "withholdings": [w.as_dict() for w in self.withholdings],
            "base_total": money(self.base_total),
            "vat_total": money(self.vat_total),
            "surcharge_total": money(self.surcharge_total),
            "tax_total": money(self.tax_total),
            "withholding_total": money(self.withholding_total),
            "gross_total": money(self.gross_total),
            "total": money(self.total),
        }


def compute(lines: Iterable[TaxLine]) -> InvoiceTotals:
    """Line bases, totals per tax group and per withholding rate, and invoice totals."""
    items = list(lines)
    bases = tuple(line_base(line) for line in items)
    groups: dict[tuple[str, str], list[Any]] = {}
    withheld: dict[Decimal, list[Decimal]] = {}
    for line, base in zip(items, bases, strict=True):
        vat = Decimal(0) if line.vat_rate is None else line.vat_rate
        entry = groups.setdefault(line.group, [line, Decimal(0), Decimal(0), Decimal(0)])
        entry[1] += base
        entry[2] += round_cents(base * vat / HUNDRED)
        entry[3] += round_cents(base * line.surcharge_rate / HUNDRED)
        if line.withholding_rate:
            rate = line.withholding_rate.normalize()
            sums = withheld.setdefault(rate, [Decimal(0), Decimal(0)])
            sums[0] += base
            sums[1] -= round_cents(base * rate / HUNDRED)
    rates = [
        RateTotal(
            vat_rate=first.vat_rate,
            exemption=first.exemption,
            surcharge_rate=first.surcharge_rate,
            base=base,
            tax=tax,
            surcharge=surcharge,
        )
        for first, base, tax, surcharge in groups.values()
    ]
    rates.sort(key=_rate_order)
    withholdings = tuple(
        WithholdingTotal(rate=rate, base=base, amount=amount)
        for rate, (base, amount) in sorted(withheld.items(), reverse=True)
    )
    base_total = sum(bases, Decimal(0))
    vat_total = sum((r.tax for r in rates), Decimal(0))
    surcharge_total = sum((r.surcharge for r in rates), Decimal(0))
    withholding_total = sum((w.amount for w in withholdings), Decimal(0))
    tax_total = vat_total + surcharge_total
    gross_total = base_total + tax_total
    return InvoiceTotals(
        line_bases=bases,
        rates=tuple(rates),
        withholdings=withholdings,
        base_total=base_total,
        vat_total=vat_total,
        surcharge_total=surcharge_total,
        tax_total=tax_total,
        withholding_total=withholding_total,
        gross_total=gross_total,
        total=gross_total + withholding_total,
    )


def _rate_order(total: RateTotal) -> tuple[int, Decimal, str, Decimal]:
    """Subject rates first, highest rate first; then exemptions by code."""
    if total.vat_rate is None:
        return (1, Decimal(0), total.exemption or "", total.surcharge_rate)
    return (0, -total.vat_rate, "", total.surcharge_rate)


# -- validation of text input ------------------------------------------------------------


def decimal_of(value: object, field: str, *, places: int, signed: bool = True) -> Decimal:
    """`value` (Decimal, int or decimal string, never float) with at most `places` decimals."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, str, int)):
        raise InvalidCommandError(f"{field} must be a decimal string such as 12.50", field=field)
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise InvalidCommandError(f"{field} must be a decimal number", field=field) from None
    if not number.is_finite():
        raise InvalidCommandError(f"{field} must be a finite number", field=field)
    if not signed and number < 0:
        raise InvalidCommandError(f"{field} must be >= 0", field=field)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places and number != round(number, places):
        raise InvalidCommandError(f"{field} has at most {places} decimal places", field=field)
    if abs(number) >= Decimal(10) ** MAX_INTEGER_DIGITS:
        raise InvalidCommandError(
            f"{field} has at most {MAX_INTEGER_DIGITS} integer digits", field=field
        )
    return number


def tax_line(fields: Mapping[str, Any]) -> TaxLine:
    """Validate the arithmetic fields of one line (InvalidCommandError names the field).

    `fields` holds ``quantity``, ``unit_price``, optional ``discount`` (percent 0..100),
    ``vat_rate`` (21, 10, 4, 0) or ``exemption`` (E1..E6), ``surcharge`` (bool) and
    ``withholding_rate`` (percent, 0 = none).
    """
    quantity = decimal_of(fields.get("quantity"), "quantity", places=QUANTITY_PLACES)
    unit_price = decimal_of(fields.get("unit_price"), "unit_price", places=PRICE_PLACES)
    discount = decimal_of(
        fields.get("discount") or 0, "discount", places=DISCOUNT_PLACES, signed=False
    )
    if discount > HUNDRED:
        raise InvalidCommandError("discount is a percentage from 0 to 100", field="discount")
    exemption = fields.get("exemption")
    raw_rate = fields.get("vat_rate")
    vat_rate: Decimal | None
    if exemption is not None:
        if exemption not in EXEMPTIONS:
            raise InvalidCommandError("exemption must be a reason code E1..E6", field="exemption")
        if raw_rate is not None:
            raise InvalidCommandError(
                "an exempt line has no VAT rate (send vat_rate or exemption)", field="vat_rate"
            )
        vat_rate = None
    else:
        if raw_rate is None:
            raise InvalidCommandError(
                "vat_rate (21, 10, 4, 0) or exemption is required", field="vat_rate"
            )
        vat_rate = decimal_of(raw_rate, "vat_rate", places=2, signed=False)
        if vat_rate not in VAT_RATES:
            raise InvalidCommandError("vat_rate must be 21, 10, 4 or 0", field="vat_rate")
    surcharge = fields.get("surcharge", False)
    if not isinstance(surcharge, bool):
        raise InvalidCommandError("surcharge must be true or false", field="surcharge")
    if surcharge and (vat_rate is None or vat_rate not in SURCHARGE_RATES):
        raise InvalidCommandError(
            "the equivalence surcharge applies only to 21%, 10% and 4% VAT", field="surcharge"
        )
    withholding = decimal_of(
        fields.get("withholding_rate") or 0, "withholding_rate", places=2, signed=False
    )
    if withholding > MAX_WITHHOLDING:
        raise InvalidCommandError(
            f"withholding_rate must be between 0 and {MAX_WITHHOLDING}", field="withholding_rate"
        )
    return TaxLine(
        quantity=quantity,
        unit_price=unit_price,
        discount=discount,
        vat_rate=None if vat_rate is None else vat_rate.normalize(),
        exemption=exemption,
        surcharge=surcharge,
        withholding_rate=withholding,
    )
