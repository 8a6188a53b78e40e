"""Every guard of the Contact aggregate (no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any
from uuid import UUID, uuid4

import pytest

from crm_ledger.domain.contact import Contact, ContactKind, contact_snapshot, normalise
from crm_ledger.domain.errors import (
    ContactAlreadyArchivedError,
    ContactArchivedError,
    ContactError,
    ContactKindChangeError,
    ContactNotArchivedError,
    InvalidCommandError,
    OrganisationLinkError,
)

ACTOR = "user:test"
AT = "2026-01-02T03:04:05.000006Z"


def person(**fields: Any) -> Contact:
    values: dict[str, Any] = {"name": "Ana García", **fields}
    return Contact.register(kind="person", actor=ACTOR, **values)


def organisation(**fields: Any) -> Contact:
    values: dict[str, Any] = {"name": "Acme S.L.", **fields}
    return Contact.register(kind="organisation", actor=ACTOR, **values)


def unchanged(contact: Contact, command: Callable[[], object], error: type) -> None:
    """`command` raises exactly `error` and records nothing."""
    before = contact.version
    pending = len(contact.pending_events)
    with pytest.raises(error) as info:
        command()
    assert error is type(info.value)
    assert before == contact.version
    assert pending == len(contact.pending_events)


def replayed(contact: Contact) -> Contact:
    """The contact rebuilt from its own pending events (event bodies only assign)."""
    rebuilt: Any = None
    for e in contact.collect_events():
        rebuilt = e.mutate(rebuilt)
    assert isinstance(rebuilt, Contact)
    return rebuilt


def state(contact: Contact) -> dict[str, Any]:
    return {k: v for k, v in vars(contact).items() if k != "_pending_events"}


# -- register -------------------------------------------------------------------------


def test_register_person_normalises_every_value() -> None:
    """Names, emails, phones, tags, addresses, text and custom fields are stored normalised."""
    org_id = uuid4()
    c = person(
        name="  Ana García ",
        emails=[" Ana@Example.com", "ana@example.com", "b@example.com"],
        phones=[" +34 600 ", "+34 600", "+1 555"],
        addresses=[{"line1": " Calle 1 ", "city": "Madrid", "country": "ES", "line2": None}],
        tax_id="  ",
        tags=["vip", " vip ", "  ", "a"],
        owner=" bob ",
        organisation_id=str(org_id),
        custom_fields={"z": 1, "a": "x", "gone": None, "flag": True},
    )
    assert ContactKind.PERSON is c.kind
    assert 1 == c.version
    assert "Ana García" == c.name
    assert ["ana@example.com", "b@example.com"] == c.emails
    assert ["+34 600", "+1 555"] == c.phones
    assert [{"line1": "Calle 1", "city": "Madrid", "country": "ES"}] == c.addresses
    assert c.tax_id is None
    assert ["a", "vip"] == c.tags
    assert "bob" == c.owner
    assert org_id == c.organisation_id
    assert ["a", "flag", "z"] == list(c.custom_fields)
    assert {"a": "x", "flag": True, "z": 1} == c.custom_fields
    assert (False, [], ACTOR) == (c.archived, c.notes, c.created_by)


def test_register_organisation() -> None:
    """An organisation has kind organisation, no organisation link, and is active."""
    c = organisation(tax_id=" B12345678 ")
    assert (ContactKind.ORGANISATION, "organisation") == (c.kind, c.kind_value)
    assert ("B12345678", None, False) == (c.tax_id, c.organisation_id, c.archived)


def test_register_records_one_event_with_the_actor() -> None:
    """Registration is one Registered event carrying the actor."""
    c = Contact.register(kind="person", name="Ana", actor="user:ana")
    (registered,) = c.collect_events()
    assert "Registered" == type(registered).__name__
    assert "user:ana" == registered.actor  # type: ignore[attr-defined]
    assert 1 == registered.originator_version


@pytest.mark.parametrize(
    ("fields", "error", "field"),
    [
        ({"kind": "company"}, InvalidCommandError, "kind"),
        ({"kind": "PERSON"}, InvalidCommandError, "kind"),
        ({"name": ""}, InvalidCommandError, "name"),
        ({"name": "   "}, InvalidCommandError, "name"),
        ({"name": "x" * 201}, InvalidCommandError, "name"),
        ({"name": 5}, InvalidCommandError, "name"),
        ({"tax_id": 123}, InvalidCommandError, "tax_id"),
        ({"owner": ["bob"]}, InvalidCommandError, "owner"),
        ({"addresses": [{"street": "x"}]}, InvalidCommandError, "addresses"),
        ({"custom_fields": {"score": 1.5}}, InvalidCommandError, "custom_fields"),
        ({"custom_fields": {"list": [1]}}, InvalidCommandError, "custom_fields"),
        (
            {"kind": "organisation", "organisation_id": uuid4()},
            OrganisationLinkError,
            "organisation_id",
        ),
    ],
)
def test_register_refuses_bad_values(
    fields: dict[str, Any], error: type[InvalidCommandError], field: str
) -> None:
    """Bad kind, name, text, address keys, custom values, or a linked organisation."""
    values: dict[str, Any] = {"kind": "person", "name": "Ana", **fields}
    with pytest.raises(error) as info:
        Contact.register(actor=ACTOR, **values)
    assert error is type(info.value)
    assert field == info.value.field


def test_name_of_exactly_max_length_is_accepted() -> None:
    """200 characters (after stripping) is the limit, inclusive."""
    assert "x" * 200 == person(name=" " + "x" * 200 + " ").name


def test_validation_errors_are_invalid_commands() -> None:
    """Kind change and organisation link errors are InvalidCommandErrors (so 422)."""
    assert issubclass(ContactKindChangeError, InvalidCommandError)
    assert issubclass(OrganisationLinkError, InvalidCommandError)
    for cls in (ContactArchivedError, ContactAlreadyArchivedError, ContactNotArchivedError):
        assert issubclass(cls, ContactError)
        assert not issubclass(cls, InvalidCommandError)


# -- update ---------------------------------------------------------------------------


def test_update_records_only_changed_fields() -> None:
    """One event holds only the differing (normalised) values; the rest stay."""
    c = person(emails=["ana@example.com"], tags=["vip"], owner="bob")
    c.collect_events()
    c.update(actor="user:eve", name=" Ana G. ", emails=["ANA@example.com"], tags=["vip", "new"])
    assert 2 == c.version
    (updated,) = c.collect_events()
    assert "Updated" == type(updated).__name__
    assert {"name": "Ana G.", "tags": ["new", "vip"]} == updated.changes  # type: ignore[attr-defined]
    assert "user:eve" == updated.actor  # type: ignore[attr-defined]
    assert ("Ana G.", ["ana@example.com"], ["new", "vip"], "bob") == (
        c.name,
        c.emails,
        c.tags,
        c.owner,
    )


def test_update_with_identical_values_records_nothing() -> None:
    """Values equal after normalising, or no values at all, make no event."""
    c = person(emails=["ana@example.com"], owner="bob", custom_fields={"a": 1})
    c.collect_events()
    c.update(actor=ACTOR, name=" Ana García", emails=[" ANA@example.com "], owner="bob ")
    c.update(actor=ACTOR, custom_fields={"a": 1, "missing": None})
    c.update(actor=ACTOR)
    assert 1 == c.version
    assert [] == c.collect_events()


def test_update_clears_optional_text() -> None:
    """None or blank clears tax id and owner."""
    c = person(tax_id="B1", owner="bob")
    c.update(actor=ACTOR, tax_id=None, owner="  ")
    assert (None, None, 2) == (c.tax_id, c.owner, c.version)


def test_update_merges_custom_fields() -> None:
    """Given keys are set, None removes a key, other keys are kept; keys stay sorted."""
    c = person(custom_fields={"b": "x", "c": True})
    c.collect_events()
    c.update(actor=ACTOR, custom_fields={"a": 0, "b": None})
    assert {"a": 0, "c": True} == c.custom_fields
    assert ["a", "c"] == list(c.custom_fields)
    (updated,) = c.collect_events()
    assert {"custom_fields": {"a": 0, "c": True}} == updated.changes  # type: ignore[attr-defined]


def test_custom_field_changing_between_integer_and_boolean_is_a_change() -> None:
    """JSON 1 and true are different values; changing one into the other is recorded."""
    c = person(custom_fields={"vip": 1, "n": False})
    c.update(actor=ACTOR, custom_fields={"vip": True, "n": 0})
    assert [("n", 0), ("vip", True)] == [(k, v) for k, v in c.custom_fields.items()]
    assert [int, bool] == [type(v) for v in c.custom_fields.values()]
    assert 2 == c.version


@pytest.mark.parametrize("kind", ["person", "organisation"])
def test_kind_cannot_change(kind: str) -> None:
    """Any kind in an update, even the current one, is ContactKindChangeError."""
    c = person()
    unchanged(c, lambda: c.update(actor=ACTOR, kind=kind), ContactKindChangeError)
    unchanged(c, lambda: c.update(actor=ACTOR, kind=kind, name="Eve"), ContactKindChangeError)
    assert "Ana García" == c.name


def test_update_refuses_unknown_fields() -> None:
    """Only the updatable fields can change; the first unknown one is named."""
    c = person()
    unknown: list[dict[str, Any]] = [
        {"archived": True},
        {"notes": []},
        {"zeta": 1, "created_by": "x"},
    ]
    for fields in unknown:
        with pytest.raises(InvalidCommandError) as info:
            c.update(actor=ACTOR, **fields)
        assert InvalidCommandError is type(info.value)
        assert sorted(fields)[0] == info.value.field
    assert 1 == c.version


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": " "}, "name"),
        ({"name": None}, "name"),
        ({"tax_id": 7}, "tax_id"),
        ({"addresses": [{"country": "ES", "planet": "Earth"}]}, "addresses"),
        ({"custom_fields": {"rate": 0.5}}, "custom_fields"),
    ],
)
def test_update_refuses_bad_values(fields: dict[str, Any], field: str) -> None:
    """A bad value in an update records nothing, even next to a good one."""
    c = person()
    with pytest.raises(InvalidCommandError) as info:
        c.update(actor=ACTOR, owner="changed", **fields)
    assert InvalidCommandError is type(info.value)
    assert field == info.value.field
    assert (1, None) == (c.version, c.owner)


def test_person_links_to_and_unlinks_from_an_organisation() -> None:
    """A person's organisation link can be set (UUID or text), changed and cleared."""
    c = person()
    first, second = uuid4(), uuid4()
    c.update(actor=ACTOR, organisation_id=first)
    c.update(actor=ACTOR, organisation_id=str(first))  # same id as text: no event
    assert (first, 2) == (c.organisation_id, c.version)
    c.update(actor=ACTOR, organisation_id=str(second))
    assert (second, 3) == (c.organisation_id, c.version)
    c.update(actor=ACTOR, organisation_id=None)
    assert (None, 4) == (c.organisation_id, c.version)


