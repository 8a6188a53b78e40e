"""Group commit on a real store: grouped saves keep their own actors, ids and conflicts.

Runs on SQLite and PostgreSQL. Writer threads save contacts concurrently through the
application; with many of them, saves are grouped (the test asserts that groups of more
than one happened, so it cannot pass with grouping silently off), and every ledger envelope
names the actor of the thread that saved it.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from uuid import UUID

import orjson
from eventsourcing.persistence import IntegrityError

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.domain.errors import VersionConflictError
from crm_ledger.settings import Settings
from crm_ledger.storage.checkpoints import CheckpointWriter
from crm_ledger.storage.keystore import KeyStore
from tests.integration.ledger_fixture import verify_database

THREADS = 12
PER_THREAD = 25


def signing_app(database_url: str, tmp_path: Path) -> tuple[CrmApplication, Path]:
    """An application on `database_url` for 16 writers, and its data directory (with a
    signing key, for checkpoints)."""
    data = tmp_path / "data"
    crm = CrmApplication(Settings(database_url=database_url, data_dir=data, pool_size=16))
    KeyStore(data / "keys").ensure_key()
    return crm, data


def save_contacts(crm: CrmApplication, saved: dict[UUID, str], *, name: str, actor: str) -> None:
    """Save `PER_THREAD` contacts (named `name`-0, `name`-1, ...) one by one as `actor`,
    noting each in `saved`."""
    for i in range(PER_THREAD):
        contact = Contact.register(kind="person", name=f"{name}-{i}", actor=actor)
        crm.save(contact, actor=actor)
        saved[contact.id] = actor


def sealed_and_verified(crm: CrmApplication, url: str, data: Path) -> int:
    """Cut a checkpoint of the log, then verify it: the exit code."""
    keys = KeyStore(data / "keys")
    CheckpointWriter(crm.ledger_store(), keys, crm.origin, data / "anchors").cut(force=True)
    return verify_database(url, data)[0]


def test_grouped_saves_keep_actors_and_the_chain_verifies(
    database_url: str, tmp_path: Path
) -> None:
    crm, data = signing_app(database_url, tmp_path)
    saved: dict[UUID, str] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def writer(n: int) -> None:
        try:
            start.wait()
            save_contacts(crm, saved, name=f"W{n}", actor=f"user:{n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[0]
    group = crm.recorder.group  # type: ignore[attr-defined]
    assert group.groups > 0  # grouping happened
    assert group.grouped_saves > group.groups

    envelopes = [orjson.loads(e.canonical) for e in crm.ledger_store().entries()]
    assert len(envelopes) == THREADS * PER_THREAD
    assert [e["seq"] for e in envelopes] == sorted(e["seq"] for e in envelopes)
    actors = {UUID(e["aggregate_id"]): e["actor"] for e in envelopes}
    assert actors == saved

    assert sealed_and_verified(crm, database_url, data) == 0
    crm.close()


def test_conflicting_saves_of_one_version_have_exactly_one_winner(
    database_url: str, tmp_path: Path
) -> None:
    """Many threads update the same contact version at once: one wins, the rest conflict."""
    crm = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path, pool_size=16))
    contact = Contact.register(kind="person", name="Shared", actor="user:0")
    crm.save(contact, actor="user:0")
    outcomes: list[str] = []
    start = threading.Barrier(THREADS)

    def writer(n: int) -> None:
        mine = crm.repository.get(contact.id)
        mine.update(name=f"Name {n}", actor=f"user:{n}")
        start.wait()
        try:
            crm.save(mine, actor=f"user:{n}")
            outcomes.append(f"user:{n}")
        except IntegrityError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [o for o in outcomes if o != "conflict"]
    assert len(outcomes) == THREADS
    assert len(winners) == 1
    latest = crm.repository.get(contact.id)
    assert latest.version == 2
    assert latest.name == f"Name {winners[0].split(':')[1]}"
    envelopes = [orjson.loads(e.canonical) for e in crm.ledger_store().entries()]
    assert [e["actor"] for e in envelopes] == ["user:0", winners[0]]
    crm.close()


def test_coroutine_and_thread_saves_share_one_chain(database_url: str, tmp_path: Path) -> None:
    """Coroutines (``store_async``, as ``POST /contacts`` saves) and threads (``save``)
    write at once through one application: the coroutines' saves are grouped, every
    envelope names its own caller, and the ledger verifies."""
    crm, data = signing_app(database_url, tmp_path)
    saved: dict[UUID, str] = {}
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            save_contacts(crm, saved, name=f"T{n}", actor=f"user:t{n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    async def coroutines() -> None:
        async def one(n: int) -> None:
            for i in range(PER_THREAD):
                contact = Contact.register(kind="person", name=f"C{n}-{i}", actor=f"user:c{n}")
                await crm.store_async(contact, actor=f"user:c{n}")
                saved[contact.id] = f"user:c{n}"

        await asyncio.gather(*(one(n) for n in range(THREADS)))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    asyncio.run(coroutines())
    for t in threads:
        t.join(120)
    assert not errors, errors[0]
    group = crm.recorder.group  # type: ignore[attr-defined]
    assert group.grouped_saves > group.groups > 0

    envelopes = [orjson.loads(e.canonical) for e in crm.ledger_store().entries()]
    assert len(envelopes) == (THREADS + 4) * PER_THREAD
    assert {UUID(e["aggregate_id"]): e["actor"] for e in envelopes} == saved
    assert sealed_and_verified(crm, database_url, data) == 0
    crm.close()


def test_coroutines_updating_one_version_yield_one_winner(
    database_url: str, tmp_path: Path
) -> None:
    crm = CrmApplication(Settings(database_url=database_url, data_dir=tmp_path / "data"))
    contact = Contact.register(kind="person", name="Shared", actor="user:0")
    crm.save(contact, actor="user:0")

    async def update(n: int) -> str:
        copy = crm.load(Contact, contact.id, "contact")
        copy.update(actor=f"user:{n}", name=f"Name {n}")
        try:
            await crm.store_async(copy, actor=f"user:{n}")
        except VersionConflictError:
            return "conflict"
        return f"Name {n}"

    async def all_at_once() -> list[str]:
        return await asyncio.gather(*(update(n) for n in range(8)))

    outcomes = asyncio.run(all_at_once())
    winners = [o for o in outcomes if o != "conflict"]
    assert len(winners) == 1
    assert outcomes.count("conflict") == 7
    stored = crm.get_contact(contact.id)
    assert stored.version == contact.version + 1
    assert stored.name == winners[0]
    crm.close()
