"""`Follower`: one poll for every runner of a process. A runner with nothing among the
new events moves to the head in memory and writes its tracking row only later; a runner
with work is woken and applies it; nothing for a read model is ever skipped (SQLite and
PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.domain.lead import Lead
from crm_ledger.projections import runner as runner_module
from crm_ledger.projections.contacts import ContactsProjection
from crm_ledger.projections.follower import Follower
from crm_ledger.projections.leads import LeadsProjection
from crm_ledger.projections.runner import ProjectionRunner, read_position
from tests.property.projection_helpers import application

ACTOR = "user:follower"


@pytest.fixture
def crm(database_url: str, tmp_path: Path) -> Iterator[CrmApplication]:
    with application(database_url, tmp_path) as app:
        yield app


def contact(crm: CrmApplication, name: str) -> int:
    crm.save(Contact.register(kind="person", name=name, actor=ACTOR), actor=ACTOR)
    return crm.head_position()


def lead(crm: CrmApplication, name: str) -> int:
    crm.save(Lead.register(name=name, actor=ACTOR), actor=ACTOR)
    return crm.head_position()


def recorded(crm: CrmApplication, name: str) -> int:
    with crm.db.transaction(write=False) as tx:
        return read_position(tx, name)


def lead_names(crm: CrmApplication) -> list[str]:
    with crm.db.transaction(write=False) as tx:
        rows = tx.all("SELECT public FROM proj_leads")
    return sorted(row[0].split('"name":"')[1].split('"')[0] for row in rows)


def test_a_runner_with_nothing_new_skips_in_memory_and_records_later(
    crm: CrmApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    contacts = ProjectionRunner(crm, ContactsProjection(crm.mapper))
    leads = ProjectionRunner(crm, LeadsProjection(crm.mapper))
    follower = Follower(crm, [contacts, leads], poll_seconds=60)
    first = lead(crm, "Lena")
    follower.poll()  # the first poll wakes everyone
    for runner in (contacts, leads):
        runner.catch_up()  # not lazy: the rows are written
    assert (first, first) == (recorded(crm, "contacts"), recorded(crm, "leads"))

    # a contact: nothing for the leads read model
    second = contact(crm, "Ana")
    follower.poll()
    assert (first, second) == (contacts.position, leads.position)  # leads skipped ahead
    assert first == recorded(crm, "leads")  # ... in memory only
    contacts.catch_up(lazy=True)
    leads.catch_up(lazy=True)  # woken by a read: nothing to do, nothing written yet
    assert (second, first) == (recorded(crm, "contacts"), recorded(crm, "leads"))

    # a lead after the lag: applied, and the row moves from where it really was
    third = lead(crm, "Lía")
    follower.poll()
    assert second == leads.position  # not skipped: the new events are for it
    leads.catch_up(lazy=True)
    assert (third, third) == (leads.position, recorded(crm, "leads"))
    assert ["Lena", "Lía"] == lead_names(crm)

    # the row of a runner that only skipped is written once RECORD_SECONDS passed
    fourth = contact(crm, "Bea")
    follower.poll()
    contacts.catch_up(lazy=True)
    assert (fourth, third) == (leads.position, recorded(crm, "leads"))
    assert not leads.record_due()
    monkeypatch.setattr(runner_module, "RECORD_SECONDS", 0.0)
    assert leads.record_due()
    leads.catch_up(lazy=True)
    assert fourth == recorded(crm, "leads")
    assert not leads.record_due()


def test_a_runner_behind_the_last_poll_is_woken_not_skipped(crm: CrmApplication) -> None:
    leads = ProjectionRunner(crm, LeadsProjection(crm.mapper))
    follower = Follower(crm, [leads], poll_seconds=60)
    follower.poll()
    first = lead(crm, "Lena")
    follower.poll()  # leads now has work up to `first`; it is woken, not moved
    second = contact(crm, "Ana")
    follower.poll()  # nothing for leads after `first`, but it has not reached `first`
    assert 0 == leads.position
    leads.catch_up(lazy=True)
    assert (second, ["Lena"]) == (leads.position, lead_names(crm))
    assert first <= recorded(crm, "leads")


def test_a_direct_catch_up_records_where_it_is(crm: CrmApplication) -> None:
    """`catch_up()` without `lazy` (jobs, tests, rebuilds) leaves the row at the head."""
    leads = ProjectionRunner(crm, LeadsProjection(crm.mapper))
    follower = Follower(crm, [leads], poll_seconds=60)
    follower.poll()
    head = contact(crm, "Ana")
    follower.poll()
    assert (head, 0) == (leads.position, recorded(crm, "leads"))
    leads.catch_up()
    assert head == recorded(crm, "leads")


def test_followed_in_the_background(crm: CrmApplication) -> None:
    contacts = ProjectionRunner(crm, ContactsProjection(crm.mapper))
    leads = ProjectionRunner(crm, LeadsProjection(crm.mapper))
    follower = Follower(crm, [contacts, leads], poll_seconds=0.02)
    follower.start()
    try:
        for i in range(5):
            contact(crm, f"Ana {i}")
            head = lead(crm, f"Lena {i}")
        deadline = time.monotonic() + 5
        while min(contacts.position, leads.position) < head and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (head, head) == (contacts.position, leads.position)
        assert [f"Lena {i}" for i in range(5)] == lead_names(crm)
    finally:
        follower.stop()
