"""The Activity aggregate: a call, email, meeting, note or task about contacts, deals, leads.

Every activity is linked to at least one record (``{"type": "contact"|"deal"|"lead",
"id": "<uuid>"}``); whether those records exist is checked by the service. Calls, emails,
meetings and notes say when they happened (``occurred_at``, default: when logged). Tasks
instead have a due date, an assignee, an optional reminder time, and can be completed
and reopened. Any activity can be cancelled (kept, never deleted); a cancelled activity
no longer changes. Times are RFC 3339 UTC strings with microseconds in events, dates
ISO strings, so the event bodies only assign.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.changes import check_known
from crm_ledger.domain.contact import ERASED_NAME
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.sales_errors import (
    ActivityCancelledError,
    ActivityCompletedError,
    ActivityLinkError,
    ActivityNotCompletedError,
    ActivityNotTaskError,
)

MAX_SUBJECT = 200
MAX_BODY = 10_000
MAX_LINKS = 20
MAX_REASON = 1000
TASK_FIELDS = frozenset({"due_date", "remind_at"})
UPDATABLE = frozenset({"subject", "body", "links", "occurred_at", "due_date", "remind_at"})


class ActivityKind(StrEnum):
    """What kind of interaction an activity records."""

    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    NOTE = "note"
    TASK = "task"


class LinkType(StrEnum):
    """What an activity can be about."""

    CONTACT = "contact"
    DEAL = "deal"
    LEAD = "lead"


class ActivityStatus(StrEnum):
    """Where an activity stands (only tasks are ever ``done``)."""

    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


def stamp(moment: datetime) -> str:
    """`moment` as RFC 3339 UTC with microseconds (sorts as text in time order)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def timestamp_text(value: object, field: str) -> str | None:
    """A timezone-aware datetime (or RFC 3339 text) as `stamp` text; None stays None."""
    if value is None:
        return None
    moment: datetime
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidCommandError(
                f"{field} must be an RFC 3339 time such as 2026-03-10T09:30:00Z", field=field
            ) from None
    else:
        raise InvalidCommandError(f"{field} must be an RFC 3339 time", field=field)
    if moment.tzinfo is None:
        raise InvalidCommandError(f"{field} needs a time zone offset (e.g. Z)", field=field)
    return stamp(moment)


def date_text(value: object, field: str) -> str | None:
    """A date (or ISO date text) as ``YYYY-MM-DD``; None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        raise InvalidCommandError(f"{field} must be a date, not a time", field=field)
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InvalidCommandError(
            f"{field} must be an ISO date such as 2026-03-10", field=field
        ) from None


def _subject(value: object) -> str:
    subject = value.strip() if isinstance(value, str) else ""
    if not subject or len(subject) > MAX_SUBJECT:
        raise InvalidCommandError(
            f"subject must have 1 to {MAX_SUBJECT} characters", field="subject"
        )
    return subject


def _body(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_BODY:
        raise InvalidCommandError(
            f"body must be text of at most {MAX_BODY} characters", field="body"
        )
    return value.strip() or None


def _assignee(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidCommandError("assignee must be text", field="assignee")
    return value.strip() or None


def _link(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping) or set(value) != {"type", "id"}:
        raise ActivityLinkError("each link is {type, id}", field="links")
    try:
        kind = LinkType(value["type"]).value
    except ValueError:
        raise ActivityLinkError("a link type is contact, deal or lead", field="links") from None
    try:
        target = UUID(str(value["id"]))
    except ValueError:
        raise ActivityLinkError("a link id must be a UUID", field="links") from None
    return {"type": kind, "id": str(target)}


def links_of(value: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Checked, de-duplicated links in their given order (1 to MAX_LINKS)."""
    if isinstance(value, (str, bytes, Mapping)):
        raise ActivityLinkError("links must be a list", field="links")
    unique: dict[tuple[str, str], dict[str, str]] = {}
    for item in value:
        link = _link(item)
        unique.setdefault((link["type"], link["id"]), link)
    if not unique or len(unique) > MAX_LINKS:
        raise ActivityLinkError(
            f"an activity needs 1 to {MAX_LINKS} links to contacts, deals or leads",
            field="links",
        )
    return list(unique.values())


def normalise(field: str, value: Any) -> Any:
    """The stored form of `value` for the updatable `field` (InvalidCommandError if invalid)."""
    if field == "subject":
        return _subject(value)
    if field == "body":
        return _body(value)
    if field == "links":
        return links_of(value)
    if field in ("occurred_at", "remind_at"):
        return timestamp_text(value, field)
    if field == "due_date":
        return date_text(value, field)
    raise InvalidCommandError(f"unknown field {field!r}", field=field)


