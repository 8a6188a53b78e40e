"""Rebuild a read model from position 0 into shadow tables, then swap them in at once.

``Rebuild(app, projection).run()``:

1. **prepare** creates the shadow tables (each live table's name + ``__rebuild``, from the
   projection's own DDL, secondary indexes left for later) and the tracking row
   ``<name>__rebuild`` at 0, in one transaction. If both already exist, an earlier,
   interrupted rebuild is resumed instead.
2. **bulk** (projections with ``per_aggregate = True`` only, see `bulk`): every event up
   to the head read at the start, aggregate by aggregate, in batches of whole
   aggregates, so each row is written once; then the tracking row is set to that head.
   A projection with a ``replay`` method (see `base.Projection`) computes a batch's rows
   from the stored events directly, and they are copied in (PostgreSQL: a binary
   ``COPY``, streamed as they are computed, while the next batch is read on another
   connection); a batch it cannot replay is applied with ``apply_batch`` instead.
3. **fill** applies the rest of the log in large batches with the projection's own
   ``apply_batch`` through a `ShadowTx`, which rewrites the live table names in each
   query to the shadow ones. Each batch commits with the move of the shadow tracking
   row (exactly once, as the live runner: see `runner.apply_tracked`), so an
   interrupted rebuild loses at most the batch in flight. An event that cannot be
   applied stops the rebuild there (recorded in ``projection_failures`` under
   ``<name>__rebuild``); the live tables are untouched.
4. **swap**, when the shadow is within one batch of the head: the last events are
   applied and, in the same transaction, the live tables are dropped, the shadow tables
   renamed to the live names and the live tracking row set to the shadow's position.
   On PostgreSQL the live tables are first locked (``ACCESS EXCLUSIVE``), so the live
   runner's transactions finish before or start after the swap, and a reader sees
   either the old tables or the new ones, never a mix; a reader waits only for the
   swap itself (indexes were built before it, several at once, and are only renamed).
   On SQLite the swap is one write transaction (readers keep their snapshot) and builds
   the secondary indexes inside it.

Readers keep using the live names (the ``TABLE`` constants): nothing resolves a name.
"""

from __future__ import annotations

import multiprocessing
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NoReturn

from psycopg.copy import QueuedLibpqWriter

from crm_ledger.projections.base import (
    EventApplyError,
    Projection,
    ReplayUnsupportedError,
    TableRows,
)
from crm_ledger.projections.bulk import (
    BULK_DDL,
    PART,
    AggregateEvents,
    BulkPart,
    EventScan,
    RawEvent,
    aggregate_text,
    id_ranges,
    read_part,
    read_parts,
)
from crm_ledger.projections.runner import (
    FAILURES_DDL,
    TRACKING_DDL,
    ProjectionConflictError,
    ProjectionFailedError,
    apply_until_failure,
    decode_batch,
    read_position,
    record_failure,
)
from crm_ledger.storage.sql import Database, Tx, ddl, schema_lock

if TYPE_CHECKING:
    from crm_ledger.application import CrmApplication
    from crm_ledger.settings import Settings

SUFFIX = "__rebuild"
DEFAULT_BATCH_SIZE = 5000
INDEX_CONNECTIONS = 2
"""Connections building the shadow tables' indexes at once (PostgreSQL)."""
INDEX_MEMORY = "256MB"
"""``maintenance_work_mem`` of those builds (GIN builds flush less often with more)."""
_CREATE = re.compile(
    r"^\s*CREATE\s+(?:UNIQUE\s+)?(TABLE|INDEX)\s+IF\s+NOT\s+EXISTS\s+(\w+)", re.IGNORECASE
)


def shadow(name: str) -> str:
    """The shadow name of a live table or index."""
    return name + SUFFIX


@dataclass(frozen=True)
class Schema:
    """A projection's tables and indexes, read from its DDL."""

    tables: tuple[str, ...]
    indexes: tuple[str, ...]
    table_ddl: tuple[str, ...]
    index_ddl: tuple[str, ...]

    def rename(self, statement: str) -> str:
        """`statement` with every table and index name replaced by its shadow name."""
        return _renamer(self.tables + self.indexes).sub(lambda m: shadow(m.group(1)), statement)


