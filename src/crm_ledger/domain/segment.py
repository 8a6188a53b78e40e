"""The Segment aggregate: a named, saved contact filter (evaluated on the contacts list).

A definition holds only the filters of the contacts list, each checked and stored in
one normal form (``normalise_definition``): a definition that is accepted today means
the same thing when a segment is read years later. Deleting a segment records
``Deleted``; the segment and its history stay in the log, it leaves lists and refuses
every command (``SegmentDeletedError``).

::

    DomainError
    ├── InvalidCommandError
    │   └── SegmentFilterError    an unknown filter, or a value of the wrong type or range
    └── SegmentError              a command the segment's state does not allow
        └── SegmentDeletedError   the segment was deleted
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.consent import PURPOSE
from crm_ledger.domain.contact import same_value
from crm_ledger.domain.errors import DomainError, InvalidCommandError
from crm_ledger.ledger.envelope import format_timestamp

MAX_NAME = 100
MAX_OWNER = 100
MAX_Q = 200
MAX_TAGS = 20
MAX_TAG = 40
MAX_CUSTOM = 20
MAX_CUSTOM_KEY = 64
MAX_CUSTOM_VALUE = 200
KINDS = ("person", "organisation")
FLAGS = ("archived", "merged", "has_email")
FILTERS = frozenset(
    {
        "q",
        "kind",
        "tags",
        "owner",
        "archived",
        "merged",
        "has_email",
        "created_after",
        "created_before",
        "custom_fields",
        "consents",
    }
)
MAX_CONSENTS = 10
UPDATABLE = frozenset({"name", "definition", "owner"})


class SegmentFilterError(InvalidCommandError):
    """A segment definition names an unknown filter or gives a filter a bad value."""

    title = "Invalid segment filter"
    code = "invalid_segment_filter"


class SegmentError(DomainError):
    """A command that the segment's current state does not allow."""

    title = "Segment state conflict"
    code = "segment_conflict"


class SegmentDeletedError(SegmentError):
    """The segment was deleted; it is kept in the log only."""

    title = "Segment deleted"
    code = "segment_deleted"


def _bad(key: str, detail: str) -> SegmentFilterError:
    return SegmentFilterError(detail, field=f"definition/{key}")


