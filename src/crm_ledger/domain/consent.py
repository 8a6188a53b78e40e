"""The ContactConsents aggregate: what a contact agreed to, purpose by purpose, as evidence.

GDPR (art. 7) asks a controller to be able to show that a person consented to a
processing purpose, and lets the person withdraw at any time. Each statement is kept as
an event: consent ``Given`` or ``Withdrawn`` for one purpose (``marketing_email``,
``newsletter``, ...), when the person said it (``at``, which may be earlier than the
recording, e.g. a paper form), how (``source``), the wording agreed to or a reference to
it (``wording``) or instead a published version of the purpose's wording in the
catalogue (``wording_version`` and its ``wording_sha256``, see
``crm_ledger.domain.consent_purpose``), and who recorded it (``actor``). A statement is
never changed or removed: a withdrawal is a new statement, and the state of a purpose is its latest
statement: the one with the latest ``at``; of equal ``at``, the one recorded last
(``recorded_at``, the time of its event); of equal times too, the one of the greater
contact id (only statements of different contacts merged into one can tie so far).

One aggregate per contact, its id derived from the contact's (`consents_id`), so the
first statement creates it and concurrent first statements meet as a version conflict.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.ledger.envelope import format_timestamp

NAMESPACE = UUID("0b5b4f4e-8f7e-4d55-9d6f-6a3c4f0e2c11")
PURPOSE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
MAX_SOURCE = 100
MAX_WORDING = 2000
#: how far in the future a statement's time may be (clocks differ a little)
SKEW = timedelta(minutes=5)


def consents_id(contact_id: UUID) -> UUID:
    """The id of the consents of contact `contact_id`."""
    return uuid5(NAMESPACE, str(contact_id))


def check_purpose(value: object) -> str:
    if not isinstance(value, str) or not PURPOSE.match(value):
        raise InvalidCommandError(
            "purpose must be 1 to 64 lowercase letters, digits, '_', '.' or '-', starting "
            "with a letter (e.g. marketing_email)",
            field="purpose",
        )
    return value


def checked_text(value: object, field: str, most: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > most:
        raise InvalidCommandError(f"{field} must have 1 to {most} characters", field=field)
    return text


def said_at(value: datetime | None, now: datetime, field: str = "at") -> str:
    """When a person said something (a statement, an answer): `value`, or `now` when
    None, as RFC 3339 UTC text; refused without a time zone or in the future (beyond
    `SKEW`)."""
    moment = now if value is None else value
    if moment.tzinfo is None:
        raise InvalidCommandError(f"{field} must carry a time zone", field=field)
    if moment > now + SKEW:
        raise InvalidCommandError(f"{field} must not be in the future", field=field)
    return format_timestamp(moment)


class ContactConsents(Aggregate):
    """Every consent statement of one contact (see the module docstring)."""

    @staticmethod
    def create_id(contact_id: UUID) -> UUID:
        """The aggregate's id: derived from the contact's (the library calls this)."""
        return consents_id(contact_id)

    @event("Opened")
    def __init__(self, *, contact_id: UUID, actor: str) -> None:
        self.contact_id = contact_id
        self.statements: list[dict[str, Any]] = []

    @classmethod
    def open(cls, *, contact_id: UUID, actor: str) -> ContactConsents:
        """The (empty) consents of a contact."""
        return cls(contact_id=contact_id, actor=actor)

    def state(
        self,
        *,
        purpose: str,
        granted: bool,
        source: str,
        wording: str | None,
        at: datetime | None,
        actor: str,
        now: datetime | None = None,
        published: dict[str, Any] | None = None,
    ) -> None:
        """Record that the person gave (`granted`) or withdrew consent for `purpose`;
        `published` is the catalogue's wording the person was shown (its ``version`` and
        ``sha256`` are recorded; ``crm_ledger.domain.consent_purpose``)."""
        if not isinstance(granted, bool):
            raise InvalidCommandError("granted must be true or false", field="granted")
        if published is not None and wording is not None:
            raise InvalidCommandError(
                "give wording or wording_version, not both", field="wording_version"
            )
        fields: dict[str, Any] = {
            "purpose": check_purpose(purpose),
            "source": checked_text(source, "source", MAX_SOURCE),
            "wording": None if wording is None else checked_text(wording, "wording", MAX_WORDING),
            "at": said_at(at, now or datetime.now(UTC)),
            "actor": actor,
        }
        fields["wording_version"] = None if published is None else published["version"]
        fields["wording_sha256"] = None if published is None else published["sha256"]
        if granted:
            self._given(**fields)
        else:
            self._withdrawn(**fields)

    @event("Given")
    def _given(
        self,
        *,
        purpose: str,
        source: str,
        wording: str | None,
        at: str,
        actor: str,
        wording_version: int | None = None,
        wording_sha256: str | None = None,
    ) -> None:
        said = _statement(
            True, purpose, source, wording, at, actor, wording_version, wording_sha256
        )
        self.statements = [*self.statements, said]

    @event("Withdrawn")
    def _withdrawn(
        self,
        *,
        purpose: str,
        source: str,
        wording: str | None,
        at: str,
        actor: str,
        wording_version: int | None = None,
        wording_sha256: str | None = None,
    ) -> None:
        said = _statement(
            False, purpose, source, wording, at, actor, wording_version, wording_sha256
        )
        self.statements = [*self.statements, said]


def _statement(
    granted: bool,
    purpose: str,
    source: str,
    wording: str | None,
    at: str,
    actor: str,
    wording_version: int | None,
    wording_sha256: str | None,
) -> dict[str, Any]:
    return {
        "purpose": purpose,
        "granted": granted,
        "at": at,
        "source": source,
        "wording": wording,
        "wording_version": wording_version,
        "wording_sha256": wording_sha256,
        "actor": actor,
    }


GIVEN: Any = ContactConsents.Given  # type: ignore[attr-defined]  # made by @event
WITHDRAWN: Any = ContactConsents.Withdrawn  # type: ignore[attr-defined]
OPENED: Any = ContactConsents.Opened  # type: ignore[attr-defined]


def statement_of(event: object) -> dict[str, Any] | None:
    """The statement a `ContactConsents` event records, with ``recorded_at`` (the time of
    the event), or None for an event that records none (``Opened``)."""
    if not isinstance(event, GIVEN | WITHDRAWN):
        return None
    return {
        **_statement(
            isinstance(event, GIVEN),
            event.purpose,
            event.source,
            event.wording,
            event.at,
            event.actor,
            # events recorded before the catalogue have neither
            getattr(event, "wording_version", None),
            getattr(event, "wording_sha256", None),
        ),
        "recorded_at": format_timestamp(event.timestamp),
    }


def order_key(statement: dict[str, Any], contact_id: object = "") -> str:
    """What orders statements in time (see the module docstring): ``at``, then
    ``recorded_at``, then the contact recorded for. Every part is fixed-width text, so the
    keys of two statements compare as their order does."""
    return f"{statement['at']}\x01{statement.get('recorded_at', '')}\x01{contact_id}"


def current(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The state of each purpose: its latest statement by `order_key` (each statement's
    contact is its ``contact_id``, when it has one; of equal keys, the later in the
    list), purposes sorted."""
    latest: dict[str, dict[str, Any]] = {}
    for statement in sorted(statements, key=lambda s: order_key(s, s.get("contact_id", ""))):
        latest[statement["purpose"]] = statement
    return dict(sorted(latest.items()))
