"""Erasing a data subject's personal data (GDPR art. 17): crypto-shredding.

Every personal value a contact's events carry (name, emails, phones, addresses, tax id,
custom fields, note texts; see `crm_ledger.privacy.sealing`) is stored encrypted, each
event with its own key. ``erase_contact`` records ``Erased`` on the contact and on every
contact merged into it (one transaction), then destroys the keys of all their events:
from then on those values read as their erased forms everywhere (the event store, the
read models once they apply ``Erased``, a rebuild, the personal-data document), while
every stored byte, and so the ledger and its proofs, stays exactly as it was.

``erase_lead`` does the same for a lead (someone who filled a web form, say), and a
contact's erasure also erases the leads that were converted into it or into a contact
merged into it. Given a `TextFinder`, both also redact the free text (also sealed) of
the service cases of those contacts and of the activities about those people alone: an
activity that links another person (contact or lead) too is kept as it is, and listed.

What it does not erase, and says so: events stored before sealing existed (counted as
``unsealed_events``), and records the law makes the company keep (issued invoices carry
the customer's fiscal data for the legal period; see `RETENTION`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import orjson
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from crm_ledger.application import CrmApplication
from crm_ledger.contact_family import family
from crm_ledger.domain.activity import Activity
from crm_ledger.domain.case import Case
from crm_ledger.domain.contact import Contact
from crm_ledger.domain.lead import Lead
from crm_ledger.privacy.sealing import SEALED_MEMBER, SEALED_TOPICS, personal_values

PEOPLE = ("contact", "lead")
"""The link types of an activity that name a person."""

RETENTION = (
    "Issued invoices, and the payments allocated to them, are kept for the period tax law "
    "requires (in Spain at least four years, six for the books of account), even after a "
    "request for erasure; every record is also part of the tamper-evident log."
)


class TextFinder(Protocol):
    """Finds the records whose free text may be about a contact (a narrowing only: each
    is loaded from the event store and checked there)."""

    def activities(self, contact_id: UUID) -> list[UUID]:
        """Activities that may link the contact."""
        ...

    def lead_activities(self, lead_id: UUID) -> list[UUID]:
        """Activities that may link the lead."""
        ...

    def cases(self, contact_id: UUID) -> list[UUID]:
        """Service cases that may be the contact's."""
        ...


@dataclass(frozen=True)
class Erasure:
    """What an erasure did."""

    contact: Contact
    erased_contacts: list[UUID]
    """The contact, then every contact merged into it."""
    erased_leads: list[UUID]
    """The leads converted into any of them."""
    redacted_activities: list[UUID]
    """Activities whose person links are all erased: their texts erased."""
    kept_activities: list[UUID]
    """Activities linking an erased person and another one: kept as they are."""
    redacted_cases: list[UUID]
    """The erased contacts' service cases: their texts erased."""
    keys_destroyed: int
    unsealed_events: int
    """Events of those contacts stored before sealing existed: their personal values are
    in clear in the log and cannot be erased from it (0 for contacts registered since)."""
    position: int | None
    """The log position of the ``Erased`` events (None when all were erased already)."""


@dataclass(frozen=True)
class Sealing:
    """How a contact's stored events hold its personal values."""

    kids: list[str]
    """The keys its sealed events were sealed with."""
    unsealed: int
    """Events stored in clear (before sealing existed) that carry personal values."""


def sealing_of(crm: CrmApplication, contact_id: UUID) -> Sealing:
    """Read the contact's stored events for their key ids and clear personal values."""
    kids: list[str] = []
    unsealed = 0
    for stored in crm.recorder.select_events(contact_id):
        if stored.topic not in SEALED_TOPICS:
            continue
        state: Any = orjson.loads(stored.state)
        if not isinstance(state, dict):
            continue
        sealed = state.get(SEALED_MEMBER)
        if isinstance(sealed, dict):
            kids.append(str(sealed["kid"]))
        elif personal_values(stored.topic, state):
            unsealed += 1
    return Sealing(kids, unsealed)


def converted_leads(crm: CrmApplication, contact_ids: list[UUID]) -> list[UUID]:
    """The leads converted into any of `contact_ids` (a scan of the conversions)."""
    wanted = set(contact_ids)
    found: list[UUID] = []
    for notification in crm.notifications_of([get_topic(Lead.Converted)]):  # type: ignore[attr-defined]
        event: Any = crm.mapper.to_domain_event(notification)
        if event.contact_id in wanted:
            found.append(event.originator_id)
    return found


