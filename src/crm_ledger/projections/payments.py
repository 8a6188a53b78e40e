"""The payments read model (``proj_payments``): one row per payment, with its snapshot.

Serves ``GET /payments`` (newest received first, by customer, only those with credit
left) and a customer's credit (``GET /contacts/{id}/credit``: per currency, the sum of
what the customer's payments, voided ones left out, still hold unallocated and
unrefunded: `Payment.unallocated`).
"""

from __future__ import annotations

from typing import Any

from crm_ledger.domain.payment import Payment, payment_snapshot
from crm_ledger.projections.activities import SEP  # one separator for every list cursor
from crm_ledger.projections.pipeline import cents, money
from crm_ledger.projections.reporting import sql_int
from crm_ledger.projections.snapshot_rows import SnapshotRows, page
from crm_ledger.storage.sql import Tx

TABLE = "proj_payments"
PAYMENT_EVENTS = ("Recorded", "Allocated", "Deallocated", "Refunded", "Voided")
RECORDED = "recorded"
_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_payments ("
    " id TEXT PRIMARY KEY,"
    " customer_id TEXT NOT NULL,"
    " currency TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " unallocated_cents {bigint} NOT NULL,"
    " received_key {bintext} NOT NULL,"
    " version {bigint} NOT NULL,"
    " public TEXT NOT NULL,"
    " snapshot {blob} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS proj_payments_received ON proj_payments (received_key)",
    "CREATE INDEX IF NOT EXISTS proj_payments_customer"
    " ON proj_payments (customer_id, received_key)",
)


class PaymentsProjection(SnapshotRows[Payment]):
    """Maintains ``proj_payments``."""

    name = "payments"
    aggregate = Payment
    table = TABLE
    events = PAYMENT_EVENTS
    statements = _DDL

    def write(self, tx: Tx, payment: Payment, existed: bool) -> None:
        public = payment_snapshot(payment)
        self.store(
            tx,
            payment,
            public,
            existed,
            customer_id=public["customer_id"],
            currency=public["currency"],
            status=public["status"],
            unallocated_cents=cents(public["unallocated"]) or 0,
            received_key=f"{public['received_on']}{SEP}{public['id']}",
        )


def list_payments(
    tx: Tx, *, customer_id: str | None, with_credit: bool, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of payments, newest received first, and the sort key to pass as `after`
    for the next (or None). `with_credit`: only recorded (not voided) payments with some
    amount still unallocated."""
    where: list[str] = []
    params: list[Any] = []
    if customer_id is not None:
        where.append("customer_id = ?")
        params.append(customer_id)
    if with_credit:
        where.append("status = ? AND unallocated_cents > 0")
        params.append(RECORDED)
    return page(tx, TABLE, "received_key", where, params, limit=limit, after=after)


def customer_credit(tx: Tx, customer_id: str) -> list[dict[str, Any]]:
    """Per currency: what the customer's recorded payments still hold unallocated, and
    how many payments hold it (currencies with none left out)."""
    rows = tx.all(
        f"SELECT currency, SUM(unallocated_cents), COUNT(*) FROM {TABLE}"
        " WHERE customer_id = ? AND status = ? AND unallocated_cents > 0"
        " GROUP BY currency ORDER BY currency",
        (customer_id, RECORDED),
    )
    return [
        {"currency": str(c), "credit": money(sql_int(total)), "payments": int(count)}
        for c, total, count in rows
    ]
