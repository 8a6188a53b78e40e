"""Response models of the ``/reports/...`` endpoints (money as decimal strings, one
currency per figure: amounts in different currencies are never added up)."""

from __future__ import annotations

from pydantic import BaseModel, Field

MONEY = ["1234.50"]


class Range(BaseModel):
    """The inclusive range of days a report covers (null: open ended)."""

    from_: str | None = Field(alias="from", serialization_alias="from")
    to: str | None


class RevenueRow(BaseModel):
    """Net revenue of one group in one currency."""

    key: str | None = Field(
        description="2026-03 (month), 2026-Q1 (quarter), 2026 (year), or the product id, "
        "owner or customer id (null: none)"
    )
    label: str | None = Field(description="the product's or customer's name")
    currency: str = Field(examples=["EUR"])
    invoice_count: int = Field(description="invoices and credit notes that contributed")
    revenue: str = Field(
        examples=MONEY,
        description="sum of taxable bases: invoices less credit notes, cancelled left out",
    )


class RevenuePublic(Range):
    """``GET /reports/revenue``."""

    group_by: str
    currency: str | None
    rows: list[RevenueRow]


class ForecastFigures(BaseModel):
    """Deals counted, their amount and weighted amount."""

    count: int
    amount: str = Field(examples=MONEY)
    weighted: str = Field(
        examples=["617.25"],
        description="amount x probability / 100, exact, rounded once to cents (half up)",
    )


class CategoryFigures(ForecastFigures):
    """The deals of one forecast category."""

    category: str = Field(examples=["commit"])


class ForecastMonth(ForecastFigures):
    """The deals of one month in one currency, and per forecast category."""

    month: str = Field(examples=["2026-03"])
    currency: str
    categories: list[CategoryFigures]


class CategoryTotal(CategoryFigures):
    """The deals of one forecast category in one currency over the whole range."""

    currency: str


class ForecastPublic(Range):
    """``GET /reports/forecast``."""

    months: list[ForecastMonth]
    categories: list[CategoryTotal]


class ClosedFigures(BaseModel):
    """Won and lost deals, win rate and days to win."""

    won: int
    lost: int
    win_rate: str | None = Field(
        examples=["66.7"], description="won / (won + lost) in percent, one decimal, half up"
    )
    average_days_to_win: str | None = Field(
        examples=["12.5"], description="whole days from creation to won, averaged, one decimal"
    )


class OwnerClosed(ClosedFigures):
    """The closed deals of one owner (null: no owner)."""

    owner: str | None


class WonAmount(BaseModel):
    """Won deals in one currency."""

    currency: str
    count: int
    amount: str = Field(examples=MONEY)


class WinRatePublic(Range, ClosedFigures):
    """``GET /reports/win-rate``."""

    won_amounts: list[WonAmount]
    owners: list[OwnerClosed]


class AgeingBuckets(BaseModel):
    """Amounts owed by days past due at the ``as_of`` date."""

    not_due: str
    days_0_30: str
    days_31_60: str
    days_61_90: str
    days_over_90: str


class ReceivablesRow(BaseModel):
    """What one customer owes in one currency."""

    customer_id: str | None
    name: str | None
    currency: str
    invoice_count: int = Field(description="invoices (with their rectifications) owing")
    outstanding: str = Field(examples=MONEY)
    buckets: AgeingBuckets


class ReceivablesTotal(BaseModel):
    """What all customers owe in one currency."""

    currency: str
    invoice_count: int
    outstanding: str = Field(examples=MONEY)
    buckets: AgeingBuckets


class ReceivablesPublic(BaseModel):
    """``GET /reports/receivables``."""

    as_of: str
    customers: list[ReceivablesRow]
    totals: list[ReceivablesTotal]


class CustomerValue(BaseModel):
    """A customer's lifetime figures in one currency."""

    customer_id: str
    name: str | None
    currency: str
    invoice_count: int
    revenue: str = Field(examples=MONEY, description="lifetime net revenue (taxable bases)")
    cost: str = Field(examples=["800.00"], description="cost of goods where known")
    margin: str = Field(examples=["434.50"], description="revenue - cost")
    uncosted_revenue: str = Field(
        examples=["0.00"], description="revenue of lines whose cost of goods is unknown"
    )


class CustomersPage(BaseModel):
    """One page of ``GET /reports/customers``."""

    sort: str
    items: list[CustomerValue]
    next_cursor: str | None


class KindCount(BaseModel):
    """Activities of one kind."""

    kind: str
    count: int


class OwnerActivity(BaseModel):
    """The activities of one owner (assignee, else who logged it)."""

    owner: str
    count: int = Field(description="activities of every kind")
    kinds: list[KindCount]


class ActivityPublic(Range):
    """``GET /reports/activity``."""

    owners: list[OwnerActivity]


class ServiceFigures(BaseModel):
    """Figures of a set of service cases (SLA states as of the report's `as_of`)."""

    opened: int
    resolved: int
    active: int = Field(description="new, open or pending now")
    first_response_met: int
    first_response_breached: int = Field(description="answered late, or unanswered past due")
    first_response_met_share: float | None = Field(description="met / (met + breached)")
    resolution_met: int
    resolution_breached: int
    resolution_met_share: float | None
    mean_hours_to_first_response: float | None
    mean_hours_to_resolution: float | None = Field(description="from opening, waits included")
    rated: int
    csat_mean: float | None = Field(description="mean rating, 1 to 5")
    csat_satisfied_share: float | None = Field(description="share of ratings of 4 or 5")


class PriorityFigures(ServiceFigures):
    priority: str


class ServicePublic(Range):
    """``GET /reports/service``."""

    as_of: str
    total: ServiceFigures
    priorities: list[PriorityFigures]