def erase_contact(
    crm: CrmApplication,
    contact_id: UUID,
    *,
    expected_version: int,
    actor: str,
    texts: TextFinder | None = None,
) -> Erasure:
    """Erase the contact (a survivor, not a contact merged into another), the contacts
    merged into it and the leads converted into any of them, and with `texts` redact
    their cases and the activities about them alone, all in one transaction. Repeating
    it on an erased contact stores no new ``Erased`` event and destroys any key still
    there (the keys are destroyed after the events are stored; erased records refuse
    every command, so nothing new is sealed for them)."""
    contact = crm.load_at(Contact, contact_id, "contact", expected_version)
    if not contact.erased:
        contact.check_not_merged()  # a merged contact: erase its survivor
    members = family(crm, contact_id)
    contacts = [contact, *(crm.load(Contact, m, "contact") for m in members[1:])]
    lead_ids = converted_leads(crm, members)
    leads = [crm.load(Lead, i, "lead") for i in lead_ids]
    changed: list[Aggregate] = [c for c in contacts if not c.erased]
    changed += [lead for lead in leads if not lead.erased]
    for each in changed:
        each.erase(actor=actor)  # type: ignore[attr-defined]
    redacted, kept, cases = _redactions(crm, members, lead_ids, texts)
    for activity in redacted:
        activity.redact(actor=actor)
    for case in cases:
        case.redact(actor=actor)
    stored = [*changed, *redacted, *cases]
    position = crm.store(*stored, actor=actor) if stored else None
    destroyed, unsealed = shred(
        crm, [*members, *lead_ids, *(r.id for r in redacted), *(c.id for c in cases)]
    )
    return Erasure(
        contact=contact,
        erased_contacts=members,
        erased_leads=lead_ids,
        redacted_activities=[a.id for a in redacted],
        kept_activities=kept,
        redacted_cases=[c.id for c in cases],
        keys_destroyed=destroyed,
        unsealed_events=unsealed,
        position=position,
    )


def _redactions(
    crm: CrmApplication, contacts: list[UUID], leads: list[UUID], texts: TextFinder | None
) -> tuple[list[Activity], list[UUID], list[Case]]:
    """The activities to redact (every person they link, contact or lead, is being
    erased), those kept (they link another person too), and the contacts' cases; none
    already redacted."""
    if texts is None:
        return [], [], []
    erased = {("contact", str(c)) for c in contacts} | {("lead", str(i)) for i in leads}
    found = [a for c in contacts for a in texts.activities(c)]
    found += [a for i in leads for a in texts.lead_activities(i)]
    redact: list[Activity] = []
    kept: list[UUID] = []
    for activity_id in dict.fromkeys(found):
        activity = crm.load(Activity, activity_id, "activity")
        people = {(k["type"], k["id"]) for k in activity.links if k["type"] in PEOPLE}
        if not people & erased or activity.redacted:
            continue
        if people <= erased:
            redact.append(activity)
        else:
            kept.append(activity_id)
    case_ids = dict.fromkeys(c for m in contacts for c in texts.cases(m))
    cases = [crm.load(Case, i, "case") for i in case_ids]
    by_contact = {str(c) for c in contacts}
    cases = [c for c in cases if str(c.contact_id) in by_contact and not c.redacted]
    return redact, kept, cases


@dataclass(frozen=True)
class LeadErasure:
    """What a lead's erasure did."""

    lead: Lead
    redacted_activities: list[UUID]
    kept_activities: list[UUID]
    keys_destroyed: int
    unsealed_events: int
    position: int | None


def erase_lead(
    crm: CrmApplication,
    lead_id: UUID,
    *,
    expected_version: int,
    actor: str,
    texts: TextFinder | None = None,
) -> LeadErasure:
    """Erase a lead (converted or not) and, with `texts`, redact the activities about it
    alone, in one transaction; a repeat stores no new ``Erased`` event and destroys any
    key left. The contact a lead was converted into is not erased with it: erase that
    contact (which erases the lead too)."""
    lead = crm.load_at(Lead, lead_id, "lead", expected_version)
    redacted, kept, _ = _redactions(crm, [], [lead_id], texts)
    changed: list[Aggregate] = [*redacted]
    if not lead.erased:
        lead.erase(actor=actor)
        changed.append(lead)
    for activity in redacted:
        activity.redact(actor=actor)
    position = crm.store(*changed, actor=actor) if changed else None
    destroyed, unsealed = shred(crm, [lead_id, *(a.id for a in redacted)])
    return LeadErasure(lead, [a.id for a in redacted], kept, destroyed, unsealed, position)


def shred(crm: CrmApplication, aggregate_ids: list[UUID]) -> tuple[int, int]:
    """Destroy the keys of the aggregates' sealed events; (keys destroyed, events of
    theirs stored in clear)."""
    found = [sealing_of(crm, i) for i in aggregate_ids]
    destroyed = crm.seal_keys.destroy(kid for each in found for kid in each.kids)
    return destroyed, sum(each.unsealed for each in found)
