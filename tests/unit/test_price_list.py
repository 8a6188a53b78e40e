"""Every guard of the PriceList aggregate (no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from crm_ledger.domain.errors import InvalidCommandError, NotFoundError
from crm_ledger.domain.price_list import (
    PriceList,
    percent_text,
    price_list_snapshot,
    quantity_text,
)
from crm_ledger.domain.product import Product
from crm_ledger.domain.sales_errors import (
    PriceListError,
    PriceListRetiredError,
    PriceNotFoundError,
    ProductInactiveError,
    ValidityPeriodError,
)

ACTOR = "user:test"


def price_list(**fields: Any) -> PriceList:
    values: dict[str, Any] = {
        "name": "Retail 2027",
        "currency": "EUR",
        "valid_from": "2027-01-01",
        "valid_until": "2027-12-31",
        **fields,
    }
    return PriceList.create(actor=ACTOR, **values)


def product(sku: str = "WIDGET-42") -> Product:
    return Product.create(sku=sku, name="Widget", actor=ACTOR)


def unchanged(p: PriceList, command: Callable[[], object], error: type) -> Any:
    """`command` raises exactly `error` and records nothing."""
    before = p.version
    with pytest.raises(error) as info:
        command()
    assert error is type(info.value)
    assert before == p.version
    return info.value


def replayed(aggregate: Any) -> Any:
    rebuilt = None
    for e in aggregate.collect_events():
        rebuilt = e.mutate(rebuilt)
    return rebuilt


def test_create_keeps_dates_as_iso_text() -> None:
    """Dates from strings or date objects; the event carries the actor; no prices yet."""
    p = price_list(valid_from=date(2027, 1, 1), valid_until=None)
    assert (date(2027, 1, 1), None, "EUR", {}, False) == (
        p.valid_from,
        p.valid_until,
        p.currency,
        p.prices,
        p.retired,
    )
    (created,) = p.collect_events()
    assert (ACTOR, "2027-01-01") == (created.actor, created.valid_from)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"name": " "}, "name", InvalidCommandError),
        ({"currency": "eur"}, "currency", InvalidCommandError),
        ({"currency": "EURO"}, "currency", InvalidCommandError),
        ({"valid_from": "2027-1-1"}, "valid_from", InvalidCommandError),
        ({"valid_from": "2027-02-30"}, "valid_from", InvalidCommandError),
        ({"valid_from": None}, "valid_from", InvalidCommandError),
        ({"valid_until": "soon"}, "valid_until", InvalidCommandError),
        ({"valid_until": "2026-12-31"}, "valid_until", ValidityPeriodError),
    ],
)
def test_create_refuses_bad_values(fields: dict[str, Any], field: str, error: type) -> None:
    """Bad name, currency or dates, or an end before the start, are refused."""
    with pytest.raises(InvalidCommandError) as info:
        price_list(**fields)
    assert (error, field) == (type(info.value), info.value.field)


def test_one_day_period_is_valid_and_both_ends_are_included() -> None:
    """valid_from == valid_until is one day; the day before and after are outside."""
    p = price_list(valid_from="2027-03-01", valid_until="2027-03-01")
    assert [False, True, False] == [
        p.valid_on(date(2027, 2, 28)),
        p.valid_on(date(2027, 3, 1)),
        p.valid_on(date(2027, 3, 2)),
    ]
    open_ended = price_list(valid_until=None)
    assert open_ended.valid_on(date(2999, 1, 1))
    assert not open_ended.valid_on(date(2026, 12, 31))


def test_set_price_records_normalised_entry_and_skips_identical() -> None:
    """Money with 2 places, quantity shortest, percent with 2 places; same entry: no event."""
    p, w = price_list(), product()
    p.set_price(w, unit_price="12.5", min_quantity="10.000", discount_percent="5", actor=ACTOR)
    expected: dict[str, str | None] = {
        "unit_price": "12.50",
        "min_quantity": "10",
        "discount_percent": "5.00",
    }
    assert (expected, 2) == (p.price(w.id), p.version)
    p.set_price(
        w, unit_price=Decimal("12.50"), min_quantity=10, discount_percent="5.00", actor=ACTOR
    )
    assert 2 == p.version
    p.set_price(w, unit_price="13", actor=ACTOR)
    expected = {"unit_price": "13.00", "min_quantity": None, "discount_percent": None}
    assert (expected, 3) == (p.price(w.id), p.version)
    assert [{"product_id": str(w.id), **expected}] == price_list_snapshot(p)["prices"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"unit_price": None}, "unit_price"),
        ({"unit_price": 12.5}, "unit_price"),
        ({"unit_price": "-1"}, "unit_price"),
        ({"unit_price": "1.001"}, "unit_price"),
        ({"unit_price": "1", "min_quantity": "0"}, "min_quantity"),
        ({"unit_price": "1", "min_quantity": "1.0001"}, "min_quantity"),
        ({"unit_price": "1", "min_quantity": "1234567890"}, "min_quantity"),
        ({"unit_price": "1", "min_quantity": 2.5}, "min_quantity"),
        ({"unit_price": "1", "discount_percent": "100.01"}, "discount_percent"),
        ({"unit_price": "1", "discount_percent": "-1"}, "discount_percent"),
        ({"unit_price": "1", "discount_percent": "5.005"}, "discount_percent"),
        ({"unit_price": "1", "discount_percent": "NaN"}, "discount_percent"),
    ],
)
def test_set_price_refuses_bad_values(fields: dict[str, Any], field: str) -> None:
    """Each bad value is refused, naming its field, with no event."""
    p, w = price_list(), product()
    error = unchanged(p, lambda: p.set_price(w, actor=ACTOR, **fields), InvalidCommandError)
    assert field == error.field


def test_inactive_product_gets_no_price() -> None:
    """Pricing a deactivated product is ProductInactiveError."""
    p, w = price_list(), product()
    w.deactivate(actor=ACTOR)
    unchanged(p, lambda: p.set_price(w, unit_price="1", actor=ACTOR), ProductInactiveError)


def test_remove_price() -> None:
    """Removing an entry records PriceRemoved; removing a missing one is PriceNotFoundError."""
    p, w, other = price_list(), product(), product("OTHER")
    p.set_price(w, unit_price="1", actor=ACTOR)
    p.set_price(other, unit_price="2", actor=ACTOR)
    p.remove_price(w.id, actor=ACTOR)
    assert ([str(other.id)], 4) == (list(p.prices), p.version)
    error = unchanged(p, lambda: p.remove_price(w.id, actor=ACTOR), PriceNotFoundError)
    assert isinstance(error, NotFoundError)
    unchanged(p, lambda: p.price(uuid4()), PriceNotFoundError)


def test_applies_needs_entry_validity_and_minimum_quantity() -> None:
    """applies() is true only with an entry, on a valid day, for at least min_quantity."""
    p, w, other = price_list(), product(), product("OTHER")
    p.set_price(w, unit_price="1", min_quantity="2.5", actor=ACTOR)
    day = date(2027, 6, 1)
    assert [False, True, True, False, False] == [
        p.applies(w.id, on=day, quantity=Decimal("2.499")),
        p.applies(w.id, on=day, quantity=Decimal("2.5")),
        p.applies(w.id, on=day, quantity=Decimal(100)),
        p.applies(w.id, on=date(2028, 1, 1), quantity=Decimal(100)),
        p.applies(other.id, on=day, quantity=Decimal(100)),
    ]


def test_change_validity() -> None:
    """A new period is one event; the same period none; an inverted one is refused."""
    p = price_list()
    p.change_validity(valid_from="2027-01-01", valid_until="2027-12-31", actor=ACTOR)
    assert 1 == p.version
    p.change_validity(valid_from="2027-02-01", valid_until=None, actor=ACTOR)
    assert (date(2027, 2, 1), None, 2) == (p.valid_from, p.valid_until, p.version)
    change = lambda: p.change_validity(  # noqa: E731
        valid_from="2027-02-01", valid_until="2027-01-31", actor=ACTOR
    )
    unchanged(p, change, ValidityPeriodError)


def test_retired_list_takes_no_changes_and_prices_nothing() -> None:
    """Every command on a retired list is PriceListRetiredError; it applies to nothing."""
    p, w = price_list(), product()
    p.set_price(w, unit_price="1", actor=ACTOR)
    p.retire(actor=ACTOR)
    assert (True, 3) == (p.retired, p.version)
    assert not p.applies(w.id, on=date(2027, 6, 1), quantity=Decimal(1))
    for command in (
        lambda: p.set_price(w, unit_price="2", actor=ACTOR),
        lambda: p.remove_price(w.id, actor=ACTOR),
        lambda: p.change_validity(valid_from="2027-01-01", valid_until=None, actor=ACTOR),
        lambda: p.retire(actor=ACTOR),
    ):
        unchanged(p, command, PriceListRetiredError)
    assert issubclass(PriceListRetiredError, PriceListError)


def test_replays_to_the_same_state() -> None:
    """Rebuilding from the events gives the same snapshot."""
    p, w, other = price_list(), product(), product("OTHER")
    p.set_price(w, unit_price="1", discount_percent="10", actor=ACTOR)
    p.set_price(other, unit_price="2", actor=ACTOR)
    p.remove_price(w.id, actor=ACTOR)
    p.change_validity(valid_from="2027-01-02", valid_until=None, actor=ACTOR)
    p.retire(actor=ACTOR)
    expected = price_list_snapshot(p)
    assert expected == price_list_snapshot(replayed(p))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", "3"), ("2.500", "2.5"), (Decimal("1E+2"), "100"), (7, "7"), ("0.001", "0.001")],
)
def test_quantity_text(value: object, expected: str) -> None:
    """Quantities are stored in their shortest plain form (no exponent)."""
    assert expected == quantity_text(value)


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("0", "0.00"), ("100", "100.00"), ("12.5", "12.50")]
)
def test_percent_text(value: object, expected: str | None) -> None:
    """Percentages are stored with exactly two decimals."""
    assert expected == percent_text(value)
