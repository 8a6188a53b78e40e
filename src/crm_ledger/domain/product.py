"""The Product aggregate: an article the company sells, identified by its SKU.

The SKU is fixed at creation and unique, compared case-insensitively: the product's id is
derived from it (``product_id_for``), so a second product with the same SKU would write
the first event of an aggregate that already exists, which the event store refuses even
between concurrent requests. Prices live in price lists, not here; ``cost`` is what the
article costs the company (for margins), a decimal string in events, ``Decimal`` here.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.changes import changed_fields, check_known
from crm_ledger.domain.deal import money_text
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.sales_errors import ProductActiveError, ProductInactiveError
from crm_ledger.ledger.envelope import format_timestamp

MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_UNIT = 20
SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
SKU_NAMESPACE = uuid5(NAMESPACE_URL, "tag:crm-ledger,2026:product-sku")
UPDATABLE = frozenset({"name", "description", "unit", "tax_category", "cost"})


class TaxCategory(StrEnum):
    """Which tax rate applies to the article (the rates themselves depend on the country)."""

    STANDARD = "standard"
    REDUCED = "reduced"
    SUPER_REDUCED = "super_reduced"
    ZERO = "zero"
    EXEMPT = "exempt"


def price_text(value: object, field: str) -> str | None:
    """`value` as a money string ``"12.50"`` (Decimal, str or int; never float), None as
    None; errors name `field`."""
    try:
        return money_text(value)
    except InvalidCommandError as exc:
        raise InvalidCommandError(exc.detail.replace("amount", field, 1), field=field) from None


def sku_of(value: object) -> str:
    """The SKU as stored (trimmed); InvalidCommandError when malformed."""
    sku = value.strip() if isinstance(value, str) else ""
    if not SKU.match(sku):
        raise InvalidCommandError(
            "sku must be 1 to 64 letters, digits or . _ / - (starting with a letter or digit)",
            field="sku",
        )
    return sku


def product_id_for(sku: str) -> UUID:
    """The id of the product with `sku` (the same for any letter case)."""
    return uuid5(SKU_NAMESPACE, sku_of(sku).casefold())


def _text(value: object, field: str, limit: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > limit:
        raise InvalidCommandError(f"{field} must have 1 to {limit} characters", field=field)
    return text


def _description(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value.strip()) > MAX_DESCRIPTION:
        raise InvalidCommandError(
            f"description must be text of at most {MAX_DESCRIPTION} characters",
            field="description",
        )
    return value.strip() or None


def _tax_category(value: object) -> str:
    try:
        return TaxCategory(str(value)).value
    except ValueError:
        allowed = ", ".join(c.value for c in TaxCategory)
        raise InvalidCommandError(
            f"tax_category must be one of {allowed}", field="tax_category"
        ) from None


def normalise(field: str, value: Any) -> Any:
    """The stored form of `value` for the updatable `field` (InvalidCommandError if invalid)."""
    if field == "name":
        return _text(value, "name", MAX_NAME)
    if field == "description":
        return _description(value)
    if field == "unit":
        return _text(value, "unit", MAX_UNIT)
    if field == "tax_category":
        return _tax_category(value)
    if field == "cost":
        return price_text(value, "cost")
    raise InvalidCommandError(f"unknown field {field!r}", field=field)


class Product(Aggregate):
    """An article: SKU, name, unit of sale, tax category, cost, and whether it is sold."""

    @staticmethod
    def create_id(sku: str) -> UUID:
        """Derived from the SKU, so the event store itself keeps SKUs unique."""
        return product_id_for(sku)

    @event("Created")
    def __init__(
        self,
        *,
        sku: str,
        name: str,
        description: str | None,
        unit: str,
        tax_category: str,
        cost: str | None,
        actor: str,
    ) -> None:
        self.sku = sku
        self.name = name
        self.description = description
        self.unit = unit
        self.tax_category = tax_category
        self.cost_text = cost
        self.active = True
        self.created_by = actor

    @classmethod
    def create(
        cls,
        *,
        sku: str,
        name: str,
        actor: str,
        tax_category: TaxCategory | str = TaxCategory.STANDARD,
        unit: str = "unit",
        description: str | None = None,
        cost: Decimal | str | None = None,
    ) -> Product:
        """A new, active product."""
        return cls(
            sku=sku_of(sku),
            name=_text(name, "name", MAX_NAME),
            description=_description(description),
            unit=_text(unit, "unit", MAX_UNIT),
            tax_category=_tax_category(tax_category),
            cost=price_text(cost, "cost"),
            actor=actor,
        )

    # -- queries ----------------------------------------------------------------------

    @property
    def cost(self) -> Decimal | None:
        """What the article costs the company, or None when unknown."""
        return None if self.cost_text is None else Decimal(self.cost_text)

    def check_active(self) -> None:
        """Raise ProductInactiveError unless the product is active."""
        if not self.active:
            raise ProductInactiveError(f"product {self.sku} is inactive; activate it first")

    # -- commands ---------------------------------------------------------------------

    def update(self, *, actor: str, **changes: Any) -> None:
        """Change some of name, description, unit, tax_category, cost (the SKU is fixed);
        no event when nothing differs. An inactive product is not changed."""
        check_known(changes, UPDATABLE)
        self.check_active()
        differing = changed_fields(
            changes, normalise, lambda f: getattr(self, "cost_text" if f == "cost" else f)
        )
        if differing:
            self._updated(changes=differing, actor=actor)

    @event("Updated")
    def _updated(self, *, changes: dict[str, Any], actor: str) -> None:
        for field, value in changes.items():
            setattr(self, "cost_text" if field == "cost" else field, value)

    def deactivate(self, *, actor: str) -> None:
        """Stop selling the product (it stays, with its history and SKU)."""
        self.check_active()
        self._deactivated(actor=actor)

    @event("Deactivated")
    def _deactivated(self, *, actor: str) -> None:
        self.active = False

    def activate(self, *, actor: str) -> None:
        """Sell an inactive product again."""
        if self.active:
            raise ProductActiveError(f"product {self.sku} is already active")
        self._activated(actor=actor)

    @event("Activated")
    def _activated(self, *, actor: str) -> None:
        self.active = True


def product_snapshot(product: Product) -> dict[str, Any]:
    """The product's public, JSON-ready state (cost as a decimal string)."""
    return {
        "id": str(product.id),
        "version": product.version,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "unit": product.unit,
        "tax_category": product.tax_category,
        "cost": product.cost_text,
        "active": product.active,
        "created_at": format_timestamp(product.created_on),
        "modified_at": format_timestamp(product.modified_on),
    }
