"""Activity use cases (calls, emails, meetings, notes, tasks), called by the API.

The rule that spans aggregates lives here: every record an activity is linked to must
exist and be of the named type (a contact, a deal or a lead).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from crm_ledger.application import CrmApplication, Written
from crm_ledger.domain.activity import Activity, links_of, stamp
from crm_ledger.domain.contact import Contact
from crm_ledger.domain.deal import Deal
from crm_ledger.domain.errors import NotFoundError
from crm_ledger.kinds import Kind

ACTIVITY = Kind(Activity, "activity")

# The lead aggregate is matched by class name so that activities do not depend on the
# lead module's import (the three classes are all named after their link type).
LINK_CLASSES = {"contact": Contact.__name__, "deal": Deal.__name__, "lead": "Lead"}


def _now() -> str:
    return stamp(datetime.now(UTC))


def check_links(crm: CrmApplication, links: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The normalised links, once each linked record is known to exist (NotFoundError)."""
    checked = links_of(links)
    for link in checked:
        aggregate = crm.peek(UUID(link["id"]), link["type"])  # read only: no copy
        if type(aggregate).__name__ != LINK_CLASSES[link["type"]]:
            raise NotFoundError(kind=link["type"], id=link["id"])
        if isinstance(aggregate, Contact):
            aggregate.check_not_merged()  # new activities go to the surviving contact
    return checked


def log_activity(
    crm: CrmApplication,
    *,
    actor: str,
    kind: str,
    subject: str,
    links: Iterable[Mapping[str, Any]],
    **fields: Any,
) -> Written:
    """Record a call, email, meeting, note or task about existing records."""
    checked = check_links(crm, links)
    activity = Activity.log(
        kind=kind, subject=subject, links=checked, at=_now(), actor=actor, **fields
    )
    return Written(activity, crm.store(activity, actor=actor))


async def log_activity_async(
    crm: CrmApplication,
    *,
    actor: str,
    kind: str,
    subject: str,
    links: Iterable[Mapping[str, Any]],
    **fields: Any,
) -> Written:
    """`log_activity` from a coroutine: the linked records are checked (reads) on a
    worker thread, the save joins the group commit from the event loop."""
    checked = await asyncio.to_thread(check_links, crm, links)
    activity = Activity.log(
        kind=kind, subject=subject, links=checked, at=_now(), actor=actor, **fields
    )
    return Written(activity, await crm.store_async(activity, actor=actor))


def get_activity(crm: CrmApplication, activity_id: UUID) -> Activity:
    """Return the activity or raise NotFoundError."""
    return ACTIVITY.load(crm, activity_id)


def update_activity(
    crm: CrmApplication,
    activity_id: UUID,
    *,
    expected_version: int,
    actor: str,
    changes: dict[str, Any],
) -> Written:
    """Change fields; an ``assignee`` among the changes is a reassignment (tasks only).

    All checks run before any event is recorded, so a refused change records nothing.
    """
    fields = dict(changes)
    reassign = "assignee" in fields
    assignee = fields.pop("assignee", None)
    if "links" in fields:
        fields["links"] = check_links(crm, fields["links"])

    def command(activity: Activity) -> None:
        if reassign:
            activity.reassign(assignee=assignee, actor=actor)
        activity.update(actor=actor, **fields)

    return ACTIVITY.change(crm, activity_id, expected_version, actor, command)


def reassign_activity(
    crm: CrmApplication,
    activity_id: UUID,
    *,
    expected_version: int,
    actor: str,
    assignee: str | None,
) -> Written:
    """Give a task to someone else (or to nobody)."""
    return ACTIVITY.change(
        crm,
        activity_id,
        expected_version,
        actor,
        lambda a: a.reassign(assignee=assignee, actor=actor),
    )


def complete_activity(
    crm: CrmApplication, activity_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Mark a task done."""
    at = _now()
    return ACTIVITY.change(
        crm, activity_id, expected_version, actor, lambda a: a.complete(at=at, actor=actor)
    )


def reopen_activity(
    crm: CrmApplication, activity_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Make a completed task open again."""
    return ACTIVITY.change(
        crm, activity_id, expected_version, actor, lambda a: a.reopen(actor=actor)
    )


def cancel_activity(
    crm: CrmApplication,
    activity_id: UUID,
    *,
    expected_version: int,
    actor: str,
    reason: str | None = None,
) -> Written:
    """Cancel an activity (kept in history)."""
    at = _now()
    return ACTIVITY.change(
        crm,
        activity_id,
        expected_version,
        actor,
        lambda a: a.cancel(at=at, reason=reason, actor=actor),
    )
