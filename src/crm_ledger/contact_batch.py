"""Many contacts registered at once: every item is checked first, then one atomic save.

Used by ``POST /contacts:batch`` and ``crm-ledger import contacts``. `prepare_contacts`
stores nothing: it applies the same rules as registering one contact (the aggregate's
guards, and that a linked organisation exists) to every item and returns the new
aggregates together with every item's problems, so a caller can refuse the whole batch
with one answer, or store the valid ones with one ``crm.store(*contacts, actor=...)``
(one transaction: all of them or none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.domain.errors import DomainError, NotFoundError


@dataclass(frozen=True)
class ItemProblem:
    """Why item `index` of a batch cannot be registered (`field` names the input field)."""

    index: int
    field: str | None
    detail: str


@dataclass
class Prepared:
    """New, unsaved contacts (one per valid item, in item order) and the items' problems."""

    contacts: list[Contact] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)
    problems: list[ItemProblem] = field(default_factory=list)


def _with_id(contact: Contact, contact_id: UUID, actor: str) -> Contact:
    """The same registration as `contact` (already checked and normalised) under `contact_id`.

    ``Contact.register`` draws a random id; a caller that needs a deterministic one (a
    resumable import) re-creates the registration with the library's ``_create``.
    """
    return Contact._create(
        Contact.Registered,  # type: ignore[attr-defined]  # made by @event("Registered")
        id=contact_id,
        kind=contact.kind_value,
        name=contact.name,
        emails=contact.emails,
        phones=contact.phones,
        addresses=contact.addresses,
        tax_id=contact.tax_id,
        tags=contact.tags,
        owner=contact.owner,
        organisation_id=contact.organisation_id,
        custom_fields=contact.custom_fields,
        actor=actor,
    )


def _organisation_exists(crm: CrmApplication, organisation_id: UUID) -> bool:
    try:
        crm.load(Contact, organisation_id, "organisation")
    except NotFoundError:
        return False
    return True


def prepare_contacts(
    crm: CrmApplication,
    items: Sequence[Mapping[str, Any]],
    *,
    actor: str,
    ids: Sequence[UUID] | None = None,
) -> Prepared:
    """Check and build a registration for each of `items` (keyword arguments of
    ``Contact.register``); `ids`, when given, are the new contacts' ids, one per item."""
    if ids is not None and len(ids) != len(items):
        raise ValueError("one id per item is needed")
    prepared = Prepared()
    known: dict[UUID, bool] = {}  # organisation id -> it exists
    for index, fields in enumerate(items):
        try:
            organisation_id = fields.get("organisation_id")
            if organisation_id is not None:
                if organisation_id not in known:
                    known[organisation_id] = _organisation_exists(crm, organisation_id)
                if not known[organisation_id]:
                    raise NotFoundError(kind="organisation", id=str(organisation_id))
            contact = Contact.register(actor=actor, **fields)
            if ids is not None:
                contact = _with_id(contact, ids[index], actor)
        except NotFoundError as exc:
            prepared.problems.append(ItemProblem(index, "organisation_id", exc.detail))
        except DomainError as exc:
            prepared.problems.append(ItemProblem(index, getattr(exc, "field", None), exc.detail))
        else:
            prepared.contacts.append(contact)
            prepared.indexes.append(index)
    return prepared