class Activity(Aggregate):
    """A call, email, meeting, note or task, linked to contacts, deals or leads."""

    redacted: bool = False  # class default: set by Redacted (states saved before lack it)

    @event("Logged")
    def __init__(
        self,
        *,
        kind: str,
        subject: str,
        body: str | None,
        links: list[dict[str, str]],
        occurred_at: str | None,
        due_date: str | None,
        assignee: str | None,
        remind_at: str | None,
        logged_at: str,
        actor: str,
    ) -> None:
        self.kind_value = kind
        self.subject = subject
        self.body = body
        self.links = links
        self.occurred_at = occurred_at
        self.due_date = due_date
        self.assignee = assignee
        self.remind_at = remind_at
        self.logged_at = logged_at
        self.completed_at: str | None = None
        self.completed_by: str | None = None
        self.cancelled_at: str | None = None
        self.cancel_reason: str | None = None
        self.created_by = actor

    @classmethod
    def log(
        cls,
        *,
        kind: str,
        subject: str,
        links: Iterable[Mapping[str, Any]],
        at: str,
        actor: str,
        body: str | None = None,
        occurred_at: datetime | str | None = None,
        due_date: date | str | None = None,
        assignee: str | None = None,
        remind_at: datetime | str | None = None,
    ) -> Activity:
        """Record an activity. A task takes due_date, assignee and remind_at; the other
        kinds take occurred_at (default `at`, the time it is logged)."""
        try:
            kind_value = ActivityKind(kind).value
        except ValueError:
            kinds = ", ".join(k.value for k in ActivityKind)
            raise InvalidCommandError(f"kind must be one of {kinds}", field="kind") from None
        is_task = kind_value == ActivityKind.TASK.value
        if is_task and occurred_at is not None:
            raise InvalidCommandError(
                "a task has a due_date, not an occurred_at", field="occurred_at"
            )
        if not is_task:
            given = {"due_date": due_date, "assignee": assignee, "remind_at": remind_at}
            for field, value in given.items():
                if value is not None:
                    raise InvalidCommandError(f"only a task has {field}", field=field)
        return cls(
            kind=kind_value,
            subject=_subject(subject),
            body=_body(body),
            links=links_of(links),
            occurred_at=None if is_task else timestamp_text(occurred_at, "occurred_at") or at,
            due_date=date_text(due_date, "due_date"),
            assignee=_assignee(assignee),
            remind_at=timestamp_text(remind_at, "remind_at"),
            logged_at=at,
            actor=actor,
        )

    # -- queries ----------------------------------------------------------------------

    @property
    def kind(self) -> ActivityKind:
        """Call, email, meeting, note or task."""
        return ActivityKind(self.kind_value)

    @property
    def is_task(self) -> bool:
        """Only tasks have a due date, an assignee and completion."""
        return self.kind is ActivityKind.TASK

    @property
    def status(self) -> ActivityStatus:
        """Open, done (a completed task) or cancelled."""
        if self.cancelled_at is not None:
            return ActivityStatus.CANCELLED
        if self.completed_at is not None:
            return ActivityStatus.DONE
        return ActivityStatus.OPEN

    @property
    def at(self) -> str:
        """When the activity sits on a timeline: when it happened, or (tasks) was logged."""
        return self.occurred_at or self.logged_at

    def _check_not_cancelled(self) -> None:
        if self.cancelled_at is not None:
            raise ActivityCancelledError(f"activity {self.id} is cancelled")

    def _check_task(self, command: str) -> None:
        if not self.is_task:
            raise ActivityNotTaskError(f"only a task can be {command}; this is a {self.kind_value}")

    # -- commands ---------------------------------------------------------------------

    def update(self, *, actor: str, **changes: Any) -> None:
        """Change some of subject, body, links, occurred_at (not tasks), due_date and
        remind_at (tasks only). Only values that differ are recorded (else no event)."""
        check_known(changes, UPDATABLE)
        self._check_not_cancelled()
        for field in changes:
            if field in TASK_FIELDS and not self.is_task:
                raise InvalidCommandError(f"only a task has {field}", field=field)
            if field == "occurred_at" and self.is_task:
                raise InvalidCommandError("a task has no occurred_at", field=field)
        differing: dict[str, Any] = {}
        for field, value in changes.items():
            new = normalise(field, value)
            if field == "occurred_at" and new is None:
                raise InvalidCommandError("occurred_at cannot be cleared", field=field)
            if new != getattr(self, field):
                differing[field] = new
        if differing:
            self._updated(changes=differing, actor=actor)

    @event("Updated")
    def _updated(self, *, changes: dict[str, Any], actor: str) -> None:
        for field, value in changes.items():
            setattr(self, field, value)

    def reassign(self, *, assignee: str | None, actor: str) -> None:
        """Give the task to someone else, or to nobody (same assignee: no event)."""
        self._check_task("reassigned")
        self._check_not_cancelled()
        new = _assignee(assignee)
        if new != self.assignee:
            self._reassigned(assignee=new, previous=self.assignee, actor=actor)

    @event("Reassigned")
    def _reassigned(self, *, assignee: str | None, previous: str | None, actor: str) -> None:
        self.assignee = assignee

    def complete(self, *, at: str, actor: str) -> None:
        """Mark the task done (once; reopen it to complete it again)."""
        self._check_task("completed")
        self._check_not_cancelled()
        if self.completed_at is not None:
            raise ActivityCompletedError(f"task {self.id} was completed at {self.completed_at}")
        self._completed(at=at, actor=actor)

    @event("Completed")
    def _completed(self, *, at: str, actor: str) -> None:
        self.completed_at = at
        self.completed_by = actor

    def reopen(self, *, actor: str) -> None:
        """Make a completed task open again."""
        self._check_task("reopened")
        self._check_not_cancelled()
        if self.completed_at is None:
            raise ActivityNotCompletedError(f"task {self.id} is not completed")
        self._reopened(actor=actor)

    @event("Reopened")
    def _reopened(self, *, actor: str) -> None:
        self.completed_at = None
        self.completed_by = None

    def cancel(self, *, at: str, actor: str, reason: str | None = None) -> None:
        """Cancel the activity (kept in history; a completed task must be reopened first)."""
        self._check_not_cancelled()
        if self.completed_at is not None:
            raise ActivityCompletedError(f"task {self.id} is completed; reopen it first")
        text = reason.strip() if isinstance(reason, str) else None
        if text is not None and len(text) > MAX_REASON:
            raise InvalidCommandError(f"reason has at most {MAX_REASON} characters", field="reason")
        self._cancelled(at=at, reason=text or None, actor=actor)

    @event("Cancelled")
    def _cancelled(self, *, at: str, reason: str | None, actor: str) -> None:
        self.cancelled_at = at
        self.cancel_reason = reason

    def relink(self, link_type: str, old_id: UUID, new_id: UUID, *, actor: str) -> None:
        """Replace the link to record `old_id` by one to `new_id` (of the same type),
        because the old record was merged into the new one; a link to `new_id` already
        present is kept once. No link to `old_id`: no event. Allowed on cancelled and
        completed activities too: it fixes a reference, not what happened."""
        kind = LinkType(link_type).value
        old = {"type": kind, "id": str(old_id)}
        if old not in self.links:
            return
        new = {"type": kind, "id": str(new_id)}
        links = links_of(new if link == old else link for link in self.links)
        self._relinked(links=links, replaced=old["id"], by=new["id"], actor=actor)

    def redact(self, *, actor: str) -> None:
        """Record that the activity's texts were erased with the personal data of the
        contacts it is about (the keys they were sealed with are destroyed by the caller,
        see `crm_ledger.erasure`): its subject reads `ERASED_NAME`, no body. Its kind,
        links, dates and state stay."""
        self._redacted(actor=actor)

    @event("Redacted")
    def _redacted(self, *, actor: str) -> None:
        self.redacted = True
        self.subject = ERASED_NAME
        self.body = None

    @event("Relinked")
    def _relinked(self, *, links: list[dict[str, str]], replaced: str, by: str, actor: str) -> None:
        self.links = links


ACTIVITY_EVENTS = (
    "Logged",
    "Updated",
    "Reassigned",
    "Completed",
    "Reopened",
    "Cancelled",
    "Relinked",
    "Redacted",
)


def activity_snapshot(activity: Activity) -> dict[str, Any]:
    """The activity's public, JSON-ready state."""
    return {
        "id": str(activity.id),
        "version": activity.version,
        "kind": activity.kind_value,
        "subject": activity.subject,
        "body": activity.body,
        "links": [dict(link) for link in activity.links],
        "occurred_at": activity.occurred_at,
        "due_date": activity.due_date,
        "assignee": activity.assignee,
        "remind_at": activity.remind_at,
        "status": activity.status.value,
        "completed_at": activity.completed_at,
        "completed_by": activity.completed_by,
        "cancelled_at": activity.cancelled_at,
        "cancel_reason": activity.cancel_reason,
        "at": activity.at,
        "logged_at": activity.logged_at,
        "created_by": activity.created_by,
        "created_at": stamp(activity.created_on),
        "modified_at": stamp(activity.modified_on),
    }
