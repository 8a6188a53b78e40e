"""The survey read model: one row per NPS answer, for ``GET /nps`` and the NPS report.

Rows keep the answer's snapshot and public JSON; ``answered_key`` (the time the person
answered, then the id) orders lists newest first and selects a report's range of days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from crm_ledger.domain.survey import NpsResponse, nps_figures, nps_snapshot
from crm_ledger.projections.activities import SEP
from crm_ledger.projections.snapshot_rows import SnapshotRows, page
from crm_ledger.storage.sql import Tx, days, equalities

TABLE = "proj_nps"
_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_nps ("
    " id TEXT PRIMARY KEY,"
    " contact_id TEXT NOT NULL,"
    " survey TEXT NOT NULL,"
    " score INTEGER NOT NULL,"
    " grp TEXT NOT NULL,"
    " answered_key {bintext} NOT NULL,"
    " version {bigint} NOT NULL,"
    " public TEXT NOT NULL,"
    " snapshot {blob} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS proj_nps_answered ON proj_nps (answered_key)",
    "CREATE INDEX IF NOT EXISTS proj_nps_survey ON proj_nps (survey, answered_key)",
    "CREATE INDEX IF NOT EXISTS proj_nps_contact ON proj_nps (contact_id, answered_key)",
)


class SurveysProjection(SnapshotRows[NpsResponse]):
    """Maintains ``proj_nps``."""

    name = "surveys"
    aggregate = NpsResponse
    table = TABLE
    events = ("Recorded", "Relinked")
    statements = _DDL

    def write(self, tx: Tx, response: NpsResponse, existed: bool) -> None:
        public = nps_snapshot(response)
        self.store(
            tx,
            response,
            public,
            existed,
            contact_id=public["contact_id"],
            survey=public["survey"],
            score=public["score"],
            grp=public["group"],
            answered_key=f"{public['answered_at']}{SEP}{public['id']}",
        )


@dataclass(frozen=True)
class NpsFilter:
    """Filters of ``GET /nps`` (all optional)."""

    survey: str | None = None
    contact_id: str | None = None
    group: str | None = None


def list_nps(
    tx: Tx, filters: NpsFilter, *, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of answers, newest answered first, and the key of the next (or None)."""
    where, params = equalities(
        ("survey", filters.survey), ("contact_id", filters.contact_id), ("grp", filters.group)
    )
    return page(tx, TABLE, "answered_key", where, params, limit=limit, after=after)


def nps_report(tx: Tx, start: date | None, end: date | None, survey: str | None) -> dict[str, Any]:
    """The NPS figures of the answers given from the UTC day `start` to `end` (inclusive;
    None: open ended), of `survey` only when given: in total and per survey (by name)."""
    where, params = equalities(("survey", survey))
    in_range, range_params = days("answered_key", start, end)
    where += in_range
    params += range_params
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    rows = tx.all(f"SELECT survey, score FROM {TABLE}{condition}", params)
    by_survey: dict[str, list[int]] = {}
    for name, score in rows:
        by_survey.setdefault(str(name), []).append(int(score))
    return {
        "from": None if start is None else start.isoformat(),
        "to": None if end is None else end.isoformat(),
        "total": nps_figures([int(score) for _, score in rows]),
        "surveys": [
            {"survey": name, **nps_figures(scores)} for name, scores in sorted(by_survey.items())
        ],
    }


def answers_of(tx: Tx, contact_id: str) -> list[dict[str, Any]]:
    """Every answer of the contact, newest answered first (public JSON)."""
    rows = tx.all(
        f"SELECT public FROM {TABLE} WHERE contact_id = ? ORDER BY answered_key DESC",
        (contact_id,),
    )
    return [orjson.loads(row[0]) for row in rows]
