"""Where a bulk import stores its batches: a thread of the importing process, or a
process of its own.

The import builds the next batches while earlier ones are stored, one batch at a time,
in file order (`crm_ledger.imports`). In a thread, building and storing share one
interpreter lock, so they take turns: about 16,000-18,000 contacts/s on two cores. In a
process of its own (a fresh interpreter started with ``spawn``, with its own connection
and the same settings), storing runs beside building instead: about 21,000-24,000
contacts/s on the same machine (docs/performance.md). Starting that process costs about
half a second, so it is only worth it for large files and with more than one core;
`worth_a_process` decides. It is started as the import begins, and the import sends it
up to `crm_ledger.imports.PROCESS_DEPTH` batches ahead, so the first batches are built
while it starts.

The storing process ignores SIGINT: when the import is interrupted, the batches already
sent still finish (each committed or rolled back whole) and are counted, as in a thread.
If the importing process dies, the storing one finishes its batch and exits when it
finds its work queue closed. If the storing process dies, the import stops with
`concurrent.futures.process.BrokenProcessPool` (the CLI: exit 7); what it committed
stays, and a rerun resumes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from multiprocessing import util
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from crm_ledger.application import CrmApplication
from crm_ledger.contact_registrations import store_registrations
from crm_ledger.settings import Settings
from crm_ledger.storage.database import sqlite_path

#: Files at least this large (about 20,000 contacts) are stored by a process of their own.
PROCESS_MIN_BYTES = 2_000_000

#: Stores `events` attributed to `actor` (in one transaction); the future answers how many
#: were new.
Submit = Callable[[Sequence[StoredEvent], str], "Future[int]"]
#: A stored event as sent to the storing process: (originator id bytes, version, topic,
#: state). Plain bytes, ints and strings pickle at C speed; a UUID would not.
_Row = tuple[bytes, int, str, bytes]

_app: CrmApplication | None = None  # the storing process's application
_failure: Exception | None = None  # why it could not be opened


def worth_a_process(crm: CrmApplication, path: Path) -> bool:
    """Whether to store the import of `path` in a process of its own: a file of
    `PROCESS_MIN_BYTES` or more, more than one core, and a database another process can
    open (not an in-memory SQLite one)."""
    url = crm.settings.database_url
    shared = not url.startswith("sqlite:") or ":memory:" not in sqlite_path(url)
    return shared and (os.cpu_count() or 1) > 1 and path.stat().st_size >= PROCESS_MIN_BYTES


@contextmanager
def batch_storing(crm: CrmApplication, *, in_process: bool) -> Iterator[Submit]:
    """Yield a `Submit` storing batches one at a time, in the order submitted: in a
    thread of this process, or (`in_process`) in a process of its own; both stop once
    the last batch is stored."""
    if not in_process:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import") as thread:

            def in_thread(events: Sequence[StoredEvent], actor: str) -> Future[int]:
                return thread.submit(store_registrations, crm, events, actor=actor)

            yield in_thread
        return
    with ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_open,
        initargs=(crm.settings, crm.env_override),
    ) as process:
        process.submit(_ready)  # start it now, while the first batches are being built

        def in_process_(events: Sequence[StoredEvent], actor: str) -> Future[int]:
            return process.submit(_store, [_row(e) for e in events], actor)

        yield in_process_


def _row(event: StoredEvent) -> _Row:
    originator = event.originator_id
    uuid = originator if isinstance(originator, UUID) else UUID(str(originator))
    return uuid.bytes, event.originator_version, event.topic, event.state


def _open(settings: Settings, env: dict[str, str]) -> None:
    """In the storing process: open the application (closed when the process exits).
    If it cannot be opened (the database is down, say), the first batch raises why, as
    it would in a thread; an initializer that raised would only break the pool."""
    global _app, _failure
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the importing process decides
    try:
        _app = CrmApplication(settings, env=env)
    except Exception as exc:
        _failure = exc
        return
    util.Finalize(None, _app.close, exitpriority=10)


def _ready() -> None:
    """Nothing: submitted first, so that the storing process starts at once."""


def _store(rows: list[_Row], actor: str) -> int:
    """In the storing process: store one batch; how many of its events were new."""
    if _app is None:
        raise _failure or RuntimeError("the storing process was not initialised")
    events = [
        StoredEvent(UUID(bytes=i), version, topic, state) for i, version, topic, state in rows
    ]
    return store_registrations(_app, events, actor=actor)
