"""Registrations built without the aggregate are the normal path's, byte for byte.

For generated ``Contact.register`` arguments: `registration` raises exactly what
``Contact.register`` raises, and otherwise `RegistrationEncoder.stored_event` equals the
application mapper's stored form of the aggregate's ``Registered`` event (same id,
version, topic and state bytes) for the same timestamp.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_ledger.application import CrmApplication
from crm_ledger.contact_registrations import RegistrationEncoder
from crm_ledger.domain.contact import Contact, registration
from crm_ledger.domain.errors import DomainError
from crm_ledger.imports import NAMESPACE, ContactIds
from crm_ledger.privacy.mapper import SealingMapper
from crm_ledger.settings import Settings

texts = st.text(st.characters(codec="utf-8"), max_size=12)
ACTOR = "apikey:" + str(uuid.UUID(int=1))

arguments = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["person", "organisation", "robot"]),
        "name": st.one_of(texts, st.sampled_from([" Ana ", "", " ", "x" * 201])),
    },
    optional={
        "emails": st.lists(st.one_of(texts, st.sampled_from(["A@B.es", "a@b.es", " a@b.es"]))),
        "phones": st.lists(st.one_of(texts, st.just("+34 600"))),
        "addresses": st.lists(
            st.dictionaries(
                st.sampled_from(["line1", "line2", "city", "region", "postal_code", "country"]),
                texts,
            ),
            max_size=2,
        ),
        "tax_id": st.one_of(st.none(), texts),
        "tags": st.lists(st.one_of(texts, st.sampled_from(["b", "a", " a"]))),
        "owner": st.one_of(st.none(), texts),
        "organisation_id": st.one_of(st.none(), st.uuids()),
        "custom_fields": st.one_of(
            st.none(),
            st.dictionaries(
                texts,
                st.one_of(texts, st.integers(-(2**70), 2**70), st.booleans(), st.none()),
                max_size=4,
            ),
        ),
    },
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrmApplication]:
    data = tmp_path_factory.mktemp("registrations")
    app = CrmApplication(Settings(database_url=f"sqlite:///{data}/crm.db", data_dir=data))
    yield app
    app.close()


def normal(contact_id: uuid.UUID, fields: dict[str, Any], moment: datetime) -> Any:
    """The normal path's registration event, or the error it raises."""
    registered: Any = Contact.Registered  # type: ignore[attr-defined]
    with mock.patch.object(registered, "create_timestamp", return_value=moment):
        try:
            return Contact.register(actor=ACTOR, contact_id=contact_id, **fields).pending_events[0]
        except DomainError as exc:
            return exc


@settings(max_examples=600, deadline=None)
@given(arguments, st.uuids(), moments)
def test_fast_registration_is_byte_identical(
    crm: CrmApplication, fields: dict[str, Any], contact_id: uuid.UUID, moment: datetime
) -> None:
    """Same error, or the same stored event (once opened)."""
    expected = normal(contact_id, fields, moment)
    if isinstance(expected, DomainError):
        with pytest.raises(type(expected)) as raised:
            registration(actor=ACTOR, **fields)
        assert (expected.detail, getattr(expected, "field", None)) == (
            raised.value.detail,
            getattr(raised.value, "field", None),
        )
        return
    encoder = RegistrationEncoder(crm.mapper)
    assert encoder.supported
    arguments = registration(actor=ACTOR, **fields)
    assert opened(crm, crm.mapper.to_stored_event(expected)) == opened(
        crm, encoder.stored_event(contact_id, arguments, moment)
    )
    encoder.supported = False  # the fallback (a cipher, say): the mapper maps the event
    assert opened(crm, crm.mapper.to_stored_event(expected)) == opened(
        crm, encoder.stored_event(contact_id, arguments, moment)
    )


def opened(crm: CrmApplication, stored: StoredEvent) -> tuple[Any, ...]:
    """A stored event with its sealed values opened (each sealing draws a new nonce, so
    the bytes differ): its id, version, topic, sealed fields and state."""
    mapper = crm.mapper
    assert isinstance(mapper, SealingMapper)
    state, fields = mapper.opened_state(stored)
    assert fields == ["name", "emails", "phones", "addresses", "tax_id", "custom_fields"]
    return stored.originator_id, stored.originator_version, stored.topic, fields, state


@given(st.text(max_size=64), st.integers(min_value=0, max_value=10**12))
def test_contact_ids_are_uuid5(digest: str, row: int) -> None:
    """The import's incremental ids are ``uuid5(NAMESPACE, "<digest>:<row>")``."""
    assert uuid.uuid5(NAMESPACE, f"{digest}:{row}") == ContactIds(digest)(row)
