"""The reports of ``/reports/...``, as queries over the reporting read model
(`crm_ledger.projections.reporting`). Every figure is a sum over its rows.

**Receivables** (:func:`receivables`) as of a day D group an invoice with the
rectifications made of it (a *family*, keyed by the first invoice, ``root_id``): what the
family owes at the end of D is the sum of the net totals (after withholding) of its
members issued by D and not cancelled, less the payments allocated to them that were
received by D. A family owing more than 0 is aged by D minus the due date of its first
invoice (the debt arose there): ``not_due`` (< 0), ``days_0_30``, ``days_31_60``,
``days_61_90``, ``days_over_90`` (> 90), as the payables report does. A credit (owing
less than 0) is no receivable and is left out.

Weighted amounts are summed as exact cent-percents and rounded once per figure (see
`crm_ledger.projections.pipeline`); a rate or an average has one decimal, half up. Days
are whole UTC calendar days. Amounts in different currencies are never added together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from crm_ledger.domain.pipeline import ForecastCategory
from crm_ledger.projections.pipeline import days_between, money, weighted_money
from crm_ledger.projections.reporting import (
    ACTIVITIES,
    ALLOCATIONS,
    CUSTOMERS,
    DEALS,
    INVOICES,
    ISSUED,
    LINES,
    LOST,
    PAYMENTS,
    PRODUCTS,
    SEP,
    STAGES,
    WON,
    sql_int,
    sql_text,
)
from crm_ledger.storage.sql import Tx

BUCKETS = ("not_due", "days_0_30", "days_31_60", "days_61_90", "days_over_90")
CATEGORIES = tuple(c.value for c in ForecastCategory)
WON_CATEGORY = ForecastCategory.CLOSED.value


def bucket_of(days_past_due: int) -> str:
    """The ageing bucket of an amount `days_past_due` days after its due date."""
    if days_past_due < 0:
        return "not_due"
    if days_past_due <= 30:
        return "days_0_30"
    if days_past_due <= 60:
        return "days_31_60"
    if days_past_due <= 90:
        return "days_61_90"
    return "days_over_90"


def period_of(day: str, group_by: str) -> str:
    """The period of an ISO day: ``2026-03`` (month), ``2026-Q1`` (quarter), ``2026``."""
    if group_by == "month":
        return day[:7]
    if group_by == "quarter":
        return f"{day[:4]}-Q{(int(day[5:7]) - 1) // 3 + 1}"
    return day[:4]


def one_decimal(numerator: int, denominator: int) -> str | None:
    """``numerator / denominator`` with one decimal, half up (None when dividing by 0)."""
    if not denominator:
        return None
    value = Decimal(numerator) / Decimal(denominator)
    return f"{value.quantize(Decimal('0.1'), ROUND_HALF_UP):f}"


@dataclass(frozen=True)
class Period:
    """An inclusive range of days; either end may be open."""

    start: date | None = None
    end: date | None = None

    def where(self, column: str) -> tuple[list[str], list[Any]]:
        """SQL conditions (and parameters) that keep the ISO day in `column` in range."""
        conditions: list[str] = []
        params: list[Any] = []
        if self.start is not None:
            conditions.append(f"{column} >= ?")
            params.append(self.start.isoformat())
        if self.end is not None:
            conditions.append(f"{column} <= ?")
            params.append(self.end.isoformat())
        return conditions, params

    def holds(self, day: str) -> bool:
        """Whether the ISO day `day` is in range."""
        return (self.start is None or day >= self.start.isoformat()) and (
            self.end is None or day <= self.end.isoformat()
        )

    def as_dict(self) -> dict[str, str | None]:
        return {
            "from": None if self.start is None else self.start.isoformat(),
            "to": None if self.end is None else self.end.isoformat(),
        }


GROUP_COLUMNS = {
    "month": "issue_date",
    "quarter": "issue_date",
    "year": "issue_date",
    "product": "product_id",
    "owner": "owner",
    "customer": "customer_id",
}
PERIODS = ("month", "quarter", "year")


def _labels(tx: Tx, table: str, ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    marks = ", ".join("?" for _ in wanted)
    rows = tx.all(f"SELECT id, name FROM {table} WHERE id IN ({marks})", wanted)
    return {str(r[0]): str(r[1]) for r in rows}


def revenue(
    tx: Tx, group_by: str, period: Period, currency: str | None = None
) -> list[dict[str, Any]]:
    """Net revenue (sum of line bases: invoices less credit notes, cancelled ones left
    out) per group and currency, with how many invoices contributed. Periods come in
    time order; other groups by currency, then revenue (highest first), then key."""
    column = GROUP_COLUMNS[group_by]
    conditions, params = period.where("issue_date")
    conditions.insert(0, "cancelled = 0")
    if currency is not None:
        conditions.append("currency = ?")
        params.append(currency)
    rows = tx.all(
        f"SELECT {column} AS grp, invoice_id AS inv, currency AS cur,"
        f" SUM(base_cents) AS base FROM {LINES} WHERE {' AND '.join(conditions)}"
        f" GROUP BY {column}, invoice_id, currency",
        params,
    )
    groups: dict[tuple[str | None, str], list[Any]] = {}
    for key, invoice_id, cur, base in rows:
        name = sql_text(key)
        if group_by in PERIODS and name is not None:
            name = period_of(name, group_by)
        entry = groups.setdefault((name, str(cur)), [set(), 0])
        entry[0].add(str(invoice_id))
        entry[1] += sql_int(base)
    table = {"product": PRODUCTS, "customer": CUSTOMERS}.get(group_by)
    labels = {} if table is None else _labels(tx, table, (k for k, _ in groups if k))
    result: list[dict[str, Any]] = [
        {
            "key": key,
            "label": labels.get(key) if key is not None else None,
            "currency": cur,
            "invoice_count": len(invoices),
            "revenue": money(total),
        }
        for (key, cur), (invoices, total) in groups.items()
    ]
    if group_by in PERIODS:
        result.sort(key=lambda r: (r["key"], r["currency"]))
    else:
        amounts = {(k, c): v[1] for (k, c), v in groups.items()}
        result.sort(
            key=lambda r: (
                r["currency"],
                -amounts[(r["key"], r["currency"])],
                r["key"] is None,
                r["key"] or "",
            )
        )
    return result


class _Sums:
    """Count, cents and cent-percents."""

    def __init__(self) -> None:
        self.count = 0
        self.cents = 0
        self.cent_percents = 0

    def add(self, amount_cents: int, probability: int) -> None:
        self.count += 1
        self.cents += amount_cents
        self.cent_percents += amount_cents * probability

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "amount": money(self.cents),
            "weighted": weighted_money(self.cent_percents),
        }


def forecast(tx: Tx, period: Period) -> dict[str, Any]:
    """Per month and currency: open deals by month of expected close (amount x their
    stage's probability, in their stage's forecast category) and won deals by month of
    closing (100 %, category ``closed``); lost deals and open deals without an expected
    close are left out. Also totals per forecast category and currency."""
    rows = tx.all(
        f"SELECT d.status, d.amount_cents, d.currency, d.expected_close, d.closed_at,"
        f" s.probability, s.forecast_category FROM {DEALS} d LEFT JOIN {STAGES} s"
        " ON s.pipeline_id = d.pipeline_id AND s.stage_id = d.stage_id WHERE d.status <> ?",
        (LOST,),
    )
    months: dict[tuple[str, str], dict[str, _Sums]] = {}
    for status, amount, cur, expected, closed, probability, category in rows:
        if status == WON:
            day, weight, kind = str(closed)[:10], 100, WON_CATEGORY
        elif expected is None:
            continue
        else:
            day, weight = str(expected), int(probability or 0)
            kind = str(category or ForecastCategory.PIPELINE.value)
        if not period.holds(day):
            continue
        per_category = months.setdefault((day[:7], str(cur)), {})
        per_category.setdefault(kind, _Sums()).add(sql_int(amount), weight)
    month_rows = []
    totals: dict[tuple[str, str], _Sums] = {}
    for month, cur in sorted(months):
        per_category = months[(month, cur)]
        month_sums = _Sums()
        for kind, sums in per_category.items():
            for target in (month_sums, totals.setdefault((kind, cur), _Sums())):
                target.count += sums.count
                target.cents += sums.cents
                target.cent_percents += sums.cent_percents
        month_rows.append(
            {
                "month": month,
                "currency": cur,
                **month_sums.as_dict(),
                "categories": [
                    {"category": kind, **per_category[kind].as_dict()}
                    for kind in CATEGORIES
                    if kind in per_category
                ],
            }
        )
    order = {kind: index for index, kind in enumerate(CATEGORIES)}
    return {
        **period.as_dict(),
        "months": month_rows,
        "categories": [
            {"category": kind, "currency": cur, **totals[(kind, cur)].as_dict()}
            for kind, cur in sorted(totals, key=lambda k: (k[1], order.get(k[0], 99), k[0]))
        ],
    }


class _Closed:
    """Won and lost counts, days to win."""

    def __init__(self) -> None:
        self.won = 0
        self.lost = 0
        self.days = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "won": self.won,
            "lost": self.lost,
            "win_rate": one_decimal(100 * self.won, self.won + self.lost),
            "average_days_to_win": one_decimal(self.days, self.won),
        }


def win_rate(tx: Tx, period: Period) -> dict[str, Any]:
    """Deals closed in the period (by the UTC day they were won or lost): won / (won +
    lost) in percent, and the average whole days from creation to closing of the won
    ones (both one decimal, half up; None when there is nothing to divide), overall and
    per owner (owners by name, no owner last); won amounts per currency."""
    conditions, params = period.where("substr(closed_at, 1, 10)")
    where = " AND ".join(["status IN (?, ?)", *conditions])
    rows = tx.all(
        f"SELECT owner, status, amount_cents, currency, created_at, closed_at FROM {DEALS}"
        f" WHERE {where}",
        (WON, LOST, *params),
    )
    overall = _Closed()
    owners: dict[str | None, _Closed] = {}
    won_amounts: dict[str, list[int]] = {}
    for owner, status, amount, cur, created, closed in rows:
        for target in (overall, owners.setdefault(sql_text(owner), _Closed())):
            if status == WON:
                target.won += 1
                target.days += days_between(str(created), date.fromisoformat(str(closed)[:10]))
            else:
                target.lost += 1
        if status == WON:
            entry = won_amounts.setdefault(str(cur), [0, 0])
            entry[0] += 1
            entry[1] += sql_int(amount)
    order = sorted(owners, key=lambda o: (o is None, o or ""))
    return {
        **period.as_dict(),
        **overall.as_dict(),
        "won_amounts": [
            {"currency": cur, "count": won_amounts[cur][0], "amount": money(won_amounts[cur][1])}
            for cur in sorted(won_amounts)
        ],
        "owners": [{"owner": o, **owners[o].as_dict()} for o in order],
    }


def _aged() -> dict[str, Any]:
    return {"invoice_count": 0, "outstanding": 0, **dict.fromkeys(BUCKETS, 0)}


def _aged_text(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "invoice_count": row["invoice_count"],
        "outstanding": money(row["outstanding"]),
        "buckets": {b: money(row[b]) for b in BUCKETS},
    }


def receivables(tx: Tx, as_of: date) -> dict[str, Any]:
    """What customers owe at the end of `as_of`, per customer and currency and in total
    per currency, aged by days past due (see the module docstring)."""
    day = as_of.isoformat()
    members = tx.all(
        f"SELECT id, root_id, net_total_cents FROM {INVOICES} WHERE status = ? AND issue_date <= ?",
        (ISSUED, day),
    )
    paid = tx.all(
        f"SELECT a.invoice_id, SUM(a.amount_cents) AS paid FROM {ALLOCATIONS} a"
        f" JOIN {PAYMENTS} p ON p.id = a.payment_id WHERE p.received_on <= ?"
        " GROUP BY a.invoice_id",
        (day,),
    )
    paid_by_invoice = {str(r[0]): sql_int(r[1]) for r in paid}
    owed: dict[str, int] = {}
    for invoice_id, root_id, net_total in members:
        root = str(root_id)
        owed[root] = (
            owed.get(root, 0) + sql_int(net_total) - paid_by_invoice.get(str(invoice_id), 0)
        )
    roots = {k: v for k, v in owed.items() if v > 0}
    marks = ", ".join("?" for _ in roots)
    info = (
        tx.all(
            f"SELECT id, customer_id, currency, due_on FROM {INVOICES} WHERE id IN ({marks})",
            sorted(roots),
        )
        if roots
        else []
    )
    rows: dict[tuple[str | None, str], dict[str, Any]] = {}
    totals: dict[str, dict[str, Any]] = {}
    for root_id, customer_id, cur, due in info:
        amount = roots[str(root_id)]
        bucket = bucket_of((as_of - date.fromisoformat(str(due))).days)
        key = (sql_text(customer_id), str(cur))
        for row in (rows.setdefault(key, _aged()), totals.setdefault(str(cur), _aged())):
            row["invoice_count"] += 1
            row["outstanding"] += amount
            row[bucket] += amount
    names = _labels(tx, CUSTOMERS, (c for c, _ in rows if c is not None))
    customers = [
        {
            "customer_id": customer_id,
            "name": None if customer_id is None else names.get(customer_id),
            "currency": cur,
            **_aged_text(row),
        }
        for (customer_id, cur), row in rows.items()
    ]
    customers.sort(
        key=lambda r: ((r["name"] or "").casefold(), r["customer_id"] or "", r["currency"])
    )
    return {
        "as_of": day,
        "customers": customers,
        "totals": [{"currency": c, **_aged_text(totals[c])} for c in sorted(totals)],
    }


def customer_key(currency: str, amount: int, customer_id: str) -> str:
    """Keyset sort key of the customers report: currency, amount (highest first), id."""
    return f"{currency}{SEP}{amount}{SEP}{customer_id}"


def _parse_key(key: str) -> tuple[str, int, str]:
    currency, amount, customer_id = key.split(SEP)
    return currency, int(amount), customer_id


def customers(
    tx: Tx,
    *,
    sort: str,
    currency: str | None,
    limit: int,
    after: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of customers per currency with their lifetime net revenue, the cost of
    goods where known, margin (revenue - that cost) and the revenue of lines whose cost
    is unknown; ranked per currency by `sort` (highest first, then id), and the sort key
    to pass as `after` for the next page (or None). Invoices without a customer id are
    left out. ValueError when `after` is malformed."""
    conditions = ["cancelled = 0", "customer_id IS NOT NULL"]
    params: list[Any] = []
    if currency is not None:
        conditions.append("currency = ?")
        params.append(currency)
    rows = tx.all(
        "SELECT customer_id AS cid, currency AS cur, COUNT(DISTINCT invoice_id) AS invoices,"
        " SUM(base_cents) AS revenue, SUM(COALESCE(cost_cents, 0)) AS cost,"
        " SUM(CASE WHEN cost_cents IS NULL THEN base_cents ELSE 0 END) AS uncosted"
        f" FROM {LINES} WHERE {' AND '.join(conditions)} GROUP BY customer_id, currency",
        params,
    )
    ranked = []
    for cid, cur, invoices, revenue_cents, cost, uncosted in rows:
        figures = {"revenue": sql_int(revenue_cents), "cost": sql_int(cost)}
        figures["margin"] = figures["revenue"] - figures["cost"]
        ranked.append(
            (
                (str(cur), -figures[sort], str(cid)),
                str(cid),
                str(cur),
                sql_int(invoices),
                figures,
                sql_int(uncosted),
            )
        )
    ranked.sort(key=lambda r: r[0])
    if after is not None:
        cur, amount, cid = _parse_key(after)
        ranked = [r for r in ranked if r[0] > (cur, -amount, cid)]
    page = ranked[:limit]
    names = _labels(tx, CUSTOMERS, (r[1] for r in page))
    items = [
        {
            "customer_id": cid,
            "name": names.get(cid),
            "currency": cur,
            "invoice_count": invoices,
            "revenue": money(figures["revenue"]),
            "cost": money(figures["cost"]),
            "margin": money(figures["margin"]),
            "uncosted_revenue": money(uncosted),
        }
        for _, cid, cur, invoices, figures, uncosted in page
    ]
    next_key = None
    if len(ranked) > limit:
        last = page[-1]
        next_key = customer_key(last[2], last[4][sort], last[1])
    return items, next_key


def activity(tx: Tx, period: Period) -> dict[str, Any]:
    """Activities that are not cancelled, on the UTC days of the period (by the time
    they sit on a timeline), counted per owner (assignee, else who logged it) and kind;
    owners by name."""
    conditions, params = period.where("substr(at, 1, 10)")
    where = " AND ".join(["cancelled = 0", *conditions])
    rows = tx.all(
        "SELECT COALESCE(assignee, actor) AS who, kind AS kind, COUNT(*) AS n"
        f" FROM {ACTIVITIES} WHERE {where} GROUP BY COALESCE(assignee, actor), kind",
        params,
    )
    owners: dict[str, dict[str, int]] = {}
    for who, kind, count in rows:
        owners.setdefault(str(who), {})[str(kind)] = sql_int(count)
    return {
        **period.as_dict(),
        "owners": [
            {
                "owner": owner,
                "count": sum(owners[owner].values()),
                "kinds": [{"kind": k, "count": owners[owner][k]} for k in sorted(owners[owner])],
            }
            for owner in sorted(owners)
        ],
    }
