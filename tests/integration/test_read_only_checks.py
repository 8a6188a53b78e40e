"""Existence checks read the repository's cached aggregate without deep-copying it
(`CrmApplication.peek`), while commands still get a copy of their own."""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path
from typing import Any

import eventsourcing.application
import pytest

from crm_ledger.activities import log_activity
from crm_ledger.application import CrmApplication
from crm_ledger.domain.errors import NotFoundError
from crm_ledger.settings import Settings

ACTOR = "user:test"


@pytest.fixture
def crm(sqlite_url: str, tmp_path: Path) -> Any:
    app = CrmApplication(Settings(database_url=sqlite_url, data_dir=tmp_path))
    yield app
    app.close()


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The class names of the aggregates the repository deep-copies."""
    made: list[str] = []

    def counted(value: Any, memo: Any = None) -> Any:
        made.append(type(value).__name__)
        return deepcopy(value, memo)

    monkeypatch.setattr(eventsourcing.application, "deepcopy", counted)
    return made


def test_linking_checks_copy_nothing(crm: CrmApplication, copies: list[str]) -> None:
    org = crm.register_contact(actor=ACTOR, kind="organisation", name="Org").aggregate
    person = crm.register_contact(
        actor=ACTOR, kind="person", name="Ana", organisation_id=org.id
    ).aggregate
    for _ in range(2):  # the second time the contact comes from the cache
        log_activity(
            crm,
            actor=ACTOR,
            kind="call",
            subject="Intro",
            links=[{"type": "contact", "id": str(person.id)}],
        )
    assert copies == []


def test_commands_still_get_a_copy(crm: CrmApplication, copies: list[str]) -> None:
    person = crm.register_contact(actor=ACTOR, kind="person", name="Ana").aggregate
    crm.get_contact(person.id)
    crm.get_contact(person.id)
    assert copies.count("Contact") >= 1
    loaded = crm.get_contact(person.id)
    assert loaded is not crm.peek(person.id, "contact")


def test_peek_of_an_unknown_id_is_not_found(crm: CrmApplication) -> None:
    person = crm.register_contact(actor=ACTOR, kind="person", name="Ana").aggregate
    with pytest.raises(NotFoundError):
        log_activity(
            crm,
            actor=ACTOR,
            kind="call",
            subject="Intro",
            links=[{"type": "deal", "id": str(person.id)}],  # a contact, not a deal
        )
    with pytest.raises(NotFoundError):
        crm.check_organisation(person.id.__class__(int=7))
