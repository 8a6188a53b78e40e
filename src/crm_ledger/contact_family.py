"""Contacts merged into one: a merged contact's survivor, and a survivor's absorbed ones.

A merge keeps both records (`crm_ledger.domain.contact`): the duplicate records
``MergedInto`` its survivor, the survivor records ``Merged`` naming the duplicate. Use
cases that treat merged contacts as one person (payments, consents) follow these links.
"""

from __future__ import annotations

from uuid import UUID

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact

#: merges followed from a contact before giving up (none loop: a survivor must be active
#: when it takes a duplicate in)
MAX_MERGE_STEPS = 100


def survivor(crm: CrmApplication, contact_id: UUID) -> UUID:
    """The contact `contact_id` ends up as after merges: itself unless merged, else the
    survivor it was merged into (followed through later merges of that one)."""
    current = contact_id
    for _ in range(MAX_MERGE_STEPS):
        merged_into = crm.load(Contact, current, "contact").merged_into
        if merged_into is None:
            return current
        current = merged_into
    raise RuntimeError(f"contact {contact_id}: more than {MAX_MERGE_STEPS} merges to follow")


def family(crm: CrmApplication, contact_id: UUID) -> list[UUID]:
    """`contact_id` first, then every contact merged into it, directly or through a
    contact merged into it, in the order the merges happened (depth first)."""
    found = [contact_id]
    for event in crm.history(contact_id):
        if type(event).__name__ == "Merged":
            found += [c for c in family(crm, event.duplicate_id) if c not in found]
        if len(found) > MAX_MERGE_STEPS:
            raise RuntimeError(f"contact {contact_id}: more than {MAX_MERGE_STEPS} merged in")
    return found
