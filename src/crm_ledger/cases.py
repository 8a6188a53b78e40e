"""Service case use cases, called by the API: one function per use case.

A case is opened for an existing, active contact; every later command loads the case at
the version the caller saw (``If-Match``) and stores its event. Lists come from the
cases read model (`crm_ledger.projections.cases`).
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from crm_ledger.application import CrmApplication, Written
from crm_ledger.domain.case import Case
from crm_ledger.domain.contact import Contact
from crm_ledger.kinds import Kind

CASE = Kind(Case, "case")


def open_case(
    crm: CrmApplication,
    *,
    actor: str,
    contact_id: UUID,
    subject: str,
    priority: str = "normal",
    description: str | None = None,
    channel: str | None = None,
    assignee: str | None = None,
) -> Written:
    """Open a case for an existing, active contact (NotFoundError, ContactMergedError,
    ContactArchivedError otherwise)."""
    contact = crm.load(Contact, contact_id, "contact")
    contact.check_active()
    case = Case.open(
        contact_id=contact.id,
        subject=subject,
        priority=priority,
        description=description,
        channel=channel,
        assignee=assignee,
        actor=actor,
    )
    return Written(case, crm.store(case, actor=actor))


def get_case(crm: CrmApplication, case_id: UUID) -> Case:
    """The case, or NotFoundError."""
    return CASE.load(crm, case_id)


def change_case(
    crm: CrmApplication,
    case_id: UUID,
    *,
    expected_version: int,
    actor: str,
    command: Callable[[Case], None],
) -> Written:
    """Run one command of the case (update, set_priority, respond, wait, resume,
    resolve, close, reopen, rate) at the version the caller saw, and store it."""
    return CASE.change(crm, case_id, expected_version, actor, command)
