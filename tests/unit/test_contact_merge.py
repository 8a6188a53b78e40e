"""Merging duplicate contacts in the domain: the absorb rule, every refusal, the frozen
duplicate, and the small relink commands of Contact, Deal and Activity (no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.domain import Snapshot

from crm_ledger.api.problems import DOMAIN_STATUS, status_of
from crm_ledger.domain.activity import Activity
from crm_ledger.domain.contact import Contact, contact_snapshot
from crm_ledger.domain.deal import Deal, DealStatus
from crm_ledger.domain.errors import (
    ContactArchivedError,
    ContactKindMismatchError,
    ContactMergedError,
    ContactMergeError,
    ContactSelfMergeError,
    InvalidCommandError,
    OrganisationLinkError,
)
from crm_ledger.domain.pipeline import Pipeline

ACTOR = "user:test"
MERGER = "user:merger"
AT = "2026-01-02T03:04:05.000006Z"
STAGES = [{"name": "Qualified", "probability": 20, "forecast_category": "pipeline"}]


def person(**fields: Any) -> Contact:
    values: dict[str, Any] = {"name": "Ana García", **fields}
    return Contact.register(kind="person", actor=ACTOR, **values)


def organisation(**fields: Any) -> Contact:
    values: dict[str, Any] = {"name": "Acme S.L.", **fields}
    return Contact.register(kind="organisation", actor=ACTOR, **values)


def state(contact: Contact) -> dict[str, Any]:
    return {k: v for k, v in vars(contact).items() if k != "_pending_events"}


def replayed(contact: Contact) -> Contact:
    rebuilt = None
    for e in contact.collect_events():
        rebuilt = e.mutate(rebuilt)
    assert isinstance(rebuilt, Contact)
    return rebuilt


def refused(contacts: list[Contact], command: Callable[[], object], error: type) -> Exception:
    """`command` raises exactly `error` and records nothing on any of `contacts`."""
    before = [(c.version, len(c.pending_events), state(c)) for c in contacts]
    with pytest.raises(error) as info:
        command()
    assert error is type(info.value)
    assert before == [(c.version, len(c.pending_events), state(c)) for c in contacts]
    return info.value


def merged_pair() -> tuple[Contact, Contact]:
    survivor, duplicate = person(), person(name="Ana G.")
    survivor.merge(duplicate, actor=MERGER)
    return survivor, duplicate


# -- the absorb rule -------------------------------------------------------------------


def test_survivor_keeps_its_values_and_absorbs_what_it_lacks() -> None:
    """Lists gain the duplicate's new items after the survivor's own; tags are a union;
    custom fields keep the survivor's value on a shared key; empty scalars are filled."""
    org = uuid4()
    survivor = person(
        name="Ana García",
        emails=["ana@example.com", "a@work.test"],
        phones=["+34 600 000 000"],
        addresses=[{"line1": "Calle Mayor 1", "country": "ES"}],
        tags=["vip"],
        custom_fields={"source": "web", "score": 3},
    )
    duplicate = person(
        name="A. García",
        emails=["b@home.test", "ANA@example.com"],
        phones=["+34 600 000 000", "+34 911 111 111"],
        addresses=[
            {"line1": "Calle Mayor 1", "country": "ES"},
            {"line1": "Gran Vía 2", "city": "Madrid", "country": "ES"},
        ],
        tags=["newsletter", "vip"],
        custom_fields={"source": "fair", "language": "es"},
        tax_id="12345678Z",
        owner="user:bob",
        organisation_id=org,
    )
    survivor.merge(duplicate, actor=MERGER)

    assert "Ana García" == survivor.name
    assert ["ana@example.com", "a@work.test", "b@home.test"] == survivor.emails
    assert ["+34 600 000 000", "+34 911 111 111"] == survivor.phones
    assert [
        {"line1": "Calle Mayor 1", "country": "ES"},
        {"line1": "Gran Vía 2", "city": "Madrid", "country": "ES"},
    ] == survivor.addresses
    assert ["newsletter", "vip"] == survivor.tags
    assert {"language": "es", "score": 3, "source": "web"} == survivor.custom_fields
    assert ("12345678Z", "user:bob", org) == (
        survivor.tax_id,
        survivor.owner,
        survivor.organisation_id,
    )
    assert (2, 2) == (survivor.version, duplicate.version)


