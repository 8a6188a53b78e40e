"""The cases read model: one row per service case, for ``GET /cases``.

Each row keeps the case's snapshot (applying an event is the aggregate's own
``mutate``) and its ``public`` JSON without the SLA states, which depend on when the
list is read: the columns keep the due times and when each clock stopped, so the
``sla=breached`` filter compares them with the time of the request, as
`crm_ledger.domain.case.present` does for each item. Orders: newest first, or the
earliest resolution due time first (``resolve_by``), each a unique text key compared
bytewise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import orjson

from crm_ledger.domain.case import Case, case_snapshot, parse, present, resolution_stop, stamp
from crm_ledger.projections.activities import SEP
from crm_ledger.projections.snapshot_rows import SnapshotRows, page
from crm_ledger.storage.sql import Tx, days, equalities

TABLE = "proj_cases"
CASE_EVENTS = (
    "Opened",
    "Updated",
    "Prioritised",
    "Responded",
    "Waiting",
    "Resumed",
    "Resolved",
    "Closed",
    "Reopened",
    "Rated",
    "Relinked",
    "Redacted",
)
_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_cases ("
    " id TEXT PRIMARY KEY,"
    " contact_id TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " priority TEXT NOT NULL,"
    " assignee TEXT,"
    " respond_by {bintext} NOT NULL,"
    " first_response_at {bintext},"
    " resolve_by {bintext} NOT NULL,"
    " resolution_stop {bintext},"
    " created_key {bintext} NOT NULL,"
    " due_key {bintext} NOT NULL,"
    " version {bigint} NOT NULL,"
    " public TEXT NOT NULL,"
    " snapshot {blob} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS proj_cases_created ON proj_cases (created_key)",
    "CREATE INDEX IF NOT EXISTS proj_cases_due ON proj_cases (due_key)",
    "CREATE INDEX IF NOT EXISTS proj_cases_status ON proj_cases (status, due_key)",
    "CREATE INDEX IF NOT EXISTS proj_cases_contact ON proj_cases (contact_id, created_key)",
)
Order = Literal["-created", "resolve_by"]


class CasesProjection(SnapshotRows[Case]):
    """Maintains ``proj_cases``."""

    name = "cases"
    aggregate = Case
    table = TABLE
    events = CASE_EVENTS
    statements = _DDL

    def write(self, tx: Tx, case: Case, existed: bool) -> None:
        public = case_snapshot(case)
        sla = public["sla"]
        self.store(
            tx,
            case,
            public,
            existed,
            contact_id=public["contact_id"],
            status=public["status"],
            priority=public["priority"],
            assignee=public["assignee"],
            respond_by=sla["respond_by"],
            first_response_at=public["first_response_at"],
            resolve_by=sla["resolve_by"],
            resolution_stop=resolution_stop(public),
            created_key=f"{public['created_at']}{SEP}{public['id']}",
            due_key=f"{sla['resolve_by']}{SEP}{public['id']}",
        )


@dataclass(frozen=True)
class CaseFilter:
    """Filters of ``GET /cases`` (all optional). ``breached``: either SLA clock is past
    its due time, stopped late or still running at `now`."""

    status: str | None = None
    priority: str | None = None
    assignee: str | None = None
    contact_id: str | None = None
    breached: bool | None = None


# a clock still running counts as stopped now (never NULL: the due times are NOT NULL)
_BREACHED = (
    "(COALESCE(first_response_at, ?) > respond_by OR COALESCE(resolution_stop, ?) > resolve_by)"
)


def list_cases(
    tx: Tx, filters: CaseFilter, *, order: Order, limit: int, after: str | None, now: datetime
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of cases (their stored public JSON) and the key of the next (or None)."""
    where, params = equalities(
        ("status", filters.status),
        ("priority", filters.priority),
        ("assignee", filters.assignee),
        ("contact_id", filters.contact_id),
    )
    if filters.breached is not None:
        moment = stamp(now)
        where.append(_BREACHED if filters.breached else f"NOT {_BREACHED}")
        params += [moment, moment]
    if order == "resolve_by":
        return page(tx, TABLE, "due_key", where, params, limit=limit, after=after, descending=False)
    return page(tx, TABLE, "created_key", where, params, limit=limit, after=after)


