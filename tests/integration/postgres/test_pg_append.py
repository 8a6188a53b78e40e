"""The one-round-trip append (crm_ledger.storage.pg_append) on a real PostgreSQL.

The group leader builds ledger rows on the head it remembers; the server function must
refuse them whenever that head is stale (another process wrote, the id sequence moved)
and store nothing, and the recorder must then rebuild on the real head. Each case ends
with the whole log verified from the database.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError
from psycopg.rows import dict_row

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.settings import Settings
from crm_ledger.storage.keystore import KeyStore
from crm_ledger.storage.pg_append import ATTEMPTS, MISS_WEIGHT, PROBE_EVERY, Head
from crm_ledger.verification import run_verification


def _app(url: str, tmp_path: Path) -> CrmApplication:
    return CrmApplication(Settings(database_url=url, data_dir=tmp_path, pool_size=4))


def _register(crm: CrmApplication, name: str) -> Contact:
    contact = Contact.register(kind="person", name=name, actor="user:test")
    crm.save(contact, actor="user:test")
    return contact


def _counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        events = conn.execute("SELECT count(*) FROM crm_events").fetchone()
        entries = conn.execute("SELECT count(*) FROM ledger_entries").fetchone()
    assert events is not None
    assert entries is not None
    return int(events[0]), int(entries[0])


def _verified(url: str, tmp_path: Path) -> int:
    KeyStore(tmp_path / "keys").ensure_key()
    report, _ = run_verification(
        bundle=None,
        database=url,
        keys_path=None,
        anchors=None,
        state_path=None,
        data_dir=str(tmp_path),
        as_json=True,
        progress=None,
    )
    assert report.findings == []
    return report.count


def _seqs(url: str) -> list[tuple[int, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT e.notification_id, l.seq FROM crm_events e"
            " FULL JOIN ledger_entries l ON l.seq = e.notification_id ORDER BY 1"
        ).fetchall()
    return [(int(a), int(b)) for a, b in rows]


def test_two_writers_interleaving_miss_and_recover(fresh_postgres_url: str, tmp_path: Path) -> None:
    """Two applications (as two processes would) alternate: each write finds the other's
    head, the function refuses the stale rows, and the next call appends on the head the
    first reported, without the locked path."""
    first, second = _app(fresh_postgres_url, tmp_path), _app(fresh_postgres_url, tmp_path)
    for i in range(10):
        _register(first, f"A{i}")
        _register(second, f"B{i}")
    appenders = [first.recorder.appender, second.recorder.appender]  # type: ignore[attr-defined]
    assert sum(a.misses for a in appenders) >= 19  # each write after the first missed once
    assert [a.locked for a in appenders] == [0, 0]
    assert not any(a.likely_stale() for a in appenders)
    assert _counts(fresh_postgres_url) == (20, 20)
    assert all(event == entry for event, entry in _seqs(fresh_postgres_url))
    assert _verified(fresh_postgres_url, tmp_path) == 20
    first.close()
    second.close()


def test_a_burned_sequence_value_moves_the_next_ids_past_it(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    """A rolled-back insert leaves the id sequence ahead of the log: the next ids follow
    the sequence (never reusing a value handed out), as the library's INSERT would."""
    crm = _app(fresh_postgres_url, tmp_path)
    _register(crm, "Before")
    with psycopg.connect(fresh_postgres_url) as conn:
        conn.execute("SELECT nextval('crm_events_notification_id_seq')")
        conn.execute("SELECT nextval('crm_events_notification_id_seq')")
    _register(crm, "After")
    assert [event for event, _ in _seqs(fresh_postgres_url)] == [1, 4]
    assert crm.recorder.appender.misses == 1  # type: ignore[attr-defined]
    _register(crm, "Next")  # the library's own INSERT would now draw 5
    assert [event for event, _ in _seqs(fresh_postgres_url)] == [1, 4, 5]
    with psycopg.connect(fresh_postgres_url) as conn:
        drawn = conn.execute("SELECT nextval('crm_events_notification_id_seq')").fetchone()
    assert drawn == (6,)
    assert _verified(fresh_postgres_url, tmp_path) == 3
    crm.close()


