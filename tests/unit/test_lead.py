"""Every guard of the Lead aggregate (no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest

from crm_ledger.domain.errors import DomainError, InvalidCommandError
from crm_ledger.domain.lead import Lead, LeadStatus, lead_snapshot
from crm_ledger.domain.sales_errors import (
    LeadConvertedError,
    LeadError,
    LeadStatusError,
    PossibleDuplicateError,
)

ACTOR = "user:test"
AT = "2026-01-02T03:04:05.000006Z"


def lead(**fields: Any) -> Lead:
    return Lead.register(**{"name": "Ana García", "actor": ACTOR, **fields})


def unchanged(subject: Lead, command: Callable[[], object], error: type) -> None:
    """`command` raises exactly `error` and records nothing."""
    before = (subject.version, lead_snapshot(subject))
    with pytest.raises(error) as info:
        command()
    assert error is type(info.value)
    assert before == (subject.version, lead_snapshot(subject))


def converted() -> Lead:
    subject = lead(company_name="Acme SL")
    subject.record_conversion(
        contact_id=uuid4(), organisation_id=uuid4(), deal_id=None, at=AT, actor=ACTOR
    )
    return subject


def test_register_normalises_values() -> None:
    """Text is trimmed, emails lower-cased, lists de-duplicated in order; status new."""
    subject = lead(
        name="  Ana  ",
        emails=["Ana@X.example", "ana@x.example", "b@x.example"],
        phones=[" +34 600 ", "+34 600"],
        source=" web ",
        campaign="",
        score=40,
    )
    assert (
        "Ana",
        ["ana@x.example", "b@x.example"],
        ["+34 600"],
        "web",
        None,
        40,
        LeadStatus.NEW,
        1,
    ) == (
        subject.name,
        subject.emails,
        subject.phones,
        subject.source,
        subject.campaign,
        subject.score,
        subject.status,
        subject.version,
    )
    assert ACTOR == subject.created_by


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": " "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"score": 101}, "score"),
        ({"score": -1}, "score"),
        ({"score": True}, "score"),
        ({"score": 5.0}, "score"),
        ({"emails": "a@b.example"}, "emails"),
        ({"phones": [600]}, "phones"),
        ({"tax_id": "x" * 33}, "tax_id"),
        ({"source": 3}, "source"),
    ],
)
def test_register_refuses_invalid_values(fields: dict[str, Any], field: str) -> None:
    """Invalid values are refused with the field named."""
    with pytest.raises(InvalidCommandError) as info:
        lead(**fields)
    assert field == info.value.field


def test_update_records_only_differences() -> None:
    """Same values: no event; changed values: one Updated event with only those."""
    subject = lead(emails=["a@x.example"], owner="luis")
    subject.update(actor=ACTOR, emails=["A@X.example"], owner="luis")
    assert 1 == subject.version
    subject.update(actor=ACTOR, owner="marta", notes=" met at fair ")
    events = subject.collect_events()
    assert {"owner": "marta", "notes": "met at fair"} == events[-1].changes  # type: ignore[attr-defined]
    assert ACTOR == events[-1].actor  # type: ignore[attr-defined]
    unchanged(subject, lambda: subject.update(actor=ACTOR, status="qualified"), InvalidCommandError)
    unchanged(subject, lambda: subject.update(actor=ACTOR, name=""), InvalidCommandError)


def test_score_changes() -> None:
    """A new score is one Scored event with the previous score; the same score is none."""
    subject = lead(score=10)
    subject.set_score(10, actor=ACTOR)
    assert 1 == subject.version
    subject.set_score(75, actor=ACTOR)
    event = subject.collect_events()[-1]
    assert (75, 10, 75, ACTOR) == (
        subject.score,
        event.previous,  # type: ignore[attr-defined]
        event.score,  # type: ignore[attr-defined]
        event.actor,  # type: ignore[attr-defined]
    )
    unchanged(subject, lambda: subject.set_score(101, actor=ACTOR), InvalidCommandError)


def test_status_path_new_contacted_qualified() -> None:
    """new -> contacted -> qualified; contacted only once, qualify only once."""
    subject = lead()
    subject.mark_contacted(at=AT, actor=ACTOR)
    assert LeadStatus.CONTACTED == subject.status
    unchanged(subject, lambda: subject.mark_contacted(at=AT, actor=ACTOR), LeadStatusError)
    subject.qualify(at=AT, actor=ACTOR)
    assert LeadStatus.QUALIFIED == subject.status
    unchanged(subject, lambda: subject.qualify(at=AT, actor=ACTOR), LeadStatusError)
    unchanged(subject, lambda: subject.mark_contacted(at=AT, actor=ACTOR), LeadStatusError)
    direct = lead()
    direct.qualify(at=AT, actor=ACTOR)
    assert (LeadStatus.QUALIFIED, 2) == (direct.status, direct.version)


def test_disqualify_and_reopen() -> None:
    """Disqualify needs a reason; only a disqualified lead reopens (to new, reason gone)."""
    subject = lead()
    unchanged(subject, lambda: subject.reopen(actor=ACTOR), LeadStatusError)
    unchanged(
        subject, lambda: subject.disqualify(reason="  ", at=AT, actor=ACTOR), InvalidCommandError
    )
    subject.disqualify(reason=" no budget ", at=AT, actor=ACTOR)
    assert (LeadStatus.DISQUALIFIED, "no budget") == (subject.status, subject.disqualified_reason)
    for command in (
        lambda: subject.disqualify(reason="again", at=AT, actor=ACTOR),
        lambda: subject.qualify(at=AT, actor=ACTOR),
        lambda: subject.mark_contacted(at=AT, actor=ACTOR),
        subject.check_convertible,
    ):
        unchanged(subject, command, LeadStatusError)
    subject.update(actor=ACTOR, notes="still editable")
    subject.reopen(actor=ACTOR)
    assert (LeadStatus.NEW, None) == (subject.status, subject.disqualified_reason)


def test_conversion_records_ids_and_freezes_the_lead() -> None:
    """The conversion keeps contact, organisation and deal ids; then every command fails."""
    contact_id, deal_id = uuid4(), uuid4()
    subject = lead()
    subject.mark_contacted(at=AT, actor=ACTOR)
    subject.record_conversion(
        contact_id=contact_id, organisation_id=None, deal_id=deal_id, at=AT, actor=ACTOR
    )
    assert LeadStatus.CONVERTED == subject.status
    assert {
        "contact_id": str(contact_id),
        "organisation_id": None,
        "deal_id": str(deal_id),
        "at": AT,
        "actor": ACTOR,
    } == lead_snapshot(subject)["conversion"]
    frozen = converted()
    for command in (
        lambda: frozen.update(actor=ACTOR, name="Other"),
        lambda: frozen.set_score(50, actor=ACTOR),
        lambda: frozen.mark_contacted(at=AT, actor=ACTOR),
        lambda: frozen.qualify(at=AT, actor=ACTOR),
        lambda: frozen.disqualify(reason="x", at=AT, actor=ACTOR),
        lambda: frozen.reopen(actor=ACTOR),
        frozen.check_convertible,
        lambda: frozen.record_conversion(
            contact_id=uuid4(), organisation_id=None, deal_id=None, at=AT, actor=ACTOR
        ),
    ):
        unchanged(frozen, command, LeadConvertedError)


def test_every_event_records_the_actor_and_replays() -> None:
    """Each event carries `actor`; replaying them rebuilds the same lead."""
    subject = lead()
    subject.update(actor="user:b", owner="luis")
    subject.set_score(30, actor="user:c")
    subject.disqualify(reason="spam", at=AT, actor="user:d")
    subject.reopen(actor="user:e")
    subject.qualify(at=AT, actor="user:f")
    subject.record_conversion(
        contact_id=uuid4(), organisation_id=None, deal_id=None, at=AT, actor="user:g"
    )
    events = subject.collect_events()
    assert [ACTOR, "user:b", "user:c", "user:d", "user:e", "user:f", "user:g"] == [
        e.actor  # type: ignore[attr-defined]
        for e in events
    ]
    rebuilt = None
    for e in events:
        rebuilt = e.mutate(rebuilt)
    assert isinstance(rebuilt, Lead)
    assert lead_snapshot(subject) == lead_snapshot(rebuilt)


def test_error_hierarchy() -> None:
    """Lead errors are conflicts under DomainError; duplicates carry their matches."""
    assert issubclass(LeadConvertedError, LeadError)
    assert issubclass(LeadStatusError, LeadError)
    assert issubclass(LeadError, DomainError)
    matches: list[dict[str, object]] = [{"contact_id": "c", "name": "n", "matched_on": ["email"]}]
    error = PossibleDuplicateError(matches)
    assert (matches, "possible_duplicates") == (error.matches, error.code)
    assert "1 existing contact(s)" in error.detail
