"""Rebuild a read model from position 0 into shadow tables, then swap them in at once.

``Rebuild(app, projection).run()``:

1. **prepare** creates the shadow tables (each live table's name + ``__rebuild``, from the
   projection's own DDL, secondary indexes left for later) and the tracking row
   ``<name>__rebuild`` at 0, in one transaction. If both already exist, an earlier,
   interrupted rebuild is resumed instead.
2. **bulk** (projections with ``per_aggregate = True`` only, see `bulk`): every event up
   to the head read at the start, aggregate by aggregate, in batches of whole
   aggregates, so each row is written once; then the tracking row is set to that head.
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
   swap itself (indexes were built before it and are only renamed). On SQLite the swap
   is one write transaction (readers keep their snapshot) and builds the secondary
   indexes inside it.

Readers keep using the live names (the ``TABLE`` constants): nothing resolves a name.
"""

from __future__ import annotations

import multiprocessing
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from crm_ledger.projections.base import EventApplyError, Projection
from crm_ledger.projections.bulk import (
    BULK_DDL,
    PART,
    BulkPart,
    EventScan,
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
        self.swapped_at: int | None = None

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
        """Apply one batch of whole aggregates of a part of the bulk phase."""
        chunk = self.scan.after(part, self.batch_size)
        items: list[tuple[Any, int]] = []
        for stored, position in chunk.events:
            try:
                items.append((self.app.mapper.to_domain_event(stored), position))
            except Exception as exc:
                self._fail(position, exc)
        try:
            with self.db.transaction() as raw:
                tx = self._shadow_tx(raw)
                if read_part(tx, part.name) != part:
                    raise ProjectionConflictError(part.name)
                self.projection.apply_batch(tx, items)
                if chunk.complete:
                    self._complete_part(tx, part)
                else:
                    tx.execute(
                        "UPDATE projection_rebuilds SET after_id = ?, applied = ?"
                        " WHERE name = ? AND after_id = ?",
                        (chunk.last_id, part.applied + len(items), part.name, part.after_id),
                    )
        except EventApplyError as exc:
            self._fail(exc.position, exc.cause)
        self.applied += len(items)
        if self.progress is not None:
            with self.db.transaction(write=False) as tx:
                parts = read_parts(tx, self.tracking_name)
            self.progress(self._progress_position(parts) if parts else part.head, part.head)

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
        """PostgreSQL: build the secondary indexes under shadow names before the swap."""
        if self.db.dialect != "postgres":
            return
        with self.db.transaction() as tx:
            for statement in self.schema.index_ddl:
                tx.execute(self.schema.rename(statement))

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
    from crm_ledger.projections.registry import build

    app = CrmApplication(settings)
    try:
        job = Rebuild(app, build(name, app.mapper), batch_size=batch_size)
        job.prepared = True
        job.run_part(part)
    finally:
        app.close()
