"""Request and response models of the suppliers, purchase invoices and payables resources.

Quantities, prices, percentages and money are JSON strings (``"1234.50"``): a JSON number
is refused, so no amount passes through a binary float. Dates are ISO strings. The
domain validates the rest (IBAN check digits, date order, totals).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from crm_ledger.api.schemas.common import date_text
from crm_ledger.api.schemas.invoicing import RateTotalPublic, WithholdingPublic
from crm_ledger.api.schemas.lines import LineFigures, TaxedLineIn, TaxTotalsFigures
from crm_ledger.api.schemas.sales import Currency, Money, Strict

CONTACT_ID_EXAMPLE = "0b5e7a52-8d6f-4b1e-9f59-6a0f6f0e2c11"
SUPPLIER_ID_EXAMPLE = "6c1f0d3a-9e2b-4c7d-8a5f-3b2e1d0c9f8a"
IBAN_EXAMPLE = "ES9121000418450200051332"
PurchaseStatusText = Literal[
    "received", "approved", "disputed", "partially_paid", "paid", "cancelled"
]
MethodText = Literal["transfer", "direct_debit", "card", "cash", "cheque", "other"]


Day = Annotated[
    date,
    BeforeValidator(date_text("2026-06-30")),
    Field(description="ISO 8601 date", examples=["2026-06-30"]),
]
LegalName = Annotated[str, Field(min_length=1, max_length=120, examples=["Papelera Norte SL"])]
TaxId = Annotated[str, Field(min_length=1, max_length=30, examples=["B76543210"])]
TermsDays = Annotated[
    StrictInt, Field(ge=0, le=365, description="days from issue to due date", examples=[30])
]
Category = Annotated[
    str, Field(max_length=100, description="e.g. an account code", examples=["629"])
]
Iban = Annotated[
    str,
    Field(max_length=42, description="IBAN (ISO 13616), spaces allowed", examples=[IBAN_EXAMPLE]),
]
Reason = Annotated[str, Field(min_length=1, max_length=500, examples=["prices differ from order"])]


# -- suppliers --------------------------------------------------------------------------


class SupplierCreate(Strict):
    """A supplier: the contact it is, its fiscal identity and how we pay it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "contact_id": CONTACT_ID_EXAMPLE,
                    "legal_name": "Papelera Norte SL",
                    "tax_id": "B76543210",
                    "payment_terms_days": 60,
                    "default_expense_category": "629",
                    "iban": IBAN_EXAMPLE,
                }
            ]
        },
    )

    contact_id: UUID
    legal_name: LegalName
    tax_id: TaxId
    payment_terms_days: TermsDays = 30
    default_expense_category: Category | None = None
    iban: Iban | None = None


class SupplierUpdate(Strict):
    """A partial update: only the fields present change; ``null`` clears the category or
    the IBAN."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"payment_terms_days": 45, "iban": None}]},
    )

    legal_name: LegalName | None = None
    tax_id: TaxId | None = None
    payment_terms_days: TermsDays | None = None
    default_expense_category: Category | None = None
    iban: Iban | None = None

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent."""
        return self.model_dump(include=self.model_fields_set)


class SupplierPublic(BaseModel):
    """A supplier as the API shows it."""

    id: UUID
    version: int
    contact_id: UUID
    legal_name: str
    tax_id: str
    payment_terms_days: int
    default_expense_category: str | None
    iban: str | None
    active: bool
    created_at: str
    modified_at: str


class SupplierPage(BaseModel):
    """One page of suppliers, oldest first; pass ``next_cursor`` as ``cursor`` for more."""

    items: list[SupplierPublic]
    next_cursor: str | None


# -- purchase invoices ------------------------------------------------------------------


