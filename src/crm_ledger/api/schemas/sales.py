"""Request and response models of the pipelines and deals resources.

Money is a JSON string with at most two decimals (``"1234.50"``): a JSON number is
refused, so an amount never passes through a binary float. A deal line's quantity and
discount percent are JSON strings too (``"12"``, ``"10.00"``).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    WithJsonSchema,
)

from crm_ledger.api.schemas.common import date_text, decimal_schema, decimal_text

MONEY_PATTERN = r"^\d{1,12}(\.\d{1,2})?$"
QUANTITY_PATTERN = r"^\d{1,9}(\.\d{1,3})?$"
PERCENT_PATTERN = r"^\d{1,3}(\.\d{1,2})?$"
STAGE_ID_EXAMPLE = "3f0c2b8e-6d1a-4c57-9a3e-2b8f1d4e6a70"
PRODUCT_ID_EXAMPLE = "7d2c4f0e-1b3a-5c6d-8e9f-0a1b2c3d4e5f"


def _money_text(value: object) -> object:
    """Only a JSON string that matches MONEY_PATTERN may become a Decimal."""
    if isinstance(value, Decimal):  # already parsed (model built in Python)
        return value
    if not isinstance(value, str):
        raise ValueError('amount must be a JSON string such as "1234.50", not a number')
    if not re.fullmatch(MONEY_PATTERN, value):
        raise ValueError("amount must look like 1234.50: up to 12 digits, at most 2 decimals")
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_money_text),
    Field(ge=0, max_digits=14, decimal_places=2),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MONEY_PATTERN,
            "examples": ["1234.50"],
            "description": "decimal amount as a string, at most 2 decimals",
        }
    ),
]


LineQuantity = Annotated[
    Decimal,
    BeforeValidator(decimal_text(QUANTITY_PATTERN, "2.5")),
    Field(gt=0),
    decimal_schema(QUANTITY_PATTERN, "12", "quantity above zero as a string, at most 3 decimals"),
]
LinePercent = Annotated[
    Decimal,
    BeforeValidator(decimal_text(PERCENT_PATTERN, "10.00")),
    Field(ge=0, le=100),
    decimal_schema(
        PERCENT_PATTERN, "10.00", "percentage from 0 to 100 as a string, at most 2 decimals"
    ),
]
LineDescription = Annotated[
    str, Field(min_length=1, max_length=500, examples=["GPS tracker, 12-month plan"])
]
Currency = Annotated[
    str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code", examples=["EUR"])
]


CloseDate = Annotated[
    date,
    BeforeValidator(date_text("2026-06-30", field="expected_close")),
    Field(description="ISO 8601 date", examples=["2026-06-30"]),
]
Title = Annotated[str, Field(min_length=1, max_length=200, examples=["Acme renewal 2026"])]
Owner = Annotated[str, Field(min_length=1, max_length=100, examples=["ana@example.com"])]
StageName = Annotated[str, Field(min_length=1, max_length=100, examples=["Qualified"])]
Probability = Annotated[
    StrictInt, Field(ge=0, le=100, description="win probability in percent", examples=[20])
]
Category = Literal["pipeline", "best_case", "commit", "closed"]


class Strict(BaseModel):
    """Rejects unknown fields."""

    model_config = ConfigDict(extra="forbid")


# -- pipelines ------------------------------------------------------------------------


class StageCreate(Strict):
    """A new stage (appended at the end of the pipeline)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Negotiation", "probability": 60, "forecast_category": "commit"}]
        },
    )

    name: StageName
    probability: Probability
    forecast_category: Category = Field(examples=["best_case"])


class PipelineCreate(Strict):
    """A new pipeline with its ordered stages."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "New business",
                    "stages": [
                        {"name": "Qualified", "probability": 20, "forecast_category": "pipeline"},
                        {"name": "Proposal", "probability": 50, "forecast_category": "best_case"},
                        {"name": "Negotiation", "probability": 80, "forecast_category": "commit"},
                    ],
                }
            ]
        },
    )

    name: Annotated[str, Field(min_length=1, max_length=200, examples=["New business"])]
    stages: list[StageCreate] = Field(min_length=1, max_length=50)


class StageRename(Strict):
    """A stage's new name."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Demo"}]})

    name: StageName


