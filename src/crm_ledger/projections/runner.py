"""Follows the log and applies events to a projection, exactly once, in batches.

Each batch of notifications is applied in one transaction together with the move of
the projection's tracking position; the move is conditional on the position read at
the start (``UPDATE ... WHERE position = ?``), so two runners can never apply the same
event twice: the slower one's transaction is rolled back and it re-reads. On PostgreSQL
the tracking row is locked first (``FOR UPDATE``), so the slower runner waits for the
faster one's commit and backs off before touching the tables. A failing
event stops the runner at that position (``failed``), it is never skipped: the events
before it in its batch are applied (the position stops just before it) and the failure
is recorded in ``projection_failures`` (what ``crm-ledger projections status`` shows)
until a batch moves past it.

Background runners (`start`) are *lazy*: a batch holding no event for the projection
moves the runner's position in memory only, and the tracking row follows at most every
`RECORD_SECONDS` (or with the next batch that applies something), which spares a write
transaction per runner per poll for the many read models a write does not touch. The
position in memory is what reads wait for (`wait_for`); the tracking row may lag behind
it by events that change nothing in the read model. `catch_up` and `run_once` called
directly always record the position they reach.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crm_ledger.projections.base import EventApplyError, Projection
from crm_ledger.storage.sql import Database, DeferredWriteError, Tx

if TYPE_CHECKING:
    from crm_ledger.application import CrmApplication

log = logging.getLogger(__name__)

#: a lazy runner writes its position to the tracking row at least this often while the
#: log moves past it without anything for its read model
RECORD_SECONDS = 5.0

TRACKING_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_tracking"
    " (name TEXT PRIMARY KEY, position {bigint} NOT NULL)"
)
FAILURES_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_failures"
    " (name TEXT PRIMARY KEY, position {bigint} NOT NULL, error TEXT NOT NULL,"
    " failed_at TEXT NOT NULL)"
)


class ProjectionConflictError(Exception):
    """Another runner moved the projection's position first; re-read and retry."""


class ProjectionFailedError(Exception):
    """Applying the event at `position` raised; the projection stopped there."""

    def __init__(self, name: str, position: int, cause: BaseException) -> None:
        super().__init__(f"projection {name!r} failed at position {position}: {cause!r}")
        self.name = name
        self.position = position


def read_position(tx: Tx, name: str) -> int:
    """The projection's tracking position (0 when it has processed nothing)."""
    value = tx.scalar("SELECT position FROM projection_tracking WHERE name = ?", (name,))
    return int(value or 0)


def lock_position(tx: Tx, name: str) -> int:
    """The tracking position, with its row locked until `tx` ends (PostgreSQL): a second
    runner of the same projection waits here, then sees the moved position and backs off
    (ProjectionConflictError) instead of inserting the same rows (a duplicate key).
    SQLite has one writer at a time: the plain read is enough."""
    if tx.dialect != "postgres":
        return read_position(tx, name)
    value = tx.scalar("SELECT position FROM projection_tracking WHERE name = ? FOR UPDATE", (name,))
    return int(value or 0)


def record_failure(db: Database, name: str, position: int, cause: BaseException) -> None:
    """Remember (in its own transaction) that `name` stopped at the event at `position`."""
    error = f"{type(cause).__name__}: {cause}"[:2000]
    at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO projection_failures (name, position, error, failed_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position,"
            " error = excluded.error, failed_at = excluded.failed_at",
            (name, position, error, at),
        )


def apply_tracked(
    tx: Tx,
    projection: Projection,
    items: Sequence[tuple[Any, int]],
    *,
    tracking_name: str,
    start: int,
    end: int,
) -> None:
    """Apply `items` and move `tracking_name` from `start` to `end`, in transaction `tx`.

    Raises ProjectionConflictError when the position is no longer `start` (another
    runner moved it): the caller's transaction must then roll back.
    """
    if lock_position(tx, tracking_name) != start:
        raise ProjectionConflictError(tracking_name)
    projection.apply_batch(tx, items)
    tx.execute(
        "UPDATE projection_tracking SET position = ? WHERE name = ? AND position = ?",
        (end, tracking_name, start),
    )
    if read_position(tx, tracking_name) != end:
        raise ProjectionConflictError(tracking_name)
    tx.execute(
        "DELETE FROM projection_failures WHERE name = ? AND position <= ?", (tracking_name, end)
    )


