"""Ledgered single-event commands from 16 concurrent writers, with group commit.

Each writer thread registers contacts one command at a time (one event per save) for a
fixed time. Three runs, each on a fresh database:

* baseline: the library's default recorder (a plain eventsourcing ``Application`` with the
  same ``Contact`` aggregate, no ledger, one transaction per save);
* ours without group commit (``CRM_GROUP_COMMIT=false``), for reference;
* ours: the ledger recorder with group commit (the default).

Prints events/s for each and the ratio of ours to the baseline (targets: >= 5,000
events/s and >= 10x the baseline). PostgreSQL when CRM_BENCH_POSTGRES_URL is set (a server
URL; fresh databases are created and dropped), SQLite otherwise (also printed).

On PostgreSQL the 16 writers are laid out two ways: all in one process, and half in
each of two processes, as ``crm-ledger serve --workers 2`` serves requests (each process
group-commits its own writers' saves; the processes share one chain through the table
lock). ``CRM_BENCH_LAYOUTS`` picks them (default ``1,2``: numbers of processes).

The writers are threads (each calls ``save``, as a sync endpoint in the thread pool
does), then coroutines on one event loop per process (each awaits ``store_async``, as
``POST /contacts`` does; `crm_ledger.storage.group_commit`). The library has no
coroutine API: its coroutine writers hand each save to a pool of as many threads as
writers. The baseline and ours always run with the same writers in the same layout.
``CRM_BENCH_WRITER_KINDS`` picks them (default ``threads,coroutines``).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
LAYOUTS = [int(n) for n in os.environ.get("CRM_BENCH_LAYOUTS", "1,2").split(",")]
KINDS = os.environ.get("CRM_BENCH_WRITER_KINDS", "threads,coroutines").split(",")


class PlainApplication(Application[uuid.UUID]):
    """The library's defaults: its own recorder, no ledger."""

    name = "plain"


def hammer(command: Callable[[int], None], writers: int = WRITERS) -> tuple[int, float]:
    """Run `command` from `writers` threads for SECONDS; return (commands done, seconds)."""
    counts = [0] * writers
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

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(writers)]
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


def hammer_async(command: Callable[[int], Awaitable[None]], writers: int) -> tuple[int, float]:
    """`hammer` with `writers` coroutines on one event loop."""

    async def run() -> tuple[int, float]:
        counts = [0] * writers
        stop = asyncio.Event()

        async def loop(slot: int) -> None:
            while not stop.is_set():
                await command(slot)
                counts[slot] += 1

        started = time.perf_counter()
        tasks = [asyncio.create_task(loop(i)) for i in range(writers)]
        await asyncio.sleep(SECONDS)
        stop.set()
        await asyncio.gather(*tasks)
        return sum(counts), time.perf_counter() - started

    return asyncio.run(run())


def new_contact(slot: int) -> Contact:
    return Contact.register(
        kind="person", name=f"Writer {slot}", emails=[f"w{slot}@example.com"], actor="bench"
    )


def register(app: Application[uuid.UUID], **save: Any) -> Callable[[int], None]:
    def command(slot: int) -> None:
        app.save(new_contact(slot), **save)

    return command


def register_async(
    app: Application[uuid.UUID], executor: ThreadPoolExecutor
) -> Callable[[int], Awaitable[None]]:
    """The library's save from a coroutine: on a thread of `executor`."""

    async def command(slot: int) -> None:
        contact = new_contact(slot)
        await asyncio.get_running_loop().run_in_executor(executor, app.save, contact)

    return command


def store_async(crm: CrmApplication) -> Callable[[int], Awaitable[None]]:
    async def command(slot: int) -> None:
        await crm.store_async(new_contact(slot), actor="system:bench")

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


def plain_app(url: str, tmp: str, *, create: bool = True) -> PlainApplication:
    """The library's default application and recorder on `url` (not `create`: its tables
    exist already; two processes creating them at once can fail with "tuple
    concurrently updated", as the library takes no lock for it, unlike ours)."""
    env = event_store_env(settings_for(url, tmp, True))
    env.pop("APPLICATION_RECORDER_TOPIC")
    env.pop("POSTGRES_ENABLE_DB_FUNCTIONS", None)
    if not create:
        env["CREATE_TABLE"] = "n"
    return PlainApplication(env=env)


