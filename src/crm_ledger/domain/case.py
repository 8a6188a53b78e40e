"""The Case aggregate: a customer's service request, its priority and its SLA clocks.

A case belongs to one contact (the customer). Its status moves::

    new --respond--> open --wait--> pending --resume--> open --resolve--> resolved
     |                 ^                                                   |   |
     +----resolve------|--------------------------------------------------+   close
                       +------------------------reopen-------------------------+--> closed

``respond`` records a reply to the customer; the first one stops the first-response
clock. ``wait`` (pending: waiting on the customer) stops the resolution clock and
``resume`` restarts it, pushing the resolution due time back by the time waited.
``resolve`` (with a resolution text) stops it; ``reopen`` (from resolved or closed, with a
reason) starts it again from where it was. ``closed`` is final except for ``reopen``. A
resolved or closed case may be rated once per resolution (customer satisfaction, 1 to 5).

SLA targets are set by priority (`SLA_HOURS`). The due times are computed when the case
is opened or its priority changes (measured from the case's opening, plus the time spent
waiting) and stored in the events, so a later change of the targets never rewrites a
case's history. Whether a clock is breached is a comparison of the due time with when it
stopped (or with now, while it runs): `sla_state`.

::

    DomainError
    ├── InvalidCommandError      a bad value (subject, priority, rating, ...)
    └── CaseError                a command the case's status does not allow
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.changes import changed_fields, check_known
from crm_ledger.domain.changes import text_field as _text
from crm_ledger.domain.contact import ERASED_NAME
from crm_ledger.domain.errors import DomainError, InvalidCommandError

MAX_SUBJECT = 200
MAX_TEXT = 5000
MAX_LABEL = 100
UPDATABLE = frozenset({"subject", "description", "channel", "assignee"})


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class CaseStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


#: hours to the first response and to the resolution, by priority
SLA_HOURS: dict[Priority, tuple[int, int]] = {
    Priority.URGENT: (1, 4),
    Priority.HIGH: (4, 24),
    Priority.NORMAL: (8, 72),
    Priority.LOW: (24, 168),
}
ACTIVE = frozenset({CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.PENDING})


class CaseError(DomainError):
    """A command that the case's current status does not allow."""

    title = "Case state conflict"
    code = "case_conflict"

    def __init__(self, *, case_id: UUID, status: str, command: str) -> None:
        super().__init__(f"case {case_id} is {status}: {command} is not allowed")
        self.status = status
        self.command = command


