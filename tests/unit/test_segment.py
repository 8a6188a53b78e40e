"""Every guard of the Segment aggregate and the normal form of its definitions (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from crm_ledger.api.problems import DOMAIN_STATUS, status_of
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.segment import (
    FILTERS,
    Segment,
    SegmentDeletedError,
    SegmentError,
    SegmentFilterError,
    normalise_definition,
    segment_snapshot,
)

ACTOR = "user:test"


def segment(**definition: Any) -> Segment:
    return Segment.create(name="VIP", definition=definition or {"tags": ["vip"]}, actor=ACTOR)


def test_create_records_the_normal_form_and_the_actor() -> None:
    """Text stripped, tags sorted and unique, timestamps in UTC, nulls dropped, keys
    sorted; the owner defaults to the actor; the event records the actor."""
    made = Segment.create(
        name="  VIP north ",
        definition={
            "tags": ["vip", "b2b", "vip"],
            "q": " ana ",
            "created_after": "2026-01-01T01:00:00+01:00",
            "owner": None,
            "custom_fields": {"z": 1, "a": "x"},
            "has_email": True,
        },
        actor=ACTOR,
    )
    assert made.name == "VIP north"
    assert made.owner == ACTOR
    assert {
        "created_after": "2026-01-01T00:00:00.000000Z",
        "custom_fields": {"a": "x", "z": 1},
        "has_email": True,
        "q": "ana",
        "tags": ["b2b", "vip"],
    } == made.definition
    assert list(made.definition) == sorted(made.definition)
    (created,) = made.collect_events()
    assert created.actor == ACTOR  # type: ignore[attr-defined]
    assert segment_snapshot(made)["definition"] == made.definition


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({"colour": "red"}, "definition/colour"),
        ({"kind": "robot"}, "definition/kind"),
        ({"tags": "vip"}, "definition/tags"),
        ({"tags": ["vip"] * 21}, "definition/tags"),
        ({"tags": [" "]}, "definition/tags"),
        ({"archived": "yes"}, "definition/archived"),
        ({"merged": 1}, "definition/merged"),
        ({"has_email": 0}, "definition/has_email"),
        ({"q": ""}, "definition/q"),
        ({"q": "x" * 201}, "definition/q"),
        ({"owner": 5}, "definition/owner"),
        ({"created_after": "yesterday"}, "definition/created_after"),
        ({"created_before": 20260101}, "definition/created_before"),
        ({"custom_fields": {"x": 1.5}}, "definition/custom_fields"),
        ({"custom_fields": {"": "x"}}, "definition/custom_fields"),
        ({"custom_fields": {"x": "y" * 201}}, "definition/custom_fields"),
        ({"custom_fields": ["x"]}, "definition/custom_fields"),
        ({"archived": True, "merged": True}, "definition/merged"),
        ({"consents": "newsletter"}, "definition/consents"),
        ({"consents": []}, "definition/consents"),
        ({"consents": ["Newsletter"]}, "definition/consents"),
        ({"consents": [f"p{i}" for i in range(11)]}, "definition/consents"),
        (
            {"created_after": "2026-02-01T00:00:00Z", "created_before": "2026-02-01T00:00:00Z"},
            "definition/created_before",
        ),
    ],
)
def test_bad_definitions_are_refused(definition: dict[str, Any], field: str) -> None:
    """Each bad filter is refused, naming it."""
    with pytest.raises(SegmentFilterError) as refused:
        Segment.create(name="s", definition=definition, actor=ACTOR)
    assert field == refused.value.field


def test_every_allowed_filter_is_accepted() -> None:
    """One valid value for each filter; false flags are kept (they mean something)."""
    definition = {
        "q": "ana",
        "kind": "person",
        "tags": ["vip"],
        "owner": "user:1",
        "archived": False,
        "merged": False,
        "has_email": False,
        "created_after": "2026-01-01T00:00:00Z",
        "created_before": "2026-02-01T00:00:00Z",
        "custom_fields": {"vip": True},
        "consents": ["newsletter", "marketing_email", "newsletter"],
    }
    assert set(definition) == FILTERS
    normal = normalise_definition(definition)
    assert set(normal) == FILTERS
    assert normal["consents"] == ["marketing_email", "newsletter"]


@pytest.mark.parametrize(
    ("name", "owner"), [("", None), ("x" * 101, None), (None, None), ("ok", " ")]
)
def test_bad_name_or_owner(name: Any, owner: Any) -> None:
    with pytest.raises(InvalidCommandError) as refused:
        Segment.create(name=name, definition={}, owner=owner, actor=ACTOR)
    assert refused.value.field in {"name", "owner"}


def test_update_records_only_real_differences() -> None:
    """Same values: no event; 1 is not true; a new definition replaces the old one."""
    s = Segment.create(name="VIP", definition={"custom_fields": {"n": 1}}, actor=ACTOR)
    s.collect_events()
    s.update(actor=ACTOR, name=" VIP ", definition={"custom_fields": {"n": 1}})
    assert [] == s.collect_events()
    s.update(actor="user:other", definition={"custom_fields": {"n": True}})
    (updated,) = s.collect_events()
    assert updated.actor == "user:other"  # type: ignore[attr-defined]
    assert {"definition": {"custom_fields": {"n": True}}} == updated.changes  # type: ignore[attr-defined]
    s.update(actor=ACTOR, definition={"kind": "person"}, owner="user:2")
    assert {"kind": "person"} == s.definition
    assert s.owner == "user:2"
    with pytest.raises(InvalidCommandError) as unknown:
        s.update(actor=ACTOR, colour="red")
    assert unknown.value.field == "colour"
    with pytest.raises(SegmentFilterError):
        s.update(actor=ACTOR, definition={"kind": "robot"})


def test_a_deleted_segment_refuses_every_command() -> None:
    s = segment()
    s.delete(actor=ACTOR)
    assert s.deleted
    version = s.version
    with pytest.raises(SegmentDeletedError):
        s.delete(actor=ACTOR)
    with pytest.raises(SegmentDeletedError):
        s.update(actor=ACTOR, name="again")
    assert version == s.version


def test_errors_are_mapped_to_statuses() -> None:
    assert {SegmentFilterError: 422, SegmentError: 409, SegmentDeletedError: 410} == {
        cls: DOMAIN_STATUS.get(cls)
        for cls in (SegmentFilterError, SegmentError, SegmentDeletedError)
    }
    assert 410 == status_of(SegmentDeletedError("gone"))
