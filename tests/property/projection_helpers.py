"""Shared steps of the property tests comparing incrementally built read models with a
rebuild from position 0: run the live runners, read every table, rebuild.

Each helper takes the names of the projections it works on (see
`crm_ledger.projections.registry`), so one test can cover any set of read models.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from crm_ledger.application import CrmApplication
from crm_ledger.projections.base import Projection
from crm_ledger.projections.rebuild import Rebuild, schema_of
from crm_ledger.projections.registry import build
from crm_ledger.projections.runner import ProjectionRunner
from crm_ledger.settings import Settings


@contextmanager
def application(url: str, tmp_path: Path) -> Iterator[CrmApplication]:
    """A CrmApplication on `url`, closed afterwards."""
    crm = CrmApplication(Settings(database_url=url, data_dir=tmp_path / "data"))
    try:
        yield crm
    finally:
        crm.close()


def projections(crm: CrmApplication, names: Iterable[str]) -> dict[str, Projection]:
    """The projections called `names`, built from the application's mapper."""
    return {name: build(name, crm.mapper) for name in names}


def catch_up(
    crm: CrmApplication,
    names: Iterable[str],
    batch_size: int,
    max_batches: int | None = None,
) -> None:
    """The incremental path: a runner per projection, `max_batches` batches (or all)."""
    for projection in projections(crm, names).values():
        runner = ProjectionRunner(crm, projection, batch_size=batch_size)
        if max_batches is None:
            runner.catch_up()
        else:
            for _ in range(max_batches):
                runner.run_once()


def table_contents(crm: CrmApplication, names: Iterable[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the projections (all columns), sorted per table."""
    return {
        table: table_rows(crm, table)
        for projection in projections(crm, names).values()
        for table in schema_of(projection, crm.db).tables
    }


def table_rows(crm: CrmApplication, table: str) -> list[tuple[Any, ...]]:
    """The rows of `table` in a stable order, each snapshot decoded without its time."""
    with crm.db.transaction(write=False) as tx:
        rows = tx.all(f"SELECT * FROM {table}")
    return sorted((tuple(map(comparable, r)) for r in rows), key=repr)


def comparable(value: Any) -> Any:
    """A cell as compared: a stored snapshot (bytes) decoded, without the time it was
    taken (the only value not derived from the events)."""
    if isinstance(value, bytes):
        snapshot = orjson.loads(value)
        snapshot.pop("timestamp")
        return orjson.dumps(snapshot, option=orjson.OPT_SORT_KEYS).decode()
    return value


def positions(crm: CrmApplication) -> dict[str, int]:
    """Every row of ``projection_tracking``: name -> position."""
    with crm.db.transaction(write=False) as tx:
        return {str(n): int(p) for n, p in tx.all("SELECT name, position FROM projection_tracking")}


def rebuilt_projections(
    crm: CrmApplication, names: Iterable[str], *, bulk: bool
) -> dict[str, Projection]:
    """The projections, told to skip the bulk phase unless `bulk` (a projection that is
    not ``per_aggregate`` always applies the log in position order)."""
    found = projections(crm, names)
    for projection in found.values():
        if not bulk and getattr(projection, "per_aggregate", False):
            setattr(projection, "per_aggregate", False)  # noqa: B010 - not in the Protocol
    return found


def interrupt_rebuilds(
    crm: CrmApplication, names: Iterable[str], *, bulk: bool, batch_size: int, steps: int
) -> None:
    """Start a rebuild of each projection and abandon it after `steps` batches (a later
    `Rebuild.run` resumes it)."""
    for projection in rebuilt_projections(crm, names, bulk=bulk).values():
        abandoned = Rebuild(crm, projection, batch_size=batch_size)
        abandoned.prepare()
        for _ in range(steps):
            abandoned.step()


def rebuild(crm: CrmApplication, names: Iterable[str], *, bulk: bool, batch_size: int) -> None:
    """Rebuild each projection from position 0 into fresh tables and swap them in."""
    for projection in rebuilt_projections(crm, names, bulk=bulk).values():
        Rebuild(crm, projection, batch_size=batch_size).run()