def test_organisation_cannot_link_to_an_organisation() -> None:
    """OrganisationLinkError for an organisation; clearing (None) is allowed, no event."""
    c = organisation()
    unchanged(c, lambda: c.update(actor=ACTOR, organisation_id=uuid4()), OrganisationLinkError)
    c.update(actor=ACTOR, organisation_id=None)
    assert (None, 1) == (c.organisation_id, c.version)


def test_contact_cannot_belong_to_itself() -> None:
    """A person linked to its own id is refused (UUID or text)."""
    c = person()
    unchanged(c, lambda: c.update(actor=ACTOR, organisation_id=c.id), OrganisationLinkError)
    unchanged(c, lambda: c.update(actor=ACTOR, organisation_id=str(c.id)), OrganisationLinkError)


def test_archived_contact_cannot_be_updated() -> None:
    """Any update (even one changing nothing) of an archived contact is refused."""
    c = person()
    c.archive(actor=ACTOR)
    unchanged(c, lambda: c.update(actor=ACTOR, name="Eve"), ContactArchivedError)
    unchanged(c, lambda: c.update(actor=ACTOR, name="Ana García"), ContactArchivedError)
    unchanged(c, lambda: c.update(actor=ACTOR), ContactArchivedError)
    # a field error is judged before the archived state
    unchanged(c, lambda: c.update(actor=ACTOR, kind="person"), ContactKindChangeError)
    unchanged(c, lambda: c.update(actor=ACTOR, status="x"), InvalidCommandError)


