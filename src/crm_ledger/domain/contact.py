"""The Contact aggregate: people and organisations.

Guards live in the public command methods; state changes only in private ``@event``
methods whose bodies just assign (they run again on every replay). Every event carries
the actor who caused it. Values are normalised at command time and stored normalised.

Duplicates are merged, never deleted: the survivor records ``Merged`` (what it absorbed,
see `Contact.merge`) and the duplicate records ``MergedInto``, after which it refuses
every command (``ContactMergedError``); both histories stay readable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.errors import (
    ContactAlreadyArchivedError,
    ContactArchivedError,
    ContactErasedError,
    ContactKindChangeError,
    ContactKindMismatchError,
    ContactMergedError,
    ContactNotArchivedError,
    ContactSelfMergeError,
    InvalidCommandError,
    OrganisationLinkError,
)
from crm_ledger.ledger.envelope import format_timestamp

MAX_NAME = 200
ERASED_NAME = "(erased)"
"""What an erased contact's name and note texts read as."""
ADDRESS_KEYS = frozenset({"line1", "line2", "city", "region", "postal_code", "country"})
UPDATABLE = frozenset(
    {
        "name",
        "emails",
        "phones",
        "addresses",
        "tax_id",
        "tags",
        "owner",
        "organisation_id",
        "custom_fields",
    }
)


class ContactKind(StrEnum):
    """What a contact is."""

    PERSON = "person"
    ORGANISATION = "organisation"


MAX_SAFE_INT = 2**53 - 1  # I-JSON (RFC 7493): integers every JSON reader keeps exact


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


def _name(value: object) -> str:
    name = str(value).strip() if isinstance(value, str) else ""
    if not name or len(name) > MAX_NAME:
        raise InvalidCommandError(f"name must have 1 to {MAX_NAME} characters", field="name")
    return name