class PurchaseLineIn(TaxedLineIn):
    """A received line: quantity x unit price less discount %, taxed as stated.

    Give ``vat_rate`` (21, 10, 4, 0) or ``exemption`` (E1..E6). ``deductible`` says
    whether its input VAT may be deducted; ``expense_category`` defaults to the
    supplier's.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"description": "Printer paper A4", "quantity": "10", "unit_price": "4.50",
                 "vat_rate": "21", "expense_category": "629", "deductible": True}
            ]
        },
    )  # fmt: skip

    expense_category: Category | None = None
    deductible: bool = True


class PurchaseInvoiceCreate(Strict):
    """An invoice received from a supplier. The due date defaults to the issue date plus
    the supplier's payment terms; ``received_on`` defaults to today."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "supplier_id": SUPPLIER_ID_EXAMPLE,
                    "number": "PN-2026/0142",
                    "issue_date": "2026-03-02",
                    "received_on": "2026-03-04",
                    "lines": [
                        {"description": "Printer paper A4", "quantity": "10",
                         "unit_price": "4.50", "vat_rate": "21"}
                    ],
                    "currency": "EUR",
                }
            ]
        },
    )  # fmt: skip

    supplier_id: UUID
    number: str = Field(min_length=1, max_length=60, description="the supplier's number")
    issue_date: Day
    received_on: Day | None = None
    due_date: Day | None = None
    lines: list[PurchaseLineIn] = Field(min_length=1, max_length=500)
    currency: Currency = "EUR"
    notes: str | None = Field(default=None, max_length=2000)

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for ``purchasing.register_purchase_invoice``."""
        values = self.model_dump(exclude={"lines"})
        values["lines"] = [line.fields() for line in self.lines]
        return values


class PurchaseInvoiceCorrect(Strict):
    """A correction before approval: only the fields present change. A new issue date
    without a due date moves the due date by as many days; ``"due_date": null``
    recomputes it from the supplier's terms. The number cannot change."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"issue_date": "2026-03-03", "notes": "date fixed"}]},
    )

    issue_date: Day | None = None
    received_on: Day | None = None
    due_date: Day | None = None
    lines: list[PurchaseLineIn] | None = Field(default=None, min_length=1, max_length=500)
    currency: Currency | None = None
    notes: str | None = Field(default=None, max_length=2000)

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent."""
        values: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if name == "lines" and value is not None:
                value = [line.fields() for line in value]
            values[name] = value
        return values


class PurchaseInvoiceDispute(Strict):
    """Why the invoice is contested."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "prices differ from order"}]}
    )

    reason: Reason


class PurchaseInvoiceCancel(Strict):
    """Why the registration is voided."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "registered twice by mistake"}]}
    )

    reason: Reason


class SupplierPaymentCreate(Strict):
    """A payment of the invoice (full or partial), unique by reference on the invoice."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "payment_ref": "TRF-2026-0311",
                    "amount": "54.45",
                    "paid_on": "2026-04-01",
                    "method": "transfer",
                }
            ]
        },
    )

    payment_ref: str = Field(min_length=1, max_length=100, examples=["TRF-2026-0311"])
    amount: Money
    paid_on: Day | None = None
    method: MethodText = "transfer"


class PurchaseLinePublic(LineFigures):
    """A stored received line with its rounded base."""

    expense_category: str | None
    deductible: bool
    base: str


class PurchaseTotalsPublic(TaxTotalsFigures[RateTotalPublic, WithholdingPublic]):
    """The received invoice's tax breakdown and totals (money as decimal strings)."""

    total: str = Field(description="what is paid to the supplier", examples=["54.45"])
    deductible_vat: str = Field(description="input VAT of the deductible lines")


class SupplierPaymentPublic(BaseModel):
    """A recorded payment."""

    payment_ref: str
    amount: str = Field(examples=["54.45"])
    paid_on: str
    method: MethodText


class PurchaseInvoicePublic(BaseModel):
    """A received invoice as the API shows it."""

    id: UUID
    version: int
    supplier_id: UUID
    number: str
    issue_date: str
    received_on: str
    due_date: str
    status: PurchaseStatusText
    lines: list[PurchaseLinePublic]
    currency: str
    notes: str | None
    totals: PurchaseTotalsPublic
    payments: list[SupplierPaymentPublic]
    paid_total: str = Field(examples=["0.00"])
    outstanding: str = Field(examples=["54.45"])
    dispute_reason: str | None
    cancel_reason: str | None
    approved_by: str | None
    created_at: str
    modified_at: str


class PurchaseInvoicePage(BaseModel):
    """One page of received invoices in registration order; pass ``next_cursor`` as
    ``cursor`` for more."""

    items: list[PurchaseInvoicePublic]
    next_cursor: str | None


# -- payables ---------------------------------------------------------------------------


class AgeingBuckets(BaseModel):
    """Unpaid amounts by days past due at the ``as_of`` date."""

    not_due: str
    days_0_30: str
    days_31_60: str
    days_61_90: str
    days_over_90: str


class PayablesRow(BaseModel):
    """What is owed to one supplier in one currency."""

    supplier_id: UUID
    legal_name: str
    currency: str
    invoice_count: int
    outstanding: str = Field(examples=["1250.00"])
    buckets: AgeingBuckets


class PayablesTotal(BaseModel):
    """What is owed to all suppliers in one currency."""

    currency: str
    invoice_count: int
    outstanding: str = Field(examples=["1250.00"])
    buckets: AgeingBuckets


class PayablesPublic(BaseModel):
    """Payables at the end of ``as_of``, per supplier and currency, and in total."""

    as_of: str
    suppliers: list[PayablesRow]
    totals: list[PayablesTotal]
