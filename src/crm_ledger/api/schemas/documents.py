"""Request and response models of quotes, sales orders and delivery notes.

Quantities, prices, percentages and money are JSON strings (``"1234.50"``): a JSON number
is refused, so no amount passes through a binary float. The domain validates the rest.
Order lines are numbered from 1 (``line_no``); deliveries and invoices name them.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt
from pydantic.config import JsonDict

from crm_ledger.api.schemas.common import date_text
from crm_ledger.api.schemas.lines import (
    RateTotalFigures,
    TaxedLineIn,
    TaxTotalsFigures,
    WithholdingFigures,
)
from crm_ledger.api.schemas.sales import Currency, Strict

DECIMAL_PATTERN = r"^\d{1,12}(\.\d{1,6})?$"
CUSTOMER_EXAMPLE = "0b5e7a52-8d6f-4b1e-9f59-6a0f6f0e2c11"
ISSUER_EXAMPLE = "5a1d9c7e-2f43-4b8a-8e6d-1c2b3a4d5e6f"
ORDER_EXAMPLE = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
LINE_EXAMPLE: JsonDict = {
    "description": "Widget",
    "quantity": "10",
    "unit_price": "12.50",
    "discount": "5",
    "vat_rate": "21",
}

Quantity = Annotated[
    str,
    Field(pattern=DECIMAL_PATTERN, description="decimal above zero, as a string", examples=["3"]),
]
UnitPrice = Annotated[
    str, Field(pattern=DECIMAL_PATTERN, description="decimal as a string", examples=["12.50"])
]
Notes = Annotated[str, Field(max_length=2000, examples=["Delivery within 10 days"])]
Reason = Annotated[str, Field(min_length=1, max_length=500, examples=["price too high"])]
LineNo = Annotated[StrictInt, Field(ge=1, le=500, description="order line number, from 1")]


ValidUntil = Annotated[
    date,
    BeforeValidator(date_text("2026-06-30", field="valid_until")),
    Field(description="last day the quote may be accepted (ISO 8601)", examples=["2026-06-30"]),
]


class DocumentLineIn(TaxedLineIn):
    """A quote or order line: quantity x unit price less discount %, taxed as stated.

    Give ``vat_rate`` (21, 10, 4, 0) or ``exemption`` (E1..E6); ``surcharge`` adds the
    equivalence surcharge paired with the rate; ``withholding_rate`` withholds IRPF.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [LINE_EXAMPLE]})

    quantity: Quantity  # above zero, unlike an invoice line's
    unit_price: UnitPrice


# -- quotes -----------------------------------------------------------------------------


class QuoteCreate(Strict):
    """A draft quote (revision 1) for a contact; lines may come later by revising."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer_id": CUSTOMER_EXAMPLE,
                    "issuer_id": ISSUER_EXAMPLE,
                    "currency": "EUR",
                    "valid_until": "2026-06-30",
                    "lines": [LINE_EXAMPLE],
                }
            ]
        },
    )

    customer_id: UUID
    issuer_id: UUID | None = None
    currency: Currency = "EUR"
    valid_until: ValidUntil
    lines: list[DocumentLineIn] = Field(default_factory=list, max_length=500)
    notes: Notes | None = None

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for ``documents.create_quote``."""
        return {
            "customer_id": self.customer_id,
            "issuer_id": self.issuer_id,
            "currency": self.currency,
            "valid_until": self.valid_until,
            "lines": [line.fields() for line in self.lines],
            "notes": self.notes,
        }


class QuoteRevise(Strict):
    """The lines of the next revision (valid_until and notes kept unless sent)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"lines": [{**LINE_EXAMPLE, "discount": "10"}], "valid_until": "2026-07-15"}
            ]
        },
    )

    lines: list[DocumentLineIn] = Field(max_length=500)
    valid_until: ValidUntil | None = None
    notes: Notes | None = None

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for ``documents.revise_quote``."""
        return {
            "lines": [line.fields() for line in self.lines],
            "valid_until": self.valid_until,
            "notes": self.notes,
        }


