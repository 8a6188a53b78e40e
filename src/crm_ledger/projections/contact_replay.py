"""Contact histories replayed on their stored JSON, for the bulk phase of a rebuild.

The contacts projection keeps each contact's state as a library snapshot and applies an
event with the aggregate's own ``mutate`` (see `contacts`). Rebuilding from position 0
that way decodes every event into objects, mutates an aggregate and encodes a snapshot
per contact: most of a rebuild's time. A whole history (events 1..n of one contact, as
the bulk phase reads them, see `bulk`) can instead be replayed on the stored form:
each event's state is parsed once with ``orjson`` and its values, still in their
transcoded JSON form (ids as ``{"_type_": "uuid_hex", ...}``, times as
``{"_type_": "datetime_iso", ...}``), are assigned exactly as the `Contact` event
methods assign the decoded ones, so the snapshot written is what the library would
encode and the row is `contacts.row_of` of the same public state.

Only histories of the expected shape are replayed here (every key known, versions
1..n in order, types as the domain writes them, no number beyond 64 bits); for anything
else `replay` raises `ReplayUnsupportedError` and the caller applies the batch the
library's way, which then applies it or names the event that cannot be applied.

Mirrors `Contact`'s ``@event`` methods and `contact_snapshot`: a change there needs the
same change here (the rebuild tests compare both paths, see
``tests/property/test_projection_rebuild.py`` and
``tests/integration/test_contact_replay.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.utils import get_topic

from crm_ledger.domain.contact import ERASED_NAME, UPDATABLE, Contact
from crm_ledger.privacy.sealing import SEALED_MEMBER, put_back
from crm_ledger.projections.base import ReplayUnsupportedError
from crm_ledger.projections.contacts import row_of

StoredRow = tuple[Any, int, str, bytes, int]
"""(aggregate key, version, topic, stored state, log position), see `bulk.RawEvent`."""
Row = tuple[Any, ...]
State = dict[str, Any]

_CONTACT_TOPIC = get_topic(Contact)
_ABSORBABLE = frozenset(
    {"emails", "phones", "addresses", "tags", "custom_fields", "tax_id", "owner"}
    | {"organisation_id"}
)


def _keys(*names: str) -> frozenset[str]:
    return frozenset(("timestamp", "actor", *names))


_REGISTERED_KEYS = _keys(
    "originator_topic",
    "kind",
    "name",
    "emails",
    "phones",
    "addresses",
    "tax_id",
    "tags",
    "owner",
    "organisation_id",
    "custom_fields",
)


def _registered(event: State) -> State:
    """``Contact.__init__`` after the library's base init (``_created_on`` and
    ``_modified_on``; ``_id``, ``_version``, ``_pending_events`` are not snapshotted)."""
    if event["originator_topic"] != _CONTACT_TOPIC:
        raise ReplayUnsupportedError
    return {
        "_created_on": event["timestamp"],
        "_modified_on": event["timestamp"],
        "kind_value": event["kind"],
        "name": event["name"],
        "emails": event["emails"],
        "phones": event["phones"],
        "addresses": event["addresses"],
        "tax_id": event["tax_id"],
        "tags": event["tags"],
        "owner": event["owner"],
        "organisation_id": event["organisation_id"],
        "custom_fields": event["custom_fields"],
        "archived": False,
        "notes": [],
        "merged_into": None,
        "created_by": event["actor"],
    }


def _updated(state: State, event: State) -> None:
    changes = event["changes"]
    if not isinstance(changes, dict) or not changes.keys() <= UPDATABLE:
        raise ReplayUnsupportedError
    state.update(changes)


def _archived(state: State, _event: State) -> None:
    state["archived"] = True


def _restored(state: State, _event: State) -> None:
    state["archived"] = False


def _note_added(state: State, event: State) -> None:
    note = {
        "note_id": event["note_id"],
        "text": event["text"],
        "actor": event["actor"],
        "at": event["at"],
    }
    state["notes"] = [*state["notes"], note]


def _merged(state: State, event: State) -> None:
    absorbed = event["absorbed"]
    if not isinstance(absorbed, dict) or not absorbed.keys() <= _ABSORBABLE:
        raise ReplayUnsupportedError
    state.update(absorbed)


def _merged_into(state: State, event: State) -> None:
    state["merged_into"] = event["survivor_id"]


def _organisation_relinked(state: State, event: State) -> None:
    state["organisation_id"] = event["organisation_id"]


def _erased(state: State, _event: State) -> None:
    state.update(
        erased=True,
        name=ERASED_NAME,
        emails=[],
        phones=[],
        addresses=[],
        tax_id=None,
        custom_fields={},
        notes=[{**note, "text": ERASED_NAME} for note in state["notes"]],
    )


_EVENT_NAMES = (
    "Updated",
    "Archived",
    "Restored",
    "NoteAdded",
    "Merged",
    "MergedInto",
    "OrganisationRelinked",
    "Erased",
)
Change = Callable[[State, State], None]
_CHANGES: dict[str, tuple[frozenset[str], Change]] = {
    get_topic(Contact.Updated): (_keys("changes"), _updated),  # type: ignore[attr-defined]
    get_topic(Contact.Archived): (_keys(), _archived),  # type: ignore[attr-defined]
    get_topic(Contact.Restored): (_keys(), _restored),  # type: ignore[attr-defined]
    get_topic(Contact.NoteAdded): (  # type: ignore[attr-defined]
        _keys("note_id", "text", "at"),
        _note_added,
    ),
    get_topic(Contact.Merged): (  # type: ignore[attr-defined]
        _keys("duplicate_id", "absorbed"),
        _merged,
    ),
    get_topic(Contact.MergedInto): (_keys("survivor_id"), _merged_into),  # type: ignore[attr-defined]
    get_topic(Contact.OrganisationRelinked): (  # type: ignore[attr-defined]
        _keys("organisation_id", "previous"),
        _organisation_relinked,
    ),
    get_topic(Contact.Erased): (_keys(), _erased),  # type: ignore[attr-defined]
}
_REGISTERED = get_topic(Contact.Registered)  # type: ignore[attr-defined]
_UPCASTS = any(
    getattr(cls, "class_version", 1) != 1
    for cls in (Contact, *(getattr(Contact, n) for n in ("Registered", *_EVENT_NAMES)))
)
"""Versioned classes are upcast by the library: never replayed here."""


Opener = Callable[[str, int, str, dict[str, Any]], dict[str, Any]]
"""Opens a sealed member: (subject, version, topic, sealed) -> personal values, still in
their transcoded JSON form (`SealingMapper.open_json`)."""


def replay(
    events: Sequence[StoredRow],
    aggregate_text: Callable[[Any], str],
    opener: Opener | None = None,
) -> Iterator[Row]:
    """The ``proj_contacts`` rows (``contacts.WRITTEN`` order) of the contacts whose
    whole histories `events` are, in (aggregate, version) order, each yielded when its
    history ends. Raises `ReplayUnsupportedError` (possibly after yielding some rows)
    when a history is not of the shape replayed here (or holds sealed personal values
    and no `opener` is given). `aggregate_text` turns an aggregate key into the text of
    its id.
    """
    if _UPCASTS:
        raise ReplayUnsupportedError("versioned Contact classes")
    taken = orjson.dumps({"_type_": "datetime_iso", "_data_": datetime.now(UTC).isoformat()})
    prefix = b'{"timestamp":' + taken + b',"topic":' + orjson.dumps(_CONTACT_TOPIC) + b',"state":'
    key: Any = None
    state: State | None = None
    version = 0
    try:
        for event_key, event_version, topic, data, position in events:
            event = orjson.loads(data)  # not a dict: AttributeError on .keys() below
            sealed = event.pop(SEALED_MEMBER, None)
            if sealed is not None:
                if opener is None:
                    raise ReplayUnsupportedError(f"sealed event at position {position}")
                put_back(event, opener(aggregate_text(event_key), event_version, topic, sealed))
            if event_key != key:
                if state is not None:
                    yield _row(aggregate_text(key), version, state, prefix)
                if topic != _REGISTERED or event_version != 1 or event.keys() != _REGISTERED_KEYS:
                    raise ReplayUnsupportedError(f"event at position {position}")
                key, version, state = event_key, 1, _registered(event)
                continue
            expected, change = _CHANGES.get(topic, (None, None))
            if change is None or event_version != version + 1 or event.keys() != expected:
                raise ReplayUnsupportedError(f"event at position {position}")
            assert state is not None
            change(state, event)
            state["_modified_on"] = event["timestamp"]
            version = event_version
        if state is not None:
            yield _row(aggregate_text(key), version, state, prefix)
    except (KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
        # orjson's errors are ValueErrors (and TypeErrors): e.g. an integer beyond 64 bits
        raise ReplayUnsupportedError(repr(exc)) from exc


def _row(contact_id: str, version: int, state: State, prefix: bytes) -> tuple[Any, ...]:
    _check_numbers(state)
    snapshot = prefix + orjson.dumps(state) + b"}"
    return row_of(_public(contact_id, version, state), snapshot)


def _check_numbers(state: State) -> None:
    """Refuse floats: ``orjson`` parses an integer beyond 64 bits as one (the library
    keeps it exact), and the domain never records a float."""
    pending: list[Any] = [state]
    while pending:
        value = pending.pop()
        kind = type(value)
        if kind is dict:
            pending.extend(value.values())
        elif kind is list:
            pending.extend(value)
        elif kind is float:
            raise ReplayUnsupportedError(f"number {value!r}")


def _public(key: str, version: int, state: State) -> dict[str, Any]:
    """`contact_snapshot` of the contact whose snapshot state is `state` (its lists and
    dicts are shared, not copied: a state is not changed after its row is made)."""
    for name in ("emails", "phones", "addresses", "tags", "notes"):
        if type(state[name]) is not list:
            raise ReplayUnsupportedError(name)
    if type(state["custom_fields"]) is not dict or type(state["archived"]) is not bool:
        raise ReplayUnsupportedError("custom_fields or archived")
    for item in (*state["addresses"], *state["notes"]):
        if type(item) is not dict:  # `contact_snapshot` copies them with dict()
            raise ReplayUnsupportedError("an address or a note")
    return {
        "id": key,
        "version": version,
        "kind": state["kind_value"],
        "name": state["name"],
        "emails": state["emails"],
        "phones": state["phones"],
        "addresses": state["addresses"],
        "tax_id": state["tax_id"],
        "tags": state["tags"],
        "owner": state["owner"],
        "organisation_id": _uuid_text(state["organisation_id"]),
        "custom_fields": state["custom_fields"],
        "archived": state["archived"],
        "merged_into": _uuid_text(state["merged_into"]),
        "erased": state.get("erased", False),
        "notes": state["notes"],
        "created_at": _stamp(state["_created_on"]),
        "modified_at": _stamp(state["_modified_on"]),
    }


def _uuid_text(value: Any) -> str | None:
    """``str(UUID)`` of a transcoded id (None stays None)."""
    if value is None:
        return None
    if type(value) is not dict or value.get("_type_") != "uuid_hex" or len(value) != 2:
        raise ReplayUnsupportedError
    return str(UUID(value["_data_"]))


def _stamp(value: Any) -> str:
    """`contact._stamp` of a transcoded ``datetime``."""
    if type(value) is not dict or value.get("_type_") != "datetime_iso" or len(value) != 2:
        raise ReplayUnsupportedError
    text = value["_data_"]
    if len(text) == 32 and text[19] == "." and text.endswith("+00:00"):
        return f"{text[:26]}Z"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ReplayUnsupportedError  # the library's times are aware; astimezone would guess
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
