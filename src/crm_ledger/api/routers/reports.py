"""``/reports/...``: revenue, forecast, win rate, receivables, customer value and
activity volume over the reporting read model, as JSON or CSV.

Each report waits for the read model like the pipeline reports do (``min_position``,
503 ``read_model_behind``) and answers CSV on ``?format=csv`` or ``Accept: text/csv``
(see `crm_ledger.api.reports_common`): one row per report line and currency. The CSV of
the customers report holds every row from the cursor on (``limit`` is ignored).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response

from crm_ledger.api.deps import (
    READ_WAIT_SECONDS,
    CrmDep,
    PrincipalDep,
    malformed_cursor,
    runner_of,
    wait_for_read_model,
)
from crm_ledger.api.problems import ProblemError
from crm_ledger.api.reports_common import (
    CSV_PAGE,
    CSV_RESPONSE,
    AcceptHeader,
    Format,
    csv_response,
    every_page,
    next_cursor,
    records_csv,
    wants_csv,
)
from crm_ledger.api.routers.activities import Cursor, MinPosition, cursor_key
from crm_ledger.api.schemas.reports import (
    ActivityPublic,
    CustomersPage,
    CustomerValue,
    ForecastPublic,
    ReceivablesPublic,
    RevenuePublic,
    RevenueRow,
    ServiceFigures,
    ServicePublic,
    WinRatePublic,
)
from crm_ledger.api.schemas.surveys import NpsFigures, NpsReport
from crm_ledger.application import CrmApplication
from crm_ledger.projections import reporting_queries as model
from crm_ledger.projections.cases import service_report
from crm_ledger.projections.runner import ProjectionRunner
from crm_ledger.projections.surveys import nps_report
from crm_ledger.storage.sql import Tx

router = APIRouter(prefix="/reports", tags=["reports"])
T = TypeVar("T")

From = Annotated[date | None, Query(alias="from", description="first day (inclusive)")]
To = Annotated[date | None, Query(alias="to", description="last day (inclusive)")]
CurrencyFilter = Annotated[
    str | None, Query(pattern=r"^[A-Z]{3}$", description="only this ISO 4217 currency")
]
GroupBy = Literal["month", "quarter", "year", "product", "owner", "customer"]


async def get_reporting_runner(request: Request) -> ProjectionRunner:
    """The runner that keeps the reporting read model up to date."""
    return runner_of(request, "reporting")


ReportingRunnerDep = Annotated[ProjectionRunner, Depends(get_reporting_runner)]


def caught_up(crm: CrmApplication, runner: ProjectionRunner, min_position: int | None) -> None:
    """Block until the reporting read model reached `min_position` (default: the head)."""
    wait_for_read_model(crm, runner, min_position, name="reporting", timeout=READ_WAIT_SECONDS)


def _period(start: date | None, end: date | None) -> model.Period:
    if start is not None and end is not None and end < start:
        raise ProblemError(400, "invalid_range", "Invalid range", "`to` is before `from`")
    return model.Period(start, end)


def _range_name(period: model.Period) -> str:
    return f"{period.start or 'start'}-{period.end or 'end'}"


def _over_period(
    crm: CrmApplication,
    runner: ProjectionRunner,
    min_position: int | None,
    start: date | None,
    end: date | None,
    query: Callable[[Tx, model.Period], T],
    *,
    name: str = "reporting",
) -> tuple[model.Period, T]:
    """Wait for the read model (`runner`'s, called `name`), check the range, then run
    `query` over it."""
    wait_for_read_model(crm, runner, min_position, name=name, timeout=READ_WAIT_SECONDS)
    period = _period(start, end)
    with crm.db.transaction(write=False) as tx:
        return period, query(tx, period)


@router.get(
    "/revenue",
    response_model=RevenuePublic,
    responses=CSV_RESPONSE,
    summary="Net revenue per period, product, owner or customer, per currency",
    description="Sum of the taxable bases of issued invoices less credit notes and "
    "rectifications, by issue date; cancelled invoices are left out. Currencies are never "
    "added together. The owner is the customer's owner when the invoice was issued.",
)
def revenue_report(
    crm: CrmDep,
    runner: ReportingRunnerDep,
    principal: PrincipalDep,
    group_by: GroupBy = "month",
    start: From = None,
    end: To = None,
    currency: CurrencyFilter = None,
    min_position: MinPosition = None,
    format: Format = None,
    accept: AcceptHeader = None,
) -> Response | RevenuePublic:
    period, rows = _over_period(
        crm,
        runner,
        min_position,
        start,
        end,
        lambda tx, period: model.revenue(tx, group_by, period, currency),
    )
    if wants_csv(format, accept):
        return records_csv(f"revenue-by-{group_by}-{_range_name(period)}", RevenueRow, rows)
    return RevenuePublic.model_validate(
        {**period.as_dict(), "group_by": group_by, "currency": currency, "rows": rows}
    )


@router.get(
    "/forecast",
    response_model=ForecastPublic,
    responses=CSV_RESPONSE,
    summary="Forecast per month: amount and weighted amount, per forecast category",
    description="Open deals by month of expected close, weighted by their stage's "
    "probability and counted in their stage's forecast category; won deals by month of "
    "closing at 100 % in category `closed`. Lost deals and open deals without an expected "
    "close are left out. Weighted figures are rounded once, half up.",
)
def forecast_report(
    crm: CrmDep,
    runner: ReportingRunnerDep,
    principal: PrincipalDep,
    start: From = None,
    end: To = None,
    min_position: MinPosition = None,
    format: Format = None,
    accept: AcceptHeader = None,
) -> Response | ForecastPublic:
    period, report = _over_period(crm, runner, min_position, start, end, model.forecast)
    if not wants_csv(format, accept):
        return ForecastPublic.model_validate(report)
    header = ["month", "currency", "category", "count", "amount", "weighted"]
    rows: list[list[Any]] = []
    for month in report["months"]:
        for c in month["categories"]:
            rows.append([month["month"], month["currency"], c["category"], *_figures(c)])
        rows.append([month["month"], month["currency"], None, *_figures(month)])
    return csv_response(f"forecast-{_range_name(period)}", header, rows)


def _figures(row: dict[str, Any]) -> list[Any]:
    return [row["count"], row["amount"], row["weighted"]]


@router.get(
    "/win-rate",
    response_model=WinRatePublic,
    responses=CSV_RESPONSE,
    summary="Win rate and average days to win of the deals closed in a range",
)
def win_rate_report(
    crm: CrmDep,
    runner: ReportingRunnerDep,
    principal: PrincipalDep,
    start: From = None,
    end: To = None,
    min_position: MinPosition = None,
    format: Format = None,
    accept: AcceptHeader = None,
) -> Response | WinRatePublic:
    period, report = _over_period(crm, runner, min_position, start, end, model.win_rate)
    if not wants_csv(format, accept):
        return WinRatePublic.model_validate(report)
    figures = ["won", "lost", "win_rate", "average_days_to_win"]
    rows = [["all", None, *(report[k] for k in figures)]]
    rows += [["owner", o["owner"], *(o[k] for k in figures)] for o in report["owners"]]
    return csv_response(f"win-rate-{_range_name(period)}", ["scope", "owner", *figures], rows)


@router.get(
    "/receivables",
    response_model=ReceivablesPublic,
    responses=CSV_RESPONSE,
    summary="What customers owe at the end of a day, aged by days past due",
    description="Per customer and currency and in total: issued invoices (with their "
    "credit notes and rectifications) not cancelled, less the payments received by "
    "`as_of`; aged by `as_of` minus the due date of the invoice: not due, 0-30, 31-60, "
    "61-90, over 90 days.",
)
def receivables_report(
    crm: CrmDep,
    runner: ReportingRunnerDep,
    principal: PrincipalDep,
    as_of: Annotated[date | None, Query(description="the day (default: today, UTC)")] = None,
    min_position: MinPosition = None,
    format: Format = None,
    accept: AcceptHeader = None,
) -> Response | ReceivablesPublic:
    caught_up(crm, runner, min_position)
    day = as_of or datetime.now(UTC).date()
    with crm.db.transaction(write=False) as tx:
        report = model.receivables(tx, day)
    if not wants_csv(format, accept):
        return ReceivablesPublic.model_validate(report)
    header = ["scope", "customer_id", "name", "currency", "invoice_count", "outstanding"]
    rows = [
        ["customer", r["customer_id"], r["name"], r["currency"], *_aged(r)]
        for r in report["customers"]
    ]
    rows += [["total", None, None, t["currency"], *_aged(t)] for t in report["totals"]]
    return csv_response(f"receivables-{day.isoformat()}", [*header, *model.BUCKETS], rows)


def _aged(row: dict[str, Any]) -> list[Any]:
    return [row["invoice_count"], row["outstanding"], *(row["buckets"][b] for b in model.BUCKETS)]


@router.get(
    "/customers",
    response_model=CustomersPage,
    responses=CSV_RESPONSE,
    summary="Top customers: lifetime net revenue, cost of goods and margin, per currency",
    description="Ranked per currency by `sort` (highest first), cursor-paginated. Margin = "
    "revenue - cost of goods where the product's cost was known when invoiced; "
    "`uncosted_revenue` is the revenue of lines without a known cost.",
)
def customers_report(
    crm: CrmDep,
    runner: ReportingRunnerDep,
    principal: PrincipalDep,
    sort: Literal["revenue", "margin"] = "revenue",
    currency: CurrencyFilter = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
    format: Format = None,
    accept: AcceptHeader = None,
) -> Response | CustomersPage:
    caught_up(crm, runner, min_position)
    after = cursor_key(cursor)
    try:
        with crm.db.transaction(write=False) as tx:
            if not wants_csv(format, accept):
                items, next_key = model.customers(
                    tx, sort=sort, currency=currency, limit=limit, after=after
                )
                return CustomersPage.model_validate(
                    {"sort": sort, "items": items, "next_cursor": next_cursor(next_key)}
                )
            rows = every_page(
                tx,
                after,
                lambda tx, after: model.customers(
                    tx, sort=sort, currency=currency, limit=CSV_PAGE, after=after
                ),
            )
    except ValueError:
        raise malformed_cursor() from None
    return records_csv(f"customers-by-{sort}", CustomerValue, rows)


@router.get(
    "/activity",
    response_model=ActivityPublic,
    responses=CSV_RESPONSE,
    summary="Activities per owner and kind in a range (cancelled ones left out)",
    description="The owner of an activity is its assignee, else whoever logged it; its "
    "day is the UTC day it occurred (a task: the day it was logged).",
)
def activity_report(
    crm: CrmDep,
    runner: ReportingRunnerDep,
    principal: PrincipalDep,
    start: From = None,
    end: To = None,
    min_position: MinPosition = None,
    format: Format = None,
    accept: AcceptHeader = None,
) -> Response | ActivityPublic:
    period, report = _over_period(crm, runner, min_position, start, end, model.activity)
    if not wants_csv(format, accept):
        return ActivityPublic.model_validate(report)
    rows = [[o["owner"], k["kind"], k["count"]] for o in report["owners"] for k in o["kinds"]]
    return csv_response(f"activity-{_range_name(period)}", ["owner", "kind", "count"], rows)


SERVICE_FIGURES = list(ServiceFigures.model_fields)


@router.get(
    "/service",
    response_model=ServicePublic,
    responses=CSV_RESPONSE,
    summary="Service cases opened in a range: SLA compliance, times and satisfaction",
    description="Per priority and in total, for the cases opened from `from` to `to` (UTC "
    "days): how many were resolved or are still active, each SLA clock met or breached "
    "(as of now: a clock still running past its due time counts as breached), mean hours "
    "to the first response and to the resolution, and the customers' ratings (CSAT).",
)
def service(
    crm: CrmDep,
    request: Request,
    principal: PrincipalDep,
    start: From = None,
    end: To = None,
    min_position: MinPosition = None,
    format: Format = None,
    accept: AcceptHeader = None,
) -> Response | ServicePublic:
    period, report = _over_period(
        crm,
        runner_of(request, "cases"),
        min_position,
        start,
        end,
        lambda tx, p: service_report(tx, p.start, p.end, datetime.now(UTC)),
        name="cases",
    )
    if not wants_csv(format, accept):
        return ServicePublic.model_validate(report)
    rows = [["all", *(report["total"][k] for k in SERVICE_FIGURES)]]
    rows += [[p["priority"], *(p[k] for k in SERVICE_FIGURES)] for p in report["priorities"]]
    return csv_response(f"service-{_range_name(period)}", ["priority", *SERVICE_FIGURES], rows)


NPS_FIGURES = list(NpsFigures.model_fields)


@router.get(
    "/nps",
    response_model=NpsReport,
    responses=CSV_RESPONSE,
    summary="Net Promoter Score of the answers given in a range, in total and per survey",
    description="Promoters answered 9 or 10, passives 7 or 8, detractors 0 to 6; the score "
    "is % promoters - % detractors (-100 to 100). By the UTC day each person answered.",
)
def nps(
    crm: CrmDep,
    request: Request,
    principal: PrincipalDep,
    start: From = None,
    end: To = None,
    survey: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    min_position: MinPosition = None,
    format: Format = None,
    accept: AcceptHeader = None,
) -> Response | NpsReport:
    period, report = _over_period(
        crm,
        runner_of(request, "surveys"),
        min_position,
        start,
        end,
        lambda tx, p: nps_report(tx, p.start, p.end, survey),
        name="surveys",
    )
    if not wants_csv(format, accept):
        return NpsReport.model_validate(report)
    rows = [["all", *(report["total"][k] for k in NPS_FIGURES)]]
    rows += [[s["survey"], *(s[k] for k in NPS_FIGURES)] for s in report["surveys"]]
    return csv_response(f"nps-{_range_name(period)}", ["survey", *NPS_FIGURES], rows)
