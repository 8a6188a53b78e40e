"""Merging duplicate contacts: one use case, called by the API.

``merge_contacts`` keeps the survivor and freezes the duplicate (see `Contact.merge` for
which values the survivor absorbs), then redirects every reference to the duplicate:

* deals whose contact is the duplicate record ``ContactRelinked`` (found by a scan of
  the log, like `sales.open_deals_in_stage`; there is no deals read model yet),
* people whose organisation is the duplicate record ``OrganisationRelinked``,
* activities linking the duplicate record ``Relinked``,
* service cases, NPS answers and campaign responses of the duplicate record
  ``Relinked``.

Every aggregate is loaded, checked and changed first, then all are saved in ONE
``crm.store`` (one transaction): if any of them changed meanwhile (a version conflict),
nothing of the merge is stored. Both histories are kept, since nothing is deleted.

People, activities and cases are found by a `ReferenceFinder` passed in (the API wires the
contacts, activities and cases read models, caught up with the log first), so this module never
imports projections. The finder only narrows the search: each aggregate it names is loaded
from the event store and relinked only if it really refers to the duplicate there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from crm_ledger.application import CrmApplication
from crm_ledger.cases import CASE
from crm_ledger.domain.activity import Activity, LinkType
from crm_ledger.domain.campaign import CampaignResponse
from crm_ledger.domain.case import Case
from crm_ledger.domain.contact import Contact
from crm_ledger.domain.deal import Deal
from crm_ledger.domain.errors import VersionConflictError
from crm_ledger.domain.survey import NpsResponse
from crm_ledger.kinds import Kind
from crm_ledger.sales import deal_ids
from crm_ledger.surveys import NPS


class ReferenceFinder(Protocol):
    """Finds aggregates that may refer to a contact."""

    def members(self, organisation_id: UUID) -> list[UUID]:
        """People whose organisation may be `organisation_id`."""
        ...

    def activities(self, contact_id: UUID) -> list[UUID]:
        """Activities that may link the contact."""
        ...

    def cases(self, contact_id: UUID) -> list[UUID]:
        """Service cases that may be the contact's."""
        ...

    def answers(self, contact_id: UUID) -> list[UUID]:
        """NPS answers that may be the contact's."""
        ...

    def responses(self, contact_id: UUID) -> list[UUID]:
        """Campaign responses that may be the contact's."""
        ...


@dataclass(frozen=True)
class Merge:
    """What a merge stored: both contacts, the relinked aggregates, the log position."""

    survivor: Contact
    duplicate: Contact
    deals: list[Deal]
    people: list[Contact]
    activities: list[Activity]
    cases: list[Case]
    answers: list[NpsResponse]
    responses: list[CampaignResponse]
    position: int | None


def deals_of(crm: CrmApplication, contact_id: UUID) -> Iterator[Deal]:
    """Every deal (open or closed) whose contact is `contact_id` (replays every deal)."""
    for deal_id in deal_ids(crm):
        deal = crm.load(Deal, deal_id, "deal")
        if deal.contact_id == contact_id:
            yield deal


def _relinked_deals(
    crm: CrmApplication, duplicate: Contact, survivor: Contact, actor: str
) -> list[Deal]:
    deals = list(deals_of(crm, duplicate.id))
    for deal in deals:
        deal.relink_contact(survivor.id, actor=actor)
    return deals


def _relinked_people(
    crm: CrmApplication,
    references: ReferenceFinder,
    duplicate: Contact,
    survivor: Contact,
    actor: str,
) -> list[Contact]:
    people = []
    for person_id in references.members(duplicate.id):
        person = crm.get_contact(person_id)
        # A person merged into another is frozen; its survivor carries the link on.
        if person.organisation_id == duplicate.id and person.merged_into is None:
            person.relink_organisation(survivor.id, actor=actor)
            people.append(person)
    return people


def _relinked_activities(
    crm: CrmApplication,
    references: ReferenceFinder,
    duplicate: Contact,
    survivor: Contact,
    actor: str,
) -> list[Activity]:
    activities = []
    for activity_id in references.activities(duplicate.id):
        activity = crm.load(Activity, activity_id, "activity")
        version = activity.version
        activity.relink(LinkType.CONTACT, duplicate.id, survivor.id, actor=actor)
        if activity.version != version:
            activities.append(activity)
    return activities


Owned = TypeVar("Owned", Case, NpsResponse, CampaignResponse)
RESPONSE = Kind(CampaignResponse, "campaign response")


def _relinked_owned(
    crm: CrmApplication,
    kind: Kind[Owned],
    candidates: list[UUID],
    duplicate: Contact,
    survivor: Contact,
    actor: str,
) -> list[Owned]:
    """The `candidates` (cases, NPS answers: records with one ``contact_id``) that are
    the duplicate's, relinked to the survivor."""
    found = []
    for record_id in candidates:
        record = kind.load(crm, record_id)
        if record.contact_id == duplicate.id:
            record.relink(contact_id=survivor.id, actor=actor)
            found.append(record)
    return found


def merge_contacts(
    crm: CrmApplication,
    survivor_id: UUID,
    *,
    duplicate_id: UUID,
    expected_version: int,
    actor: str,
    references: ReferenceFinder,
) -> Merge:
    """Merge the contact `duplicate_id` into `survivor_id` (whose version the caller saw)
    and redirect every deal, person and activity referring to the duplicate: all saved
    atomically, or nothing (VersionConflictError when any of them changed meanwhile)."""
    survivor = crm.get_contact(survivor_id)
    if survivor.version != expected_version:
        raise VersionConflictError(expected=expected_version, actual=survivor.version)
    duplicate = crm.get_contact(duplicate_id)
    survivor.merge(duplicate, actor=actor)
    deals = _relinked_deals(crm, duplicate, survivor, actor)
    people = _relinked_people(crm, references, duplicate, survivor, actor)
    activities = _relinked_activities(crm, references, duplicate, survivor, actor)
    cases = _relinked_owned(crm, CASE, references.cases(duplicate.id), duplicate, survivor, actor)
    answers = _relinked_owned(
        crm, NPS, references.answers(duplicate.id), duplicate, survivor, actor
    )
    responses = _relinked_owned(
        crm, RESPONSE, references.responses(duplicate.id), duplicate, survivor, actor
    )
    changed: list[Aggregate] = [
        survivor,
        duplicate,
        *deals,
        *people,
        *activities,
        *cases,
        *answers,
        *responses,
    ]
    try:
        position = crm.store(*changed, actor=actor)
    except VersionConflictError as exc:
        raise VersionConflictError(
            expected=expected_version,
            actual=None,
            detail="a contact, deal, activity or case touched by the merge changed meanwhile;"
            " nothing was merged, retry",
        ) from exc
    return Merge(
        survivor, duplicate, deals, people, activities, cases, answers, responses, position
    )