def test_non_empty_scalars_of_the_survivor_win() -> None:
    """A tax id, owner or organisation the survivor has is never replaced."""
    own_org, other_org = uuid4(), uuid4()
    survivor = person(tax_id="A1", owner="user:ana", organisation_id=own_org)
    duplicate = person(tax_id="B2", owner="user:bob", organisation_id=other_org)
    survivor.merge(duplicate, actor=MERGER)
    assert ("A1", "user:ana", own_org) == (
        survivor.tax_id,
        survivor.owner,
        survivor.organisation_id,
    )


def test_merge_events_name_each_other_and_what_was_absorbed() -> None:
    """Merged (survivor) names the duplicate and only the changed fields; MergedInto
    (duplicate) names the survivor; both carry the actor."""
    survivor = person(emails=["a@x.test"], tags=["vip"])
    duplicate = person(emails=["b@x.test"], tags=["vip"])
    survivor.merge(duplicate, actor=MERGER)
    merged = survivor.collect_events()[-1]
    merged_into = duplicate.collect_events()[-1]
    assert ("Merged", duplicate.id, MERGER) == (
        type(merged).__name__,
        merged.duplicate_id,  # type: ignore[attr-defined]
        merged.actor,  # type: ignore[attr-defined]
    )
    assert {"emails": ["a@x.test", "b@x.test"]} == merged.absorbed  # type: ignore[attr-defined]
    assert ("MergedInto", survivor.id, MERGER) == (
        type(merged_into).__name__,
        merged_into.survivor_id,  # type: ignore[attr-defined]
        merged_into.actor,  # type: ignore[attr-defined]
    )


def test_merge_with_nothing_to_absorb_is_still_recorded() -> None:
    """The fact of the merge is an event even when no value moves."""
    survivor, duplicate = person(emails=["a@x.test"]), person(emails=["a@x.test"])
    survivor.merge(duplicate, actor=MERGER)
    merged = survivor.collect_events()[-1]
    assert ("Merged", {}) == (type(merged).__name__, merged.absorbed)  # type: ignore[attr-defined]
    assert survivor.id == duplicate.merged_into


def test_organisations_merge_too() -> None:
    """Two organisations merge like two people (no organisation link involved)."""
    survivor, duplicate = organisation(), organisation(name="ACME", tax_id="B12345678")
    survivor.merge(duplicate, actor=MERGER)
    assert ("B12345678", None, survivor.id) == (
        survivor.tax_id,
        survivor.organisation_id,
        duplicate.merged_into,
    )


# -- refusals --------------------------------------------------------------------------


def test_a_contact_cannot_be_merged_into_itself() -> None:
    """Same id (even as two loaded copies): 422, the field is duplicate_id."""
    survivor = person()
    copy = replayed(survivor)
    survivor.collect_events()  # only `copy` matters from here
    error = refused(
        [survivor, copy], lambda: survivor.merge(copy, actor=MERGER), ContactSelfMergeError
    )
    assert "duplicate_id" == getattr(error, "field", None)
    assert "itself" in str(error)


def test_kinds_must_match() -> None:
    """A person is never merged with an organisation, either way round."""
    ana, acme = person(), organisation()
    error = refused([ana, acme], lambda: ana.merge(acme, actor=MERGER), ContactKindMismatchError)
    assert "same kind" in str(error)
    refused([ana, acme], lambda: acme.merge(ana, actor=MERGER), ContactKindMismatchError)


@pytest.mark.parametrize("archived", ["survivor", "duplicate"])
def test_archived_contacts_are_not_merged(archived: str) -> None:
    """Either side archived: 409, naming the archived contact."""
    survivor, duplicate = person(), person()
    target = survivor if archived == "survivor" else duplicate
    target.archive(actor=ACTOR)
    error = refused(
        [survivor, duplicate], lambda: survivor.merge(duplicate, actor=MERGER), ContactArchivedError
    )
    assert str(target.id) in str(error)


def test_already_merged_contacts_are_not_merged_again() -> None:
    """A merged duplicate cannot be absorbed again nor absorb another contact."""
    _, duplicate = merged_pair()
    other = person()
    refused([other, duplicate], lambda: other.merge(duplicate, actor=MERGER), ContactMergedError)
    refused([duplicate, other], lambda: duplicate.merge(other, actor=MERGER), ContactMergedError)


