"""Rebuild throughput of the contacts read model over >= 200,000 events on PostgreSQL.

Generates the history with bulk saves (many contacts per ``crm.save``): CONTACTS contacts
registered, then follow-up events (updates, notes, archive/restore) spread at random over
them in later saves, so one contact's events are far apart in the log, as in real use.
Every event is a contact event: the events/s figures count events applied, not log
positions skipped by topic.

Then, in the same run:

* baseline: the library's own processing, an eventsourcing ``Projection`` run by its
  ``ProjectionRunner`` (subscription, one event per transaction with its ``Tracking``
  row in a ``PostgresTrackingRecorder``), applying the same projection code to the
  first BASELINE_EVENTS events;
* ours: ``crm-ledger rebuild contacts`` (``Rebuild``: shadow tables, large batches,
  swap), over the whole log.

Prints events/s for both and the ratio (target: >= 30,000 events/s). Needs
CRM_BENCH_POSTGRES_URL (a server URL; a fresh database is created and dropped).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import psycopg
from eventsourcing.persistence import Mapper, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.projections.contacts import ContactsProjection, contact_topics
from crm_ledger.projections.rebuild import Rebuild
from crm_ledger.settings import Settings
from crm_ledger.storage.database import event_store_env
from crm_ledger.storage.sql import Tx

EVENTS = int(os.environ.get("CRM_BENCH_EVENTS", "200000"))
CONTACTS = int(os.environ.get("CRM_BENCH_CONTACTS", "50000"))
PER_SAVE = 1000
BASELINE_EVENTS = int(os.environ.get("CRM_BENCH_BASELINE_EVENTS", "5000"))
BATCH = int(os.environ.get("CRM_BENCH_BATCH", "5000"))
WORKERS = int(os.environ.get("CRM_BENCH_WORKERS", "1"))
ACTOR = "system:bench"


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new database on `server`, dropped at the end."""
    name = f"bench_rebuild_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{server.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def generate(crm: CrmApplication) -> int:
    """Write CONTACTS registrations, then follow-ups until the log has EVENTS events;
    return the number of events in the log (all of them contact events)."""
    rng = random.Random(7)
    contacts: list[Contact] = []
    for start in range(0, CONTACTS, PER_SAVE):
        batch = [
            Contact.register(
                kind="person",
                name=f"Person {i}",
                emails=[f"p{i}@example.com"],
                phones=["+34 600 000 000"],
                tags=["imported"],
                actor=ACTOR,
            )
            for i in range(start, min(start + PER_SAVE, CONTACTS))
        ]
        crm.save(*batch, actor=ACTOR)
        contacts.extend(batch)
    note = 0
    while crm.head_position() < EVENTS:
        chosen = rng.sample(contacts, min(PER_SAVE, len(contacts)))
        for contact in chosen:
            for _ in range(rng.randint(1, 3)):
                roll = rng.random()
                if contact.archived:
                    contact.restore(actor=ACTOR)
                elif roll < 0.4:
                    contact.update(actor=ACTOR, tags=["imported", f"t{rng.randint(0, 9)}"])
                elif roll < 0.8:
                    note += 1
                    contact.add_note(
                        actor=ACTOR, text=f"note {note}", note_id=uuid.uuid4(), at=_now()
                    )
                else:
                    contact.archive(actor=ACTOR)
        crm.save(*chosen, actor=ACTOR)
    with crm.db.transaction(write=False) as tx:
        return int(tx.scalar("SELECT count(*) FROM crm_events"))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


class ContactsView(PostgresTrackingRecorder):
    """The library's materialised view: our projection's SQL plus its tracking row, one
    event per transaction."""

    mapper: ClassVar[Mapper[Any]]

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.projection = ContactsProjection(self.mapper)
        self.applied = 0

    def apply(self, event: Any, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self.projection.apply_batch(Tx(curs, "postgres"), [(event, tracking.notification_id)])
            self._insert_tracking(curs, tracking)
        self.applied += 1


class LibraryContacts(Projection[ContactsView]):
    """An eventsourcing ``Projection`` feeding the view."""

    name = "bench_contacts"
    topics = contact_topics()

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.apply(domain_event, tracking)


class BenchCrm(CrmApplication):
    """``CrmApplication`` constructed the library's way (from `env` only)."""

    name = CrmApplication.name  # the same events table
    settings_for_runner: ClassVar[Settings]

    def __init__(self, env: Any = None) -> None:
        super().__init__(self.settings_for_runner, env)


def baseline(crm: CrmApplication, settings: Settings) -> tuple[int, float]:
    """The library's ProjectionRunner over the first BASELINE_EVENTS events."""
    first = crm.recorder.select_notifications(0, BASELINE_EVENTS, topics=list(contact_topics()))
    last_id = first[-1].id
    with crm.db.transaction() as tx:  # our projection's table, for the library's view
        for statement in ContactsProjection(crm.mapper).ddl("postgres"):
            tx.execute(statement)
    ContactsView.mapper = crm.mapper
    BenchCrm.settings_for_runner = settings
    env = event_store_env(settings)
    env.pop("APPLICATION_RECORDER_TOPIC")
    started = time.perf_counter()
    with ProjectionRunner(
        application_class=BenchCrm,
        projection_class=LibraryContacts,
        view_class=ContactsView,
        env=env,
    ) as runner:
        runner.wait(last_id, timeout=120)
        elapsed = time.perf_counter() - started
        done = runner.projection.view.applied
    return done, elapsed


def main() -> None:
    server = os.environ.get("CRM_BENCH_POSTGRES_URL")
    if not server:
        print("needs CRM_BENCH_POSTGRES_URL (a PostgreSQL server URL)", file=sys.stderr)
        sys.exit(2)
    with fresh_database(server) as url, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=url, data_dir=Path(tmp))
        crm = CrmApplication(settings)
        started = time.perf_counter()
        events = generate(crm)
        made = time.perf_counter() - started
        print(f"generated {events:,} contact events in {made:.1f} s ({events / made:,.0f}/s)")

        base_done, base_seconds = baseline(crm, settings)
        base_rate = base_done / base_seconds
        print(
            f"  library ProjectionRunner, 1 event/transaction: {base_done:,} events in"
            f" {base_seconds:.1f} s = {base_rate:,.0f} events/s (baseline)"
        )
        with crm.db.transaction() as tx:
            tx.execute("DELETE FROM proj_contacts")  # the rebuild starts from nothing

        job = Rebuild(crm, ContactsProjection(crm.mapper), batch_size=BATCH, workers=WORKERS)
        started = time.perf_counter()
        live_at = job.run()
        seconds = time.perf_counter() - started
        with crm.db.transaction(write=False) as tx:
            rows = tx.scalar("SELECT count(*) FROM proj_contacts")
        rate = events / seconds
        print(
            f"  crm-ledger rebuild contacts (batch {BATCH}, {WORKERS} workers):"
            f" {events:,} events in {seconds:.1f} s = {rate:,.0f} events/s;"
            f" ratio {rate / base_rate:,.1f}x"
        )
        print(f"  swapped in at position {live_at:,}; {rows:,} contact rows")
        print("  target: >= 30,000 events/s")
        crm.close()


if __name__ == "__main__":
    main()
