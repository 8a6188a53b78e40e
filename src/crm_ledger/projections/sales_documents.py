"""The quotes, orders and pipelines read models (``proj_quotes``, ``proj_orders``,
``proj_pipelines``): one row per aggregate with its snapshot, for ``GET /quotes`` and
``GET /orders`` (newest first, by customer and status) and ``GET /pipelines`` (newest
first). Each listed item is the aggregate as its own ``GET .../{id}`` shows it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_ledger.domain.order import SalesOrder, order_snapshot
from crm_ledger.domain.pipeline import Pipeline, pipeline_snapshot
from crm_ledger.domain.quote import Quote, quote_snapshot
from crm_ledger.projections.activities import SEP  # one separator for every list cursor
from crm_ledger.projections.snapshot_rows import SnapshotRows, page
from crm_ledger.storage.sql import Tx, equalities

QUOTES = "proj_quotes"
ORDERS = "proj_orders"
_QUOTE_EVENTS = ("Drafted", "Revised", "Sent", "Accepted", "Rejected", "Expired", "Converted")
_ORDER_EVENTS = ("Created", "Confirmed", "Cancelled", "DeliveryRecorded", "InvoiceRecorded")


def _ddl(table: str) -> tuple[str, ...]:
    return (
        f"CREATE TABLE IF NOT EXISTS {table} ("
        " id TEXT PRIMARY KEY,"
        " customer_id TEXT NOT NULL,"
        " status TEXT NOT NULL,"
        " created_key {bintext} NOT NULL,"
        " version {bigint} NOT NULL,"
        " public TEXT NOT NULL,"
        " snapshot {blob} NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {table}_created ON {table} (created_key)",
        f"CREATE INDEX IF NOT EXISTS {table}_customer ON {table} (customer_id, created_key)",
    )


def created_key(public: Mapping[str, Any]) -> str:
    """Newest-first sort key of a listed aggregate: its creation time, then its id."""
    return f"{public['created_at']}{SEP}{public['id']}"


class _DocumentRows(SnapshotRows[Any]):
    """One row per document: customer, status, newest-first key, snapshot."""

    def public(self, document: Any) -> dict[str, Any]:
        raise NotImplementedError

    def write(self, tx: Tx, document: Any, existed: bool) -> None:
        public = self.public(document)
        self.store(
            tx,
            document,
            public,
            existed,
            customer_id=public["customer_id"],
            status=public["status"],
            created_key=created_key(public),
        )


class QuotesProjection(_DocumentRows):
    """Maintains ``proj_quotes``."""

    name = "quotes"
    aggregate = Quote
    table = QUOTES
    events = _QUOTE_EVENTS
    statements = _ddl(QUOTES)

    def public(self, document: Any) -> dict[str, Any]:
        return quote_snapshot(document)


class OrdersProjection(_DocumentRows):
    """Maintains ``proj_orders``."""

    name = "orders"
    aggregate = SalesOrder
    table = ORDERS
    events = _ORDER_EVENTS
    statements = _ddl(ORDERS)

    def public(self, document: Any) -> dict[str, Any]:
        return order_snapshot(document)


def list_documents(
    tx: Tx,
    table: str,
    *,
    customer_id: str | None,
    status: str | None,
    limit: int,
    after: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `table`'s documents, newest first, and the sort key to pass as
    `after` for the next (or None)."""
    where, params = equalities(("customer_id", customer_id), ("status", status))
    return page(tx, table, "created_key", where, params, limit=limit, after=after)


PIPELINES = "proj_pipelines"
_PIPELINE_EVENTS = ("Created", "StageAdded", "StageRenamed", "StagesReordered", "StageRetired")
_PIPELINES_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_pipelines ("
    " id TEXT PRIMARY KEY,"
    " created_key {bintext} NOT NULL,"
    " version {bigint} NOT NULL,"
    " public TEXT NOT NULL,"
    " snapshot {blob} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS proj_pipelines_created ON proj_pipelines (created_key)",
)


class PipelinesProjection(SnapshotRows[Pipeline]):
    """Maintains ``proj_pipelines`` (``GET /pipelines``): one row per pipeline."""

    name = "pipelines"
    aggregate = Pipeline
    table = PIPELINES
    events = _PIPELINE_EVENTS
    statements = _PIPELINES_DDL

    def write(self, tx: Tx, pipeline: Pipeline, existed: bool) -> None:
        public = pipeline_snapshot(pipeline)
        self.store(tx, pipeline, public, existed, created_key=created_key(public))


def list_pipelines(
    tx: Tx, *, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of pipelines, newest first, and the key to pass as `after` (or None)."""
    return page(tx, PIPELINES, "created_key", [], [], limit=limit, after=after)