def decode_batch(
    app: CrmApplication, batch: Sequence[Any]
) -> tuple[list[tuple[Any, int]], tuple[int, BaseException] | None]:
    """Domain events of `batch` with their positions, up to the first that cannot be
    decoded (returned with its position as the failure)."""
    items: list[tuple[Any, int]] = []
    app.mapper.prefetch(n.state for n in batch)  # type: ignore[attr-defined]
    for notification in batch:
        try:
            items.append((app.mapper.to_domain_event(notification), notification.id))
        except Exception as exc:
            return items, (notification.id, exc)
    return items, None


def apply_until_failure(
    db: Database,
    projection: Projection,
    items: list[tuple[Any, int]],
    *,
    tracking_name: str,
    start: int,
    end: int,
    tx_factory: Callable[[Tx], Tx] | None = None,
) -> tuple[int, BaseException] | None:
    """Commit `items` and the move to `end`; if an event cannot be applied, commit the
    events before it instead (position just before it) and return (position, cause)."""
    failure: tuple[int, BaseException] | None = None
    defer = True  # row writes sent in runs (projections.base.dispatch) until one fails
    while True:
        try:
            with db.transaction() as raw:
                tx = raw if tx_factory is None else tx_factory(raw)
                tx.defer_writes = defer
                apply_tracked(
                    tx, projection, items, tracking_name=tracking_name, start=start, end=end
                )
        except DeferredWriteError:
            if not defer:
                raise  # pragma: no cover - nothing is deferred then
            defer = False  # rerun one statement at a time: the failing event is named
            continue
        except EventApplyError as exc:
            if failure is not None and exc.position >= failure[0]:
                raise  # the events before a failing one failed too: stop at `start`
            failure = (exc.position, exc.cause)
            items = [item for item in items if item[1] < exc.position]
            end = exc.position - 1
            continue
        return failure


