"""Invoice arithmetic against hand-worked examples (every figure worked out on paper)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.taxes import TaxLine, compute, line_base, money, tax_line

D = Decimal


def line(quantity: str, price: str, **tax: Any) -> TaxLine:
    return tax_line({"quantity": quantity, "unit_price": price, "vat_rate": "21", **tax})


def test_line_base_rounds_half_up_once_per_line() -> None:
    """3 x 10.015 = 30.045 -> 30.05 (half up; banker's rounding would give 30.04);
    VAT 30.05 x 21% = 6.3105 -> 6.31; total 36.36."""
    totals = compute([line("3", "10.015")])
    assert (D("30.05"),) == totals.line_bases
    assert D("6.31") == totals.tax_total
    assert D("36.36") == totals.total


def test_discount_applies_before_the_single_rounding() -> None:
    """2 x 49.99 = 99.98, less 10% (9.998) = 89.982 -> 89.98; VAT 18.8958 -> 18.90;
    total 108.88."""
    totals = compute([line("2", "49.99", discount="10")])
    assert D("89.98") == totals.base_total
    assert D("18.90") == totals.vat_total
    assert D("108.88") == totals.total


def test_half_cent_rounds_away_from_zero_both_signs() -> None:
    """0.125 -> 0.13 and -0.125 -> -0.13 (ROUND_HALF_UP is symmetric)."""
    assert D("0.13") == line_base(line("1", "0.125", vat_rate="0"))
    assert D("-0.13") == line_base(line("-1", "0.125", vat_rate="0"))


def test_tax_is_rounded_per_line_then_summed() -> None:
    """Two lines of 0.50 at 21%: each line's VAT 0.105 -> 0.11, so the group's VAT is
    0.22 (the group rounded once, 1.00 x 21% = 0.21, is not the rule); total 1.22."""
    totals = compute([line("1", "0.50"), line("1", "0.50")])
    assert 1 == len(totals.rates)
    assert (D("1.00"), D("0.22")) == (totals.rates[0].base, totals.rates[0].tax)
    assert D("1.22") == totals.total


def test_rounding_per_line_can_also_round_down_against_the_group() -> None:
    """Three lines of 0.15 at 21% with RE 5.2%: VAT 0.0315 -> 0.03 each (0.09), RE
    0.0078 -> 0.01 each (0.03); the group rounded once would give VAT 0.0945 -> 0.09
    and RE 0.0234 -> 0.02. Bases 0.45, taxes 0.12, total 0.57."""
    totals = compute([line("1", "0.15", surcharge=True)] * 3)
    group = totals.rates[0]
    assert (D("0.45"), D("0.09"), D("0.03")) == (group.base, group.tax, group.surcharge)
    assert (D("0.12"), D("0.57")) == (totals.tax_total, totals.total)


def test_withholding_is_rounded_per_line_then_summed() -> None:
    """Two lines of 0.10 with 15% IRPF: 0.015 -> 0.02 withheld per line, -0.04 in all
    (the base rounded once, 0.20 x 15% = 0.03, is not the rule)."""
    totals = compute([line("1", "0.10", withholding_rate="15")] * 2)
    assert [{"rate": "15", "base": "0.20", "amount": "-0.04"}] == [
        w.as_dict() for w in totals.withholdings
    ]


def test_equivalence_surcharge_paired_with_each_rate() -> None:
    """100.00 at 21% + RE: VAT 21.00, RE 5.20; 4 x 2.50 = 10.00 at 10% + RE: VAT 1.00,
    RE 0.14; 7.35 at 4% + RE: VAT 0.294 -> 0.29, RE 0.03675 -> 0.04.
    Bases 117.35; VAT 22.29; RE 5.38; tax total 27.67; total 145.02."""
    totals = compute(
        [
            line("1", "100", surcharge=True),
            line("4", "2.50", vat_rate="10", surcharge=True),
            line("1", "7.35", vat_rate="4", surcharge=True),
        ]
    )
    expected = [
        {"vat_rate": "21", "exemption": None, "surcharge_rate": "5.2", "base": "100.00",
         "tax": "21.00", "surcharge": "5.20"},
        {"vat_rate": "10", "exemption": None, "surcharge_rate": "1.4", "base": "10.00",
         "tax": "1.00", "surcharge": "0.14"},
        {"vat_rate": "4", "exemption": None, "surcharge_rate": "0.5", "base": "7.35",
         "tax": "0.29", "surcharge": "0.04"},
    ]  # fmt: skip
    assert expected == [r.as_dict() for r in totals.rates]
    assert (D("117.35"), D("22.29"), D("5.38")) == (
        totals.base_total,
        totals.vat_total,
        totals.surcharge_total,
    )
    assert (D("27.67"), D("145.02")) == (totals.tax_total, totals.total)


def test_same_rate_with_and_without_surcharge_are_separate_groups() -> None:
    """21% without RE and 21% with RE are two rows of the breakdown (no RE first)."""
    totals = compute([line("1", "10", surcharge=True), line("1", "10")])
    assert [("21", "0"), ("21", "5.2")] == [
        (r.as_dict()["vat_rate"], r.as_dict()["surcharge_rate"]) for r in totals.rates
    ]
    assert D("4.72") == totals.tax_total  # 2.10 + 0.52 + 2.10


def test_withholding_is_negative_and_per_rate() -> None:
    """1000.00 at 21% with 15% IRPF and 333.33 at 21% with 7% IRPF: VAT on 1333.33 =
    279.9993 -> 280.00; IRPF -150.00 and 333.33 x 7% = 23.3331 -> -23.33;
    gross 1613.33; total 1613.33 - 173.33 = 1440.00."""
    totals = compute(
        [line("1", "1000", withholding_rate="15"), line("1", "333.33", withholding_rate="7")]
    )
    assert D("280.00") == totals.tax_total
    assert [
        {"rate": "15", "base": "1000.00", "amount": "-150.00"},
        {"rate": "7", "base": "333.33", "amount": "-23.33"},
    ] == [w.as_dict() for w in totals.withholdings]
    assert D("-173.33") == totals.withholding_total
    assert D("1613.33") == totals.gross_total
    assert D("1440.00") == totals.total


def test_exempt_and_zero_rate_lines() -> None:
    """500.00 exempt (E1) + 50.00 at 0% + 100.00 at 21%: tax 21.00, total 671.00;
    subject rates come first, exemptions last."""
    totals = compute(
        [
            tax_line({"quantity": "1", "unit_price": "500", "exemption": "E1"}),
            line("1", "50", vat_rate="0"),
            line("1", "100"),
        ]
    )
    assert [("21", None, "21.00"), ("0", None, "0.00"), (None, "E1", "0.00")] == [
        (r.as_dict()["vat_rate"], r.exemption, money(r.tax)) for r in totals.rates
    ]
    assert (D("21.00"), D("671.00")) == (totals.tax_total, totals.total)


def test_credit_by_differences_is_the_exact_negation() -> None:
    """Negating every quantity negates every total to the cent (half up is symmetric)."""
    specs = [("3", "10.015", {}), ("1", "7.35", {"vat_rate": "4", "surcharge": True}),
             ("2", "0.125", {"withholding_rate": "15"})]  # fmt: skip
    original = compute([line(q, p, **t) for q, p, t in specs])
    credit = compute([line(f"-{q}", p, **t) for q, p, t in specs])
    for name in ("base_total", "tax_total", "withholding_total", "gross_total", "total"):
        assert -getattr(original, name) == getattr(credit, name), name
    assert "-36.36" == money(compute([line("-3", "10.015")]).total)


def test_as_dict_uses_two_decimal_strings() -> None:
    """Money leaves the module as text with two places, never as a float."""
    data = compute([line("1", "100", withholding_rate="15")]).as_dict()
    assert ("100.00", "21.00", "-15.00", "106.00") == (
        data["base_total"],
        data["tax_total"],
        data["withholding_total"],
        data["total"],
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"vat_rate": "7"}, "vat_rate"),
        ({"vat_rate": None}, "vat_rate"),
        ({"vat_rate": None, "exemption": "E7"}, "exemption"),
        ({"exemption": "E1"}, "vat_rate"),  # both a rate and an exemption
        ({"vat_rate": "0", "surcharge": True}, "surcharge"),
        ({"vat_rate": None, "exemption": "E2", "surcharge": True}, "surcharge"),
        ({"surcharge": "yes"}, "surcharge"),
        ({"discount": "100.01"}, "discount"),
        ({"discount": "-1"}, "discount"),
        ({"withholding_rate": "51"}, "withholding_rate"),
        ({"quantity": 1.5}, "quantity"),
        ({"unit_price": "1.0000001"}, "unit_price"),
        ({"unit_price": "NaN"}, "unit_price"),
        ({"quantity": "1e13"}, "quantity"),
    ],
)
def test_invalid_lines_name_the_field(fields: dict[str, Any], field: str) -> None:
    """Each broken rule is refused with the offending field named."""
    with pytest.raises(InvalidCommandError) as caught:
        tax_line({"quantity": "1", "unit_price": "1", "vat_rate": "21", **fields})
    assert field == caught.value.field
