"""Bulk contact import: ``crm_ledger.imports`` against the plain library, same run.

Generates a CSV of N contacts (CRM_BENCH_IMPORT_N, default 50,000) and, on a fresh
database each:

* baseline: a plain eventsourcing ``Application`` (the library's default recorder, no
  ledger) saving the same contacts (``Contact.register`` from the same rows, read with the
  csv module) in batches of the same size, one ``save(*batch)`` per batch;
* ours: ``import_contacts`` (file hash, CSV, the ``POST /contacts`` rules, the aggregate's
  rules, deterministic ids, one transaction per batch with the ledger on: the events as
  the normal write path stores them, written without building aggregates; COPY on
  PostgreSQL; the next batch is read while one is stored, by a process of its own for a
  file this large on more than one core, see ``crm_ledger.import_storing``);
* ours again with the batches stored by a thread of the importing process (as files
  under 2 MB are), to show what the storing process brings.

Also times ours without storing (parse + validate + build only), to show where time
goes. Prints contacts/s and the ratio ours / baseline; target from the issue: >= 20,000
contacts/s on PostgreSQL. PostgreSQL when CRM_BENCH_POSTGRES_URL is set (a server URL;
fresh databases are created and dropped), SQLite always. Batch size: CRM_BENCH_BATCH
(default 2000, what ``crm-ledger import contacts`` uses). ``CRM_BENCH_ONLY=ours`` runs
just our import (for py-spy).
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any
from unittest import mock

import psycopg
from eventsourcing.application import Application

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.imports import ImportSummary, check_header, import_contacts, row_fields
from crm_ledger.settings import Settings
from crm_ledger.storage.database import event_store_env

N = int(os.environ.get("CRM_BENCH_IMPORT_N", "50000"))
BATCH = int(os.environ.get("CRM_BENCH_BATCH", "2000"))  # the CLI's --batch-size default
ONLY = os.environ.get("CRM_BENCH_ONLY", "")
TARGET = 20_000
HEADER = ["kind", "name", "emails", "phones", "tax_id", "tags", "owner"]


class PlainApplication(Application[uuid.UUID]):
    """The library's defaults: its own recorder, no ledger."""

    name = "plain"


def write_csv(path: Path, n: int) -> None:
    """N contacts, about a third organisations, with lists of emails and tags."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for i in range(n):
            if i % 3 == 0:
                emails, tax_id = f"info@c{i}.example", f"B{i:08d}"
                out.writerow(
                    ["organisation", f"Company {i} SL", emails, "", tax_id, "customer;es", "ana"]
                )
            else:
                emails = f"p{i}@example.com;P{i}@Work.example"
                phone = f"+34 600 {i % 1000:03d} {i % 997:03d}"
                out.writerow(["person", f"Person Number {i}", emails, phone, "", "lead", ""])


def settle(conn: psycopg.Connection[Any]) -> None:
    """Flush the server's dirty pages before a run (``CHECKPOINT``, then a second's rest),
    so that no run pays for writing back the previous run's rows: measured on
    2026-11-27, our import ran at ~16,800 contacts/s right after the baseline's 50,000
    rows and ~21,000-22,000/s after a checkpoint. Needs a superuser (or the
    ``pg_checkpoint`` role); without one, runs go unsettled (printed)."""
    try:
        conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        print("  (no CHECKPOINT privilege: runs are not settled)")
        return
    time.sleep(1)


@contextmanager
def databases(server: str | None, tmp: str) -> Iterator[Callable[[], str]]:
    """Yield a factory of fresh database URLs (PostgreSQL ones dropped at the end)."""
    made: list[str] = []

    def fresh() -> str:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        made.append(name)
        if server is None:
            return f"sqlite:///{tmp}/{name}.db"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
            settle(conn)
        return f"{server.rsplit('/', 1)[0]}/{name}"

    try:
        yield fresh
    finally:
        if server is not None:
            with psycopg.connect(server, autocommit=True) as conn:
                for name in made:
                    conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def baseline(url: str, tmp: str, source: Path) -> float:
    """Seconds for the plain application to save the file's contacts in batches."""
    env = event_store_env(Settings(database_url=url, data_dir=tmp))  # type: ignore[arg-type]
    env.pop("APPLICATION_RECORDER_TOPIC")
    app = PlainApplication(env=env)
    started = time.perf_counter()
    with source.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = check_header(next(reader))
        batch: list[Contact] = []
        for values in reader:
            batch.append(Contact.register(actor="system:bench", **row_fields(header, values)))
            if len(batch) >= BATCH:
                app.save(*batch)
                batch = []
        app.save(*batch)
    seconds = time.perf_counter() - started
    app.close()
    return seconds


