"""``/alarms``: failed integrity checks that did not stop invoicing (read only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from crm_ledger import alarms
from crm_ledger.api.deps import CrmDep, PrincipalDep
from crm_ledger.api.schemas.alarms import AlarmPage, AlarmPublic
from crm_ledger.domain.alarm import alarm_snapshot

router = APIRouter(prefix="/alarms", tags=["alarms"])


@router.get("", summary="Alarms raised (e.g. a damaged VERI*FACTU chain head), oldest first")
def list_alarms(
    crm: CrmDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> AlarmPage:
    items, following = alarms.list_alarms(crm, after=int(cursor) if cursor else 0, limit=limit)
    return AlarmPage(
        items=[AlarmPublic.model_validate(alarm_snapshot(a)) for a in items],
        next_cursor=None if following is None else str(following),
    )
