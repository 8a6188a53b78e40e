"""A Hypothesis state machine for Contact: a small model predicts every command's outcome.

The model knows nothing of the domain code: each value a rule may send comes with the
stored form the model expects (or ``BAD`` when it must be refused), and for each command
the model predicts either the exact exception class (and then that nothing changed) or
the new state, version and the actor of the new event. Deleting any guard in
``domain/contact.py`` makes a prediction fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from crm_ledger.domain.contact import Contact
from crm_ledger.domain.errors import (
    ContactAlreadyArchivedError,
    ContactArchivedError,
    ContactKindChangeError,
    ContactNotArchivedError,
    InvalidCommandError,
    OrganisationLinkError,
)

AT = "2026-01-01T00:00:00.000000Z"
BAD = object()  # the stored form of a value that must be refused
actors = st.sampled_from(["user:ana", "user:bob", "api-key:k1"])

# Per field: (what is sent, what the model expects stored, or BAD).
VALUES: dict[str, list[tuple[Any, Any]]] = {
    "name": [
        ("Ana", "Ana"),
        (" Ana ", "Ana"),
        ("Eve", "Eve"),
        ("x" * 200, "x" * 200),
        ("", BAD),
        ("   ", BAD),
        ("x" * 201, BAD),
        (None, BAD),
        (7, BAD),
    ],
    "emails": [
        ([], []),
        (["a@x.io"], ["a@x.io"]),
        ([" A@X.io", "a@x.io "], ["a@x.io"]),
        (["b@x.io", "a@x.io"], ["b@x.io", "a@x.io"]),
    ],
    "phones": [
        ([], []),
        (["+34 600"], ["+34 600"]),
        ([" +34 600", "+34 600", "+1 555 "], ["+34 600", "+1 555"]),
    ],
    "addresses": [
        ([], []),
        ([{"line1": " Calle 1 ", "country": "ES"}], [{"line1": "Calle 1", "country": "ES"}]),
        (
            [{"line1": "Calle 1", "line2": None, "country": "ES"}],
            [{"line1": "Calle 1", "country": "ES"}],
        ),
        ([{"line1": "A", "planet": "Mars"}], BAD),
    ],
    "tax_id": [("B1", "B1"), (" B1 ", "B1"), ("  ", None), (None, None), (5, BAD)],
    "tags": [([], []), (["vip", " vip ", " "], ["vip"]), (["b", "a", "b"], ["a", "b"])],
    "owner": [("bob", "bob"), ("ana ", "ana"), (None, None), ("", None), (["bob"], BAD)],
    # keys of the machine's ids ("self" is the contact's own id), UUID or text
    "organisation_id": [
        (None, None),
        ("org1", "org1"),
        ("org1:text", "org1"),
        ("org2", "org2"),
        ("self", "self"),
    ],
}
# Custom field values: ints and bools never equal each other here (1 == True in Python;
# see test_contact.py's xfail about that), floats and lists are refused.
custom_values = st.sampled_from([2, 3, "x", "", True, False, None, 1.5, [2]])
custom_fields = st.dictionaries(st.sampled_from(["a", "b", "c"]), custom_values, max_size=3)
UPDATABLE = [*VALUES, "custom_fields"]
field_names = st.lists(
    st.sampled_from([*UPDATABLE, *UPDATABLE, "kind", "archived"]), unique=True, max_size=4
)
texts = st.sampled_from(["", "  ", "called", " called back "])


def typed(values: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """Custom fields with their types, so that True and 1 differ."""
    return [(k, type(v).__name__, v) for k, v in values.items()]


class ContactMachine(RuleBasedStateMachine):
    """One person or organisation, driven by random commands."""

    contact: Contact

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, UUID] = {"org1": uuid4(), "org2": uuid4()}
        self.events: list[Any] = []
        self.model: dict[str, Any] = {}

    @initialize(kind=st.sampled_from(["person", "organisation"]), linked=st.booleans())
    def register(self, kind: str, linked: bool) -> None:
        link = "org1" if linked and kind == "person" else None
        self.contact = Contact.register(
            kind=kind,
            name=" Ana ",
            emails=["ana@x.io"],
            organisation_id=None if link is None else self.ids[link],
            custom_fields={"a": 2},
            actor="user:registrar",
        )
        self.ids["self"] = self.contact.id
        self.events.extend(self.contact.collect_events())
        self.model = {
            "version": 1,
            "kind": kind,
            "name": "Ana",
            "emails": ["ana@x.io"],
            "phones": [],
            "addresses": [],
            "tax_id": None,
            "tags": [],
            "owner": None,
            "organisation_id": link,
            "custom_fields": typed({"a": 2}),
            "archived": False,
            "notes": [],
            "actors": ["user:registrar"],
        }

    # -- the comparison -----------------------------------------------------------------

    def observed(self) -> dict[str, Any]:
        c = self.contact
        key_of = {v: k for k, v in self.ids.items()}
        return {
            "version": c.version,
            "kind": c.kind_value,
            "name": c.name,
            "emails": c.emails,
            "phones": c.phones,
            "addresses": c.addresses,
            "tax_id": c.tax_id,
            "tags": c.tags,
            "owner": c.owner,
            "organisation_id": None if c.organisation_id is None else key_of[c.organisation_id],
            "custom_fields": typed(c.custom_fields),
            "archived": c.archived,
            "notes": [(n["text"], n["actor"], n["at"]) for n in c.notes],
            "actors": [e.actor for e in self.events],
        }

    def outcome(
        self,
        command: Callable[[], object],
        error: type[Exception] | None,
        actor: str,
        **changes: Any,
    ) -> None:
        """Run `command`: it raises exactly `error` (nothing changes), or the model moves
        to `changes` with one more version and one more event by `actor` (no changes
        given: no event, same version)."""
        if error is not None:
            with pytest.raises(error) as info:
                command()
            assert error is type(info.value)
        else:
            command()
            if changes:
                self.model = {
                    **self.model,
                    **changes,
                    "version": self.model["version"] + 1,
                    "actors": [*self.model["actors"], actor],
                }
        self.events.extend(self.contact.collect_events())
        assert self.model == self.observed()

    def sent(self, field: str, value: Any) -> Any:
        """The organisation_id keys become ids (as UUID or as text); others as they are."""
        if field != "organisation_id" or value is None:
            return value
        key, _, form = value.partition(":")
        return str(self.ids[key]) if form == "text" else self.ids[key]

    def merged(self, given: dict[str, Any]) -> Any:
        """The model's custom fields after merging `given` (BAD when a value is refused)."""
        if any(isinstance(v, (float, list)) for v in given.values()):
            return BAD
        current = {k: v for k, _, v in self.model["custom_fields"]}
        for key, value in given.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        return typed(dict(sorted(current.items())))

    # -- rules --------------------------------------------------------------------------

    @rule(names=field_names, data=st.data(), actor=actors)
    def update(self, names: list[str], data: st.DataObject, actor: str) -> None:
        changes: dict[str, Any] = {}
        stored: dict[str, Any] = {}
        for name in names:
            if name == "custom_fields":
                changes[name] = data.draw(custom_fields)
                stored[name] = self.merged(changes[name])
            elif name in VALUES:
                sent, stored[name] = data.draw(st.sampled_from(VALUES[name]))
                changes[name] = self.sent(name, sent)
            else:
                changes[name] = data.draw(st.sampled_from(["person", "organisation", True]))
        command = lambda: self.contact.update(actor=actor, **changes)  # noqa: E731

        if "kind" in changes:
            self.outcome(command, ContactKindChangeError, actor)
            return
        if set(changes) - set(UPDATABLE):
            self.outcome(command, InvalidCommandError, actor)
            return
        if self.model["archived"]:
            self.outcome(command, ContactArchivedError, actor)
            return
        differing: dict[str, Any] = {}
        for name in changes:  # the first bad field decides the error
            new = stored[name]
            if new is BAD:
                self.outcome(command, InvalidCommandError, actor)
                return
            linked = name == "organisation_id" and new is not None
            if linked and (self.model["kind"] != "person" or new == "self"):
                self.outcome(command, OrganisationLinkError, actor)
                return
            if new != self.model[name]:
                differing[name] = new
        self.outcome(command, None, actor, **differing)

    @rule(link=st.sampled_from(VALUES["organisation_id"]), actor=actors)
    def link_organisation(self, link: tuple[str | None, str | None], actor: str) -> None:
        """Only the organisation link changes (the self-link and kind rules)."""
        sent, key = link
        command = lambda: self.contact.update(  # noqa: E731
            actor=actor, organisation_id=self.sent("organisation_id", sent)
        )
        if self.model["archived"]:
            self.outcome(command, ContactArchivedError, actor)
        elif key is not None and (self.model["kind"] != "person" or key == "self"):
            self.outcome(command, OrganisationLinkError, actor)
        elif key == self.model["organisation_id"]:
            self.outcome(command, None, actor)
        else:
            self.outcome(command, None, actor, organisation_id=key)

    @rule(actor=actors)
    def archive(self, actor: str) -> None:
        command = lambda: self.contact.archive(actor=actor)  # noqa: E731
        if self.model["archived"]:
            self.outcome(command, ContactAlreadyArchivedError, actor)
        else:
            self.outcome(command, None, actor, archived=True)

    @rule(actor=actors)
    def restore(self, actor: str) -> None:
        command = lambda: self.contact.restore(actor=actor)  # noqa: E731
        if not self.model["archived"]:
            self.outcome(command, ContactNotArchivedError, actor)
        else:
            self.outcome(command, None, actor, archived=False)

    @rule(text=texts, actor=actors, at=st.sampled_from([AT, "2026-02-03T04:05:06.000007Z"]))
    def add_note(self, text: str, actor: str, at: str) -> None:
        command = lambda: self.contact.add_note(actor=actor, text=text, note_id=uuid4(), at=at)  # noqa: E731
        if self.model["archived"]:
            self.outcome(command, ContactArchivedError, actor)
        elif not text.strip():
            self.outcome(command, InvalidCommandError, actor)
        else:
            note = (text.strip(), actor, at)
            self.outcome(command, None, actor, notes=[*self.model["notes"], note])

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def replay_gives_the_same_contact(self) -> None:
        """Every recorded event replayed from scratch rebuilds the same contact."""
        if not self.events:
            return
        rebuilt = None
        for e in self.events:
            rebuilt = e.mutate(rebuilt)
        assert rebuilt is not None
        mine = {k: v for k, v in vars(self.contact).items() if k != "_pending_events"}
        theirs = {k: v for k, v in vars(rebuilt).items() if k != "_pending_events"}
        assert mine == theirs

    @invariant()
    def versions_count_the_events(self) -> None:
        """Event versions run 1, 2, 3, ... up to the contact's version."""
        versions = [e.originator_version for e in self.events]
        assert list(range(1, len(self.events) + 1)) == versions
        if self.events:
            assert self.contact.version == versions[-1]


ContactMachine.TestCase.settings = settings(
    max_examples=80,
    stateful_step_count=30,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow],
)
TestContactMachine = ContactMachine.TestCase