def ours(
    url: str, tmp: str, source: Path, *, store: bool = True, store_process: bool | None = None
) -> float:
    """Seconds for ``import_contacts`` (checks that every event has its ledger entry)."""
    crm = CrmApplication(Settings(database_url=url, data_dir=tmp))  # type: ignore[arg-type]
    summary = ImportSummary()
    patch: Any = (
        nullcontext()
        if store
        else mock.patch(
            "crm_ledger.import_storing.store_registrations",
            lambda _c, events, actor: len(events),
        )
    )
    started = time.perf_counter()
    with patch:
        import_contacts(
            crm,
            source,
            actor="system:bench",
            rejects=Path(tmp) / "rejects.csv",
            batch_size=BATCH,
            summary=summary,
            store_process=store_process if store else False,  # a dry run stores nothing
        )
    seconds = time.perf_counter() - started
    assert summary.imported == N, summary.line
    if store:
        table = crm.recorder.events_table_name  # type: ignore[attr-defined]
        with crm.db.transaction(write=False) as tx:
            events = int(tx.scalar(f"SELECT COUNT(*) FROM {table}"))
            entries = crm.ledger_store().size(tx)
        assert events == N, events
        assert entries == events, (events, entries)
    crm.close()
    return seconds


def _load() -> str:
    """The 1/5/15-minute load averages (the machine is shared: read rates with them)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(kind: str, server: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp, databases(server, tmp) as fresh:
        source = Path(tmp) / "contacts.csv"
        write_csv(source, N)
        print(f"{kind}: {N:,} contacts, batches of {BATCH}, load {_load()}")
        if ONLY == "ours":
            seconds = ours(fresh(), tmp, source)
            print(f"  ours                        {N / seconds:>8,.0f} contacts/s")
            return
        base = N / baseline(fresh(), tmp, source)
        seconds = ours(fresh(), tmp, source)
        threaded = N / ours(fresh(), tmp, source, store_process=False)
        dry = ours(fresh(), tmp, source, store=False)
        rate = N / seconds
        print(f"  plain Application, no ledger {base:>8,.0f} contacts/s (baseline)")
        print(f"  ours (import, ledger on)     {rate:>8,.0f} contacts/s  ratio {rate / base:5.2f}x")
        print(
            f"  ours, storing in a thread    {threaded:>8,.0f} contacts/s  ratio"
            f" {threaded / base:5.2f}x  (not in a process of its own)"
        )
        print(
            f"  ours without storing         {N / dry:>8,.0f} contacts/s"
            f"  ({dry / seconds:4.0%} of our time is reading, checking, building)"
        )
        print(f"  target: >= {TARGET:,} contacts/s ({'met' if rate >= TARGET else 'NOT met'})")
        print(f"  load after: {_load()}")


def main() -> None:
    server = os.environ.get("CRM_BENCH_POSTGRES_URL")
    if server:
        run("PostgreSQL", server)
    else:
        print("PostgreSQL: skipped (set CRM_BENCH_POSTGRES_URL to a server URL)")
    if ONLY != "ours" or not server:
        run("SQLite", None)


if __name__ == "__main__":
    main()
