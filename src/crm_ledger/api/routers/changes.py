"""``/changes``: every change to the records a caller may read, in log order, after a
position (a feed for integrations: store ``after`` and ask again)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from crm_ledger.api.deps import CrmDep, PrincipalDep
from crm_ledger.api.permissions import AREAS
from crm_ledger.api.responses import event_data
from crm_ledger.api.schemas.changes import ChangeItem, ChangePage
from crm_ledger.changes import changes_after
from crm_ledger.ledger.envelope import format_timestamp

router = APIRouter(prefix="/changes", tags=["changes"])

#: log positions read per call at most (a caller who may see little still gets an answer)
SCAN = 5000

ChangeType = Literal[
    "contact",
    "segment",
    "lead",
    "deal",
    "activity",
    "pipeline",
    "quote",
    "order",
    "delivery_note",
    "product",
    "price_list",
    "issuer",
    "invoice",
    "payment",
    "alarm",
    "supplier",
    "purchase_invoice",
]

#: aggregate class -> (its type in the feed, the area whose readers see it); API keys
#: and anything not listed never appear
KINDS: dict[str, tuple[ChangeType, str]] = {
    "Contact": ("contact", "contacts"),
    "Segment": ("segment", "segments"),
    "Lead": ("lead", "leads"),
    "Deal": ("deal", "deals"),
    "Activity": ("activity", "activities"),
    "Pipeline": ("pipeline", "pipelines"),
    "Quote": ("quote", "quotes"),
    "SalesOrder": ("order", "orders"),
    "DeliveryNote": ("delivery_note", "delivery-notes"),
    "Product": ("product", "products"),
    "PriceList": ("price_list", "price-lists"),
    "Issuer": ("issuer", "issuers"),
    "Invoice": ("invoice", "invoices"),
    "Payment": ("payment", "payments"),
    "Alarm": ("alarm", "alarms"),
    "Supplier": ("supplier", "suppliers"),
    "PurchaseInvoice": ("purchase_invoice", "purchase-invoices"),
}


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
    readable = {
        name
        for name, (kind, area) in KINDS.items()
        if principal.role in AREAS[area].read and (not types or kind in types)
    }
    page = changes_after(crm, after, limit=limit, wanted=readable.__contains__, scan=SCAN)
    items = [
        ChangeItem(
            position=change.position,
            type=KINDS[change.aggregate][0],
            id=change.event.originator_id,
            version=change.event.originator_version,
            event=type(change.event).__name__,
            at=format_timestamp(change.event.timestamp),
            actor=getattr(change.event, "actor", None),
            data=event_data(change.event),
        )
        for change in page.changes
    ]
    return ChangePage(items=items, after=page.after, head=page.head)
