"""Consent use cases (GDPR art. 7), called by the API: record a statement, read them.

Contacts merged into one are one person: a statement sent for a merged contact (an old
link in an e-mail, say) is recorded on its survivor, and a contact's consents are its own
statements and those of every contact merged into it, each naming the contact it was
recorded for. A withdrawal is never refused for being sent to an archived or merged
contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from crm_ledger.application import CrmApplication, Written
from crm_ledger.consent_purposes import published_wording
from crm_ledger.contact_family import family, survivor
from crm_ledger.domain.consent import (
    ContactConsents,
    consents_id,
    current,
    order_key,
    statement_of,
)
from crm_ledger.domain.errors import NotFoundError
from crm_ledger.kinds import Kind
from crm_ledger.retry import store_retrying

CONSENTS = Kind(ContactConsents, "consents")


@dataclass(frozen=True)
class ConsentView:
    """A contact's statements (its own and its merged contacts', oldest ``at`` first),
    the state of each purpose, and the version of its own consents (0: none yet)."""

    contact_id: UUID
    version: int
    statements: list[dict[str, Any]]
    purposes: dict[str, dict[str, Any]]

    def public(self) -> dict[str, Any]:
        """JSON-ready, as ``GET /contacts/{id}/consents`` shows it."""
        return {
            "contact_id": str(self.contact_id),
            "version": self.version,
            "purposes": self.purposes,
            "statements": self.statements,
        }


def _own(crm: CrmApplication, contact_id: UUID) -> ContactConsents | None:
    try:
        return CONSENTS.load(crm, consents_id(contact_id))
    except NotFoundError:
        return None


def record_consent(
    crm: CrmApplication,
    contact_id: UUID,
    *,
    purpose: str,
    granted: bool,
    source: str,
    actor: str,
    wording: str | None = None,
    wording_version: int | None = None,
    at: datetime | None = None,
) -> Written:
    """Record that the contact gave or withdrew consent for `purpose` (on its survivor
    when it was merged); the written aggregate is that contact's `ContactConsents`.
    `wording_version` names the catalogue's wording the person was shown (NotFoundError
    when the catalogue has no such purpose or version)."""
    target = survivor(crm, contact_id)  # NotFoundError for an unknown contact
    published = None
    if wording_version is not None:
        published = published_wording(crm, purpose, wording_version)

    def build() -> list[ContactConsents]:
        consents = _own(crm, target) or ContactConsents.open(contact_id=target, actor=actor)
        consents.state(
            purpose=purpose,
            granted=granted,
            source=source,
            wording=wording,
            at=at,
            actor=actor,
            published=published,
        )
        return [consents]

    return store_retrying(
        crm, build, actor=actor, exhausted=f"the consents of {target} changed concurrently"
    )


def consent_view(crm: CrmApplication, contact_id: UUID) -> ConsentView:
    """What `contact_id` consented to (NotFoundError for an unknown contact).

    The statements are read from the events of each family member's consents, so each
    carries the time it was recorded; they are listed in `order_key` order, the order
    that decides the state of a purpose (the consents read model uses the same)."""
    crm.get_contact(contact_id)
    statements: list[dict[str, Any]] = []
    own_version = 0
    for member in family(crm, contact_id):
        events = list(crm.history(consents_id(member)))
        if member == contact_id:
            own_version = len(events)
        found = (statement_of(event) for event in events)
        statements += [{**s, "contact_id": str(member)} for s in found if s is not None]
    statements.sort(key=lambda s: order_key(s, s["contact_id"]))  # stable: recording order
    return ConsentView(contact_id, own_version, statements, current(statements))
