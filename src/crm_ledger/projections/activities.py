"""The activities read model: one row per activity plus one row per link.

Like the contacts read model, each row keeps the activity's state as a library snapshot,
so applying an event is the aggregate's own ``mutate``. Queries served:

* tasks of an assignee that are overdue or due on a given day (open tasks only),
* tasks whose reminder time has come,
* the activities linked to a contact, deal or lead (newest first), also as the activity
  half of a timeline.

Two sort keys make keyset pagination a single comparison: ``at_key`` (the time the
activity sits on a timeline, then ``a<id>``) for newest-first lists, ``due_key`` (due
date, then id) for due lists. Both are text compared bytewise (``COLLATE "C"`` on
PostgreSQL), so SQL order is the same as Python's string order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import orjson

from crm_ledger.domain.activity import ACTIVITY_EVENTS, Activity, activity_snapshot
from crm_ledger.projections.snapshot_rows import SnapshotRows
from crm_ledger.storage.sql import RunsOfWrites, Tx

TABLE = "proj_activities"
LINKS = "proj_activity_links"
SEP = "\x01"
_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_activities ("
    " id TEXT PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " subject TEXT NOT NULL,"
    " assignee TEXT,"
    " due_date TEXT,"
    " remind_at TEXT,"
    " completed INTEGER NOT NULL,"
    " cancelled INTEGER NOT NULL,"
    " links TEXT NOT NULL,"
    " at_key {bintext} NOT NULL,"
    " due_key {bintext},"
    " version {bigint} NOT NULL,"
    " public TEXT NOT NULL,"
    " snapshot {blob} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS proj_activities_due"
    " ON proj_activities (assignee, completed, cancelled, due_key)",
    "CREATE INDEX IF NOT EXISTS proj_activities_at ON proj_activities (at_key)",
    "CREATE TABLE IF NOT EXISTS proj_activity_links ("
    " link_type TEXT NOT NULL,"
    " link_id TEXT NOT NULL,"
    " activity_id TEXT NOT NULL,"
    " at_key {bintext} NOT NULL,"
    " PRIMARY KEY (link_type, link_id, activity_id))",
    "CREATE INDEX IF NOT EXISTS proj_activity_links_at"
    " ON proj_activity_links (link_type, link_id, at_key)",
)


def at_key(public: dict[str, Any]) -> str:
    """Newest-first sort key of an activity: its timeline time, then ``a<id>``."""
    return f"{public['at']}{SEP}a{public['id']}"


class ActivitiesProjection(SnapshotRows[Activity]):
    """Maintains ``proj_activities`` and ``proj_activity_links``."""

    name = "activities"
    aggregate = Activity
    table = TABLE
    events = ACTIVITY_EVENTS
    statements = _DDL

    def apply_batch(self, tx: Tx, items: Sequence[tuple[Any, int]]) -> None:
        """`SnapshotRows.apply_batch`, its writes sent per statement once every activity
        of the batch is known (`RunsOfWrites`): one round trip per kind of write, not two
        per activity. The links of activities stored before are deleted first; then
        the rows are updated and inserted; then every link is inserted."""
        writes = RunsOfWrites(tx)
        super().apply_batch(writes, items)
        writes.send(("DELETE FROM", "UPDATE", f"INSERT INTO {TABLE} ", f"INSERT INTO {LINKS} "))

    def write(self, tx: Tx, activity: Activity, existed: bool) -> None:
        public = activity_snapshot(activity)
        sort_at = at_key(public)
        due = public["due_date"]
        self.store(
            tx,
            activity,
            public,
            existed,
            kind=public["kind"],
            subject=public["subject"],
            assignee=public["assignee"],
            due_date=due,
            remind_at=public["remind_at"],
            completed=1 if public["completed_at"] else 0,
            cancelled=1 if public["cancelled_at"] else 0,
            links="".join(f"|{link['type']}:{link['id']}|" for link in public["links"]),
            at_key=sort_at,
            due_key=None if due is None else f"{due}{SEP}{public['id']}",
        )
        if existed:
            tx.execute(f"DELETE FROM {LINKS} WHERE activity_id = ?", (public["id"],))
        tx.executemany(
            f"INSERT INTO {LINKS} (link_type, link_id, activity_id, at_key) VALUES (?,?,?,?)",
            [(link["type"], link["id"], public["id"], sort_at) for link in public["links"]],
        )


Due = Literal["overdue", "today"]


@dataclass(frozen=True)
class ActivityFilter:
    """Filters of ``GET /activities``.

    ``due`` selects open tasks (not completed, not cancelled) due before (``overdue``)
    or on (``today``) the day `as_of`; ``remind_before`` selects open tasks whose
    reminder time is at or before that RFC 3339 UTC time. Cancelled activities are
    hidden unless ``cancelled`` is true (then only they are listed).
    """

    as_of: date
    kind: str | None = None
    assignee: str | None = None
    due: Due | None = None
    remind_before: str | None = None
    link: tuple[str, str] | None = None
    completed: bool | None = None
    cancelled: bool = False


def list_activities(
    tx: Tx, filters: ActivityFilter, *, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of activities and the sort key to pass as `after` for the next (or None).

    With ``due`` the order is by due date (oldest first), otherwise newest first.
    """
    where = ["a.cancelled = ?"]
    params: list[Any] = [1 if filters.cancelled else 0]
    if filters.kind:
        where.append("a.kind = ?")
        params.append(filters.kind)
    if filters.assignee:
        where.append("a.assignee = ?")
        params.append(filters.assignee)
    if filters.completed is not None:
        where.append("a.completed = ?")
        params.append(1 if filters.completed else 0)
    if filters.due is not None or filters.remind_before is not None:
        where.append("a.kind = 'task' AND a.completed = 0")
    if filters.due == "overdue":
        where.append("a.due_date < ?")
        params.append(filters.as_of.isoformat())
    elif filters.due == "today":
        where.append("a.due_date = ?")
        params.append(filters.as_of.isoformat())
    if filters.remind_before is not None:
        where.append("a.remind_at <= ?")
        params.append(filters.remind_before)
    if filters.link is not None:
        where.append(
            f"a.id IN (SELECT activity_id FROM {LINKS} WHERE link_type = ? AND link_id = ?)"
        )
        params.extend(filters.link)
    key, direction, op = ("a.due_key", "ASC", ">") if filters.due else ("a.at_key", "DESC", "<")
    if after is not None:
        where.append(f"{key} {op} ?")
        params.append(after)
    rows = tx.all(
        f"SELECT a.public, {key} FROM {TABLE} a WHERE {' AND '.join(where)}"
        f" ORDER BY {key} {direction} LIMIT ?",
        (*params, limit + 1),
    )
    items = [orjson.loads(r[0]) for r in rows[:limit]]
    next_key = str(rows[limit - 1][1]) if len(rows) > limit else None
    return items, next_key


def linked_activities(
    tx: Tx, link_type: str, link_id: str, *, limit: int, before: str | None
) -> list[tuple[str, dict[str, Any]]]:
    """Up to `limit` (at_key, activity) linked to the record, newest first, every status,
    only those sorting strictly before `before` when given."""
    where = ["l.link_type = ?", "l.link_id = ?"]
    params: list[Any] = [link_type, link_id]
    if before is not None:
        where.append("l.at_key < ?")
        params.append(before)
    rows = tx.all(
        f"SELECT l.at_key, a.public FROM {LINKS} l JOIN {TABLE} a ON a.id = l.activity_id"
        f" WHERE {' AND '.join(where)} ORDER BY l.at_key DESC LIMIT ?",
        (*params, limit),
    )
    return [(str(r[0]), orjson.loads(r[1])) for r in rows]
