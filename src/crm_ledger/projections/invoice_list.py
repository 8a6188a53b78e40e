"""``GET /invoices``: pages of invoice summaries from the reporting read model.

Read-only over ``proj_report_invoices`` (with ``proj_report_customers`` for the name and
``proj_report_allocations`` for what was paid; see `crm_ledger.projections.reporting`).
Newest first: drafts (no issue date yet) before issued and cancelled invoices, those by
issue date, then by id; the cursor is the last row's ``(day, id)``. A draft's totals
are not in the read model (they change until it is issued): its ``total``, ``paid`` and
``outstanding`` are null; read the invoice itself for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from crm_ledger.domain.invoice import judge_payment
from crm_ledger.projections.pipeline import money
from crm_ledger.projections.reporting import (
    ALLOCATIONS,
    CUSTOMERS,
    DRAFT,
    INVOICES,
    ISSUED,
    SEP,
    sql_int,
    sql_text,
)
from crm_ledger.storage.sql import Tx, bounds, equalities

#: the sort day of a draft: after every real date, so drafts come first (newest first)
DRAFT_DAY = "9999-12-31"


@dataclass(frozen=True)
class InvoiceFilter:
    """Filters of ``GET /invoices`` (all optional; issue dates inclusive, ISO)."""

    status: str | None = None
    customer_id: str | None = None
    issued_from: str | None = None
    issued_to: str | None = None


def list_invoices(
    tx: Tx, filters: InvoiceFilter, *, limit: int, after: str | None, as_of: date
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of invoice summaries (``payment_status`` judged on `as_of`) and the sort
    key to pass as `after` for the next page (or None)."""
    collate = ' COLLATE "C"' if tx.dialect == "postgres" else ""
    day = f"COALESCE(i.issue_date, '{DRAFT_DAY}')"
    where, params = equalities(("i.status", filters.status), ("i.customer_id", filters.customer_id))
    issued, days = bounds("i.issue_date", filters.issued_from, filters.issued_to)
    where, params = where + issued, params + days
    if after is not None:
        after_day, after_id = after.split(SEP, 1)
        where.append(f"({day}{collate} < ? OR ({day} = ? AND i.id{collate} < ?))")
        params += [after_day, after_day, after_id]
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    rows = tx.all(
        "SELECT i.id, i.status, i.number, i.invoice_type, i.customer_id, c.name, i.currency,"
        " i.issue_date, i.due_date, i.due_on, i.rectifies_id, i.total_cents,"
        f" (SELECT SUM(a.amount_cents) FROM {ALLOCATIONS} a WHERE a.invoice_id = i.id), {day}"
        f" FROM {INVOICES} i LEFT JOIN {CUSTOMERS} c ON c.id = i.customer_id{condition}"
        f" ORDER BY {day}{collate} DESC, i.id{collate} DESC LIMIT ?",
        (*params, limit + 1),
    )
    items = [_summary(row, as_of) for row in rows[:limit]]
    next_key = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_key = f"{last[13]}{SEP}{last[0]}"
    return items, next_key


def _summary(row: tuple[Any, ...], as_of: date) -> dict[str, Any]:
    (invoice_id, status, number, invoice_type, customer_id, name, currency, issue_date,
     due_date, due_on, rectifies_id, total_cents, paid_cents, _day) = row  # fmt: skip
    total = None if status == DRAFT or total_cents is None else sql_int(total_cents)
    paid = sql_int(paid_cents)
    due = sql_text(due_on) or sql_text(due_date)  # due_on: fixed when issued
    status_now = None
    if status == ISSUED and total is not None:
        due_day = None if due is None else date.fromisoformat(due)
        status_now = judge_payment(total - paid, paid, due_day, as_of).value
    return {
        "id": str(invoice_id),
        "status": str(status),
        "number": sql_text(number),
        "invoice_type": sql_text(invoice_type),
        "customer_id": sql_text(customer_id),
        "customer_name": sql_text(name),
        "currency": str(currency),
        "issue_date": sql_text(issue_date),
        "due_date": due,
        "rectifies_id": sql_text(rectifies_id),
        "total": None if total is None else money(total),
        "paid": None if total is None else money(paid),
        "outstanding": None if total is None else money(total - paid),
        "payment_status": status_now,
    }