# -- archive and restore --------------------------------------------------------------


def test_archive_and_restore() -> None:
    """Archive hides, restore brings back; each is one event with the actor."""
    c = person()
    c.collect_events()
    c.archive(actor="user:a")
    assert (True, 2) == (c.archived, c.version)
    c.restore(actor="user:r")
    assert (False, 3) == (c.archived, c.version)
    archived, restored = c.collect_events()
    assert ("Archived", "user:a") == (type(archived).__name__, archived.actor)  # type: ignore[attr-defined]
    assert ("Restored", "user:r") == (type(restored).__name__, restored.actor)  # type: ignore[attr-defined]


def test_archive_twice_is_refused() -> None:
    """An archived contact is not archived again."""
    c = organisation()
    c.archive(actor=ACTOR)
    unchanged(c, lambda: c.archive(actor=ACTOR), ContactAlreadyArchivedError)
    assert c.archived


def test_restore_of_an_active_contact_is_refused() -> None:
    """Only an archived contact can be restored (also after a restore)."""
    c = person()
    unchanged(c, lambda: c.restore(actor=ACTOR), ContactNotArchivedError)
    c.archive(actor=ACTOR)
    c.restore(actor=ACTOR)
    unchanged(c, lambda: c.restore(actor=ACTOR), ContactNotArchivedError)
    assert not c.archived