def _optional_text(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidCommandError(f"{field} must be text", field=field)
    return value.strip() or None


def _addresses(value: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    result = []
    for address in value:
        unknown = set(address) - ADDRESS_KEYS
        if unknown:
            raise InvalidCommandError(
                f"unknown address fields {sorted(unknown)}", field="addresses"
            )
        result.append({k: str(v).strip() for k, v in address.items() if v is not None})
    return result


def _custom(current: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in given.items():
        if isinstance(value, float) or not isinstance(value, (str, int, bool, type(None))):
            raise InvalidCommandError(
                f"custom field {key!r} must be text, integer, boolean or null",
                field="custom_fields",
            )
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INT:
            raise InvalidCommandError(
                f"custom field {key!r}: integers must lie within +-(2**53 - 1), the range "
                "every JSON reader keeps exact (RFC 7493); send larger numbers as text",
                field="custom_fields",
            )
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return dict(sorted(merged.items()))


def normalise(field: str, value: Any, current: Mapping[str, Any] | None = None) -> Any:
    """The stored form of `value` for `field` (InvalidCommandError when invalid)."""
    if field == "name":
        return _name(value)
    if field == "emails":
        return _unique(str(e).strip().lower() for e in value)
    if field == "phones":
        return _unique(str(p).strip() for p in value)
    if field == "addresses":
        return _addresses(value)
    if field == "tags":
        return sorted({str(t).strip() for t in value if str(t).strip()})
    if field in ("tax_id", "owner"):
        return _optional_text(value, field)
    if field == "organisation_id":
        return None if value is None else UUID(str(value))
    if field == "custom_fields":
        return _custom((current or {}).get("custom_fields", {}), value or {})
    raise InvalidCommandError(f"unknown field {field!r}", field=field)


def same_value(a: Any, b: Any) -> bool:
    """Equal as JSON values: unlike ``==``, ``1`` is not ``True`` and ``0`` is not ``False``."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def registration(
    *,
    kind: str,
    name: str,
    actor: str,
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
    addresses: Iterable[Mapping[str, Any]] = (),
    tax_id: str | None = None,
    tags: Iterable[str] = (),
    owner: str | None = None,
    organisation_id: UUID | None = None,
    custom_fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``Registered`` event's arguments, in its field order: every value normalised
    and checked (``Contact.register``, and the bulk import, which builds the event
    without the aggregate)."""
    try:
        kind_value = ContactKind(kind).value
    except ValueError:
        raise InvalidCommandError("kind must be person or organisation", field="kind") from None
    if organisation_id is not None and kind_value != ContactKind.PERSON.value:
        raise OrganisationLinkError(
            "only a person can belong to an organisation", field="organisation_id"
        )
    return {
        "kind": kind_value,
        "name": normalise("name", name),
        "emails": normalise("emails", emails),
        "phones": normalise("phones", phones),
        "addresses": normalise("addresses", addresses),
        "tax_id": normalise("tax_id", tax_id),
        "tags": normalise("tags", tags),
        "owner": normalise("owner", owner),
        "organisation_id": normalise("organisation_id", organisation_id),
        "custom_fields": normalise("custom_fields", custom_fields or {}),
        "actor": actor,
    }


class Contact(Aggregate):
    """A person or an organisation."""

    # Class defaults: states saved before merges and erasure existed (read-model
    # snapshots) lack them.
    merged_into: UUID | None = None
    erased: bool = False

    @event("Registered")
    def __init__(
        self,
        *,
        kind: str,
        name: str,
        emails: list[str],
        phones: list[str],
        addresses: list[dict[str, str]],
        tax_id: str | None,
        tags: list[str],
        owner: str | None,
        organisation_id: UUID | None,
        custom_fields: dict[str, Any],
        actor: str,
    ) -> None:
        self.kind_value = kind
        self.name = name
        self.emails = emails
        self.phones = phones
        self.addresses = addresses
        self.tax_id = tax_id
        self.tags = tags
        self.owner = owner
        self.organisation_id = organisation_id
        self.custom_fields = custom_fields
        self.archived = False
        self.notes: list[dict[str, str]] = []
        self.merged_into = None
        self.created_by = actor

    @classmethod
    def register(
        cls,
        *,
        kind: str,
        name: str,
        actor: str,
        emails: Iterable[str] = (),
        phones: Iterable[str] = (),
        addresses: Iterable[Mapping[str, Any]] = (),
        tax_id: str | None = None,
        tags: Iterable[str] = (),
        owner: str | None = None,
        organisation_id: UUID | None = None,
        custom_fields: Mapping[str, Any] | None = None,
        contact_id: UUID | None = None,
    ) -> Contact:
        """Register a person or organisation (all values normalised and checked first).

        `contact_id` fixes the new contact's id (e.g. derived from an import row, so a
        rerun finds it); by default a random one is drawn.
        """
        fields = registration(
            kind=kind,
            name=name,
            actor=actor,
            emails=emails,
            phones=phones,
            addresses=addresses,
            tax_id=tax_id,
            tags=tags,
            owner=owner,
            organisation_id=organisation_id,
            custom_fields=custom_fields,
        )
        # What ``cls(**fields)`` does, without the library's generic matching of the
        # arguments to ``__init__`` (about a fifth of a registration's time).
        registered = cls.Registered  # type: ignore[attr-defined]  # made by @event
        return cls._create(registered, id=contact_id or uuid4(), **fields)

    @property
    def kind(self) -> ContactKind:
        """Person or organisation."""
        return ContactKind(self.kind_value)

    def check_not_merged(self) -> None:
        """Refuse to act on (or point new records at) a contact erased
        (``ContactErasedError``) or merged into another (``ContactMergedError``)."""
        if self.erased:
            raise ContactErasedError(f"contact {self.id} was erased")
        if self.merged_into is not None:
            raise ContactMergedError(
                f"contact {self.id} was merged into {self.merged_into}; use that contact"
            )

    def check_active(self) -> None:
        """Refuse a contact merged into another (``ContactMergedError``) or archived
        (``ContactArchivedError``): no command may change it, no new record point at it."""
        self.check_not_merged()
        if self.archived:
            raise ContactArchivedError(f"contact {self.id} is archived; restore it first")

    def update(self, *, actor: str, **changes: Any) -> None:
        """Change some fields; only values that really differ are recorded (else no event).

        ``custom_fields`` merges: given keys are set, a ``None`` value removes the key.
        """
        if "kind" in changes:
            raise ContactKindChangeError("a contact's kind is fixed at registration", field="kind")
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise InvalidCommandError(f"unknown fields {sorted(unknown)}", field=sorted(unknown)[0])
        self.check_active()
        current = {"custom_fields": self.custom_fields}
        differing: dict[str, Any] = {}
        for field, value in changes.items():
            new = normalise(field, value, current)
            if field == "organisation_id" and new is not None:
                if self.kind is not ContactKind.PERSON:
                    raise OrganisationLinkError(
                        "only a person can belong to an organisation", field="organisation_id"
                    )
                if new == self.id:
                    raise OrganisationLinkError(
                        "a contact cannot belong to itself", field="organisation_id"
                    )
            if not same_value(new, getattr(self, field)):
                differing[field] = new
        if differing:
            self._updated(changes=differing, actor=actor)

    @event("Updated")
    def _updated(self, *, changes: dict[str, Any], actor: str) -> None:
        for field, value in changes.items():
            setattr(self, field, value)

    def archive(self, *, actor: str) -> None:
        """Hide the contact from default lists; nothing is deleted."""
        self.check_not_merged()
        if self.archived:
            raise ContactAlreadyArchivedError(f"contact {self.id} is already archived")
        self._archived(actor=actor)

    @event("Archived")
    def _archived(self, *, actor: str) -> None:
        self.archived = True

    def restore(self, *, actor: str) -> None:
        """Bring an archived contact back."""
        self.check_not_merged()
        if not self.archived:
            raise ContactNotArchivedError(f"contact {self.id} is not archived")
        self._restored(actor=actor)

    @event("Restored")
    def _restored(self, *, actor: str) -> None:
        self.archived = False

    def add_note(self, *, actor: str, text: str, note_id: UUID, at: str) -> None:
        """Attach a note (who and when are recorded with it)."""
        self.check_active()
        if not isinstance(text, str) or not text.strip():
            raise InvalidCommandError("a note needs text", field="text")
        self._note_added(note_id=str(note_id), text=text.strip(), at=at, actor=actor)

    @event("NoteAdded")
    def _note_added(self, *, note_id: str, text: str, at: str, actor: str) -> None:
        self.notes = [*self.notes, {"note_id": note_id, "text": text, "actor": actor, "at": at}]

    # -- merging duplicates -------------------------------------------------------------

    def merge(self, duplicate: Contact, *, actor: str) -> None:
        """Absorb `duplicate` into this contact, the survivor.

        The rule: the survivor keeps every value it has (its name included) and gains
        the duplicate's emails, phones and addresses it does not have yet (after its own,
        in the duplicate's order), the tags it lacks, the custom fields whose keys it
        lacks, and the duplicate's tax_id, owner and organisation_id only where its own
        is empty. Notes stay with the duplicate, whose record and history are kept.

        Records ``Merged`` here (naming the duplicate and the values absorbed) and
        ``MergedInto`` on the duplicate, which is frozen from then on. Refused for the
        contact itself and across kinds (``ContactMergeError``), and while either contact
        is merged or archived (``ContactMergedError``, ``ContactArchivedError``).
        """
        if duplicate.id == self.id:
            raise ContactSelfMergeError(
                f"contact {self.id} cannot be merged into itself", field="duplicate_id"
            )
        if duplicate.kind is not self.kind:
            raise ContactKindMismatchError(
                f"cannot merge {duplicate.kind_value} {duplicate.id} into"
                f" {self.kind_value} {self.id}: both must be of the same kind",
                field="duplicate_id",
            )
        for contact in (self, duplicate):
            contact.check_not_merged()
            if contact.archived:
                raise ContactArchivedError(
                    f"contact {contact.id} is archived; restore it before merging"
                )
        absorbed = self._absorbed_from(duplicate)
        self._merged(duplicate_id=duplicate.id, absorbed=absorbed, actor=actor)
        duplicate._merged_into(survivor_id=self.id, actor=actor)

    def _absorbed_from(self, duplicate: Contact) -> dict[str, Any]:
        """The fields that change by absorbing `duplicate`, with their new values."""
        merged: dict[str, Any] = {
            "emails": _unique([*self.emails, *duplicate.emails]),
            "phones": _unique([*self.phones, *duplicate.phones]),
            "addresses": [
                *self.addresses,
                *(
                    a
                    for i, a in enumerate(duplicate.addresses)
                    if a not in self.addresses and a not in duplicate.addresses[:i]
                ),
            ],
            "tags": sorted({*self.tags, *duplicate.tags}),
            "custom_fields": dict(
                sorted({**duplicate.custom_fields, **self.custom_fields}.items())
            ),
        }
        for field in ("tax_id", "owner", "organisation_id"):
            if getattr(self, field) is None:
                merged[field] = getattr(duplicate, field)
        return {k: v for k, v in merged.items() if v != getattr(self, k)}

    @event("Merged")
    def _merged(self, *, duplicate_id: UUID, absorbed: dict[str, Any], actor: str) -> None:
        for field, value in absorbed.items():
            setattr(self, field, value)

    @event("MergedInto")
    def _merged_into(self, *, survivor_id: UUID, actor: str) -> None:
        self.merged_into = survivor_id

    # -- erasure -------------------------------------------------------------------------

    def erase(self, *, actor: str) -> None:
        """Record that the contact's personal data was erased (a data subject's request).

        The personal values of its earlier events were sealed with its own key, which the
        caller destroys (see `crm_ledger.erasure`); from here on the contact reads as
        `ERASED_NAME` with no emails, phones, addresses, tax id, custom fields or note
        texts, keeps its id, kind, tags, owner and links (so records that name it still
        resolve), and refuses every command (``ContactErasedError``). Allowed on a
        contact merged into another (its survivor's erasure erases it too)."""
        if self.erased:
            raise ContactErasedError(f"contact {self.id} was erased")
        self._erased(actor=actor)

    @event("Erased")
    def _erased(self, *, actor: str) -> None:
        self.erased = True
        self.name = ERASED_NAME
        self.emails = []
        self.phones = []
        self.addresses = []
        self.tax_id = None
        self.custom_fields = {}
        self.notes = [{**note, "text": ERASED_NAME} for note in self.notes]

    def relink_organisation(self, organisation_id: UUID, *, actor: str) -> None:
        """Point this person at another organisation because its own was merged into it
        (same organisation: no event). Allowed while archived: it fixes a reference and
        changes nothing the contact says about itself."""
        self.check_not_merged()
        if self.kind is not ContactKind.PERSON:
            raise OrganisationLinkError(
                "only a person can belong to an organisation", field="organisation_id"
            )
        if organisation_id == self.id:
            raise OrganisationLinkError(
                "a contact cannot belong to itself", field="organisation_id"
            )
        if organisation_id != self.organisation_id:
            self._organisation_relinked(
                organisation_id=organisation_id, previous=self.organisation_id, actor=actor
            )

    @event("OrganisationRelinked")
    def _organisation_relinked(
        self, *, organisation_id: UUID, previous: UUID | None, actor: str
    ) -> None:
        self.organisation_id = organisation_id


def contact_snapshot(contact: Contact) -> dict[str, Any]:
    """The contact's public, JSON-ready state."""
    return {
        "id": str(contact.id),
        "version": contact.version,
        "kind": contact.kind_value,
        "name": contact.name,
        "emails": list(contact.emails),
        "phones": list(contact.phones),
        "addresses": [dict(a) for a in contact.addresses],
        "tax_id": contact.tax_id,
        "tags": list(contact.tags),
        "owner": contact.owner,
        "organisation_id": None
        if contact.organisation_id is None
        else str(contact.organisation_id),
        "custom_fields": dict(contact.custom_fields),
        "archived": contact.archived,
        "merged_into": None if contact.merged_into is None else str(contact.merged_into),
        "erased": contact.erased,
        "notes": [dict(n) for n in contact.notes],
        "created_at": format_timestamp(contact.created_on),
        "modified_at": format_timestamp(contact.modified_on),
    }
