"""Request and response models of the payments resource.

Money is a JSON string with at most two decimals (``"1234.50"``): a JSON number is
refused, so no amount passes through a binary float. The domain validates the rest.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm_ledger.api.schemas.invoicing import DueDate
from crm_ledger.api.schemas.sales import Currency, Money, Strict

INVOICE_ID_EXAMPLE = "9c1f3e2a-7b4d-4e6f-8a9b-0c1d2e3f4a5b"
Method = Literal["transfer", "card", "cash", "direct_debit", "other"]


class AllocationCreate(Strict):
    """Part of a payment applied to one issued invoice of the same customer."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"invoice_id": INVOICE_ID_EXAMPLE, "amount": "57.16"}]},
    )

    invoice_id: UUID
    amount: Money

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for ``payments.allocate_payment``."""
        return {"invoice_id": self.invoice_id, "amount": self.amount}


class PaymentCreate(Strict):
    """Money received from a customer; optionally allocated at once. What is not
    allocated stays as the customer's credit."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "0b5e7a52-8d6f-4b1e-9f59-6a0f6f0e2c11",
                    "method": "transfer",
                    "received_on": "2026-03-10",
                    "amount": "100.00",
                    "currency": "EUR",
                    "reference": "TRF 2026/0310-7",
                    "allocations": [{"invoice_id": INVOICE_ID_EXAMPLE, "amount": "57.16"}],
                }
            ]
        },
    )

    customer_id: UUID
    method: Method
    received_on: DueDate = Field(description="the day the money was received")
    amount: Money
    currency: Currency = "EUR"
    reference: str | None = Field(default=None, max_length=200)
    allocations: list[AllocationCreate] = Field(default_factory=list, max_length=100)

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for ``payments.record_payment``."""
        return {
            "customer_id": self.customer_id,
            "method": self.method,
            "received_on": self.received_on,
            "amount": self.amount,
            "currency": self.currency,
            "reference": self.reference,
            "allocations": [a.fields() for a in self.allocations],
        }


class PaymentRefund(Strict):
    """Money returned to the customer from the payment's unallocated credit."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"amount": "20.00", "reason": "overpaid"}]},
    )

    amount: Money
    reason: str = Field(min_length=1, max_length=500)
    refunded_on: DueDate | None = Field(default=None, description="default: today")

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for ``payments.refund_payment``."""
        return {"amount": self.amount, "reason": self.reason, "refunded_on": self.refunded_on}


class PaymentVoid(Strict):
    """Why the payment is voided (recorded in error, bounced...)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "direct debit returned"}]}
    )

    reason: str = Field(min_length=1, max_length=500)


class AllocationPublic(BaseModel):
    """The amount of the payment applied to one invoice."""

    invoice_id: UUID
    amount: str = Field(examples=["57.16"])


class RefundPublic(BaseModel):
    """A refund of part of the payment's credit."""

    amount: str = Field(examples=["20.00"])
    reason: str
    refunded_on: date


class PaymentPublic(BaseModel):
    """A payment as the API shows it: ``unallocated`` is the customer's credit on it."""

    id: UUID
    version: int
    customer_id: UUID
    method: Method
    received_on: date
    amount: str = Field(examples=["100.00"])
    currency: str
    reference: str | None
    allocations: list[AllocationPublic]
    allocated: str = Field(examples=["57.16"])
    refunds: list[RefundPublic]
    refunded: str = Field(examples=["0.00"])
    unallocated: str = Field(examples=["42.84"])
    status: Literal["recorded", "voided"]
    void_reason: str | None
    created_at: str
    modified_at: str


class PaymentPage(BaseModel):
    """A page of payments, newest received first; pass ``next_cursor`` as ``cursor``."""

    items: list[PaymentPublic]
    next_cursor: str | None


class CreditInCurrency(BaseModel):
    """What a customer's payments still hold in one currency."""

    currency: str
    credit: str = Field(examples=["120.00"])
    payments: int = Field(description="how many recorded payments hold some of it")


class CustomerCredit(BaseModel):
    """A customer's credit: per currency, the unallocated, unrefunded part of its
    payments (voided ones left out). Currencies with none are not listed."""

    customer_id: UUID
    credit: list[CreditInCurrency]
