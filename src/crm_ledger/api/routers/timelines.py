"""``/contacts/{id}/timeline`` and ``/deals/{id}/timeline``: events and activities, newest
first; a contact's timeline also shows its service cases, NPS answers and campaign
responses (each as its list shows it), those the caller's role may read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request

from crm_ledger import sales
from crm_ledger.api.deps import READ_WAIT_SECONDS, CrmDep, PrincipalDep, runner_of
from crm_ledger.api.deps import wait_for_read_model as wait_for
from crm_ledger.api.permissions import AREAS
from crm_ledger.api.routers.activities import (
    ActivitiesRunnerDep,
    Cursor,
    MinPosition,
    cursor_key,
    wait_for_read_model,
)
from crm_ledger.api.schemas.activities import TimelineItem, TimelinePage
from crm_ledger.application import CrmApplication
from crm_ledger.domain.case import present
from crm_ledger.projections.activities import linked_activities
from crm_ledger.projections.campaigns import list_responses
from crm_ledger.projections.cases import cases_of
from crm_ledger.projections.contacts import encode_cursor
from crm_ledger.projections.surveys import answers_of
from crm_ledger.storage.sql import Tx
from crm_ledger.timeline import (
    LinkedActivities,
    Source,
    TimelineEntry,
    activity_source,
    keyed_source,
    listed_source,
    record_timeline,
    related_entry,
)

router = APIRouter(tags=["timelines"])
Limit = Annotated[int, Query(ge=1, le=200)]


def _linked(crm: CrmApplication, link_type: str, record_id: UUID) -> LinkedActivities:
    def fetch(limit: int, before: str | None) -> list[tuple[str, dict[str, Any]]]:
        with crm.db.transaction(write=False) as tx:
            return linked_activities(tx, link_type, str(record_id), limit=limit, before=before)

    return fetch


def _item(entry: TimelineEntry) -> TimelineItem:
    related = {entry.type: entry.item} if entry.item is not None else {}
    return TimelineItem.model_validate(
        {
            "type": entry.type,
            "at": entry.at,
            "actor": entry.actor,
            "event": entry.event,
            "version": entry.version,
            "data": entry.data,
            "activity": entry.activity,
            **related,
        }
    )


#: what else a contact's timeline shows: item type -> (its read model, the area whose
#: readers see it)
RELATED: dict[str, tuple[str, str]] = {
    "case": ("cases", "cases"),
    "nps": ("surveys", "nps"),
    "campaign_response": ("campaign_responses", "campaigns"),
}
#: the kinds a contact has few of, read whole: ``(tx, contact) -> items`` (public JSON)
WHOLE: dict[str, Callable[[Tx, str], list[dict[str, Any]]]] = {
    "case": lambda tx, c: [present(i) for i in cases_of(tx, [c])],
    "nps": answers_of,
}
#: the kinds a contact may have thousands of, read a page at a time: ``(tx, contact,
#: limit, bound) -> items`` newest first below the bound (see `timeline.keyed_source`)
PAGED: dict[str, Callable[[Tx, str, int, str | None], list[dict[str, Any]]]] = {
    "campaign_response": lambda tx, c, limit, bound: list_responses(
        tx, contact_id=c, limit=limit, after=bound
    )[0],
}


def _related(crm: CrmApplication, contact_id: UUID, kinds: list[str]) -> list[Source]:
    """The sources of a contact's items of `kinds` (cases with their SLA states as of
    now)."""
    contact = str(contact_id)
    with crm.db.transaction(write=False) as tx:
        entries = [
            related_entry(kind, item)
            for kind in kinds
            if kind in WHOLE
            for item in WHOLE[kind](tx, contact)
        ]
    paged = [keyed_source(k, _paged(crm, k, contact)) for k in kinds if k in PAGED]
    return [listed_source(entries), *paged]


def _paged(
    crm: CrmApplication, kind: str, contact: str
) -> Callable[[int, str | None], list[dict[str, Any]]]:
    def fetch(limit: int, bound: str | None) -> list[dict[str, Any]]:
        with crm.db.transaction(write=False) as tx:
            return PAGED[kind](tx, contact, limit, bound)

    return fetch


def _page(
    crm: CrmApplication,
    link_type: str,
    record_id: UUID,
    limit: int,
    cursor: str | None,
    extra: list[Source] | None = None,
) -> TimelinePage:
    entries, next_key = record_timeline(
        crm,
        record_id,
        [activity_source(_linked(crm, link_type, record_id)), *(extra or [])],
        limit=limit,
        before=cursor_key(cursor),
    )
    return TimelinePage(
        items=[_item(e) for e in entries],
        next_cursor=None if next_key is None else encode_cursor(next_key),
    )


@router.get(
    "/contacts/{contact_id}/timeline",
    summary="Contact's changes, activities, service cases, NPS answers and campaign responses",
)
def contact_timeline(
    contact_id: UUID,
    request: Request,
    crm: CrmDep,
    runner: ActivitiesRunnerDep,
    principal: PrincipalDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> TimelinePage:
    crm.get_contact(contact_id)
    wait_for_read_model(crm, runner, min_position)
    kinds = [k for k, (_, area) in RELATED.items() if principal.role in AREAS[area].read]
    for kind in kinds:
        name = RELATED[kind][0]
        wait_for(crm, runner_of(request, name), min_position, name=name, timeout=READ_WAIT_SECONDS)
    return _page(crm, "contact", contact_id, limit, cursor, _related(crm, contact_id, kinds))


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
