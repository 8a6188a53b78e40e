"""Paged lists served from a read model: wait until it caught up with every write
acknowledged before the request (or ``min_position``; 503 ``read_model_behind`` after
``READ_WAIT_SECONDS``), then read one keyset page with an opaque cursor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request

from crm_ledger.api.deps import READ_WAIT_SECONDS, crm_of, runner_of, wait_for_read_model
from crm_ledger.api.routers.activities import cursor_key
from crm_ledger.projections.contacts import encode_cursor
from crm_ledger.storage.sql import Tx

#: reads one page after a sort key (None: the first page): ``(items, next sort key)``
PageQuery = Callable[[Tx, str | None], tuple[list[dict[str, Any]], str | None]]


def read_model_page(
    request: Request, name: str, min_position: int | None, cursor: str | None, query: PageQuery
) -> dict[str, Any]:
    """``{"items", "next_cursor"}`` of `query` over the read model `name`."""
    crm = crm_of(request)
    wait_for_read_model(
        crm, runner_of(request, name), min_position, name=name, timeout=READ_WAIT_SECONDS
    )
    with crm.db.transaction(write=False) as tx:
        items, next_key = query(tx, cursor_key(cursor))
    return {"items": items, "next_cursor": None if next_key is None else encode_cursor(next_key)}