def schema_of(projection: Projection, database: Database) -> Schema:
    """The tables and indexes that `projection`'s DDL creates (ValueError for anything
    else: a rebuild must know every object it copies)."""
    tables: list[str] = []
    indexes: list[str] = []
    table_ddl: list[str] = []
    index_ddl: list[str] = []
    for statement in projection.ddl(database.dialect):
        found = _CREATE.match(statement)
        if found is None:
            raise ValueError(f"projection {projection.name!r}: cannot rebuild {statement!r}")
        if found.group(1).upper() == "TABLE":
            tables.append(found.group(2))
            table_ddl.append(statement)
        else:
            indexes.append(found.group(2))
            index_ddl.append(statement)
    return Schema(tuple(tables), tuple(indexes), tuple(table_ddl), tuple(index_ddl))


def _renamer(names: Iterable[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"\b({alternatives})\b")


def replay_of(projection: Projection) -> Replay | None:
    """The projection's ``replay`` (see `base.Projection`), if the class defining it also
    defines the ``apply_batch`` in use: a subclass that changes only ``apply_batch``
    would otherwise be rebuilt with rows that do not follow its own."""
    mro = type(projection).__mro__
    replays = next((c for c in mro if "replay" in vars(c)), None)
    applies = next((c for c in mro if "apply_batch" in vars(c)), None)
    if replays is None or replays is not applies:
        return None
    replay: Replay = getattr(projection, "replay")  # noqa: B009  # not in the Protocol
    return replay


class ShadowTx(Tx):
    """A `Tx` whose queries name the shadow tables wherever they name the live ones."""

    def __init__(self, tx: Tx, tables: Iterable[str]) -> None:
        super().__init__(tx.cursor, tx.dialect)
        self._pattern = _renamer(tables)
        self._rewritten: dict[str, str] = {}

    def _q(self, query: str) -> str:
        rewritten = self._rewritten.get(query)
        if rewritten is None:
            rewritten = self._pattern.sub(lambda m: shadow(m.group(1)), query)
            if len(self._rewritten) < 512:
                self._rewritten[query] = rewritten
        return super()._q(rewritten)


class RebuildFailedError(ProjectionFailedError):
    """The rebuild stopped at an event the projection cannot apply (live tables kept)."""


Replay = Callable[[list[RawEvent], Callable[[Any], str]], list[TableRows]]
"""A projection's optional ``replay`` method (see `base.Projection`)."""

Progress = Callable[[int, int], None]
"""Called with (shadow position, head) after each batch."""


class Rebuild:
    """Rebuilds one projection into shadow tables and swaps them in."""

    def __init__(
        self,
        app: CrmApplication,
        projection: Projection,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress | None = None,
        workers: int = 1,
    ) -> None:
        self.app = app
        self.projection = projection
        self.batch_size = batch_size
        self.workers = workers
        """Processes filling the bulk phase at once (its parts, when it starts)."""
        self.progress = progress
        self.db: Database = app.db
        self.schema = schema_of(projection, self.db)
        self.tracking_name = shadow(projection.name)
        self.per_aggregate = bool(getattr(projection, "per_aggregate", False))
        self.scan = EventScan(
            self.db,
            app.recorder.events_table_name,  # type: ignore[attr-defined]
            projection.topics,
        )
        self.start_position = 0
        self.prepared = False
        self.applied = 0
        """Events applied by this run (not by an earlier, interrupted one)."""
        self.replayed = 0
        """Of those, events the bulk phase replayed with the projection's ``replay``."""
        self.swapped_at: int | None = None
        self._types: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        self._reader: ThreadPoolExecutor | None = None
        self._ahead: tuple[BulkPart, Future[AggregateEvents]] | None = None

    # -- 1. prepare ---------------------------------------------------------------------

    def prepare(self) -> int:
        """Create (or find, to resume) the shadow tables; return the progress position."""
        d = self.db.dialect
        # The live tables only (not their indexes): the swap drops them, and after a
        # change of the projection's schema their indexes may not fit them any more.
        self.db.create(
            [ddl(d, TRACKING_DDL), ddl(d, FAILURES_DDL), ddl(d, BULK_DDL), *self.schema.table_ddl]
        )
        self.prepared = True
        with self.db.transaction(write=False) as tx:
            resumable = tx.scalar(
                "SELECT position FROM projection_tracking WHERE name = ?", (self.tracking_name,)
            ) is not None and self._shadow_tables_exist(tx)
        head = self.app.head_position()
        parts = [
            (after, until, 0 if resumable else self.scan.count(head, after, until))
            for after, until in (id_ranges(self.workers) if self.per_aggregate else [])
        ]
        with schema_lock(self.db.datastore), self.db.transaction() as tx:
            position = tx.scalar(
                "SELECT position FROM projection_tracking WHERE name = ?", (self.tracking_name,)
            )
            if position is not None and self._shadow_tables_exist(tx):
                self.start_position = int(position)
                return self._progress_position(read_parts(tx, self.tracking_name))
            for table in self.schema.tables:
                tx.execute(f"DROP TABLE IF EXISTS {shadow(table)}")
            for statement in self.schema.table_ddl:
                tx.execute(self.schema.rename(statement))
            tx.execute(
                "INSERT INTO projection_tracking (name, position) VALUES (?, 0)"
                " ON CONFLICT (name) DO UPDATE SET position = 0",
                (self.tracking_name,),
            )
            tx.execute("DELETE FROM projection_failures WHERE name = ?", (self.tracking_name,))
            for part in read_parts(tx, self.tracking_name):
                tx.execute("DELETE FROM projection_rebuilds WHERE name = ?", (part.name,))
            tx.executemany(
                "INSERT INTO projection_rebuilds (name, head, after_id, until_id, applied, total)"
                " VALUES (?, ?, ?, ?, 0, ?)",
                [
                    (f"{self.tracking_name}{PART}{i}", head, after, until, total)
                    for i, (after, until, total) in enumerate(parts)
                ],
            )
        self.start_position = 0
        return 0

    def _progress_position(self, parts: list[BulkPart]) -> int:
        """The shadow position, or during the bulk phase its share of the bulk head."""
        if not parts:
            return self.start_position
        applied = sum(p.applied for p in parts)
        total = sum(p.total for p in parts)
        return parts[0].head * applied // max(total, 1)

    def _shadow_tables_exist(self, tx: Tx) -> bool:
        names = [shadow(t) for t in self.schema.tables]
        marks = ", ".join("?" for _ in names)
        if self.db.dialect == "sqlite":
            query = f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({marks})"
        else:
            query = (
                "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
                f" AND tablename IN ({marks})"
            )
        return int(tx.scalar(query, names)) == len(names)

    # -- 2. fill ------------------------------------------------------------------------

    def step(self) -> tuple[int, int] | None:
        """Apply one batch of the current phase. Return None while the bulk phase goes
        on, else (shadow position, head)."""
        with self.db.transaction(write=False) as tx:
            parts = read_parts(tx, self.tracking_name)
        if parts:
            self._bulk_step(parts[0])
            return None
        return self._fill_step()

    def run_part(self, name: str) -> None:
        """Fill one part of the bulk phase to its end (a worker process does this)."""
        while True:
            with self.db.transaction(write=False) as tx:
                part = read_part(tx, name)
            if part is None:
                return
            self._bulk_step(part)

    def _bulk_step(self, part: BulkPart) -> None:
        """Apply one batch of whole aggregates of a part of the bulk phase: with the
        projection's ``replay`` if it has one (see `base.Projection`) and it can replay
        them, else with ``apply_batch``."""
        chunk = self._read(part)
        replay = replay_of(self.projection)
        if replay is not None:
            try:
                self._commit_bulk(
                    part, chunk, lambda raw, _tx: self._copy(raw, replay, chunk.events)
                )
            except ReplayUnsupportedError:
                pass  # rolled back: the library's way below decides
            else:
                self.replayed += len(chunk.events)
                self._bulk_done(part, chunk)
                return
        items: list[tuple[Any, int]] = []
        stored_events = list(chunk.stored())
        self.app.mapper.prefetch(s.state for s, _ in stored_events)  # type: ignore[attr-defined]
        for stored, position in stored_events:
            try:
                items.append((self.app.mapper.to_domain_event(stored), position))
            except Exception as exc:
                self._fail(position, exc)
        try:
            self._commit_bulk(part, chunk, lambda _raw, tx: self.projection.apply_batch(tx, items))
        except EventApplyError as exc:
            self._fail(exc.position, exc.cause)
        self._bulk_done(part, chunk)

    def _read(self, part: BulkPart) -> AggregateEvents:
        """The part's next batch; on PostgreSQL the batch after it is read meanwhile, on
        another connection (the events up to the bulk head never change)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == part:
            chunk = ahead[1].result()
        else:
            chunk = self.scan.after(part, self.batch_size)
        if self.db.dialect == "postgres" and not chunk.complete:
            following = replace(
                part, after_id=chunk.last_id, applied=part.applied + len(chunk.events)
            )
            if self._reader is None:
                self._reader = ThreadPoolExecutor(1, thread_name_prefix="rebuild-read")
            self._ahead = (
                following,
                self._reader.submit(self.scan.after, following, self.batch_size),
            )
        return chunk

    def close(self) -> None:
        """Stop reading ahead (`run` does this when it ends)."""
        self._ahead = None
        if self._reader is not None:
            self._reader.shutdown(wait=True, cancel_futures=True)
            self._reader = None

    def _commit_bulk(
        self, part: BulkPart, chunk: AggregateEvents, write: Callable[[Tx, Tx], None]
    ) -> None:
        """Write a batch (`write` gets the transaction and its `ShadowTx`) and move the
        part past it, in one transaction."""
        with self.db.transaction() as raw:
            if self.db.dialect == "postgres":
                # Not waiting for the WAL flush is safe here: a crash can only lose
                # whole batches with the part moves, and the rebuild then redoes them.
                raw.execute("SET LOCAL synchronous_commit = off")
            tx = self._shadow_tx(raw)
            if read_part(tx, part.name) != part:
                raise ProjectionConflictError(part.name)
            write(raw, tx)
            if chunk.complete:
                self._complete_part(tx, part)
            else:
                tx.execute(
                    "UPDATE projection_rebuilds SET after_id = ?, applied = ?"
                    " WHERE name = ? AND after_id = ?",
                    (chunk.last_id, part.applied + len(chunk.events), part.name, part.after_id),
                )

    def _bulk_done(self, part: BulkPart, chunk: AggregateEvents) -> None:
        self.applied += len(chunk.events)
        if self.progress is not None:
            with self.db.transaction(write=False) as tx:
                parts = read_parts(tx, self.tracking_name)
            self.progress(self._progress_position(parts) if parts else part.head, part.head)

    def _copy(self, tx: Tx, replay: Replay, events: list[RawEvent]) -> None:
        """Add the rows `replay` computes to the shadow tables (PostgreSQL: with a binary
        ``COPY``, streamed while they are computed)."""
        for table in replay(events, aggregate_text):
            name = shadow(table.table)
            columns = ", ".join(table.columns)
            if self.db.dialect == "sqlite":
                marks = ", ".join("?" for _ in table.columns)
                tx.executemany(f"INSERT INTO {name} ({columns}) VALUES ({marks})", list(table.rows))
                continue
            types = self._column_types(tx, name, table.columns)
            cursor: Any = tx.cursor
            statement = f"COPY {name} ({columns}) FROM STDIN (FORMAT BINARY)"
            # A thread sends the data while this one computes the next rows.
            with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
                copy.set_types(types)
                for row in table.rows:
                    copy.write_row(row)

    def _column_types(self, tx: Tx, table: str, columns: tuple[str, ...]) -> list[str]:
        """PostgreSQL's names of the types of `columns` of `table` (for a binary COPY)."""
        key = (table, columns)
        if key not in self._types:
            found = dict(
                tx.all(
                    "SELECT attname, atttypid::regtype::text FROM pg_attribute"
                    " WHERE attrelid = ?::regclass AND attnum > 0 AND NOT attisdropped",
                    (table,),
                )
            )
            self._types[key] = [found[c] for c in columns]
        return self._types[key]

    def _complete_part(self, tx: Tx, part: BulkPart) -> None:
        """Drop the part; the last part to go sets the tracking position to the bulk
        head (completions queue on the tracking row, so exactly one sees none left)."""
        lock = " FOR UPDATE" if self.db.dialect == "postgres" else ""
        tx.scalar(
            f"SELECT position FROM projection_tracking WHERE name = ?{lock}", (self.tracking_name,)
        )
        tx.execute("DELETE FROM projection_rebuilds WHERE name = ?", (part.name,))
        if not read_parts(tx, self.tracking_name):
            tx.execute(
                "UPDATE projection_tracking SET position = ? WHERE name = ?",
                (part.head, self.tracking_name),
            )
            self.start_position = part.head

    def _bulk_in_parallel(self) -> None:
        """Fill the bulk phase's parts in one worker process each, at once."""
        with self.db.transaction(write=False) as tx:
            parts = read_parts(tx, self.tracking_name)
        if len(parts) < 2:
            return
        context = multiprocessing.get_context("spawn")
        workers = [
            context.Process(
                target=fill_part,
                args=(self.app.settings, self.projection.name, part.name, self.batch_size),
                name=part.name,
            )
            for part in parts
        ]
        for worker in workers:
            worker.start()
        try:
            while any(w.is_alive() for w in workers):
                time.sleep(0.5)
                with self.db.transaction(write=False) as tx:
                    left = read_parts(tx, self.tracking_name)
                if self.progress is not None and left:
                    self.progress(self._progress_position(left), left[0].head)
        finally:
            for worker in workers:
                worker.join()
        codes = [w.exitcode for w in workers]
        if any(codes):
            with self.db.transaction(write=False) as tx:
                failure = tx.one(
                    "SELECT position, error FROM projection_failures WHERE name = ?",
                    (self.tracking_name,),
                )
            if failure is not None:  # the worker that stopped at an event recorded it
                raise RebuildFailedError(
                    self.projection.name, int(failure[0]), RuntimeError(str(failure[1]))
                )
            raise RuntimeError(f"rebuild worker processes exited with {codes}")
        self.applied += sum(p.total for p in parts) - sum(p.applied for p in parts)

    def _fail(self, position: int, cause: BaseException) -> NoReturn:
        record_failure(self.db, self.tracking_name, position, cause)
        raise RebuildFailedError(self.projection.name, position, cause) from cause

    def position(self) -> int:
        """The shadow tables' tracking position."""
        with self.db.transaction(write=False) as tx:
            return read_position(tx, self.tracking_name)

    def _fill_step(self) -> tuple[int, int]:
        """Apply one batch in log order (if behind the head); return (position, head)."""
        head = self.app.head_position()
        start = self.position()
        if start >= head:
            return start, head
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
        applied = apply_until_failure(
            self.db,
            self.projection,
            items,
            tracking_name=self.tracking_name,
            start=start,
            end=end,
            tx_factory=self._shadow_tx,
        )
        failure = applied or failure
        if failure is not None:
            self._fail(*failure)
        self.applied += len(items)
        if self.progress is not None:
            self.progress(end, head)
        return end, head

    def _shadow_tx(self, tx: Tx) -> Tx:
        return ShadowTx(tx, self.schema.tables)

    # -- 3. swap ------------------------------------------------------------------------

    def run(self) -> int:
        """Prepare, fill, swap; return the position at which the new tables went live."""
        try:
            return self._run()
        finally:
            self.close()

    def _run(self) -> int:
        if not self.prepared:
            self.prepare()
        with self.db.transaction() as tx:  # a rerun retries an event that failed before
            tx.execute("DELETE FROM projection_failures WHERE name = ?", (self.tracking_name,))
        if self.workers > 1:
            self._bulk_in_parallel()
        indexed = False
        while True:
            try:
                stepped = self.step()
            except ProjectionConflictError:
                continue  # another process applied that batch: read again
            if stepped is None:
                continue  # bulk phase
            position, head = stepped
            if head - position >= self.batch_size:
                continue
            if not indexed:
                self._index_shadow()
                indexed = True
            swapped = self.swap(position)
            if swapped is not None:
                self.swapped_at = swapped
                return swapped

    def _index_shadow(self) -> None:
        """PostgreSQL: build the secondary indexes under shadow names before the swap,
        on INDEX_CONNECTIONS connections at once (each ``CREATE INDEX`` only takes a
        SHARE lock, so they do not wait for one another), GIN indexes first."""
        if self.db.dialect != "postgres":
            return
        statements = sorted(
            (self.schema.rename(s) for s in self.schema.index_ddl),
            key=lambda s: " gin " not in s.lower(),
        )
        groups = [statements[i::INDEX_CONNECTIONS] for i in range(INDEX_CONNECTIONS)]

        def build(group: list[str]) -> None:
            with self.db.transaction() as tx:
                tx.execute(f"SET LOCAL maintenance_work_mem = '{INDEX_MEMORY}'")
                for statement in group:
                    tx.execute(statement)

        with ThreadPoolExecutor(INDEX_CONNECTIONS, thread_name_prefix="rebuild-index") as pool:
            for done in [pool.submit(build, g) for g in groups if g]:
                done.result()

    def swap(self, position: int) -> int | None:
        """Apply the last events and swap the tables in; None to fill more first."""
        target = self.app.head_position()
        batch = self.app.recorder.select_notifications(
            position,
            self.batch_size,
            stop=target,
            topics=list(self.projection.topics),
            inclusive_of_start=False,
        )
        if len(batch) >= self.batch_size:
            return None
        items, failure = decode_batch(self.app, batch)
        if failure is not None:
            return None  # the next step() stops at it and reports it
        try:
            with schema_lock(self.db.datastore), self.db.transaction() as tx:
                if not self._swap_in(tx, items, position, target):
                    raise ProjectionConflictError(self.projection.name)
        except (ProjectionConflictError, EventApplyError):
            return None
        self.applied += len(items)
        if self.progress is not None:
            self.progress(target, target)
        return target

    def _swap_in(self, tx: Tx, items: list[tuple[Any, int]], position: int, target: int) -> bool:
        live = self.projection.name
        tables = self.schema.tables
        if self.db.dialect == "postgres":
            tx.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
            live_position = tx.scalar(
                "SELECT position FROM projection_tracking WHERE name = ? FOR UPDATE", (live,)
            )
        else:
            live_position = tx.scalar(
                "SELECT position FROM projection_tracking WHERE name = ?", (live,)
            )
        if read_position(tx, self.tracking_name) != position:
            return False  # another rebuild moved the shadow
        if live_position is not None and int(live_position) > target:
            return False  # the live runner is ahead of the events fetched: fetch more
        self.projection.apply_batch(self._shadow_tx(tx), items)
        for table in tables:
            tx.execute(f"DROP TABLE IF EXISTS {table}")
        for table in tables:
            tx.execute(f"ALTER TABLE {shadow(table)} RENAME TO {table}")
        if self.db.dialect == "postgres":
            self._rename_indexes(tx)
        else:
            for statement in self.schema.index_ddl:
                tx.execute(statement)
        tx.execute(
            "INSERT INTO projection_tracking (name, position) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            (live, target),
        )
        tx.execute("DELETE FROM projection_tracking WHERE name = ?", (self.tracking_name,))
        tx.execute(
            "DELETE FROM projection_failures WHERE (name = ? AND position <= ?) OR name = ?",
            (live, target, self.tracking_name),
        )
        return True

    def _rename_indexes(self, tx: Tx) -> None:
        marks = ", ".join("?" for _ in self.schema.tables)
        rows = tx.all(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            f" AND tablename IN ({marks})",
            self.schema.tables,
        )
        for (name,) in rows:
            if SUFFIX in name:
                tx.execute(f'ALTER INDEX "{name}" RENAME TO "{name.replace(SUFFIX, "")}"')


def fill_part(settings: Settings, name: str, part: str, batch_size: int) -> None:
    """A worker process: fill part `part` of the bulk phase of projection `name`."""
    from crm_ledger.application import CrmApplication
    from crm_ledger.projections.registry import build, prepare

    app = CrmApplication(settings)
    try:
        prepare(app)
        job = Rebuild(app, build(name, app.mapper), batch_size=batch_size)
        job.prepared = True
        try:
            job.run_part(part)
        finally:
            job.close()
    finally:
        app.close()