def _text(key: str, value: object, most: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > most:
        raise _bad(key, f"{key} must be text of 1 to {most} characters")
    return text


def _moment(key: str, value: object) -> str:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(_text(key, value, 40))
        except ValueError:
            raise _bad(key, f"{key} must be an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _tags(value: object) -> list[str]:
    if not isinstance(value, list | tuple) or len(value) > MAX_TAGS:
        raise _bad("tags", f"tags must be a list of at most {MAX_TAGS} tags")
    return sorted({_text("tags", t, MAX_TAG) for t in value})


def _consents(value: object) -> list[str]:
    if not isinstance(value, list | tuple) or not 0 < len(value) <= MAX_CONSENTS:
        raise _bad("consents", f"consents must be a list of 1 to {MAX_CONSENTS} purposes")
    if not all(isinstance(p, str) and PURPOSE.match(p) for p in value):
        raise _bad("consents", "consent purposes look like marketing_email (see consents)")
    return sorted(set(value))


def _custom(value: object) -> dict[str, str | int | bool]:
    if not isinstance(value, Mapping) or len(value) > MAX_CUSTOM:
        raise _bad("custom_fields", f"custom_fields must map at most {MAX_CUSTOM} keys to values")
    fields: dict[str, str | int | bool] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not 0 < len(key) <= MAX_CUSTOM_KEY:
            raise _bad("custom_fields", f"custom field keys have 1 to {MAX_CUSTOM_KEY} characters")
        if (isinstance(item, str) and len(item) <= MAX_CUSTOM_VALUE) or isinstance(item, int):
            fields[key] = item
        else:
            raise _bad(
                "custom_fields",
                f"custom field {key!r} must equal text (up to {MAX_CUSTOM_VALUE} characters),"
                " an integer or a boolean",
            )
    return dict(sorted(fields.items()))


def normalise_definition(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of a definition (SegmentFilterError when invalid): keys sorted,
    text stripped, tags sorted and unique, timestamps as UTC ``...T..:..:...ffffffZ``."""
    if not isinstance(definition, Mapping):
        raise SegmentFilterError("a definition maps filter names to values", field="definition")
    unknown = sorted(set(definition) - FILTERS)
    if unknown:
        raise _bad(unknown[0], f"unknown filters {unknown}; allowed: {sorted(FILTERS)}")
    result: dict[str, Any] = {}
    for key, value in definition.items():
        if value is None:
            continue  # an absent filter
        if key in FLAGS:
            if not isinstance(value, bool):
                raise _bad(key, f"{key} must be true or false")
            result[key] = value
        elif key == "kind":
            if value not in KINDS:
                raise _bad(key, "kind must be person or organisation")
            result[key] = value
        elif key == "q":
            result[key] = _text(key, value, MAX_Q)
        elif key == "owner":
            result[key] = _text(key, value, MAX_OWNER)
        elif key == "tags":
            result[key] = _tags(value)
        elif key == "custom_fields":
            result[key] = _custom(value)
        elif key == "consents":
            result[key] = _consents(value)
        else:
            result[key] = _moment(key, value)
    if result.get("archived") and result.get("merged"):
        raise _bad("merged", "a contact is either archived or merged: choose one")
    after, before = result.get("created_after"), result.get("created_before")
    if after is not None and before is not None and after >= before:
        raise _bad("created_before", "created_before must be later than created_after")
    return dict(sorted(result.items()))


def _name(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_NAME:
        raise InvalidCommandError(f"name must have 1 to {MAX_NAME} characters", field="name")
    return text


def _owner(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_OWNER:
        raise InvalidCommandError(f"owner must have 1 to {MAX_OWNER} characters", field="owner")
    return text


class Segment(Aggregate):
    """A saved filter of the contacts list."""

    @event("Created")
    def __init__(self, *, name: str, definition: dict[str, Any], owner: str, actor: str) -> None:
        self.name = name
        self.definition = definition
        self.owner = owner
        self.deleted = False
        self.created_by = actor

    @classmethod
    def create(
        cls,
        *,
        name: str,
        definition: Mapping[str, Any],
        actor: str,
        owner: str | None = None,
    ) -> Segment:
        """A new segment (owned by `actor` unless `owner` is given)."""
        return cls(
            name=_name(name),
            definition=normalise_definition(definition),
            owner=_owner(actor if owner is None else owner),
            actor=actor,
        )

    def _check_live(self) -> None:
        if self.deleted:
            raise SegmentDeletedError(f"segment {self.id} was deleted")

    def update(self, *, actor: str, **changes: Any) -> None:
        """Change the name, definition and/or owner; only real differences are recorded
        (else no event). A new definition replaces the old one whole."""
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise InvalidCommandError(f"unknown fields {sorted(unknown)}", field=sorted(unknown)[0])
        self._check_live()
        normal = {"name": _name, "definition": normalise_definition, "owner": _owner}
        differing = {}
        for field, value in changes.items():
            new = normal[field](value)
            if not same_value(new, getattr(self, field)):  # 1 is not true
                differing[field] = new
        if differing:
            self._updated(changes=differing, actor=actor)

    @event("Updated")
    def _updated(self, *, changes: dict[str, Any], actor: str) -> None:
        for field, value in changes.items():
            setattr(self, field, value)

    def delete(self, *, actor: str) -> None:
        """Delete the segment (kept in the log; refused when already deleted)."""
        self._check_live()
        self._deleted(actor=actor)

    @event("Deleted")
    def _deleted(self, *, actor: str) -> None:
        self.deleted = True


def segment_snapshot(segment: Segment) -> dict[str, Any]:
    """The segment's public, JSON-ready state."""
    return {
        "id": str(segment.id),
        "version": segment.version,
        "name": segment.name,
        "definition": dict(segment.definition),
        "owner": segment.owner,
        "deleted": segment.deleted,
        "created_at": format_timestamp(segment.created_on),
        "modified_at": format_timestamp(segment.modified_on),
    }
