"""The rebuild's replay of contact histories (`contact_replay`) against the library's way.

Every kind of contact event (merges and organisation relinks included, which the random
histories of ``tests/property/test_projection_rebuild.py`` do not draw) is rebuilt
through the replay path, and the tables must equal those the incremental runner builds
with the aggregate's own ``mutate``; events the replay does not handle go the library's
way; a broken event stops the rebuild at its position. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

import orjson
import pytest

from crm_ledger.application import CrmApplication
from crm_ledger.contact_family import family
from crm_ledger.domain.contact import ERASED_NAME, Contact
from crm_ledger.erasure import erase_contact
from crm_ledger.projections.base import ReplayUnsupportedError
from crm_ledger.projections.bulk import aggregate_text
from crm_ledger.projections.contact_replay import replay
from crm_ledger.projections.contacts import WRITTEN, ContactsProjection
from crm_ledger.projections.rebuild import Rebuild, RebuildFailedError
from crm_ledger.projections.runner import ProjectionRunner
from crm_ledger.settings import Settings
from tests.property.projection_helpers import table_rows

ACTOR = "user:replay"


@pytest.fixture
def crm(database_url: str, tmp_path: Path) -> CrmApplication:
    return CrmApplication(Settings(database_url=database_url, data_dir=tmp_path / "data"))


def events_table(crm: CrmApplication) -> str:
    return str(crm.recorder.events_table_name)  # type: ignore[attr-defined]


def contact_events(crm: CrmApplication) -> int:
    with crm.db.transaction(write=False) as tx:
        return int(
            tx.scalar(f"SELECT count(*) FROM {events_table(crm)} WHERE topic LIKE '%:Contact.%'")
        )


def incremental_rows(crm: CrmApplication) -> list[tuple[object, ...]]:
    ProjectionRunner(crm, ContactsProjection(crm.mapper), batch_size=7).catch_up()
    return table_rows(crm, "proj_contacts")


def rebuild(crm: CrmApplication, batch_size: int = 5) -> Rebuild:
    job = Rebuild(crm, ContactsProjection(crm.mapper), batch_size=batch_size)
    job.run()
    return job


def every_kind_of_event(crm: CrmApplication) -> None:
    """Registrations with every field, updates, notes, archive/restore, two merges and
    the relinks of a merged organisation's people."""
    org = Contact.register(kind="organisation", name="Ácme S.L.", tax_id="B-1234 5678",
                           actor=ACTOR, custom_fields={"tier": "gold", "seats": 12})  # fmt: skip
    org_dup = Contact.register(kind="organisation", name="ACME", emails=["Info@Acme.es"],
                               actor=ACTOR, tags=["dup"], owner="user:ana")  # fmt: skip
    crm.store(org, org_dup, actor=ACTOR)
    people = [
        Contact.register(
            kind="person",
            name=name,
            emails=[f"{i}@x.io", f"Other{i}@X.io"],
            phones=["+34 600-000-00" + str(i)],
            addresses=[{"line1": "Calle Mayor 1", "city": "Zaragoza", "country": "ES"}],
            tags=["vip", "b2b"][: i % 3],
            custom_fields={"vip": i % 2 == 0, "score": -i, "note": "Zoë ünïcode"},
            organisation_id=org_dup.id if i < 2 else org.id,
            actor=ACTOR,
        )
        for i, name in enumerate(["Zoë Ñúñez", "Émile", "bob", "李 小龙"])
    ]
    crm.store(*people, actor=ACTOR)
    first, second, third, fourth = people
    first.update(actor=ACTOR, name="Zoe Nunez", custom_fields={"score": None, "new": "x"})
    first.add_note(actor=ACTOR, text="called", note_id=uuid4(), at="2026-01-02T03:04:05.000000Z")
    second.archive(actor=ACTOR)
    third.add_note(actor=ACTOR, text="one", note_id=uuid4(), at="2026-01-02T03:04:06.000000Z")
    third.add_note(actor=ACTOR, text="two", note_id=uuid4(), at="2026-01-02T03:04:07.000000Z")
    crm.store(first, second, third, actor=ACTOR)
    second.restore(actor=ACTOR)
    second.update(actor=ACTOR, tags=["restored"], owner="user:bo", tax_id=None)
    org.merge(org_dup, actor=ACTOR)  # Merged on org, MergedInto on org_dup
    first.relink_organisation(org.id, actor=ACTOR)
    second.relink_organisation(org.id, actor=ACTOR)
    third.merge(fourth, actor=ACTOR)
    crm.store(org, org_dup, first, second, third, fourth, actor=ACTOR)
    fourth_shadow = Contact.register(kind="person", name="Later", actor=ACTOR)
    crm.store(fourth_shadow, actor=ACTOR)


def test_replayed_tables_equal_the_incremental_ones(crm: CrmApplication) -> None:
    every_kind_of_event(crm)
    incremental = incremental_rows(crm)
    assert len(incremental) == 7

    job = rebuild(crm)
    assert job.replayed == job.applied == contact_events(crm)  # all of it replayed
    assert table_rows(crm, "proj_contacts") == incremental

    # The replayed snapshots are thawed by the incremental runner like its own.
    more = Contact.register(kind="person", name="After", actor=ACTOR)
    crm.store(more, actor=ACTOR)
    for contact_id in [r[0] for r in incremental][:4]:
        contact = crm.get_contact(UUID(contact_id))
        if contact.merged_into is None and not contact.archived:
            contact.add_note(
                actor=ACTOR, text="after", note_id=uuid4(), at="2026-02-01T00:00:00.000000Z"
            )
            crm.store(contact, actor=ACTOR)
    continued = incremental_rows(crm)
    assert rebuild(crm).replayed == contact_events(crm)
    assert table_rows(crm, "proj_contacts") == continued


