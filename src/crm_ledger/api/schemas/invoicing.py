"""Request and response models of the issuers and invoices resources.

Quantities, prices, percentages and money are JSON strings (``"1234.50"``): a JSON number
is refused, so no amount passes through a binary float. The domain validates the rest.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from crm_ledger.api.schemas.lines import (
    LineFigures,
    RateTotalFigures,
    TaxedLineIn,
    TaxTotalsFigures,
    WithholdingFigures,
)
from crm_ledger.api.schemas.sales import Currency, Strict

ISSUER_ID_EXAMPLE = "5a1d9c7e-2f43-4b8a-8e6d-1c2b3a4d5e6f"
SimplifiedLimit = Annotated[
    str,
    Field(
        pattern=r"^\d{1,4}(\.\d{1,2})?$",
        description="highest total (VAT included, EUR) of a simplified invoice (F2): "
        "400.00 in general, up to 3000.00 for the activities of art. 4.2 RD 1619/2012",
        examples=["400.00"],
    ),
]


def _date_text(value: object) -> object:
    """A date comes as a JSON string ``YYYY-MM-DD``."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError('must be an ISO date string such as "2026-06-30"')
    return value


IssueDate = Annotated[
    date, BeforeValidator(_date_text), Field(description="ISO 8601 date", examples=["2026-06-30"])
]
DueDate = Annotated[
    date,
    BeforeValidator(_date_text),
    Field(description="ISO 8601 date; default: issue date + 30 days", examples=["2026-07-31"]),
]


class Address(Strict):
    """A postal address."""

    line1: str | None = Field(default=None, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=100)


# -- issuers ----------------------------------------------------------------------------


class SeriesCreate(Strict):
    """A numbering series: a code and a pattern naming {series}, {year} and {number}."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"code": "A", "pattern": "{series}-{year}-{number:06d}"}]},
    )

    code: str = Field(min_length=1, max_length=10, examples=["A"])
    pattern: str = Field(min_length=1, max_length=40, examples=["{series}-{year}-{number:06d}"])


class IssuerCreate(Strict):
    """A company that issues invoices."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "legal_name": "Acme Soluciones SL",
                    "tax_id": "B12345678",
                    "address": {"line1": "Calle Mayor 1", "city": "Madrid", "country": "ES"},
                    "series": [{"code": "A", "pattern": "{series}-{year}-{number:06d}"}],
                }
            ]
        },
    )

    legal_name: str = Field(min_length=1, max_length=120)
    tax_id: str = Field(min_length=9, max_length=9, examples=["B12345678"])
    address: Address | None = None
    series: list[SeriesCreate] = Field(default_factory=list, max_length=50)
    simplified_limit: SimplifiedLimit | None = None

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for ``invoicing.register_issuer``."""
        return {
            "legal_name": self.legal_name,
            "tax_id": self.tax_id,
            "address": None if self.address is None else self.address.model_dump(),
            "series": [s.model_dump() for s in self.series],
            "simplified_limit": self.simplified_limit,
        }


class SimplifiedLimitUpdate(Strict):
    """The issuer's simplified-invoice limit (EUR, VAT included)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"simplified_limit": "3000.00"}]}
    )

    simplified_limit: SimplifiedLimit


class SeriesPublic(BaseModel):
    """A series and the next number of each year it has numbered."""

    code: str
    pattern: str
    next_numbers: dict[str, int]


class ChainHead(BaseModel):
    """The issuer's VERI*FACTU chain head: last huella ("" before any) and record count."""

    last_huella: str
    count: int


class IssuerPublic(BaseModel):
    """An issuer as the API shows it."""

    id: UUID
    version: int
    legal_name: str
    tax_id: str
    address: dict[str, str]
    series: list[SeriesPublic]
    chain: ChainHead
    simplified_limit: str = Field(examples=["400.00"])
    created_at: str
    modified_at: str


class IssuerPage(BaseModel):
    """A page of issuers, newest first; pass ``next_cursor`` as ``cursor``."""

    items: list[IssuerPublic]
    next_cursor: str | None


class VerifactuRecord(BaseModel):
    """A VERI*FACTU record: its hashed fields (in order), its huella and the one before."""

    record_type: Literal["alta", "anulacion"]
    fields: dict[str, str]
    huella: str
    previous_huella: str


