"""The Campaign and CampaignResponse aggregates: values, status rules."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from crm_ledger.domain.campaign import (
    AUDIENCE_CHUNK,
    Campaign,
    CampaignError,
    CampaignResponse,
    LaunchAudience,
    audience_commitment,
    audience_digest,
    campaign_id_for,
    launch_audience_id,
)
from crm_ledger.domain.errors import InvalidCommandError

ACTOR = "user:ana"
NOBODY = audience_commitment([], position=None, filters={})


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
    made.launch(actor=ACTOR, audience=NOBODY)
    made.check_accepts_responses()
    with pytest.raises(CampaignError):
        made.launch(actor=ACTOR, audience=NOBODY)
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


def test_the_audience_at_launch_is_committed_to_and_listed_in_chunks() -> None:
    ids = [UUID(int=n) for n in range(2 * AUDIENCE_CHUNK + 3, 0, -1)]  # not in order
    text = "".join(f"{i}\n" for i in sorted(str(i) for i in ids))
    assert audience_digest(ids) == hashlib.sha256(text.encode()).hexdigest()
    assert audience_digest(ids[:-1]) != audience_digest(ids)
    assert audience_digest([]) == hashlib.sha256(b"").hexdigest()
    made = campaign()
    filters = {"consents": ["marketing_email"]}
    made.launch(actor=ACTOR, audience=audience_commitment(ids, position=7, filters=filters))
    assert made.launch_audience == {
        "count": len(ids),
        "sha256": audience_digest(ids),
        "log_position": 7,
        "filters": filters,
    }
    listed = LaunchAudience.of(made.id, ids, actor=ACTOR)
    assert listed.id == launch_audience_id(made.id) != made.id
    assert listed.contact_ids == sorted(str(i) for i in ids)
    assert [len(e.contact_ids) for e in listed.collect_events()] == [  # type: ignore[attr-defined]
        AUDIENCE_CHUNK,
        AUDIENCE_CHUNK,
        3,
    ]
