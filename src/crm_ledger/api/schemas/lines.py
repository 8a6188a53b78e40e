"""The priced lines and tax totals that invoices, quotes, sales orders and purchase
invoices share.

Each document keeps its own models (their names, descriptions and examples stay as they
are in the OpenAPI document); the fields they share, and how a line is handed to the
domain, are here. A subclass that declares a field again (to narrow its type or describe
it) keeps the field in its place in the schema.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field

from crm_ledger.api.schemas.sales import Strict

DECIMAL_PATTERN = r"^-?\d{1,12}(\.\d{1,6})?$"
PERCENT_PATTERN = r"^\d{1,3}(\.\d{1,2})?$"

DecimalText = Annotated[
    str,
    Field(pattern=DECIMAL_PATTERN, description="decimal as a string", examples=["2.5"]),
]
Percent = Annotated[
    str, Field(pattern=PERCENT_PATTERN, description="percentage as a string", examples=["21"])
]


class TaxedLineIn(Strict):
    """A line: quantity x unit price less discount %, taxed as stated."""

    description: str = Field(min_length=1, max_length=500)
    quantity: DecimalText
    unit_price: DecimalText
    discount: Percent = "0"
    vat_rate: Percent | None = None
    exemption: Literal["E1", "E2", "E3", "E4", "E5", "E6"] | None = None
    surcharge: bool = False
    withholding_rate: Percent = "0"
    product_id: UUID | None = None

    def fields(self) -> dict[str, Any]:
        """The line as the domain takes it."""
        values = self.model_dump()
        values["product_id"] = None if self.product_id is None else str(self.product_id)
        return values


class LineFigures(BaseModel):
    """A stored line as the API shows it (each document adds its own fields)."""

    description: str
    quantity: str
    unit_price: str
    discount: str
    vat_rate: str | None
    exemption: str | None
    surcharge: bool
    withholding_rate: str
    product_id: str | None


class RateTotalFigures(BaseModel):
    """The sums of one tax group."""

    vat_rate: str | None
    exemption: str | None
    surcharge_rate: str
    base: str
    tax: str
    surcharge: str


class WithholdingFigures(BaseModel):
    """IRPF withheld at one rate (negative)."""

    rate: str
    base: str
    amount: str


RateT = TypeVar("RateT", bound=RateTotalFigures)
WithholdingT = TypeVar("WithholdingT", bound=WithholdingFigures)


class TaxTotalsFigures(BaseModel, Generic[RateT, WithholdingT]):
    """A document's tax breakdown and totals, over its own rate and withholding rows."""

    rates: list[RateT]
    withholdings: list[WithholdingT]
    base_total: str
    vat_total: str
    surcharge_total: str
    tax_total: str
    withholding_total: str
    gross_total: str
    total: str
