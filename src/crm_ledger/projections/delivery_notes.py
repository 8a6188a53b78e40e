"""The delivery notes read model (``proj_delivery_notes``): one row per note with its
snapshot, for ``GET /delivery-notes``, newest first, by customer and order, and by
whether the note is signed and invoiced (``invoiced=false``: delivered, not billed yet).
Each listed note is the note as ``GET /delivery-notes/{id}`` shows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm_ledger.domain.delivery_note import DeliveryNote, delivery_note_snapshot
from crm_ledger.projections.sales_documents import created_key
from crm_ledger.projections.snapshot_rows import SnapshotRows, page
from crm_ledger.storage.sql import Tx, equalities

DELIVERY_NOTES = "proj_delivery_notes"
_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_delivery_notes ("
    " id TEXT PRIMARY KEY,"
    " customer_id TEXT NOT NULL,"
    " order_id TEXT NOT NULL,"
    " signed INTEGER NOT NULL,"
    " invoiced INTEGER NOT NULL,"
    " created_key {bintext} NOT NULL,"
    " version {bigint} NOT NULL,"
    " public TEXT NOT NULL,"
    " snapshot {blob} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS proj_delivery_notes_created ON proj_delivery_notes (created_key)",
    "CREATE INDEX IF NOT EXISTS proj_delivery_notes_customer"
    " ON proj_delivery_notes (customer_id, created_key)",
    "CREATE INDEX IF NOT EXISTS proj_delivery_notes_order"
    " ON proj_delivery_notes (order_id, created_key)",
    "CREATE INDEX IF NOT EXISTS proj_delivery_notes_unbilled"
    " ON proj_delivery_notes (invoiced, created_key)",
)


class DeliveryNotesProjection(SnapshotRows[DeliveryNote]):
    """Maintains ``proj_delivery_notes``."""

    name = "delivery_notes"
    aggregate = DeliveryNote
    table = DELIVERY_NOTES
    events = ("Created", "Signed", "Invoiced")
    statements = _DDL

    def write(self, tx: Tx, note: DeliveryNote, existed: bool) -> None:
        public = delivery_note_snapshot(note)
        self.store(
            tx,
            note,
            public,
            existed,
            customer_id=public["customer_id"],
            order_id=public["order_id"],
            signed=int(public["signed_at"] is not None),
            invoiced=int(public["invoice_id"] is not None),
            created_key=created_key(public),
        )


@dataclass(frozen=True)
class DeliveryNoteFilter:
    """What `list_delivery_notes` keeps: every given condition holds (None: any)."""

    customer_id: str | None = None
    order_id: str | None = None
    signed: bool | None = None
    invoiced: bool | None = None

    def conditions(self) -> tuple[list[str], list[Any]]:
        """SQL conditions (``?`` placeholders) and their values."""
        return equalities(
            ("customer_id", self.customer_id),
            ("order_id", self.order_id),
            ("signed", None if self.signed is None else int(self.signed)),
            ("invoiced", None if self.invoiced is None else int(self.invoiced)),
        )


def list_delivery_notes(
    tx: Tx, filters: DeliveryNoteFilter, *, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of delivery notes matching `filters`, newest first, and the sort key to
    pass as `after` for the next (or None)."""
    where, params = filters.conditions()
    return page(tx, DELIVERY_NOTES, "created_key", where, params, limit=limit, after=after)