class StageReorder(Strict):
    """Every active stage id, in the new order."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"stage_ids": [STAGE_ID_EXAMPLE]}]}
    )

    stage_ids: list[UUID] = Field(min_length=1, max_length=50)


class StagePublic(BaseModel):
    """A stage as the API shows it."""

    stage_id: str
    name: str
    probability: int
    forecast_category: Category
    retired: bool


class PipelinePublic(BaseModel):
    """A pipeline as the API shows it."""

    id: UUID
    version: int
    name: str
    stages: list[StagePublic]
    created_at: str
    modified_at: str


class PipelinePage(BaseModel):
    """A page of pipelines, newest first; pass ``next_cursor`` as ``cursor``."""

    items: list[PipelinePublic]
    next_cursor: str | None


# -- deals ----------------------------------------------------------------------------


class DealCreate(Strict):
    """A new deal (stage defaults to the pipeline's first active stage)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "Acme renewal 2026",
                    "contact_id": "0b5e7a52-8d6f-4b1e-9f59-6a0f6f0e2c11",
                    "pipeline_id": "5a1d9c7e-2f43-4b8a-8e6d-1c2b3a4d5e6f",
                    "amount": "1234.50",
                    "currency": "EUR",
                    "expected_close": "2026-06-30",
                }
            ]
        },
    )

    title: Title
    contact_id: UUID
    pipeline_id: UUID
    stage_id: UUID | None = None
    amount: Money | None = None
    currency: Currency
    expected_close: CloseDate | None = None
    owner: Owner | None = None

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for ``sales.create_deal``."""
        values = self.model_dump()
        values["stage_id"] = None if self.stage_id is None else str(self.stage_id)
        return values


class DealUpdate(Strict):
    """A partial update: only the fields present change; ``null`` clears a field."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"amount": "990.00", "expected_close": "2026-07-15"}]},
    )

    title: Title | None = None
    amount: Money | None = None
    currency: Currency | None = None
    expected_close: CloseDate | None = None
    owner: Owner | None = None

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent."""
        return self.model_dump(include=self.model_fields_set)


class DealMove(Strict):
    """The stage to move the deal to."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"stage_id": STAGE_ID_EXAMPLE}]}
    )

    stage_id: UUID


class DealLose(Strict):
    """Why the deal was lost."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "chose a competitor"}]}
    )

    reason: str = Field(min_length=1, max_length=1000, examples=["chose a competitor"])


class DealLineCreate(Strict):
    """A new line. With ``product_id`` the product must be active; its name is the default
    description and, without ``unit_price``, the catalogue prices the quantity in the
    deal's currency today (the price list's discount applies unless one is sent). Without
    a product, ``description`` and ``unit_price`` are required."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"product_id": PRODUCT_ID_EXAMPLE, "quantity": "12"},
                {
                    "description": "Installation and training",
                    "quantity": "1",
                    "unit_price": "150.00",
                    "discount_percent": "5",
                },
            ]
        },
    )

    product_id: UUID | None = None
    description: LineDescription | None = None
    quantity: LineQuantity
    unit_price: Money | None = None
    discount_percent: LinePercent | None = None

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for ``sales.add_deal_line``."""
        return self.model_dump()


class DealLineUpdate(Strict):
    """A partial change of a line: only the fields present change (the total and the
    deal's amount follow); ``null`` for ``discount_percent`` means no discount."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"quantity": "15", "discount_percent": "12.50"}]},
    )

    description: LineDescription | None = None
    quantity: LineQuantity | None = None
    unit_price: Money | None = None
    discount_percent: LinePercent | None = None

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent."""
        return self.model_dump(include=self.model_fields_set)


class DealLinePublic(BaseModel):
    """A deal line as the API shows it (numbers as decimal strings)."""

    line_id: str
    product_id: str | None
    description: str
    quantity: str = Field(examples=["12"])
    unit_price: str = Field(examples=["49.00"])
    discount_percent: str = Field(examples=["10.00"])
    total: str = Field(examples=["529.20"])


class StageVisit(BaseModel):
    """A stage the deal entered, when and by whom."""

    stage_id: str
    at: str
    actor: str


class DealPublic(BaseModel):
    """A deal as the API shows it (amount as a decimal string)."""

    id: UUID
    version: int
    title: str
    contact_id: UUID
    pipeline_id: UUID
    stage_id: str
    amount: str | None = Field(examples=["1234.50"])
    currency: str
    expected_close: str | None
    owner: str | None
    status: Literal["open", "won", "lost"]
    lost_reason: str | None
    closed_at: str | None
    stage_history: list[StageVisit]
    lines: list[DealLinePublic]
    created_at: str
    modified_at: str


class DealPage(BaseModel):
    """A page of deals, newest first; pass ``next_cursor`` as ``cursor``."""

    items: list[DealPublic]
    next_cursor: str | None
