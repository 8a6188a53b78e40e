"""Ledgered single-event commands from 16 concurrent writers, with group commit.

Each writer thread registers contacts one command at a time (one event per save) for a
fixed time. Three runs in the same process, each on a fresh database:

* baseline: the library's default recorder (a plain eventsourcing ``Application`` with the
  same ``Contact`` aggregate, no ledger, one transaction per save);
* ours without group commit (``CRM_GROUP_COMMIT=false``), for reference;
* ours: the ledger recorder with group commit (the default).

Prints events/s for each and the ratio of ours to the baseline (targets: >= 5,000
events/s and >= 10x the baseline). PostgreSQL when CRM_BENCH_POSTGRES_URL is set (a server
URL; fresh databases are created and dropped), SQLite otherwise (also printed).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.application import Application

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.settings import Settings
from crm_ledger.storage.database import event_store_env

WRITERS = int(os.environ.get("CRM_BENCH_WRITERS", "16"))
SECONDS = float(os.environ.get("CRM_BENCH_SECONDS", "6"))


class PlainApplication(Application[uuid.UUID]):
    """The library's defaults: its own recorder, no ledger."""

    name = "plain"


def hammer(command: Callable[[int], None]) -> tuple[int, float]:
    """Run `command` from WRITERS threads for SECONDS; return (commands done, seconds)."""
    counts = [0] * WRITERS
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop(slot: int) -> None:
        try:
            while not stop.is_set():
                command(slot)
                counts[slot] += 1
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(WRITERS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return sum(counts), elapsed


def register(app: Application[uuid.UUID], **save: Any) -> Callable[[int], None]:
    def command(slot: int) -> None:
        contact = Contact.register(
            kind="person", name=f"Writer {slot}", emails=[f"w{slot}@example.com"], actor="bench"
        )
        app.save(contact, **save)

    return command


@contextmanager
def databases(server: str | None) -> Iterator[Callable[[], str]]:
    """Yield a factory of fresh database URLs (dropped at the end)."""
    made: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:

        def fresh() -> str:
            name = f"bench_{uuid.uuid4().hex[:12]}"
            made.append(name)
            if server is None:
                return f"sqlite:///{tmp}/{name}.db"
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {name}")
            return f"{server.rsplit('/', 1)[0]}/{name}"

        try:
            yield fresh
        finally:
            if server is not None:
                with psycopg.connect(server, autocommit=True) as conn:
                    for name in made:
                        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def settings_for(url: str, tmp: str, group_commit: bool) -> Settings:
    return Settings(
        database_url=url,
        data_dir=tmp,  # type: ignore[arg-type]
        group_commit=group_commit,
        pool_size=WRITERS + 4,
    )


def run(kind: str, server: str | None) -> None:
    with databases(server) as fresh, tempfile.TemporaryDirectory() as tmp:
        env = event_store_env(settings_for(fresh(), tmp, True))
        env.pop("APPLICATION_RECORDER_TOPIC")
        env.pop("POSTGRES_ENABLE_DB_FUNCTIONS", None)
        plain = PlainApplication(env=env)
        base_n, base_s = hammer(register(plain))
        plain.close()
        figures = {}
        for label, grouped in (("ledger, no group commit", False), ("ledger + group commit", True)):
            crm = CrmApplication(settings_for(fresh(), tmp, grouped))
            n, s = hammer(register(crm, actor="system:bench"))
            group = crm.recorder.group  # type: ignore[attr-defined]
            figures[label] = (n / s, group.grouped_saves / max(group.groups, 1))
            crm.close()
        base = base_n / base_s
        print(f"{kind}: {WRITERS} writers, {SECONDS:.0f} s each, one event per command")
        print(f"  library default recorder   {base:>8,.0f} events/s (baseline)")
        for label, (rate, mean_group) in figures.items():
            print(
                f"  {label:<26} {rate:>8,.0f} events/s  ratio {rate / base:5.2f}x"
                f"  mean group {mean_group:4.1f}"
            )
        print("  targets (PostgreSQL): >= 5,000 events/s and >= 10x the baseline")


def main() -> None:
    server = os.environ.get("CRM_BENCH_POSTGRES_URL")
    if server:
        run("PostgreSQL", server)
    else:
        print("PostgreSQL: skipped (set CRM_BENCH_POSTGRES_URL to a server URL)")
    run("SQLite", None)


if __name__ == "__main__":
    main()
