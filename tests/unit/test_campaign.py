"""The Campaign and CampaignResponse aggregates: values, status rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from crm_ledger.domain.campaign import (
    Campaign,
    CampaignError,
    CampaignResponse,
    campaign_id_for,
)
from crm_ledger.domain.errors import InvalidCommandError

ACTOR = "user:ana"


def campaign(**fields: object) -> Campaign:
    return Campaign.plan(name=" Spring ", code="spring-2026", actor=ACTOR, **fields)


def test_values_are_normalised_and_checked() -> None:
    made = campaign(budget={"amount": "1500", "currency": "EUR"}, starts_on="2026-03-01")
    assert (made.name, made.budget, made.starts_on) == (
        "Spring",
        {"amount": "1500.00", "currency": "EUR"},
        "2026-03-01",
    )
    for bad in (
        {"budget": {"amount": "1.234", "currency": "EUR"}},
        {"budget": {"amount": "10", "currency": "euro"}},
        {"budget": {"amount": 1.5, "currency": "EUR"}},
        {"starts_on": "2026-03-02", "ends_on": "2026-03-01"},
        {"starts_on": "March"},
        {"segment_id": "not-a-uuid"},
        {"purpose": "Marketing"},
        {"colour": "red"},
    ):
        with pytest.raises(InvalidCommandError):
            campaign(**bad)
    with pytest.raises(InvalidCommandError):
        Campaign.plan(name="x", code="Spring 2026", actor=ACTOR)
    with pytest.raises(InvalidCommandError):  # the dates are checked together on update
        made.update(actor=ACTOR, ends_on="2026-02-01")


def test_status_rules() -> None:
    made = campaign()
    with pytest.raises(CampaignError):
        made.check_accepts_responses()
    with pytest.raises(CampaignError):
        made.complete(actor=ACTOR)
    made.launch(actor=ACTOR)
    made.check_accepts_responses()
    with pytest.raises(CampaignError):
        made.launch(actor=ACTOR)
    made.complete(actor=ACTOR)
    made.check_accepts_responses()  # late responses
    for refused in (
        lambda: made.cancel(actor=ACTOR),
        lambda: made.update(actor=ACTOR, name="x"),
    ):
        with pytest.raises(CampaignError):
            refused()
    other = campaign()
    other.cancel(actor=ACTOR)
    with pytest.raises(CampaignError):
        other.check_accepts_responses()


def test_responses() -> None:
    now = datetime(2026, 3, 2, tzinfo=UTC)
    response = CampaignResponse.record(
        campaign_id=uuid4(), contact_id=uuid4(), kind="opened", actor=ACTOR, now=now
    )
    assert (response.kind, response.at) == ("opened", "2026-03-02T00:00:00.000000Z")
    with pytest.raises(InvalidCommandError):
        CampaignResponse.record(
            campaign_id=uuid4(), contact_id=uuid4(), kind="bounced", actor=ACTOR
        )
    with pytest.raises(InvalidCommandError):
        CampaignResponse.record(
            campaign_id=uuid4(),
            contact_id=uuid4(),
            kind="sent",
            actor=ACTOR,
            at=now + timedelta(hours=1),
            now=now,
        )


def test_the_id_is_derived_from_the_code() -> None:
    assert campaign().id == campaign_id_for("spring-2026") == campaign(owner="bea").id
    assert campaign_id_for("spring-2026") != campaign_id_for("spring-2027")
