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


def _organisation_problem(crm: CrmApplication, organisation_id: UUID) -> DomainError | None:
    """Why a person may not be linked to `organisation_id` (None: it may)."""
    try:
        crm.check_organisation(organisation_id)
    except DomainError as exc:
        return exc
    return None


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
    known: dict[UUID, DomainError | None] = {}  # organisation id -> why it can't be linked
    for index, fields in enumerate(items):
        try:
            organisation_id = fields.get("organisation_id")
            if organisation_id is not None:
                if organisation_id not in known:
                    known[organisation_id] = _organisation_problem(crm, organisation_id)
                problem = known[organisation_id]
                if problem is not None:
                    prepared.problems.append(ItemProblem(index, "organisation_id", problem.detail))
                    continue
            contact_id = None if ids is None else ids[index]
            contact = Contact.register(actor=actor, contact_id=contact_id, **fields)
        except NotFoundError as exc:
            prepared.problems.append(ItemProblem(index, "organisation_id", exc.detail))
        except DomainError as exc:
            prepared.problems.append(ItemProblem(index, getattr(exc, "field", None), exc.detail))
        else:
            prepared.contacts.append(contact)
            prepared.indexes.append(index)
    return prepared