class ChainRecord(VerifactuRecord):
    """A record in the issuer's chain: its position, the invoice and when it was stored."""

    index: int
    invoice_id: UUID
    recorded_at: str


class ChainPage(BaseModel):
    """A page of the chain, oldest first; pass ``next_cursor`` as ``cursor`` for more."""

    items: list[ChainRecord]
    next_cursor: str | None


# -- invoices ---------------------------------------------------------------------------


class LineIn(TaxedLineIn):
    """An invoice line: quantity x unit price less discount %, taxed as stated.

    Give ``vat_rate`` (21, 10, 4, 0) or ``exemption`` (E1..E6); ``surcharge`` adds the
    equivalence surcharge paired with the rate; ``withholding_rate`` withholds IRPF.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"description": "Consulting", "quantity": "10", "unit_price": "80.00",
                 "vat_rate": "21", "withholding_rate": "15"}
            ]
        },
    )  # fmt: skip


class CustomerIn(Strict):
    """The customer's fiscal data (overrides what is copied from the contact)."""

    name: str | None = Field(default=None, max_length=120)
    tax_id: str | None = Field(default=None, max_length=20, examples=["B87654321"])
    address: Address | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", examples=["ES"])

    def fields(self) -> dict[str, Any]:
        """Only the fields the client sent."""
        values = self.model_dump(include=self.model_fields_set)
        if "address" in values and self.address is not None:
            values["address"] = self.address.model_dump()
        return values


class InvoiceCreate(Strict):
    """A draft invoice (F1 full, F2 simplified)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "issuer_id": ISSUER_ID_EXAMPLE,
                    "series": "A",
                    "invoice_type": "F1",
                    "customer_id": "0b5e7a52-8d6f-4b1e-9f59-6a0f6f0e2c11",
                    "lines": [
                        {"description": "Widget", "quantity": "3", "unit_price": "10.00",
                         "vat_rate": "21"}
                    ],
                    "currency": "EUR",
                }
            ]
        },
    )  # fmt: skip

    issuer_id: UUID
    series: str = Field(min_length=1, max_length=10)
    invoice_type: Literal["F1", "F2"] = "F1"
    customer_id: UUID | None = None
    customer: CustomerIn | None = None
    lines: list[LineIn] = Field(default_factory=list, max_length=500)
    currency: Currency = "EUR"
    notes: str | None = Field(default=None, max_length=2000)
    due_date: DueDate | None = None

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for ``invoicing.create_invoice``."""
        return {
            "issuer_id": self.issuer_id,
            "series": self.series,
            "invoice_type": self.invoice_type,
            "customer_id": self.customer_id,
            "customer": None if self.customer is None else self.customer.fields(),
            "lines": [line.fields() for line in self.lines],
            "currency": self.currency,
            "notes": self.notes,
            "due_date": self.due_date,
        }


class InvoiceUpdate(Strict):
    """A partial update of a draft: only the fields present change."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"notes": "Payment by transfer within 30 days"}]},
    )

    series: str | None = Field(default=None, min_length=1, max_length=10)
    invoice_type: Literal["F1", "F2"] | None = None
    customer_id: UUID | None = None
    customer: CustomerIn | None = None
    lines: list[LineIn] | None = Field(default=None, max_length=500)
    currency: Currency | None = None
    notes: str | None = Field(default=None, max_length=2000)
    due_date: DueDate | None = None

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent."""
        values: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if name == "lines":
                value = None if value is None else [line.fields() for line in value]
            elif name == "customer":
                value = None if value is None else value.fields()
            values[name] = value
        return values


class InvoiceIssue(Strict):
    """Issue options: the date (default today in Spain; never in the future) and, for an
    invoice not in EUR, the exchange rate fixed at issue (euros per 1 unit of its
    currency; the VERI*FACTU record's amounts are converted at it)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"issue_date": "2026-06-30", "exchange_rate": "0.925000"}]},
    )

    issue_date: IssueDate | None = None
    exchange_rate: str | None = Field(
        default=None,
        pattern=r"^\d{1,6}(\.\d{1,6})?$",
        description="EUR per 1 unit of the invoice currency, as a string",
        examples=["0.925000"],
    )


class InvoiceCancel(Strict):
    """Why the invoice is cancelled."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "issued by mistake"}]}
    )

    reason: str | None = Field(default=None, max_length=500, examples=["issued by mistake"])


