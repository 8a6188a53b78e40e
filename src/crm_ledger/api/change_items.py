"""How the change feed shows a stored event, over ``GET /changes`` and over webhooks.

`KINDS` names the aggregates that appear (API keys and webhook endpoints never do) with
their type in the feed and the area whose readers see them; `readable` is the set of
aggregate classes a role sees; `change_item` is one change as ``GET .../{id}/history``
shows its event, with its log position.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from crm_ledger.api.permissions import AREAS
from crm_ledger.api.responses import event_data
from crm_ledger.api.schemas.changes import ChangeItem
from crm_ledger.changes import Change
from crm_ledger.ledger.envelope import format_timestamp

ChangeType = Literal[
    "contact",
    "consent",
    "consent_purpose",
    "segment",
    "lead",
    "deal",
    "activity",
    "case",
    "nps",
    "campaign",
    "campaign_response",
    "user",
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
    "personal_data_export",
    "contacts_export",
]

#: aggregate class -> (its type in the feed, the area whose readers see it); API keys,
#: webhook endpoints and anything not listed never appear
KINDS: dict[str, tuple[ChangeType, str]] = {
    "Contact": ("contact", "contacts"),
    "ContactConsents": ("consent", "contacts"),
    "ConsentCatalogue": ("consent_purpose", "consent-purposes"),
    "Segment": ("segment", "segments"),
    "Lead": ("lead", "leads"),
    "Deal": ("deal", "deals"),
    "Activity": ("activity", "activities"),
    "Case": ("case", "cases"),
    "NpsResponse": ("nps", "nps"),
    "Campaign": ("campaign", "campaigns"),
    "CampaignResponse": ("campaign_response", "campaigns"),
    # security events of accounts (logins, locks, ...): admin and auditor
    "User": ("user", "users"),
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
    # who took a person's data, or a list of people, out: admin and auditor only
    "PersonalDataExport": ("personal_data_export", "ledger"),
    "ContactsExport": ("contacts_export", "ledger"),
}


def readable(role: str, types: Collection[str] = ()) -> frozenset[str]:
    """The aggregate class names whose changes `role` sees (of `types` only, if any)."""
    return frozenset(
        name
        for name, (kind, area) in KINDS.items()
        if role in AREAS[area].read and (not types or kind in types)
    )


def change_item(change: Change) -> ChangeItem:
    """`change` as the feed shows it."""
    event = change.event
    return ChangeItem(
        position=change.position,
        type=KINDS[change.aggregate][0],
        id=event.originator_id,
        version=event.originator_version,
        event=type(event).__name__,
        at=format_timestamp(event.timestamp),
        actor=getattr(event, "actor", None),
        data=event_data(event),
    )