def stamp(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds (the form of every time a case stores)."""
    if moment.tzinfo is None:
        raise InvalidCommandError("times must carry a time zone", field="at")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _required(value: object, field: str, most: int) -> str:
    text = _text(value, field, most, required=True)
    assert text is not None
    return text


def normalise(field: str, value: Any) -> Any:
    """The stored form of the updatable `field` (InvalidCommandError if invalid)."""
    if field == "subject":
        return _required(value, "subject", MAX_SUBJECT)
    if field == "description":
        return _text(value, "description", MAX_TEXT)
    if field in ("channel", "assignee"):
        return _text(value, field, MAX_LABEL)
    raise InvalidCommandError(f"unknown field {field!r}", field=field)


def check_priority(value: object) -> Priority:
    try:
        return Priority(str(value))
    except ValueError:
        names = ", ".join(p.value for p in Priority)
        raise InvalidCommandError(f"priority must be one of {names}", field="priority") from None


def due_times(priority: Priority, opened_at: str, waited_seconds: int) -> tuple[str, str]:
    """(first response due, resolution due) of a case opened at `opened_at`; the
    resolution due time moves back by the time spent waiting on the customer."""
    opened = parse(opened_at)
    respond_hours, resolve_hours = SLA_HOURS[priority]
    respond = opened + timedelta(hours=respond_hours)
    resolve = opened + timedelta(hours=resolve_hours, seconds=waited_seconds)
    return stamp(respond), stamp(resolve)


class Case(Aggregate):
    """A customer's service request (see the module docstring)."""

    redacted: bool = False  # class default: set by Redacted (states saved before lack it)

    @event("Opened")
    def __init__(
        self,
        *,
        contact_id: UUID,
        subject: str,
        description: str | None,
        channel: str | None,
        assignee: str | None,
        priority: str,
        opened_at: str,
        respond_by: str,
        resolve_by: str,
        actor: str,
    ) -> None:
        self.contact_id = contact_id
        self.subject = subject
        self.description = description
        self.channel = channel
        self.assignee = assignee
        self.priority = priority
        self.opened_at = opened_at
        self.respond_by = respond_by
        self.resolve_by = resolve_by
        self.status_value = CaseStatus.NEW.value
        self.first_response_at: str | None = None
        self.responses = 0
        self.waiting_since: str | None = None
        self.waited_seconds = 0  # whole seconds spent waiting on the customer
        self.resolved_at: str | None = None
        self.resolution: str | None = None
        self.rating: dict[str, Any] | None = None
        self.created_by = actor

    @classmethod
    def open(
        cls,
        *,
        contact_id: UUID,
        subject: str,
        actor: str,
        priority: str = Priority.NORMAL.value,
        description: str | None = None,
        channel: str | None = None,
        assignee: str | None = None,
        now: datetime | None = None,
    ) -> Case:
        """Open a case for `contact_id` (whether that contact exists is the service's
        business); its SLA clocks start now."""
        level = check_priority(priority)
        opened_at = stamp(now or datetime.now(UTC))
        respond_by, resolve_by = due_times(level, opened_at, 0)
        return cls(
            contact_id=contact_id,
            subject=normalise("subject", subject),
            description=normalise("description", description),
            channel=normalise("channel", channel),
            assignee=normalise("assignee", assignee),
            priority=level.value,
            opened_at=opened_at,
            respond_by=respond_by,
            resolve_by=resolve_by,
            actor=actor,
        )

    @property
    def status(self) -> CaseStatus:
        return CaseStatus(self.status_value)

    def _check(self, command: str, allowed: frozenset[CaseStatus] | set[CaseStatus]) -> None:
        if self.status not in allowed:
            raise CaseError(case_id=self.id, status=self.status_value, command=command)

    # -- commands ---------------------------------------------------------------------

    def update(self, *, actor: str, **changes: Any) -> None:
        """Change subject, description, channel or assignee (not of a closed case);
        only differing values are recorded."""
        check_known(changes, UPDATABLE)
        self._check("update", {*ACTIVE, CaseStatus.RESOLVED})
        differing = changed_fields(changes, normalise, lambda f: getattr(self, f))
        if differing:
            self._updated(changes=differing, actor=actor)

    @event("Updated")
    def _updated(self, *, changes: dict[str, Any], actor: str) -> None:
        for field, value in changes.items():
            setattr(self, field, value)

    def set_priority(self, priority: object, *, actor: str) -> None:
        """Change the priority of an active case; the due times follow the new targets
        (from the opening, plus the time waited). The same priority records nothing."""
        self._check("set_priority", ACTIVE)
        level = check_priority(priority)
        if level.value == self.priority:
            return
        respond_by, resolve_by = due_times(level, self.opened_at, self.waited_seconds)
        self._prioritised(
            priority=level.value, respond_by=respond_by, resolve_by=resolve_by, actor=actor
        )

    @event("Prioritised")
    def _prioritised(self, *, priority: str, respond_by: str, resolve_by: str, actor: str) -> None:
        self.priority = priority
        self.respond_by = respond_by
        self.resolve_by = resolve_by

    def respond(self, *, actor: str, now: datetime | None = None) -> None:
        """A reply was sent to the customer: a new case becomes open; the first reply
        stops the first-response clock."""
        self._check("respond", ACTIVE)
        self._responded(at=stamp(now or datetime.now(UTC)), actor=actor)

    @event("Responded")
    def _responded(self, *, at: str, actor: str) -> None:
        self.responses += 1
        if self.first_response_at is None:
            self.first_response_at = at
        if self.status_value == CaseStatus.NEW.value:
            self.status_value = CaseStatus.OPEN.value

    def wait(self, *, actor: str, now: datetime | None = None) -> None:
        """Waiting on the customer (from open): the resolution clock stops."""
        self._check("wait", {CaseStatus.OPEN})
        self._waiting(at=stamp(now or datetime.now(UTC)), actor=actor)

    @event("Waiting")
    def _waiting(self, *, at: str, actor: str) -> None:
        self.status_value = CaseStatus.PENDING.value
        self.waiting_since = at

    def resume(self, *, actor: str, now: datetime | None = None) -> None:
        """The customer answered (from pending): the resolution clock runs again, its due
        time moved back by the time waited."""
        self._check("resume", {CaseStatus.PENDING})
        at = stamp(now or datetime.now(UTC))
        waited = self._waited_until(at)
        resolve_by = stamp(parse(self.resolve_by) + timedelta(seconds=waited))
        self._resumed(at=at, waited_seconds=waited, resolve_by=resolve_by, actor=actor)

    @event("Resumed")
    def _resumed(self, *, at: str, waited_seconds: int, resolve_by: str, actor: str) -> None:
        self.status_value = CaseStatus.OPEN.value
        self.waiting_since = None
        self.waited_seconds += waited_seconds
        self.resolve_by = resolve_by

    def resolve(self, *, resolution: str, actor: str, now: datetime | None = None) -> None:
        """Solved, saying how (from new, open or pending): the resolution clock stops
        (when pending, the time waited moves its due time back, as `resume` does)."""
        self._check("resolve", ACTIVE)
        text = _required(resolution, "resolution", MAX_TEXT)
        at = stamp(now or datetime.now(UTC))
        waited = self._waited_until(at)
        resolve_by = stamp(parse(self.resolve_by) + timedelta(seconds=waited))
        self._resolved(
            at=at, resolution=text, waited_seconds=waited, resolve_by=resolve_by, actor=actor
        )

    def _waited_until(self, at: str) -> int:
        """Whole seconds from the start of the current wait (if any) to `at`."""
        if self.waiting_since is None:
            return 0
        return max(0, (parse(at) - parse(self.waiting_since)) // timedelta(seconds=1))

    @event("Resolved")
    def _resolved(
        self, *, at: str, resolution: str, waited_seconds: int, resolve_by: str, actor: str
    ) -> None:
        self.status_value = CaseStatus.RESOLVED.value
        self.resolved_at = at
        self.resolution = resolution
        self.waiting_since = None
        self.waited_seconds += waited_seconds
        self.resolve_by = resolve_by
        self.rating = None

    def close(self, *, actor: str) -> None:
        """Close a resolved case for good (it may still be reopened)."""
        self._check("close", {CaseStatus.RESOLVED})
        self._closed(actor=actor)

    @event("Closed")
    def _closed(self, *, actor: str) -> None:
        self.status_value = CaseStatus.CLOSED.value

    def reopen(self, *, reason: str, actor: str) -> None:
        """The problem is back (from resolved or closed): open again; the resolution
        clock goes on from its due time (the time it was stopped is not added)."""
        self._check("reopen", {CaseStatus.RESOLVED, CaseStatus.CLOSED})
        text = _required(reason, "reason", MAX_TEXT)
        self._reopened(reason=text, actor=actor)

    @event("Reopened")
    def _reopened(self, *, reason: str, actor: str) -> None:
        self.status_value = CaseStatus.OPEN.value
        self.resolved_at = None
        self.resolution = None
        self.rating = None

    def rate(self, *, score: object, comment: str | None, actor: str) -> None:
        """The customer's satisfaction with the resolution (1 to 5), once per resolution."""
        self._check("rate", {CaseStatus.RESOLVED, CaseStatus.CLOSED})
        if self.rating is not None:
            raise CaseError(case_id=self.id, status="already rated", command="rate")
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise InvalidCommandError("score must be an integer from 1 to 5", field="score")
        self._rated(score=score, comment=_text(comment, "comment", MAX_TEXT), actor=actor)

    @event("Rated")
    def _rated(self, *, score: int, comment: str | None, actor: str) -> None:
        self.rating = {"score": score, "comment": comment}

    def redact(self, *, actor: str) -> None:
        """Record that the case's texts were erased with its contact's personal data (the
        keys they were sealed with are destroyed by the caller, see
        `crm_ledger.erasure`): subject and resolution read `ERASED_NAME`, no description
        or rating comment. Its status, dates, priority and SLA stay."""
        self._redacted(actor=actor)

    @event("Redacted")
    def _redacted(self, *, actor: str) -> None:
        self.redacted = True
        self.subject = ERASED_NAME
        self.description = None
        self.resolution = None if self.resolution is None else ERASED_NAME
        self.rating = None if self.rating is None else {**self.rating, "comment": None}

    def relink(self, *, contact_id: UUID, actor: str) -> None:
        """Move the case to another contact (the survivor of a merge)."""
        if contact_id != self.contact_id:
            self._relinked(contact_id=contact_id, previous=self.contact_id, actor=actor)

    @event("Relinked")
    def _relinked(self, *, contact_id: UUID, previous: UUID, actor: str) -> None:
        self.contact_id = contact_id


def sla_state(due: str, stopped: str | None, now: datetime) -> str:
    """``met`` (stopped by the due time), ``breached`` (stopped after it, or running past
    it) or ``running``."""
    if stopped is not None:
        return "met" if stopped <= due else "breached"
    return "breached" if stamp(now) > due else "running"


def case_snapshot(case: Case) -> dict[str, Any]:
    """The case's public, JSON-ready state, without what depends on the time it is read
    (see `present`)."""
    return {
        "id": str(case.id),
        "version": case.version,
        "contact_id": str(case.contact_id),
        "subject": case.subject,
        "description": case.description,
        "channel": case.channel,
        "assignee": case.assignee,
        "priority": case.priority,
        "status": case.status_value,
        "opened_at": case.opened_at,
        "first_response_at": case.first_response_at,
        "responses": case.responses,
        "resolved_at": case.resolved_at,
        "resolution": case.resolution,
        "rating": case.rating,
        "sla": {
            "respond_by": case.respond_by,
            "resolve_by": case.resolve_by,
            "waiting_since": case.waiting_since,
            "waited_seconds": case.waited_seconds,
        },
        "created_at": stamp(case.created_on),
        "modified_at": stamp(case.modified_on),
    }


def resolution_stop(public: dict[str, Any]) -> str | None:
    """When the resolution clock stopped: resolved, or waiting on the customer."""
    stopped: str | None = public["resolved_at"] or public["sla"]["waiting_since"]
    return stopped


def present(public: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """`public` (a `case_snapshot`) with the state of each SLA clock as of `now`:
    ``first_response`` and ``resolution``: ``running``, ``met``, ``breached``, or for
    the resolution of a pending case within its time, ``paused``."""
    moment = now or datetime.now(UTC)
    sla = public["sla"]
    resolution = sla_state(sla["resolve_by"], resolution_stop(public), moment)
    if public["status"] == CaseStatus.PENDING.value and resolution == "met":
        resolution = "paused"
    first = sla_state(sla["respond_by"], public["first_response_at"], moment)
    return {**public, "sla": {**sla, "first_response": first, "resolution": resolution}}
