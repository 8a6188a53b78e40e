"""Lead use cases, called by the API: one function per use case.

Rules that span aggregates live here. Converting a lead creates (or links to) a person
contact, optionally an organisation and a deal, and records the conversion on the lead:
every aggregate is built and checked first, then all are saved in ONE ``crm.store`` (one
transaction), so either everything is stored or nothing is.

Duplicate detection is a warning, not a constraint: creating a lead, or converting it
into new contacts, is refused with ``PossibleDuplicateError`` while contacts share an email,
tax id or phone (and, for a new lead, while open leads share an email), unless ``force``.
The searches themselves are passed in (`MatchFinder`, `LeadMatchFinder`): the API wires
the contacts and leads read models, so this module never imports projections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate

from crm_ledger.application import CrmApplication, Written
from crm_ledger.domain.contact import Contact, ContactKind
from crm_ledger.domain.deal import Deal
from crm_ledger.domain.errors import (
    InvalidCommandError,
    VersionConflictError,
)
from crm_ledger.domain.lead import Lead
from crm_ledger.domain.pipeline import Pipeline
from crm_ledger.domain.sales_errors import PossibleDuplicateError
from crm_ledger.ledger.envelope import format_timestamp

DEFAULT_CURRENCY = "EUR"


class MatchFinder(Protocol):
    """Finds existing contacts sharing a value: ``[{contact_id, name, matched_on}]``."""

    def __call__(
        self, *, emails: Sequence[str], phones: Sequence[str], tax_ids: Sequence[str]
    ) -> list[dict[str, Any]]: ...


class LeadMatchFinder(Protocol):
    """Finds open leads sharing an email: ``[{lead_id, name, matched_on}]``."""

    def __call__(self, *, emails: Sequence[str]) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class DealSpec:
    """The deal to open when converting (stage defaults to the pipeline's first active)."""

    pipeline_id: UUID
    title: str
    stage_id: str | None = None
    amount: Decimal | str | None = None
    currency: str = DEFAULT_CURRENCY


@dataclass(frozen=True)
class Conversion:
    """What a conversion stored: the lead and what it became, and the log position."""

    lead: Lead
    contact: Contact
    organisation: Contact | None
    deal: Deal | None
    position: int | None


def _now() -> str:
    return format_timestamp(datetime.now(UTC))


def _refuse_duplicates(
    find_matches: MatchFinder,
    *,
    emails: Sequence[str],
    phones: Sequence[str],
    tax_ids: Sequence[str],
    exclude: frozenset[str] = frozenset(),
    lead_matches: Sequence[dict[str, Any]] = (),
) -> None:
    matches = [
        m
        for m in find_matches(emails=emails, phones=phones, tax_ids=tax_ids)
        if m["contact_id"] not in exclude
    ]
    if matches or lead_matches:
        raise PossibleDuplicateError(matches, lead_matches)


# -- lead lifecycle -------------------------------------------------------------------


def create_lead(
    crm: CrmApplication,
    *,
    actor: str,
    find_matches: MatchFinder,
    find_lead_matches: LeadMatchFinder | None = None,
    force: bool = False,
    **fields: Any,
) -> Written:
    """Register a lead; refused (PossibleDuplicateError) when contacts share its email,
    tax id or phone, or open leads (`find_lead_matches`) its email, unless `force`."""
    lead = Lead.register(actor=actor, **fields)
    if not force:
        same_leads = [] if find_lead_matches is None else find_lead_matches(emails=lead.emails)
        _refuse_duplicates(
            find_matches,
            emails=lead.emails,
            phones=lead.phones,
            tax_ids=[lead.tax_id] if lead.tax_id else [],
            lead_matches=same_leads,
        )
    return Written(lead, crm.store(lead, actor=actor))


def get_lead(crm: CrmApplication, lead_id: UUID) -> Lead:
    """Return the lead or raise NotFoundError."""
    return crm.load(Lead, lead_id, "lead")


def update_lead(
    crm: CrmApplication,
    lead_id: UUID,
    *,
    expected_version: int,
    actor: str,
    changes: dict[str, Any],
) -> Written:
    """Change some fields; ``score`` (if present) is recorded as its own Scored event."""
    fields = dict(changes)
    has_score = "score" in fields
    score = fields.pop("score", None)

    def command(lead: Lead) -> None:
        lead.update(actor=actor, **fields)
        if has_score:
            lead.set_score(score, actor=actor)

    return crm.change(Lead, lead_id, "lead", expected_version, actor, command)


def mark_contacted(
    crm: CrmApplication, lead_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """First contact made with a new lead."""
    at = _now()
    return crm.change(
        Lead,
        lead_id,
        "lead",
        expected_version,
        actor,
        lambda x: x.mark_contacted(at=at, actor=actor),
    )


def qualify_lead(
    crm: CrmApplication, lead_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """The lead is a real opportunity."""
    at = _now()
    return crm.change(
        Lead, lead_id, "lead", expected_version, actor, lambda x: x.qualify(at=at, actor=actor)
    )


def disqualify_lead(
    crm: CrmApplication, lead_id: UUID, *, expected_version: int, actor: str, reason: str
) -> Written:
    """Not a fit, with a reason."""
    at = _now()
    return crm.change(
        Lead,
        lead_id,
        "lead",
        expected_version,
        actor,
        lambda x: x.disqualify(reason=reason, at=at, actor=actor),
    )


def reopen_lead(
    crm: CrmApplication, lead_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Take a disqualified lead back to new."""
    return crm.change(
        Lead, lead_id, "lead", expected_version, actor, lambda x: x.reopen(actor=actor)
    )


# -- conversion -----------------------------------------------------------------------


def _existing_person(crm: CrmApplication, contact_id: UUID) -> Contact:
    contact = crm.load(Contact, contact_id, "contact")
    contact.check_active()
    if contact.kind is not ContactKind.PERSON:
        raise InvalidCommandError(
            "a lead converts into a person; link an existing person contact",
            field="existing_contact_id",
        )
    return contact


def convert_lead(
    crm: CrmApplication,
    lead_id: UUID,
    *,
    expected_version: int,
    actor: str,
    find_matches: MatchFinder,
    create_organisation: bool = False,
    existing_contact_id: UUID | None = None,
    deal: DealSpec | None = None,
    force: bool = False,
) -> Conversion:
    """Turn a lead into a person contact (new, or an existing one linked), optionally an
    organisation (named after the lead's company, holding its tax id) and a deal for the
    person, and record that on the lead: all saved atomically, or nothing.

    A new person gets the lead's name, emails, phones, owner, and its tax id when no
    organisation is created. An existing person without an organisation is linked to the
    new one. Duplicates are looked for only among values that would go into NEW contacts.
    """
    lead = get_lead(crm, lead_id)
    if lead.version != expected_version:
        raise VersionConflictError(expected=expected_version, actual=lead.version)
    lead.check_convertible()
    at = _now()

    organisation: Contact | None = None
    if create_organisation:
        if not lead.company_name:
            raise InvalidCommandError(
                "set the lead's company_name to create an organisation", field="company_name"
            )
        organisation = Contact.register(
            kind=ContactKind.ORGANISATION.value,
            name=lead.company_name,
            tax_id=lead.tax_id,
            owner=lead.owner,
            actor=actor,
        )
    org_id = None if organisation is None else organisation.id

    if existing_contact_id is not None:
        person = _existing_person(crm, existing_contact_id)
        if org_id is not None and person.organisation_id is None:
            person.update(actor=actor, organisation_id=org_id)
    else:
        person = Contact.register(
            kind=ContactKind.PERSON.value,
            name=lead.name,
            emails=lead.emails,
            phones=lead.phones,
            tax_id=None if organisation is not None else lead.tax_id,
            owner=lead.owner,
            organisation_id=org_id,
            actor=actor,
        )

    new_deal: Deal | None = None
    if deal is not None:
        pipeline = crm.load(Pipeline, deal.pipeline_id, "pipeline")
        new_deal = Deal.create(
            title=deal.title,
            contact_id=person.id,
            pipeline=pipeline,
            stage_id=deal.stage_id,
            amount=deal.amount,
            currency=deal.currency,
            owner=lead.owner,
            at=at,
            actor=actor,
        )

    if not force:
        creating_person = existing_contact_id is None
        _refuse_duplicates(
            find_matches,
            emails=lead.emails if creating_person else [],
            phones=lead.phones if creating_person else [],
            tax_ids=[lead.tax_id] if lead.tax_id and (creating_person or organisation) else [],
            exclude=frozenset({str(existing_contact_id)}) if existing_contact_id else frozenset(),
        )

    lead.record_conversion(
        contact_id=person.id,
        organisation_id=org_id,
        deal_id=None if new_deal is None else new_deal.id,
        at=at,
        actor=actor,
    )
    changed: list[Aggregate] = [lead]
    changed += [a for a in (organisation, person, new_deal) if a is not None]
    position = crm.store(*changed, actor=actor)
    return Conversion(lead, person, organisation, new_deal, position)
