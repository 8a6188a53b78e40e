"""``/contacts/{id}/timeline`` and ``/deals/{id}/timeline``: events and activities, newest
first."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from crm_ledger import sales
from crm_ledger.api.deps import CrmDep, PrincipalDep
from crm_ledger.api.routers.activities import (
    ActivitiesRunnerDep,
    Cursor,
    MinPosition,
    cursor_key,
    wait_for_read_model,
)
from crm_ledger.api.schemas.activities import ActivityPublic, TimelineItem, TimelinePage
from crm_ledger.application import CrmApplication
from crm_ledger.projections.activities import linked_activities
from crm_ledger.projections.contacts import encode_cursor
from crm_ledger.timeline import LinkedActivities, TimelineEntry, record_timeline

router = APIRouter(tags=["timelines"])
Limit = Annotated[int, Query(ge=1, le=200)]


def _linked(crm: CrmApplication, link_type: str, record_id: UUID) -> LinkedActivities:
    def fetch(limit: int, before: str | None) -> list[tuple[str, dict[str, Any]]]:
        with crm.db.transaction(write=False) as tx:
            return linked_activities(tx, link_type, str(record_id), limit=limit, before=before)

    return fetch


def _item(entry: TimelineEntry) -> TimelineItem:
    return TimelineItem(
        type="event" if entry.type == "event" else "activity",
        at=entry.at,
        actor=entry.actor,
        event=entry.event,
        version=entry.version,
        data=entry.data,
        activity=None if entry.activity is None else ActivityPublic.model_validate(entry.activity),
    )


def _page(
    crm: CrmApplication, link_type: str, record_id: UUID, limit: int, cursor: str | None
) -> TimelinePage:
    entries, next_key = record_timeline(
        crm,
        record_id,
        _linked(crm, link_type, record_id),
        limit=limit,
        before=cursor_key(cursor),
    )
    return TimelinePage(
        items=[_item(e) for e in entries],
        next_cursor=None if next_key is None else encode_cursor(next_key),
    )


@router.get("/contacts/{contact_id}/timeline", summary="Contact's changes and activities")
def contact_timeline(
    contact_id: UUID,
    crm: CrmDep,
    runner: ActivitiesRunnerDep,
    principal: PrincipalDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> TimelinePage:
    crm.get_contact(contact_id)
    wait_for_read_model(crm, runner, min_position)
    return _page(crm, "contact", contact_id, limit, cursor)


@router.get("/deals/{deal_id}/timeline", summary="Deal's changes and activities")
def deal_timeline(
    deal_id: UUID,
    crm: CrmDep,
    runner: ActivitiesRunnerDep,
    principal: PrincipalDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> TimelinePage:
    sales.get_deal(crm, deal_id)
    wait_for_read_model(crm, runner, min_position)
    return _page(crm, "deal", deal_id, limit, cursor)