class InvoiceRectify(Strict):
    """A NEW rectifying invoice for this one. By differences with no lines: a full
    credit note (every line negated); by substitution: lines replace the original's."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"invoice_type": "R1", "method": "differences", "reason": "returned"}]
        },
    )

    invoice_type: Literal["R1", "R2", "R3", "R4", "R5"]
    method: Literal["differences", "substitution"] = "differences"
    reason: str = Field(min_length=1, max_length=500)
    lines: list[LineIn] | None = Field(default=None, max_length=500)
    series: str | None = Field(default=None, min_length=1, max_length=10)
    notes: str | None = Field(default=None, max_length=2000)

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for ``invoicing.rectify_invoice``."""
        values = self.model_dump(exclude={"lines"})
        values["lines"] = None if self.lines is None else [line.fields() for line in self.lines]
        return values


class LinePublic(LineFigures):
    """A stored line with its rounded base."""

    base: str


class RateTotalPublic(RateTotalFigures):
    """The sums of one tax group."""


class WithholdingPublic(WithholdingFigures):
    """IRPF withheld at one rate (negative)."""


class TotalsPublic(TaxTotalsFigures[RateTotalPublic, WithholdingPublic]):
    """The invoice's tax breakdown and totals (money as decimal strings)."""


class CancellationPublic(BaseModel):
    """The anulación of a cancelled invoice."""

    reason: str | None
    huella: str


class InvoicePaymentPublic(BaseModel):
    """A payment allocated to the invoice and the amount it pays."""

    payment_id: UUID
    amount: str = Field(examples=["50.00"])


class InvoicePublic(BaseModel):
    """An invoice as the API shows it. ``paid`` and ``outstanding`` come from the
    payments allocated to it; ``payment_status`` (null for drafts and cancelled
    invoices) is judged today, or on ``as_of`` when the request names one."""

    id: UUID
    version: int
    issuer_id: UUID
    series: str
    invoice_type: str
    status: Literal["draft", "issued", "cancelled"]
    number: str | None
    issue_date: str | None
    customer_id: UUID | None
    customer: dict[str, Any]
    lines: list[LinePublic]
    currency: str
    exchange_rate: str | None = Field(
        default=None, description="EUR per 1 unit of the currency, fixed at issue (not EUR)"
    )
    notes: str | None
    totals: TotalsPublic
    rectifies: dict[str, Any] | None
    huella: str | None
    cancellation: CancellationPublic | None
    due_date: str | None
    paid: str = Field(examples=["57.16"])
    outstanding: str = Field(examples=["0.00"])
    payment_status: Literal["open", "partially_paid", "paid", "overdue"] | None
    payments: list[InvoicePaymentPublic]
    created_at: str
    modified_at: str


class InvoiceSummary(BaseModel):
    """One invoice in a list. Amounts (``total`` after withholding, ``paid``,
    ``outstanding``) are null for drafts, whose totals change until issued; read the
    invoice for them. ``payment_status`` is judged today in Spain, as on ``GET /invoices/{id}``."""

    id: UUID
    status: Literal["draft", "issued", "cancelled"]
    number: str | None
    invoice_type: str | None = Field(description="set when issued (F1, F2, R1-R5)")
    customer_id: UUID | None
    customer_name: str | None
    currency: str
    issue_date: str | None
    due_date: str | None
    rectifies_id: UUID | None
    total: str | None = Field(examples=["242.00"])
    paid: str | None = Field(examples=["100.00"])
    outstanding: str | None = Field(examples=["142.00"])
    payment_status: Literal["open", "partially_paid", "paid", "overdue"] | None


class InvoicePage(BaseModel):
    """A page of invoices, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[InvoiceSummary]
    next_cursor: str | None


class InvoiceRecord(VerifactuRecord):
    """A record as the invoice's event stores it, with the whole XML-ready record."""

    registro: dict[str, Any] | None = Field(
        default=None,
        description="the whole RegistroAlta / RegistroAnulacion: official element names in "
        "the XSD's order, every value a string (GET .../verifactu/xml writes it as XML)",
    )


class InvoiceVerifactu(InvoiceRecord):
    """The invoice's alta record, the URL its QR code encodes, and its anulación if any."""

    qr_url: str
    cancellation: InvoiceRecord | None
