"""Where each projection stands: its position against the log's head, and any failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crm_ledger.projections.bulk import BULK_DDL, read_parts
from crm_ledger.projections.rebuild import shadow
from crm_ledger.projections.runner import FAILURES_DDL, TRACKING_DDL
from crm_ledger.storage.sql import ddl

if TYPE_CHECKING:
    from crm_ledger.application import CrmApplication


@dataclass(frozen=True)
class ProjectionStatus:
    """One projection's tracking position, the head, and where it stopped (if it did)."""

    name: str
    position: int
    head: int
    failed_at: int | None = None
    error: str | None = None
    rebuild_position: int | None = None
    """The position of an unfinished ``crm-ledger rebuild`` of it, if any."""
    rebuild_failed_at: int | None = None
    rebuild_bulk: tuple[int, int] | None = None
    """(events applied, events in all) while the rebuild is in its bulk phase."""

    @property
    def lag(self) -> int:
        """Log positions not yet examined (events of other topics count too)."""
        return max(self.head - self.position, 0)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``crm-ledger projections status --json``."""
        return {
            "name": self.name,
            "position": self.position,
            "head": self.head,
            "lag": self.lag,
            "failed_at": self.failed_at,
            "error": self.error,
            "rebuild_position": self.rebuild_position,
            "rebuild_failed_at": self.rebuild_failed_at,
            "rebuild_bulk": None
            if self.rebuild_bulk is None
            else {"applied": self.rebuild_bulk[0], "total": self.rebuild_bulk[1]},
        }

    @property
    def rebuild_text(self) -> str:
        """The ``rebuild`` column: ``-``, ``bulk APPLIED/TOTAL`` or the shadow position."""
        if self.rebuild_bulk is not None:
            return f"bulk {self.rebuild_bulk[0]}/{self.rebuild_bulk[1]}"
        return "-" if self.rebuild_position is None else str(self.rebuild_position)


def projection_statuses(app: CrmApplication, names: list[str]) -> list[ProjectionStatus]:
    """The status of each projection in `names` (position 0 if it never ran)."""
    d = app.db.dialect
    app.db.create([ddl(d, TRACKING_DDL), ddl(d, FAILURES_DDL), ddl(d, BULK_DDL)])
    head = app.head_position()
    with app.db.transaction(write=False) as tx:
        positions = dict(tx.all("SELECT name, position FROM projection_tracking"))
        bulk = {name: read_parts(tx, shadow(name)) for name in names}
        failures = {
            r[0]: (int(r[1]), str(r[2]))
            for r in tx.all("SELECT name, position, error FROM projection_failures")
        }
    statuses = []
    for name in names:
        failure = failures.get(name)
        rebuilding = positions.get(shadow(name))
        rebuild_failure = failures.get(shadow(name))
        statuses.append(
            ProjectionStatus(
                name=name,
                position=int(positions.get(name) or 0),
                head=head,
                failed_at=None if failure is None else failure[0],
                error=None if failure is None else failure[1],
                rebuild_position=None if rebuilding is None else int(rebuilding),
                rebuild_failed_at=None if rebuild_failure is None else rebuild_failure[0],
                rebuild_bulk=None
                if not (parts := bulk[name])
                else (sum(p.applied for p in parts), sum(p.total for p in parts)),
            )
        )
    return statuses