@pytest.mark.parametrize(
    "stale",
    [
        pytest.param({"index": 5}, id="leaf-index"),
        pytest.param({"leaf": b"\x01" * 32}, id="leaf-hash"),
        pytest.param({"next_seq": 9}, id="notification-id"),
    ],
)
def test_the_function_refuses_rows_built_on_a_stale_head(
    fresh_postgres_url: str, tmp_path: Path, stale: dict[str, Any]
) -> None:
    """Hand the leader a wrong head: the function stores nothing for the stale rows and
    reports the real head; the rebuilt rows then chain correctly."""
    crm = _app(fresh_postgres_url, tmp_path)
    _register(crm, "First")
    appender = crm.recorder.appender  # type: ignore[attr-defined]
    real: Head = appender.head
    appender.head = Head(
        stale.get("index", real.index),
        stale.get("leaf", real.leaf),
        real.recorded_at,
        stale.get("next_seq", real.next_seq),
    )
    conn = psycopg.connect(fresh_postgres_url, autocommit=True, row_factory=dict_row)
    contact = Contact.register(kind="person", name="Stale", actor="user:test")
    stored = [crm.mapper.to_stored_event(e) for e in contact.collect_events()]
    assert appender.append(conn, crm.origin, stored, ["user:test"]) is None
    assert _counts(fresh_postgres_url) == (1, 1)  # nothing of the stale rows was stored
    assert appender.head == real
    assert appender.append(conn, crm.origin, stored, ["user:test"]) == [2]
    conn.close()
    assert _verified(fresh_postgres_url, tmp_path) == 2
    crm.close()


@pytest.mark.parametrize("path", ["one-round-trip", "locked"])
def test_a_conflict_stores_nothing_and_the_next_write_chains(
    fresh_postgres_url: str, tmp_path: Path, path: str
) -> None:
    """A duplicate aggregate version is the library's IntegrityError on either path (the
    locked one pipelines the head read before the INSERT, so nothing is queued after the
    failing statement), nothing is stored, and the next write chains on."""
    crm = _app(fresh_postgres_url, tmp_path)
    appender = crm.recorder.appender  # type: ignore[attr-defined]
    contact = _register(crm, "Shared")
    if path == "locked":
        appender.miss_rate = 1.0  # as if other processes kept writing: locked path first
    one, two = crm.repository.get(contact.id), crm.repository.get(contact.id)
    one.update(name="One", actor="user:1")
    two.update(name="Two", actor="user:2")
    crm.save(one, actor="user:1")
    with pytest.raises(IntegrityError):
        crm.save(two, actor="user:2")
    assert _counts(fresh_postgres_url) == (2, 2)
    assert appender.likely_stale() == (path == "locked")
    _register(crm, "After the conflict")
    assert _verified(fresh_postgres_url, tmp_path) == 3
    crm.close()


def test_without_group_commit_concurrent_saves_use_their_own_connections(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    """With CRM_GROUP_COMMIT=false saves arrive at the recorder concurrently; they must not
    share the group leader's connection (psycopg refuses nested use of one connection)."""
    crm = CrmApplication(
        Settings(database_url=fresh_postgres_url, data_dir=tmp_path, group_commit=False)
    )
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                _register(crm, f"W{n}-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert _counts(fresh_postgres_url) == (120, 120)
    assert _verified(fresh_postgres_url, tmp_path) == 120
    crm.close()


def test_a_head_moving_at_every_call_goes_to_the_locked_path(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    """Another writer moves the head before each of this writer's calls: every call
    misses, the group is written on the locked path all the same, and after a few such
    groups the locked path goes first."""
    crm, other = _app(fresh_postgres_url, tmp_path), _app(fresh_postgres_url, tmp_path)
    appender = crm.recorder.appender  # type: ignore[attr-defined]
    call = appender.append
    moved = 0

    def contended(*args: Any) -> list[int] | None:
        nonlocal moved
        moved += 1
        _register(other, f"Other {moved}")
        return call(*args)  # type: ignore[no-any-return]

    appender.append = contended
    for i in range(5):
        _register(crm, f"Mine {i}")
    assert moved == 4 * ATTEMPTS  # every call for each of the first four groups, none after
    assert appender.misses == 4 * ATTEMPTS
    assert appender.locked == 5
    assert appender.likely_stale()
    assert _counts(fresh_postgres_url) == (5 + moved, 5 + moved)
    assert _verified(fresh_postgres_url, tmp_path) == 5 + moved
    crm.close()
    other.close()


def test_the_locked_path_first_still_probes_the_calls(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    """With the locked path going first, every PROBE_EVERY-th group tries the calls; when
    nobody else writes they succeed, and the locked path stops going first."""
    crm = _app(fresh_postgres_url, tmp_path)
    appender = crm.recorder.appender  # type: ignore[attr-defined]
    _register(crm, "First")
    appender.miss_rate = 1.0
    for i in range(PROBE_EVERY):
        _register(crm, f"Locked {i}")
    assert appender.locked == PROBE_EVERY - 1
    assert appender.miss_rate == pytest.approx(1 - MISS_WEIGHT)
    for i in range(4 * PROBE_EVERY):
        _register(crm, f"Later {i}")
    assert not appender.likely_stale()
    assert _verified(fresh_postgres_url, tmp_path) == 1 + 5 * PROBE_EVERY
    crm.close()