def test_the_survivor_stays_usable_and_can_absorb_more() -> None:
    """Only the duplicate is frozen: the survivor merges a second duplicate."""
    survivor, _ = merged_pair()
    third = person(phones=["+1 555 0100"])
    survivor.merge(third, actor=MERGER)
    assert (["+1 555 0100"], survivor.id) == (survivor.phones, third.merged_into)
    survivor.update(actor=ACTOR, name="Ana María García")
    assert "Ana María García" == survivor.name


def test_refusals_are_ordered_self_kind_then_state() -> None:
    """Errors that can never pass (422) come before state conflicts (409)."""
    ana, acme = person(), organisation()
    ana.archive(actor=ACTOR)
    refused([ana, acme], lambda: ana.merge(acme, actor=MERGER), ContactKindMismatchError)


# -- the frozen duplicate --------------------------------------------------------------


def test_every_command_on_a_merged_contact_is_refused() -> None:
    """Update (even a no-op), archive, restore, note, relink: 409 naming the survivor."""
    survivor, duplicate = merged_pair()
    commands: list[Callable[[], object]] = [
        lambda: duplicate.update(actor=ACTOR, name="New name"),
        lambda: duplicate.update(actor=ACTOR),
        lambda: duplicate.archive(actor=ACTOR),
        lambda: duplicate.restore(actor=ACTOR),
        lambda: duplicate.add_note(actor=ACTOR, text="hello", note_id=uuid4(), at=AT),
        lambda: duplicate.relink_organisation(uuid4(), actor=ACTOR),
    ]
    for command in commands:
        error = refused([duplicate], command, ContactMergedError)
        assert str(survivor.id) in str(error)


def test_snapshot_and_replay_show_merged_into() -> None:
    """The public state names the survivor; replaying the events gives the same state."""
    survivor, duplicate = merged_pair()
    assert (None, str(survivor.id)) == (
        contact_snapshot(survivor)["merged_into"],
        contact_snapshot(duplicate)["merged_into"],
    )
    for contact in (survivor, duplicate):
        before = state(contact)
        assert before == state(replayed(contact))


def test_a_state_saved_before_merges_existed_reads_as_not_merged() -> None:
    """Read-model snapshots taken before this field existed thaw with merged_into None."""
    contact = person()
    snapshot = Snapshot.take(contact)
    del snapshot.state["merged_into"]
    thawed = snapshot.mutate(None)
    assert isinstance(thawed, Contact)
    assert "merged_into" not in vars(thawed)
    assert thawed.merged_into is None
    thawed.update(actor=ACTOR, name="Still usable")


# -- relink commands --------------------------------------------------------------------


def test_relink_organisation_moves_a_person() -> None:
    """The person points at the new organisation; the event keeps the previous one."""
    old_org, new_org = uuid4(), uuid4()
    member = person(organisation_id=old_org)
    member.relink_organisation(new_org, actor=MERGER)
    event = member.collect_events()[-1]
    assert ("OrganisationRelinked", new_org, old_org, MERGER) == (
        type(event).__name__,
        event.organisation_id,  # type: ignore[attr-defined]
        event.previous,  # type: ignore[attr-defined]
        event.actor,  # type: ignore[attr-defined]
    )
    assert new_org == member.organisation_id
    member.relink_organisation(new_org, actor=MERGER)
    assert 2 == member.version  # same organisation: no event


def test_relink_organisation_works_on_archived_people_only_for_people() -> None:
    """Archived people are relinked (a reference fix); organisations and self-links are
    refused."""
    member = person(organisation_id=uuid4())
    member.archive(actor=ACTOR)
    new_org = uuid4()
    member.relink_organisation(new_org, actor=MERGER)
    assert (new_org, True) == (member.organisation_id, member.archived)
    acme = organisation()
    refused([acme], lambda: acme.relink_organisation(uuid4(), actor=MERGER), OrganisationLinkError)
    refused(
        [member], lambda: member.relink_organisation(member.id, actor=MERGER), OrganisationLinkError
    )


def deal(**fields: Any) -> Deal:
    pipeline = Pipeline.create(name="New business", stages=STAGES, actor=ACTOR)
    values: dict[str, Any] = {"title": "Renewal", "currency": "EUR", "contact_id": uuid4()}
    return Deal.create(pipeline=pipeline, at=AT, actor=ACTOR, **{**values, **fields})


