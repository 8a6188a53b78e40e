"""The issuers read model (``proj_issuers``): one row per issuer with its snapshot, for
``GET /issuers``, newest first. Each listed issuer is the issuer as
``GET /issuers/{id}`` shows it (series, next numbers, VERI*FACTU chain head)."""

from __future__ import annotations

from typing import Any

from crm_ledger.domain.issuer import Issuer, issuer_snapshot
from crm_ledger.projections.sales_documents import created_key
from crm_ledger.projections.snapshot_rows import SnapshotRows, page
from crm_ledger.storage.sql import Tx

ISSUERS = "proj_issuers"
_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_issuers ("
    " id TEXT PRIMARY KEY,"
    " created_key {bintext} NOT NULL,"
    " version {bigint} NOT NULL,"
    " public TEXT NOT NULL,"
    " snapshot {blob} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS proj_issuers_created ON proj_issuers (created_key)",
)


class IssuersProjection(SnapshotRows[Issuer]):
    """Maintains ``proj_issuers``."""

    name = "issuers"
    aggregate = Issuer
    table = ISSUERS
    events = ("Registered", "SimplifiedLimitSet", "SeriesAdded", "NumberTaken", "RecordAppended")
    statements = _DDL

    def write(self, tx: Tx, issuer: Issuer, existed: bool) -> None:
        public = issuer_snapshot(issuer)
        self.store(tx, issuer, public, existed, created_key=created_key(public))


def list_issuers(
    tx: Tx, *, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of issuers, newest first, and the key to pass as `after` (or None)."""
    return page(tx, ISSUERS, "created_key", [], [], limit=limit, after=after)