class QuoteReject(Strict):
    """Why the customer turned the quote down."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "price too high"}]}
    )

    reason: Reason


class DocumentLinePublic(BaseModel):
    """A stored line with its number and rounded base."""

    line_no: int
    description: str
    quantity: str
    unit_price: str
    discount: str
    vat_rate: str | None
    exemption: str | None
    surcharge: bool
    withholding_rate: str
    product_id: str | None
    base: str


class DocumentRateTotal(RateTotalFigures):
    """The sums of one tax group."""


class DocumentWithholding(WithholdingFigures):
    """IRPF withheld at one rate (negative)."""


class DocumentTotals(TaxTotalsFigures[DocumentRateTotal, DocumentWithholding]):
    """Tax breakdown and totals, computed as an invoice computes them."""


class QuotePublic(BaseModel):
    """A quote as the API shows it (``revision`` counts its revisions from 1)."""

    id: UUID
    version: int
    revision: int
    status: Literal["draft", "sent", "accepted", "rejected", "expired", "converted"]
    customer_id: UUID
    issuer_id: UUID | None
    currency: str
    valid_until: str
    lines: list[DocumentLinePublic]
    totals: DocumentTotals
    notes: str | None
    sent_on: str | None
    decided_on: str | None
    rejection_reason: str | None
    order_id: UUID | None
    created_at: str
    modified_at: str


# -- sales orders -----------------------------------------------------------------------


class OrderCreate(Strict):
    """A sales order made directly (without a quote); at least one line."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer_id": CUSTOMER_EXAMPLE,
                    "issuer_id": ISSUER_EXAMPLE,
                    "currency": "EUR",
                    "lines": [LINE_EXAMPLE],
                }
            ]
        },
    )

    customer_id: UUID
    issuer_id: UUID | None = None
    currency: Currency = "EUR"
    lines: list[DocumentLineIn] = Field(min_length=1, max_length=500)
    notes: Notes | None = None

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for ``documents.create_order``."""
        return {
            "customer_id": self.customer_id,
            "issuer_id": self.issuer_id,
            "currency": self.currency,
            "lines": [line.fields() for line in self.lines],
            "notes": self.notes,
        }


class OrderCancel(Strict):
    """Why the order is cancelled."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "customer withdrew"}]}
    )

    reason: Reason


class InvoiceFrom(Strict):
    """Where to number the draft invoice: the issuer (default: the order's) and series."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"series": "A", "invoice_type": "F1"}]},
    )

    issuer_id: UUID | None = None
    series: str = Field(min_length=1, max_length=10, examples=["A"])
    invoice_type: Literal["F1", "F2"] = "F1"
    notes: Notes | None = None


class OrderLinePublic(DocumentLinePublic):
    """An order line with what was delivered and invoiced of it."""

    delivered: str
    invoiced: str


class MovedLine(BaseModel):
    """A quantity of one order line (delivered or invoiced)."""

    line_no: int
    quantity: str


class DeliveryLink(BaseModel):
    """A delivery note of the order and what it carried."""

    delivery_note_id: UUID
    lines: list[MovedLine]


class InvoiceLink(BaseModel):
    """An invoice drafted from the order and what it bills."""

    invoice_id: UUID
    lines: list[MovedLine]


class OrderPublic(BaseModel):
    """A sales order as the API shows it."""

    id: UUID
    version: int
    status: Literal[
        "draft", "confirmed", "partially_delivered", "delivered", "cancelled", "invoiced"
    ]
    customer_id: UUID
    issuer_id: UUID | None
    quote_id: UUID | None
    quote_revision: int | None
    currency: str
    lines: list[OrderLinePublic]
    totals: DocumentTotals
    notes: str | None
    deliveries: list[DeliveryLink]
    invoices: list[InvoiceLink]
    cancel_reason: str | None
    created_at: str
    modified_at: str


# -- delivery notes ---------------------------------------------------------------------


class DeliveryLineIn(Strict):
    """How much of one order line this delivery carries."""

    line_no: LineNo
    quantity: Quantity


class DeliveryNoteCreate(Strict):
    """A delivery of some quantities of an order's lines (never beyond what is ordered)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"order_id": ORDER_EXAMPLE, "lines": [{"line_no": 1, "quantity": "4"}]}]
        },
    )

    order_id: UUID
    lines: list[DeliveryLineIn] = Field(min_length=1, max_length=500)
    notes: Notes | None = None

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for ``documents.create_delivery_note``."""
        return {
            "order_id": self.order_id,
            "lines": [line.model_dump() for line in self.lines],
            "notes": self.notes,
        }


class DeliveryNoteSign(Strict):
    """Who received the goods, and when (default: now)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Marta García", "at": "2026-03-02T10:30:00+01:00"}]
        },
    )

    name: str = Field(min_length=1, max_length=200, examples=["Marta García"])
    at: str | None = Field(
        default=None,
        max_length=40,
        description="ISO 8601 date-time with a time zone",
        examples=["2026-03-02T10:30:00+01:00"],
    )


class DeliveredLine(BaseModel):
    """One delivered line: the order line's number, description and product."""

    line_no: int
    description: str
    product_id: str | None
    quantity: str


class DeliveryNotePublic(BaseModel):
    """A delivery note as the API shows it."""

    id: UUID
    version: int
    order_id: UUID
    customer_id: UUID
    lines: list[DeliveredLine]
    notes: str | None
    signed_by: str | None
    signed_at: str | None
    invoice_id: UUID | None
    created_at: str
    modified_at: str


QuoteStatusName = Literal["draft", "sent", "accepted", "rejected", "expired", "converted"]
OrderStatusName = Literal[
    "draft", "confirmed", "partially_delivered", "delivered", "cancelled", "invoiced"
]


class QuotePage(BaseModel):
    """A page of quotes, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[QuotePublic]
    next_cursor: str | None


class OrderPage(BaseModel):
    """A page of sales orders, newest first; pass ``next_cursor`` as ``cursor``."""

    items: list[OrderPublic]
    next_cursor: str | None


class DeliveryNotePage(BaseModel):
    """A page of delivery notes, newest first; pass ``next_cursor`` as ``cursor``."""

    items: list[DeliveryNotePublic]
    next_cursor: str | None
