"""Response models of the ``/pipeline/...`` reports (money as decimal strings)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CurrencyTotal(BaseModel):
    """Deals in one currency: how many, their amount and their weighted amount."""

    currency: str = Field(examples=["EUR"])
    count: int
    amount: str = Field(examples=["1234.50"])
    weighted: str = Field(
        examples=["617.25"],
        description="amount x stage probability / 100, exact, rounded once to cents (half up)",
    )


class ClosedTotal(BaseModel):
    """Won or lost deals in one currency."""

    currency: str = Field(examples=["EUR"])
    count: int
    amount: str = Field(examples=["1234.50"])


class BoardStage(BaseModel):
    """The open deals in one stage."""

    stage_id: str
    name: str
    probability: int
    retired: bool
    count: int
    totals: list[CurrencyTotal]


class ClosedSummary(BaseModel):
    """Won or lost deals of the pipeline."""

    count: int
    totals: list[ClosedTotal]


class BoardPublic(BaseModel):
    """``GET /pipeline/{id}/board``."""

    pipeline_id: str
    stages: list[BoardStage]
    won: ClosedSummary
    lost: ClosedSummary


class OwnerRow(BaseModel):
    """The open deals of one owner (``owner`` null: deals with no owner)."""

    owner: str | None
    count: int
    totals: list[CurrencyTotal]


class OwnersPublic(BaseModel):
    """``GET /pipeline/{id}/owners``."""

    pipeline_id: str
    owners: list[OwnerRow]


class AgeingStage(BaseModel):
    """How long the open deals of one stage have been in it, in whole days."""

    stage_id: str
    name: str
    count: int
    average_days: str | None = Field(examples=["12.5"], description="one decimal, half up")
    max_days: int | None


class AgeingPublic(BaseModel):
    """``GET /pipeline/{id}/ageing``."""

    pipeline_id: str
    as_of: str
    stages: list[AgeingStage]


class SlippingDeal(BaseModel):
    """An open deal whose expected close date is before ``as_of``."""

    deal_id: str
    title: str
    pipeline_id: str
    stage_id: str
    stage_name: str | None
    owner: str | None
    amount: str | None = Field(examples=["1234.50"])
    currency: str
    expected_close: str
    days_overdue: int


class SlippingPage(BaseModel):
    """One page of ``GET /pipeline/slipping``."""

    as_of: str
    items: list[SlippingDeal]
    next_cursor: str | None
