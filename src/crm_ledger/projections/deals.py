"""The deals read model (``proj_deals``): one row per deal with its snapshot, for
``GET /deals`` across pipelines, newest first, by contact, pipeline, stage, status,
owner and expected close date. Each listed deal is the deal as ``GET /deals/{id}``
shows it (the ``pipeline`` read model keeps the boards and their figures)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm_ledger.domain.deal import Deal, deal_snapshot
from crm_ledger.projections.sales_documents import created_key
from crm_ledger.projections.snapshot_rows import SnapshotRows, page
from crm_ledger.storage.sql import Tx, bounds, equalities

DEALS = "proj_deals"
_DEAL_EVENTS = (
    "Created",
    "Updated",
    "LineAdded",
    "LineUpdated",
    "LineRemoved",
    "Moved",
    "Won",
    "Lost",
    "Reopened",
    "ContactRelinked",
)
_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_deals ("
    " id TEXT PRIMARY KEY,"
    " contact_id TEXT NOT NULL,"
    " pipeline_id TEXT NOT NULL,"
    " stage_id TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " owner TEXT,"
    " expected_close TEXT,"
    " created_key {bintext} NOT NULL,"
    " version {bigint} NOT NULL,"
    " public TEXT NOT NULL,"
    " snapshot {blob} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS proj_deals_created ON proj_deals (created_key)",
    "CREATE INDEX IF NOT EXISTS proj_deals_contact ON proj_deals (contact_id, created_key)",
    "CREATE INDEX IF NOT EXISTS proj_deals_pipeline"
    " ON proj_deals (pipeline_id, status, created_key)",
    "CREATE INDEX IF NOT EXISTS proj_deals_owner ON proj_deals (owner, status, created_key)",
)


class DealsProjection(SnapshotRows[Deal]):
    """Maintains ``proj_deals``."""

    name = "deals"
    aggregate = Deal
    table = DEALS
    events = _DEAL_EVENTS
    statements = _DDL

    def write(self, tx: Tx, deal: Deal, existed: bool) -> None:
        public = deal_snapshot(deal)
        self.store(
            tx,
            deal,
            public,
            existed,
            contact_id=public["contact_id"],
            pipeline_id=public["pipeline_id"],
            stage_id=public["stage_id"],
            status=public["status"],
            owner=public["owner"],
            expected_close=public["expected_close"],
            created_key=created_key(public),
        )


@dataclass(frozen=True)
class DealFilter:
    """What `list_deals` keeps: every given condition holds (None: any). Expected close
    bounds are inclusive; a deal without an expected close date never matches them."""

    contact_id: str | None = None
    pipeline_id: str | None = None
    stage_id: str | None = None
    status: str | None = None
    owner: str | None = None
    close_from: str | None = None  # ISO dates, as expected_close is stored
    close_to: str | None = None

    def conditions(self) -> tuple[list[str], list[Any]]:
        """SQL conditions (``?`` placeholders) and their values."""
        where, params = equalities(
            ("contact_id", self.contact_id),
            ("pipeline_id", self.pipeline_id),
            ("stage_id", self.stage_id),
            ("status", self.status),
            ("owner", self.owner),
        )
        closing, days = bounds("expected_close", self.close_from, self.close_to)
        return where + closing, params + days


def list_deals(
    tx: Tx, filters: DealFilter, *, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of deals matching `filters`, newest first, and the sort key to pass as
    `after` for the next (or None)."""
    where, params = filters.conditions()
    return page(tx, DEALS, "created_key", where, params, limit=limit, after=after)
