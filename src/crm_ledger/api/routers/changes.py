"""``/changes``: every change to the records a caller may read, in log order, after a
position (a feed for integrations: store ``after`` and ask again)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from crm_ledger.api.change_items import ChangeType, change_item, readable
from crm_ledger.api.deps import CrmDep, PrincipalDep
from crm_ledger.api.schemas.changes import ChangePage
from crm_ledger.changes import changes_after

router = APIRouter(prefix="/changes", tags=["changes"])

#: log positions read per call at most (a caller who may see little still gets an answer)
SCAN = 5000


@router.get(
    "",
    summary="Changes after a log position, oldest first (a feed for integrations)",
    description="Each item is one stored event of a record the caller's role may read "
    "(as `GET .../{id}/history` shows events), with its log `position`. Pass the "
    "answer's `after` as `after` next time; `after == head` means nothing more for now. "
    f"At most {SCAN} log positions are read per call, so a page may hold fewer than "
    "`limit` items (even none) while more follow.",
)
def list_changes(
    crm: CrmDep,
    principal: PrincipalDep,
    after: Annotated[int, Query(ge=0, description="the position to continue after")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    types: Annotated[list[ChangeType] | None, Query(description="only these types")] = None,
) -> ChangePage:
    wanted = readable(principal.role, types or ())
    page = changes_after(crm, after, limit=limit, wanted=wanted.__contains__, scan=SCAN)
    items = [change_item(change) for change in page.changes]
    return ChangePage(items=items, after=page.after, head=page.head)