class ProjectionRunner:
    """Keeps one projection in step with the application's log."""

    def __init__(
        self, app: CrmApplication, projection: Projection, *, batch_size: int = 500
    ) -> None:
        self.app = app
        self.projection = projection
        self.batch_size = batch_size
        self.db: Database = app.db
        self.failed: ProjectionFailedError | None = None
        self._position = 0
        #: the tracking row as this runner last read or wrote it, and when it wrote it;
        #: no event for the projection lies between it and `_position`
        self._recorded = 0
        self._recorded_at = time.monotonic()
        self._topics = frozenset(projection.topics)
        self._changed = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.db.create(
            [
                self.db_ddl(TRACKING_DDL),
                self.db_ddl(FAILURES_DDL),
                *projection.ddl(self.db.dialect),
            ]
        )
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO projection_tracking (name, position) VALUES (?, 0)"
                " ON CONFLICT (name) DO NOTHING",
                (projection.name,),
            )
            self._position = self._recorded = read_position(tx, projection.name)

    def db_ddl(self, statement: str) -> str:
        from crm_ledger.storage.sql import ddl

        return ddl(self.db.dialect, statement)

    @property
    def position(self) -> int:
        """The last log position this runner knows to be applied."""
        return self._position

    def run_once(self, *, lazy: bool = False) -> int:
        """Apply at most one batch; return how many notifications were examined.

        `lazy`: a batch with no event for the projection moves the position in memory
        only, unless the tracking row was last written `RECORD_SECONDS` ago."""
        if self.failed is not None:
            raise self.failed
        head = self.app.head_position()
        recorded, start = self._read_start()
        if start >= head:
            self._advance(start)
            if start > recorded and (not lazy or self._record_due()):
                self._commit([], recorded, start, None)
            return 0
        # Read before opening the write transaction: a thread holding the writer must
        # never wait for another pooled connection (the pool queues writers fairly, so
        # that wait could only end by timeout).
        batch = self.app.recorder.select_notifications(
            start,
            self.batch_size,
            stop=head,
            topics=list(self.projection.topics),
            inclusive_of_start=False,
        )
        end = batch[-1].id if len(batch) == self.batch_size else head
        items, failure = decode_batch(self.app, batch)
        if failure is not None:
            end = failure[0] - 1
        if lazy and not items and failure is None and not self._record_due():
            self._advance(end)
            return len(batch) or 1
        self._commit(items, recorded, end, failure)
        return len(batch) or 1

    def _read_start(self) -> tuple[int, int]:
        """The tracking row's position, and where to read from: past what this runner
        already knows to hold nothing for the projection, unless the row moved back (a
        reset) since this runner last saw it."""
        with self.db.transaction(write=False) as tx:
            recorded = read_position(tx, self.projection.name)
        with self._changed:
            start = max(recorded, self._position) if recorded >= self._recorded else recorded
            self._recorded = recorded
        return recorded, start

    def _record_due(self) -> bool:
        return time.monotonic() - self._recorded_at >= RECORD_SECONDS

    def _lagging(self, lazy: bool) -> bool:
        """Whether the tracking row must be brought up to the position in memory."""
        with self._changed:
            return self._recorded < self._position and (not lazy or self._record_due())

    def _commit(
        self,
        items: list[tuple[Any, int]],
        recorded: int,
        end: int,
        failure: tuple[int, BaseException] | None,
    ) -> None:
        """Apply `items` and move the tracking row from `recorded` to `end` in one
        transaction (or up to a failing event, which stops the runner)."""
        applied = apply_until_failure(
            self.db,
            self.projection,
            items,
            tracking_name=self.projection.name,
            start=recorded,
            end=end,
        )
        failure = applied or failure
        if failure is not None:
            position, cause = failure
            self._advance(position - 1)
            self._recorded, self._recorded_at = position - 1, time.monotonic()
            record_failure(self.db, self.projection.name, position, cause)
            self.failed = ProjectionFailedError(self.projection.name, position, cause)
            raise self.failed from cause
        self._recorded, self._recorded_at = end, time.monotonic()
        self._advance(end)

    def record(self) -> None:
        """Write the position reached in memory to the tracking row, applying nothing
        (what lies between holds nothing for the projection); a worker does this as it
        ends."""
        recorded, start = self._read_start()
        if start > recorded:
            self._commit([], recorded, start, None)

    def skip(self, seen: int, head: int, topics: frozenset[str]) -> bool:
        """Move to `head` in memory when the log's events after `seen` up to `head`
        (of `topics`) hold nothing for the projection and this runner is at `seen` or
        beyond; return whether it did (else it has work, or may have: wake it)."""
        with self._changed:
            if self.failed is not None or self._position < seen:
                return False
            if not self._topics or topics & self._topics:
                return False
            self._advance(head)  # the condition's lock is reentrant
            return True

    def record_due(self) -> bool:
        """Whether the tracking row lags behind the position in memory and was last
        written `RECORD_SECONDS` ago (a lazy runner then writes it when woken)."""
        return self._lagging(lazy=True)

    def _advance(self, position: int) -> None:
        with self._changed:
            if position > self._position:
                self._position = position
            self._changed.notify_all()

    def catch_up(self, *, lazy: bool = False) -> None:
        """Apply batches until the projection reaches the head read at the start
        (`lazy`: see `run_once`)."""
        target = self.app.head_position()
        while self._position < target or self._lagging(lazy):
            try:
                self.run_once(lazy=lazy)
            except ProjectionConflictError:
                with self.db.transaction(write=False) as tx:
                    self._advance(read_position(tx, self.projection.name))

    def poke(self) -> None:
        """Wake the background loop now (a write just happened)."""
        self._wake.set()

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until the projection reached `position`; False on timeout."""
        deadline = time.monotonic() + timeout
        self.poke()
        with self._changed:
            while self._position < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.failed is not None:
                    return False
                self._changed.wait(min(remaining, 0.05))
        return True

    def start(self, poll_seconds: float | None, follow: Callable[[], bool] | None = None) -> None:
        """Follow the log in a daemon thread until `stop`, lazily (see the module).

        `follow` (e.g. `Lease.held`), when given, is asked before each poll: while it
        says no, the thread catches up only when woken by `wait_for` (a read here needs
        the read model) and once at the start, leaving the polling to the process whose
        `follow` says yes. `poll_seconds` None: no polling of its own, only when woken
        (by a `Follower`, which polls once for every runner of the process)."""
        self._thread = threading.Thread(
            target=self._loop,
            args=(poll_seconds, follow),
            name=f"projection-{self.projection.name}",
            daemon=True,
        )
        self._thread.start()

    def _loop(self, poll_seconds: float | None, follow: Callable[[], bool] | None) -> None:
        woken = True  # catch up once at the start
        while not self._stop.is_set():
            if woken or follow is None or follow():
                try:
                    self.catch_up(lazy=True)
                except ProjectionFailedError:
                    log.exception("projection stopped")
                    return
                except Exception:
                    log.exception("projection %s: will retry", self.projection.name)
            woken = self._wake.wait(poll_seconds)
            self._wake.clear()

    def stop(self) -> None:
        """Stop the background loop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