def test_restored_contact_can_be_updated_again() -> None:
    """After restore, updates and notes work again."""
    c = person()
    c.archive(actor=ACTOR)
    c.restore(actor=ACTOR)
    c.update(actor=ACTOR, name="Eve")
    c.add_note(actor=ACTOR, text="back", note_id=uuid4(), at=AT)
    assert ("Eve", 5, 1) == (c.name, c.version, len(c.notes))


# -- notes ----------------------------------------------------------------------------


def test_add_note_records_who_and_when() -> None:
    """The note keeps its id as text, the stripped text, the actor and the time."""
    c = person()
    c.collect_events()
    note_id = uuid4()
    c.add_note(actor="user:n", text="  called back  ", note_id=note_id, at=AT)
    c.add_note(actor=ACTOR, text="second", note_id=uuid4(), at="t2")
    assert 3 == c.version
    assert {"note_id": str(note_id), "text": "called back", "actor": "user:n", "at": AT} == (
        c.notes[0]
    )
    assert ["called back", "second"] == [n["text"] for n in c.notes]
    first, _ = c.collect_events()
    assert ("NoteAdded", "user:n") == (type(first).__name__, first.actor)  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_note_needs_text(text: str) -> None:
    """A blank note is refused."""
    c = person()
    unchanged(
        c, lambda: c.add_note(actor=ACTOR, text=text, note_id=uuid4(), at=AT), InvalidCommandError
    )


def test_archived_contact_takes_no_notes() -> None:
    """Notes on an archived contact are refused (archived is judged before the text)."""
    c = person()
    c.archive(actor=ACTOR)
    for text in ("hello", " "):
        add = partial(c.add_note, actor=ACTOR, text=text, note_id=uuid4(), at=AT)
        unchanged(c, add, ContactArchivedError)
    assert [] == c.notes


# -- every event, versions, replay, snapshot ------------------------------------------


def test_every_event_records_the_actor_and_versions_increase_by_one() -> None:
    """Each command makes one event with its own actor; versions are 1, 2, 3, ..."""
    c = Contact.register(kind="person", name="Ana", actor="u0")
    c.update(actor="u1", name="Eve")
    c.add_note(actor="u2", text="hi", note_id=uuid4(), at=AT)
    c.archive(actor="u3")
    c.restore(actor="u4")
    c.update(actor="u5", tags=["x"])
    events = c.collect_events()
    assert [f"u{i}" for i in range(6)] == [e.actor for e in events]  # type: ignore[attr-defined]
    assert [1, 2, 3, 4, 5, 6] == [e.originator_version for e in events]
    assert {c.id} == {e.originator_id for e in events}
    assert 6 == c.version


def test_contact_replays_to_the_same_state() -> None:
    """Rebuilding from the events gives the same state."""
    c = person(custom_fields={"a": 1}, emails=["a@example.com"])
    c.update(actor=ACTOR, organisation_id=uuid4(), custom_fields={"b": "x"}, phones=["+1"])
    c.add_note(actor=ACTOR, text="n", note_id=uuid4(), at=AT)
    c.archive(actor=ACTOR)
    c.restore(actor=ACTOR)
    before = state(c)
    assert before == state(replayed(c))


def test_snapshot_is_json_ready() -> None:
    """The snapshot shows ids as text and copies the lists."""
    org_id = uuid4()
    c = person(organisation_id=org_id, tags=["vip"])
    c.add_note(actor=ACTOR, text="n", note_id=uuid4(), at=AT)
    snap = contact_snapshot(c)
    assert (str(c.id), 2, "person", str(org_id), False) == (
        snap["id"],
        snap["version"],
        snap["kind"],
        snap["organisation_id"],
        snap["archived"],
    )
    assert snap["created_at"].endswith("Z")
    snap["tags"].append("mutated")
    snap["notes"][0]["text"] = "mutated"
    assert (["vip"], "n") == (c.tags, c.notes[0]["text"])
    assert UUID(snap["id"]) == c.id


def test_normalise_refuses_unknown_fields() -> None:
    """normalise names the unknown field."""
    with pytest.raises(InvalidCommandError) as info:
        normalise("kind", "person")
    assert "kind" == info.value.field


def test_custom_integers_stay_within_the_exact_json_range() -> None:
    """+-(2**53 - 1) is accepted; one beyond is refused (every JSON reader, and the read
    models' encoder, keeps such integers exact; larger ones belong in text)."""
    edge = 2**53 - 1
    assert {"a": edge, "b": -edge} == normalise("custom_fields", {"a": edge, "b": -edge})
    for value in (2**53, -(2**53), 2**70):
        with pytest.raises(InvalidCommandError, match="2\\*\\*53"):
            normalise("custom_fields", {"big": value})
    assert {"big": str(2**70)} == normalise("custom_fields", {"big": str(2**70)})
