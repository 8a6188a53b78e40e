"""Every guard of the Product aggregate (no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.product import Product, TaxCategory, product_id_for, product_snapshot
from crm_ledger.domain.sales_errors import (
    ProductActiveError,
    ProductError,
    ProductInactiveError,
    SkuTakenError,
)

ACTOR = "user:test"


def product(**fields: Any) -> Product:
    values: dict[str, Any] = {"sku": "WIDGET-42", "name": "Widget", **fields}
    return Product.create(actor=ACTOR, **values)


def unchanged(p: Product, command: Callable[[], object], error: type) -> InvalidCommandError | Any:
    """`command` raises exactly `error` and records nothing."""
    before = p.version
    with pytest.raises(error) as info:
        command()
    assert error is type(info.value)
    assert before == p.version
    return info.value


def replayed(aggregate: Any) -> Any:
    """The aggregate rebuilt from its own pending events (event bodies only assign)."""
    rebuilt = None
    for e in aggregate.collect_events():
        rebuilt = e.mutate(rebuilt)
    return rebuilt


def test_create_defaults_and_normalises() -> None:
    """Trimmed text, unit 'unit', standard tax, no cost, active; the event has the actor."""
    p = product(sku="  WIDGET-42 ", name="  Widget ", description="  ")
    assert ("WIDGET-42", "Widget", None, "unit", "standard", None, True) == (
        p.sku,
        p.name,
        p.description,
        p.unit,
        p.tax_category,
        p.cost,
        p.active,
    )
    (created,) = p.collect_events()
    assert ACTOR == created.actor  # type: ignore[attr-defined]


def test_cost_is_decimal_with_two_places() -> None:
    """Cost is kept as "4.20" in the event and exposed as Decimal; floats are refused."""
    p = product(cost="4.2", tax_category=TaxCategory.REDUCED)
    assert (Decimal("4.20"), "4.20", "reduced") == (p.cost, p.cost_text, p.tax_category)
    assert "4.20" == product_snapshot(p)["cost"]
    with pytest.raises(InvalidCommandError) as info:
        product(cost=4.2)
    assert ("cost", "cost must be a decimal string such as 1234.50") == (
        info.value.field,
        info.value.detail,
    )


def test_id_is_derived_from_the_sku_case_insensitively() -> None:
    """Two products with the same SKU in any case get the same id (the store refuses the
    second); different SKUs get different ids."""
    assert product(sku="widget-42").id == product(sku="WIDGET-42").id == product_id_for("Widget-42")
    assert product(sku="WIDGET-43").id != product(sku="WIDGET-42").id


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"sku": ""}, "sku"),
        ({"sku": "-lead"}, "sku"),
        ({"sku": "has space"}, "sku"),
        ({"sku": "X" * 65}, "sku"),
        ({"sku": 42}, "sku"),
        ({"name": " "}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"unit": ""}, "unit"),
        ({"unit": "u" * 21}, "unit"),
        ({"tax_category": "luxury"}, "tax_category"),
        ({"description": "d" * 2001}, "description"),
        ({"description": 5}, "description"),
        ({"cost": "-1"}, "cost"),
        ({"cost": "1.234"}, "cost"),
        ({"cost": "abc"}, "cost"),
        ({"cost": True}, "cost"),
    ],
)
def test_create_refuses_bad_values(fields: dict[str, Any], field: str) -> None:
    """Each bad value is refused, naming its field."""
    with pytest.raises(InvalidCommandError) as info:
        product(**fields)
    assert field == info.value.field


def test_update_changes_only_differing_fields() -> None:
    """Same values record nothing; changed ones one event; null clears description/cost."""
    p = product(description="Blue", cost="1.00")
    p.update(actor=ACTOR, name="Widget", cost=Decimal("1"))
    assert 1 == p.version
    p.update(actor=ACTOR, name="Widget XL", cost=None, description=None, unit="box")
    assert (2, "Widget XL", None, None, "box") == (
        p.version,
        p.name,
        p.cost,
        p.description,
        p.unit,
    )
    (_, updated) = p.collect_events()
    assert {"name": "Widget XL", "cost": None, "description": None, "unit": "box"} == (
        updated.changes  # type: ignore[attr-defined]
    )


def test_update_refuses_unknown_fields_the_sku_and_bad_values() -> None:
    """The SKU cannot change; bad values are refused without an event."""
    p = product()
    error = unchanged(p, lambda: p.update(actor=ACTOR, sku="OTHER"), InvalidCommandError)
    assert "sku" == error.field
    error = unchanged(p, lambda: p.update(actor=ACTOR, name=None), InvalidCommandError)
    assert "name" == error.field
    unchanged(p, lambda: p.update(actor=ACTOR, tax_category="x"), InvalidCommandError)


def test_deactivate_and_activate() -> None:
    """Deactivate then activate; twice in a row is refused; an inactive product is frozen."""
    p = product()
    p.deactivate(actor=ACTOR)
    assert (False, 2) == (p.active, p.version)
    unchanged(p, lambda: p.deactivate(actor=ACTOR), ProductInactiveError)
    unchanged(p, lambda: p.update(actor=ACTOR, name="New"), ProductInactiveError)
    unchanged(p, p.check_active, ProductInactiveError)
    p.activate(actor=ACTOR)
    assert (True, 3) == (p.active, p.version)
    unchanged(p, lambda: p.activate(actor=ACTOR), ProductActiveError)
    p.check_active()


def test_replays_to_the_same_state() -> None:
    """Rebuilding from the events gives the same snapshot."""
    p = product(cost="3.00")
    p.update(actor=ACTOR, name="Widget 2", tax_category="zero")
    p.deactivate(actor=ACTOR)
    expected = product_snapshot(p)
    assert expected == product_snapshot(replayed(p))


def test_product_errors_are_product_errors() -> None:
    """SkuTakenError names the SKU; all three are ProductError (409 family)."""
    error = SkuTakenError("WIDGET-42")
    assert "WIDGET-42" in error.detail
    assert all(
        issubclass(c, ProductError)
        for c in (SkuTakenError, ProductInactiveError, ProductActiveError)
    )