def measured(
    kind: str, url: str, tmp: str, writers: int, coroutines: bool, *, create: bool = True
) -> tuple[int, float, float]:
    """Run the writers (threads, or `coroutines`) on a new application of `kind`
    ("plain", "ledger" without group commit, "grouped"); return (commands, seconds, mean
    group size)."""
    if kind == "plain":
        plain = plain_app(url, tmp, create=create)
        if coroutines:
            with ThreadPoolExecutor(writers) as executor:
                n, s = hammer_async(register_async(plain, executor), writers)
        else:
            n, s = hammer(register(plain), writers)
        plain.close()
        return n, s, 1.0
    crm = CrmApplication(settings_for(url, tmp, kind == "grouped"))
    if coroutines:
        n, s = hammer_async(store_async(crm), writers)
    else:
        n, s = hammer(register(crm, actor="system:bench"), writers)
    group = crm.recorder.group  # type: ignore[attr-defined]
    crm.close()
    return n, s, group.grouped_saves / max(group.groups, 1)


def _child(
    kind: str, url: str, tmp: str, writers: int, coroutines: bool, start: Any, out: Any
) -> None:
    start.wait()  # every process starts writing at once
    out.put(measured(kind, url, tmp, writers, coroutines, create=False))


def in_processes(
    kind: str, url: str, tmp: str, processes: int, coroutines: bool
) -> tuple[float, float]:
    """WRITERS writers spread over `processes` processes (started fresh, the tables made
    first by this one); return (events/s over all, mean group size)."""
    if processes == 1:
        n, s, mean_group = measured(kind, url, tmp, WRITERS, coroutines)
        return n / s, mean_group
    if kind == "plain":
        plain_app(url, tmp).close()
    else:
        CrmApplication(settings_for(url, tmp, True)).close()
    spawn = multiprocessing.get_context("spawn")
    start, out = spawn.Barrier(processes), spawn.Queue()
    children = [
        spawn.Process(
            target=_child, args=(kind, url, tmp, WRITERS // processes, coroutines, start, out)
        )
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    results = [out.get(timeout=SECONDS + 120) for _ in children]
    for child in children:
        child.join()
    total = sum(n for n, _, _ in results)
    return total / max(s for _, s, _ in results), sum(g for _, _, g in results) / processes


def run(kind: str, server: str | None, processes: int, writers: str) -> None:
    coroutines = writers == "coroutines"
    runs = [("ledger, no group commit", "ledger")] if processes == 1 and not coroutines else []
    runs.append(("ledger + group commit", "grouped"))
    with databases(server) as fresh, tempfile.TemporaryDirectory() as tmp:
        base, _ = in_processes("plain", fresh(), tmp, processes, coroutines)
        figures = {label: in_processes(k, fresh(), tmp, processes, coroutines) for label, k in runs}
        layout = (
            f"{WRITERS} {writers}"
            if processes == 1
            else f"{WRITERS} writers in {processes} processes of {WRITERS // processes} {writers}"
        )
        print(f"{kind}: {layout}, {SECONDS:.0f} s each, one event per command")
        print(f"  library default recorder   {base:>8,.0f} events/s (baseline, same layout)")
        for label, (rate, mean_group) in figures.items():
            print(
                f"  {label:<26} {rate:>8,.0f} events/s  ratio {rate / base:5.2f}x"
                f"  mean group {mean_group:4.1f}"
            )
        if server is not None:
            print("  targets: >= 5,000 events/s and >= 10x the baseline")


def main() -> None:
    server = os.environ.get("CRM_BENCH_POSTGRES_URL")
    if server:
        for writers in KINDS:
            for processes in LAYOUTS:
                run("PostgreSQL", server, processes, writers)
    else:
        print("PostgreSQL: skipped (set CRM_BENCH_POSTGRES_URL to a server URL)")
    for writers in KINDS:
        run("SQLite", None, 1, writers)


if __name__ == "__main__":
    main()