def test_deal_relink_contact_records_both_ids() -> None:
    """ContactRelinked names the new and the previous contact; same contact: no event."""
    old, new = uuid4(), uuid4()
    d = deal(contact_id=old)
    d.relink_contact(new, actor=MERGER)
    event = d.collect_events()[-1]
    assert ("ContactRelinked", new, old, MERGER) == (
        type(event).__name__,
        event.contact_id,  # type: ignore[attr-defined]
        event.previous,  # type: ignore[attr-defined]
        event.actor,  # type: ignore[attr-defined]
    )
    d.relink_contact(new, actor=MERGER)
    assert (new, 2) == (d.contact_id, d.version)


@pytest.mark.parametrize("close", ["win", "lose"])
def test_closed_deals_are_relinked_too(close: str) -> None:
    """A won or lost deal keeps its status and moves to the surviving contact."""
    d = deal(amount="100.00")
    if close == "win":
        d.win(at=AT, actor=ACTOR)
    else:
        d.lose(reason="price", at=AT, actor=ACTOR)
    status, new = d.status, uuid4()
    d.relink_contact(new, actor=MERGER)
    assert (new, status) == (d.contact_id, d.status)
    assert status is not DealStatus.OPEN


def activity(links: list[dict[str, str]], kind: str = "call") -> Activity:
    return Activity.log(kind=kind, subject="Intro", links=links, at=AT, actor=ACTOR)


def test_activity_relink_replaces_the_link_in_place() -> None:
    """The duplicate's link becomes the survivor's, other links keep their order."""
    dup, survivor, deal_id = uuid4(), uuid4(), uuid4()
    a = activity([{"type": "deal", "id": str(deal_id)}, {"type": "contact", "id": str(dup)}])
    a.relink("contact", dup, survivor, actor=MERGER)
    assert [
        {"type": "deal", "id": str(deal_id)},
        {"type": "contact", "id": str(survivor)},
    ] == a.links
    event = a.collect_events()[-1]
    assert ("Relinked", str(dup), str(survivor), MERGER) == (
        type(event).__name__,
        event.replaced,  # type: ignore[attr-defined]
        event.by,  # type: ignore[attr-defined]
        event.actor,  # type: ignore[attr-defined]
    )


def test_activity_relink_keeps_one_link_when_both_were_linked() -> None:
    """Linked to both contacts: one survivor link remains."""
    dup, survivor = uuid4(), uuid4()
    a = activity([{"type": "contact", "id": str(survivor)}, {"type": "contact", "id": str(dup)}])
    a.relink("contact", dup, survivor, actor=MERGER)
    assert [{"type": "contact", "id": str(survivor)}] == a.links


def test_activity_relink_without_such_link_records_nothing() -> None:
    """Only a contact link with that id is replaced (a deal link with that id is not)."""
    same_id = uuid4()
    a = activity([{"type": "deal", "id": str(same_id)}])
    a.relink("contact", same_id, uuid4(), actor=MERGER)
    assert (1, [{"type": "deal", "id": str(same_id)}]) == (a.version, a.links)


def test_cancelled_activities_are_relinked_too() -> None:
    """A cancelled activity no longer changes its content, but its reference is fixed."""
    dup, survivor = uuid4(), uuid4()
    a = activity([{"type": "contact", "id": str(dup)}])
    a.cancel(at=AT, actor=ACTOR)
    a.relink("contact", dup, survivor, actor=MERGER)
    assert ([{"type": "contact", "id": str(survivor)}], AT) == (a.links, a.cancelled_at)


# -- HTTP mapping -----------------------------------------------------------------------


def test_merge_errors_map_to_422_and_409() -> None:
    """Impossible merges are 422 (invalid commands); state conflicts are 409."""
    assert issubclass(ContactMergeError, InvalidCommandError)
    assert {ContactMergeError, ContactSelfMergeError, ContactKindMismatchError} <= set(
        DOMAIN_STATUS
    )
    assert (422, 422, 409) == (
        status_of(ContactSelfMergeError("x")),
        status_of(ContactKindMismatchError("x")),
        status_of(ContactMergedError("x")),
    )
