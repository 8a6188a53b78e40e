"""Request and response models of the products and price lists resources.

Money, quantities and percentages are JSON strings (``"12.50"``, ``"2.5"``, ``"10"``): a
JSON number is refused, so none of them ever passes through a binary float.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from crm_ledger.api.schemas.common import date_text, decimal_schema, decimal_text
from crm_ledger.api.schemas.sales import Currency, Money, Strict

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$"
QUANTITY_PATTERN = r"^\d{1,9}(\.\d{1,3})?$"
PERCENT_PATTERN = r"^\d{1,3}(\.\d{1,2})?$"
PRODUCT_ID_EXAMPLE = "7d2c4f0e-1b3a-5c6d-8e9f-0a1b2c3d4e5f"


Quantity = Annotated[
    Decimal,
    BeforeValidator(decimal_text(QUANTITY_PATTERN, "2.5")),
    Field(gt=0),
    decimal_schema(QUANTITY_PATTERN, "10", "quantity above zero as a string, at most 3 decimals"),
]
Percent = Annotated[
    Decimal,
    BeforeValidator(decimal_text(PERCENT_PATTERN, "12.50")),
    Field(ge=0, le=100),
    decimal_schema(
        PERCENT_PATTERN, "10.00", "percentage from 0 to 100 as a string, at most 2 decimals"
    ),
]
Day = Annotated[
    date,
    BeforeValidator(date_text("2027-01-01")),
    Field(description="ISO 8601 date (the day is included)", examples=["2027-01-01"]),
]
Sku = Annotated[
    str,
    Field(
        pattern=SKU_PATTERN,
        description="stock keeping unit, unique (case-insensitive), fixed once created",
        examples=["WIDGET-42"],
    ),
]
ProductName = Annotated[str, Field(min_length=1, max_length=200, examples=["Widget, blue"])]
Description = Annotated[str, Field(max_length=2000, examples=["A blue widget, 42 mm"])]
Unit = Annotated[
    str, Field(min_length=1, max_length=20, description="unit of sale", examples=["unit"])
]
TaxCategory = Literal["standard", "reduced", "super_reduced", "zero", "exempt"]


# -- products -------------------------------------------------------------------------


class ProductCreate(Strict):
    """A new, active product."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "sku": "WIDGET-42",
                    "name": "Widget, blue",
                    "unit": "unit",
                    "tax_category": "standard",
                    "cost": "4.20",
                }
            ]
        },
    )

    sku: Sku
    name: ProductName
    description: Description | None = None
    unit: Unit = "unit"
    tax_category: TaxCategory = Field(default="standard", examples=["standard"])
    cost: Money | None = None


class ProductUpdate(Strict):
    """A partial update: only the fields present change; ``null`` clears description or
    cost. The SKU cannot change."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Widget, navy", "cost": "4.35"}]},
    )

    name: ProductName | None = None
    description: Description | None = None
    unit: Unit | None = None
    tax_category: TaxCategory | None = None
    cost: Money | None = None

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent."""
        return self.model_dump(include=self.model_fields_set)


class ProductPublic(BaseModel):
    """A product as the API shows it (cost as a decimal string)."""

    id: UUID
    version: int
    sku: str
    name: str
    description: str | None
    unit: str
    tax_category: TaxCategory
    cost: str | None = Field(examples=["4.20"])
    active: bool
    created_at: str
    modified_at: str


class ProductPage(BaseModel):
    """One page of products, oldest first; pass ``next_cursor`` as ``cursor`` for more."""

    items: list[ProductPublic]
    next_cursor: str | None


# -- price lists ----------------------------------------------------------------------


class PriceListCreate(Strict):
    """A new, empty price list."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Retail 2027",
                    "currency": "EUR",
                    "valid_from": "2027-01-01",
                    "valid_until": "2027-12-31",
                }
            ]
        },
    )

    name: Annotated[str, Field(min_length=1, max_length=200, examples=["Retail 2027"])]
    currency: Currency
    valid_from: Day
    valid_until: Day | None = None


class PriceListValidity(Strict):
    """The new validity period (``valid_until`` null or absent: open-ended)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"valid_from": "2027-01-01", "valid_until": "2027-06-30"}]},
    )

    valid_from: Day
    valid_until: Day | None = None


class PriceSet(Strict):
    """A product's price on the list: unit price, optional minimum quantity and discount."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"unit_price": "12.50", "min_quantity": "10", "discount_percent": "5"}]
        },
    )

    unit_price: Money
    min_quantity: Quantity | None = None
    discount_percent: Percent | None = None


class PriceEntry(BaseModel):
    """One product's entry on a price list."""

    product_id: str
    unit_price: str = Field(examples=["12.50"])
    min_quantity: str | None = Field(examples=["10"])
    discount_percent: str | None = Field(examples=["5.00"])


class PriceListPublic(BaseModel):
    """A price list as the API shows it."""

    id: UUID
    version: int
    name: str
    currency: str
    valid_from: str
    valid_until: str | None
    retired: bool
    prices: list[PriceEntry]
    created_at: str
    modified_at: str


class PriceListPage(BaseModel):
    """One page of price lists, oldest first; pass ``next_cursor`` as ``cursor`` for more."""

    items: list[PriceListPublic]
    next_cursor: str | None


class PricePublic(BaseModel):
    """The price that applies, and the price list it comes from."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "product_id": PRODUCT_ID_EXAMPLE,
                    "price_list_id": "2b6f0c1d-4e5a-4f7b-9c8d-1e2f3a4b5c6d",
                    "price_list_name": "Retail 2027",
                    "currency": "EUR",
                    "valid_from": "2027-01-01",
                    "valid_until": "2027-12-31",
                    "on": "2027-03-15",
                    "quantity": "3",
                    "unit_price": "12.50",
                    "min_quantity": None,
                    "discount_percent": "5.00",
                }
            ]
        }
    )

    product_id: str
    price_list_id: str
    price_list_name: str
    currency: str
    valid_from: str
    valid_until: str | None
    on: str
    quantity: str
    unit_price: str
    min_quantity: str | None
    discount_percent: str | None