def cases_of(tx: Tx, contact_ids: list[str]) -> list[dict[str, Any]]:
    """Every case of any of `contact_ids`, newest first (public JSON)."""
    if not contact_ids:
        return []
    marks = ", ".join("?" for _ in contact_ids)
    rows = tx.all(
        f"SELECT public FROM {TABLE} WHERE contact_id IN ({marks}) ORDER BY created_key DESC",
        contact_ids,
    )
    return [orjson.loads(row[0]) for row in rows]


# -- the service report -------------------------------------------------------------------

PRIORITY_ORDER = ("urgent", "high", "normal", "low")


def opened_between(tx: Tx, start: date | None, end: date | None) -> list[dict[str, Any]]:
    """Every case opened from the UTC day `start` to the day `end` (inclusive; None:
    open ended), oldest first (public JSON)."""
    where, params = days("created_key", start, end)
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    rows = tx.all(f"SELECT public FROM {TABLE}{condition} ORDER BY created_key", params)
    return [orjson.loads(row[0]) for row in rows]


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _mean_hours(spans: list[float]) -> float | None:
    return None if not spans else round(sum(spans) / len(spans) / 3600, 2)


def _hours_between(start: str, stop: str) -> float:
    return (parse(stop) - parse(start)).total_seconds()


def service_figures(shown: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of cases shown as `present` shows them (SLA states as of one time):
    how many were opened, resolved and are still active; each clock's met and breached
    counts and the share met of those decided; the mean hours to the first response and
    to the resolution (of the cases that got there); and the ratings (CSAT: the mean
    score and the share of 4s and 5s)."""
    figures: dict[str, Any] = {
        "opened": len(shown),
        "resolved": sum(1 for c in shown if c["resolved_at"] is not None),
        "active": sum(1 for c in shown if c["status"] in ("new", "open", "pending")),
    }
    for clock in ("first_response", "resolution"):
        met = sum(1 for c in shown if c["sla"][clock] == "met")
        breached = sum(1 for c in shown if c["sla"][clock] == "breached")
        figures[f"{clock}_met"] = met
        figures[f"{clock}_breached"] = breached
        figures[f"{clock}_met_share"] = _share(met, met + breached)
    figures["mean_hours_to_first_response"] = _mean_hours(
        [_hours_between(c["opened_at"], c["first_response_at"]) for c in shown
         if c["first_response_at"] is not None]
    )  # fmt: skip
    figures["mean_hours_to_resolution"] = _mean_hours(
        [_hours_between(c["opened_at"], c["resolved_at"]) for c in shown
         if c["resolved_at"] is not None]
    )  # fmt: skip
    scores = [c["rating"]["score"] for c in shown if c["rating"] is not None]
    figures["rated"] = len(scores)
    figures["csat_mean"] = None if not scores else round(sum(scores) / len(scores), 2)
    figures["csat_satisfied_share"] = _share(sum(1 for s in scores if s >= 4), len(scores))
    return figures


def service_report(tx: Tx, start: date | None, end: date | None, now: datetime) -> dict[str, Any]:
    """Figures of the cases opened in the range, in total and per priority (urgent
    first; only priorities with cases); SLA states as of `now`."""
    shown = [present(public, now) for public in opened_between(tx, start, end)]
    by_priority = [
        {"priority": level, **service_figures([c for c in shown if c["priority"] == level])}
        for level in PRIORITY_ORDER
        if any(c["priority"] == level for c in shown)
    ]
    return {
        "from": None if start is None else start.isoformat(),
        "to": None if end is None else end.isoformat(),
        "as_of": stamp(now),
        "total": service_figures(shown),
        "priorities": by_priority,
    }
