"""ContactConsents: statements are checked, kept in order, and a purpose's state is its
latest statement by the time the person made it, whatever order they were recorded in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from crm_ledger.domain.consent import ContactConsents, consents_id, current
from crm_ledger.domain.errors import InvalidCommandError

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def statement(purpose: str, granted: bool, at: str) -> dict[str, object]:
    return {"purpose": purpose, "granted": granted, "at": at}


def test_the_latest_statement_by_time_decides_whatever_the_recording_order() -> None:
    recorded = [
        statement("email", False, "2026-11-03T00:00:00.000000Z"),
        statement("email", True, "2026-11-01T00:00:00.000000Z"),  # backdated paper form
        statement("sms", True, "2026-11-02T00:00:00.000000Z"),
        statement("sms", False, "2026-11-02T00:00:00.000000Z"),  # same time: recorded later
    ]
    state = current(recorded)
    assert list(state) == ["email", "sms"]
    assert (state["email"]["granted"], state["sms"]["granted"]) == (False, False)
    assert current(recorded[1:2])["email"]["granted"] is True


def test_statements_are_checked_and_kept() -> None:
    contact = uuid4()
    consents = ContactConsents.open(contact_id=contact, actor="apikey:x")
    assert consents.id == consents_id(contact)
    consents.state(purpose="email", granted=True, source=" web_form ", wording=None,
                   at=NOW - timedelta(days=1), actor="apikey:x", now=NOW)  # fmt: skip
    consents.state(purpose="email", granted=False, source="phone", wording="call 12",
                   at=None, actor="apikey:y", now=NOW)  # fmt: skip
    unnamed = {"wording_version": None, "wording_sha256": None}  # no catalogue wording
    assert consents.statements == [
        {"purpose": "email", "granted": True, "at": "2026-11-25T12:00:00.000000Z",
         "source": "web_form", "wording": None, **unnamed, "actor": "apikey:x"},
        {"purpose": "email", "granted": False, "at": "2026-11-26T12:00:00.000000Z",
         "source": "phone", "wording": "call 12", **unnamed, "actor": "apikey:y"},
    ]  # fmt: skip
    assert [type(e).__name__ for e in consents.collect_events()] == ["Opened", "Given", "Withdrawn"]
    bad = [
        {"purpose": "Email"},
        {"purpose": ""},
        {"source": " "},
        {"wording": ""},
        {"granted": 1},
        {"at": NOW + timedelta(minutes=6)},
        {"at": datetime(2026, 11, 1)},  # naive
    ]
    for change in bad:
        fields = {"purpose": "email", "granted": True, "source": "web", "wording": None,
                  "at": None, **change}  # fmt: skip
        with pytest.raises(InvalidCommandError):
            consents.state(actor="apikey:x", now=NOW, **fields)  # type: ignore[arg-type]
    assert len(consents.statements) == 2