def test_erased_contacts_replay_as_erased(crm: CrmApplication) -> None:
    """Sealed histories replay with their keys; once erased (keys destroyed), as erased:
    a rebuild equals the incremental rows, and every history is still replayed."""
    every_kind_of_event(crm)
    ids = [UUID(r[0]) for r in incremental_rows(crm)]  # rows: id, kind, name, ...
    survivors = [c for c in ids if crm.get_contact(c).merged_into is None]
    erased = [c for c in survivors if crm.get_contact(c).notes][:2]  # one has a merged-in
    for contact_id in erased:
        erase_contact(crm, contact_id, expected_version=crm.get_contact(contact_id).version,
                      actor=ACTOR)  # fmt: skip
    incremental = incremental_rows(crm)
    names = {r[0]: r[2] for r in incremental}
    gone = {str(c) for e in erased for c in family(crm, e)}
    assert len(gone) == 3
    assert {ERASED_NAME} == {names[c] for c in gone}
    assert ERASED_NAME not in {n for c, n in names.items() if c not in gone}

    job = rebuild(crm)
    assert job.replayed == job.applied == contact_events(crm)
    assert table_rows(crm, "proj_contacts") == incremental


def test_a_history_the_replay_does_not_handle_goes_the_librarys_way(
    crm: CrmApplication,
) -> None:
    """A registration stored with a key the domain no longer has (the library ignores
    it) is not of the shape replayed: that batch is applied with ``apply_batch``, the
    others are replayed, and the tables are the same."""
    plain = [Contact.register(kind="person", name=f"P{i}", actor=ACTOR) for i in range(6)]
    crm.store(*plain, actor=ACTOR)
    old = Contact.register(kind="person", name="Old", actor=ACTOR)
    position = crm.store(old, actor=ACTOR)
    table = events_table(crm)
    column = "rowid" if crm.db.dialect == "sqlite" else "notification_id"
    with crm.db.transaction() as tx:
        state = orjson.loads(
            tx.scalar(f"SELECT state FROM {table} WHERE {column} = ?", (position,))
        )
        state["fax"] = "+34 976 000 000"
        tx.execute(
            f"UPDATE {table} SET state = ? WHERE {column} = ?", (orjson.dumps(state), position)
        )
    incremental = incremental_rows(crm)
    assert "Old" in [r[2] for r in incremental]

    job = rebuild(crm, batch_size=2)
    assert job.applied == 7
    assert 0 < job.replayed < job.applied  # only the batch with `old` went the other way
    assert table_rows(crm, "proj_contacts") == incremental


def test_a_broken_event_stops_the_rebuild_there(crm: CrmApplication) -> None:
    contacts = [Contact.register(kind="person", name=f"P{i}", actor=ACTOR) for i in range(8)]
    crm.store(*contacts, actor=ACTOR)
    victim = contacts[5]
    victim.update(actor=ACTOR, name="Renamed")
    crm.store(victim, actor=ACTOR)
    live = incremental_rows(crm)
    table = events_table(crm)
    column = "rowid" if crm.db.dialect == "sqlite" else "notification_id"
    with crm.db.transaction() as tx:
        position = tx.scalar(f"SELECT max({column}) FROM {table}")
        tx.execute(f"UPDATE {table} SET state = ? WHERE {column} = ?", (b"{not json", position))

    with pytest.raises(RebuildFailedError) as failed:
        rebuild(crm, batch_size=3)
    assert failed.value.position == position
    assert table_rows(crm, "proj_contacts") == live  # the live table is untouched


def test_an_interrupted_replay_resumes_after_its_last_batch(crm: CrmApplication) -> None:
    """Each replayed batch commits with the move of its part: a new job resumes after
    the last one and replays exactly the rest."""
    people = [Contact.register(kind="person", name=f"P{i}", actor=ACTOR) for i in range(30)]
    crm.store(*people, actor=ACTOR)
    for person in people[::2]:
        person.update(actor=ACTOR, tags=["again"])
    crm.store(*people[::2], actor=ACTOR)
    incremental = incremental_rows(crm)
    total = contact_events(crm)

    first = Rebuild(crm, ContactsProjection(crm.mapper), batch_size=10)
    first.prepare()
    assert first.step() is None  # bulk phase, one batch each
    assert first.step() is None
    first.close()  # abandoned: no swap
    assert 0 < first.replayed == first.applied < total
    assert table_rows(crm, "proj_contacts") == incremental

    second = Rebuild(crm, ContactsProjection(crm.mapper), batch_size=10)
    second.run()
    assert second.replayed == second.applied == total - first.applied
    assert table_rows(crm, "proj_contacts") == incremental


@pytest.mark.parametrize(("number", "replayed"), [(2**63 - 1, True), (2**70, False)])
def test_numbers_beyond_64_bits_are_not_replayed(number: int, replayed: bool) -> None:
    """``orjson`` parses an integer beyond 64 bits as a float: such a history must go
    the library's way (which keeps it exact), not be replayed rounded."""
    registered = (
        b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-02T03:04:05.000006+00:00"},'
        b'"originator_topic":"crm_ledger.domain.contact:Contact","kind":"person","name":"N",'
        b'"emails":[],"phones":[],"addresses":[],"tax_id":null,"tags":[],"owner":null,'
        b'"organisation_id":null,"custom_fields":{"n":%d},"actor":"user:replay"}' % number
    )
    topic = "crm_ledger.domain.contact:Contact.Registered"
    events = [(uuid4().bytes, 1, topic, registered, 1)]
    if replayed:
        (row,) = list(replay(events, aggregate_text))
        assert row[WRITTEN.index("cfields")] == f"|n={number}|"
    else:
        with pytest.raises(ReplayUnsupportedError):
            list(replay(events, aggregate_text))
