"""Sealing personal values (`crm_ledger.privacy.sealing`): what is taken out of an event,
how it goes back, and that a sealed value opens only with its key, for its own event."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.utils import get_topic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_ledger.domain.activity import Activity
from crm_ledger.domain.case import Case
from crm_ledger.domain.contact import Contact
from crm_ledger.domain.lead import Lead
from crm_ledger.privacy.sealing import (
    ERASED,
    PERSONAL,
    SealError,
    erased_values,
    personal_values,
    put_back,
    seal,
    unseal,
)

REGISTERED = get_topic(Contact.Registered)  # type: ignore[attr-defined]
UPDATED = get_topic(Contact.Updated)  # type: ignore[attr-defined]
NOTE = get_topic(Contact.NoteAdded)  # type: ignore[attr-defined]
MERGED = get_topic(Contact.Merged)  # type: ignore[attr-defined]
ARCHIVED = get_topic(Contact.Archived)  # type: ignore[attr-defined]
LEAD_REGISTERED = get_topic(Lead.Registered)  # type: ignore[attr-defined]
LEAD_UPDATED = get_topic(Lead.Updated)  # type: ignore[attr-defined]
LOGGED = get_topic(Activity.Logged)  # type: ignore[attr-defined]
OPENED = get_topic(Case.Opened)  # type: ignore[attr-defined]
RESOLVED = get_topic(Case.Resolved)  # type: ignore[attr-defined]

names = st.sampled_from(sorted(PERSONAL | {"tags", "owner", "kind", "organisation_id"}))
values = st.one_of(st.none(), st.text(max_size=5), st.lists(st.text(max_size=3), max_size=2))
members = st.dictionaries(names, values, max_size=6)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a busy CI machine
@given(
    topic=st.sampled_from(
        [
            REGISTERED,
            UPDATED,
            NOTE,
            MERGED,
            ARCHIVED,
            LEAD_REGISTERED,
            LEAD_UPDATED,
            LOGGED,
            OPENED,
            RESOLVED,
        ]
    ),
    top=members,
    changes=members,
    absorbed=members,
)
def test_taking_personal_values_out_and_back_restores_the_state(
    topic: str, top: dict[str, Any], changes: dict[str, Any], absorbed: dict[str, Any]
) -> None:
    state: dict[str, Any] = {**top, "changes": changes, "absorbed": absorbed, "actor": "a"}
    original = copy.deepcopy(state)
    taken = personal_values(topic, state)
    # nothing personal is left where the topic seals it, nothing else was taken
    for path in taken:
        assert path.rpartition(".")[2] in PERSONAL
    if topic in (UPDATED, LEAD_UPDATED):
        assert not PERSONAL & state["changes"].keys()
    if topic == MERGED:
        assert not PERSONAL & state["absorbed"].keys()
    sealed_here = {
        REGISTERED: {"name", "emails", "phones", "addresses", "tax_id", "custom_fields"},
        NOTE: {"text"},
        LEAD_REGISTERED: {"name", "emails", "phones", "tax_id", "notes"},
        LOGGED: {"subject", "body"},
        OPENED: {"subject", "description"},
        RESOLVED: {"resolution"},
    }.get(topic, set())
    assert not sealed_here & state.keys()
    if topic in (REGISTERED, LEAD_REGISTERED, LOGGED, OPENED, RESOLVED):  # nothing else
        assert {p for p in taken if "." not in p} <= sealed_here
    if topic == ARCHIVED:
        assert taken == {}
    put_back(state, taken)
    assert original == state


def test_the_fields_of_a_registration_are_taken_in_a_fixed_order() -> None:
    state = dict.fromkeys(reversed(list(ERASED)), "x")
    assert ["name", "emails", "phones", "addresses", "tax_id", "custom_fields"] == list(
        personal_values(REGISTERED, state)
    )


def test_a_sealed_value_opens_only_with_its_key_and_for_its_own_event() -> None:
    key = AESGCM.generate_key(bit_length=256)
    sealed = seal("k1", key, b'{"name":"Ana"}', ["name"], subject="s1", version=1,
                  topic=REGISTERED)  # fmt: skip
    assert "k1" == sealed["kid"]
    assert b'{"name":"Ana"}' == unseal(key, sealed, subject="s1", version=1, topic=REGISTERED)
    for subject, version, topic in (("s2", 1, REGISTERED), ("s1", 2, REGISTERED),
                                    ("s1", 1, UPDATED)):  # fmt: skip
        with pytest.raises(SealError):
            unseal(key, sealed, subject=subject, version=version, topic=topic)
    with pytest.raises(SealError):
        unseal(
            AESGCM.generate_key(bit_length=256), sealed, subject="s1", version=1, topic=REGISTERED
        )
    flipped = dict(sealed, data=sealed["data"][:-4] + ("AAAA" if sealed["data"][-4:] != "AAAA"
                                                       else "BBBB"))  # fmt: skip
    with pytest.raises(SealError):
        unseal(key, flipped, subject="s1", version=1, topic=REGISTERED)
    with pytest.raises(SealError):
        unseal(key, dict(sealed, v=2), subject="s1", version=1, topic=REGISTERED)


def test_erased_forms_keep_each_value_s_type() -> None:
    found = erased_values(["name", "changes.emails", "absorbed.custom_fields", "tax_id", "text"])
    assert {"name": "(erased)", "changes.emails": [], "absorbed.custom_fields": {},
            "tax_id": None, "text": "(erased)"} == found  # fmt: skip
    found["changes.emails"].append("x")  # each call gives fresh lists and dicts
    assert [] == ERASED["emails"]
