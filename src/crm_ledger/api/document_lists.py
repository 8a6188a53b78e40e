"""``GET /quotes`` and ``GET /orders``: pages of a sales documents read model
(`crm_ledger.projections.sales_documents`), after it caught up with every write
acknowledged before the request (or ``min_position``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import Request

from crm_ledger.api.deps import crm_of, runner_of, wait_for_read_model
from crm_ledger.api.routers.activities import cursor_key
from crm_ledger.projections.contacts import encode_cursor
from crm_ledger.projections.sales_documents import list_documents

READ_WAIT_SECONDS = 5.0


def document_page(
    request: Request,
    name: str,
    table: str,
    *,
    customer_id: UUID | None,
    status: str | None,
    limit: int,
    cursor: str | None,
    min_position: int | None,
) -> dict[str, Any]:
    """``{"items", "next_cursor"}`` of the read model `name` (its table `table`)."""
    crm = crm_of(request)
    runner = runner_of(request, name)
    wait_for_read_model(crm, runner, min_position, name=name, timeout=READ_WAIT_SECONDS)
    with crm.db.transaction(write=False) as tx:
        items, next_key = list_documents(
            tx,
            table,
            customer_id=None if customer_id is None else str(customer_id),
            status=status,
            limit=limit,
            after=cursor_key(cursor),
        )
    return {"items": items, "next_cursor": None if next_key is None else encode_cursor(next_key)}
