"""The leads read model: one row per lead, for ``GET /leads``.

Like the activities read model, each row keeps the lead's state as a library snapshot, so
applying an event is the aggregate's own ``mutate``, and the row's ``public`` column is
exactly what ``GET /leads/{id}`` shows. Queries served: filters on status, owner, source,
campaign, a minimum score and a case-insensitive substring of name, company or email;
newest first or highest score first, with keyset pagination on one text sort key per
order (``created_key``, ``score_key``), compared bytewise (``COLLATE "C"`` on
PostgreSQL), so SQL order is Python's string order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from crm_ledger.domain.lead import OPEN, Lead, lead_snapshot
from crm_ledger.projections.activities import SEP  # one separator for every list cursor
from crm_ledger.projections.contact_matches import email_key, escape_like
from crm_ledger.projections.snapshot_rows import SnapshotRows, page
from crm_ledger.storage.sql import Tx, equalities

TABLE = "proj_leads"
LEAD_EVENTS = (
    "Registered",
    "Updated",
    "Scored",
    "Contacted",
    "Qualified",
    "Disqualified",
    "Reopened",
    "Converted",
    "Erased",
)
_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_leads ("
    " id TEXT PRIMARY KEY,"
    " status TEXT NOT NULL,"
    " owner TEXT,"
    " source TEXT,"
    " campaign TEXT,"
    " score INTEGER NOT NULL,"
    " search TEXT NOT NULL,"
    " created_key {bintext} NOT NULL,"
    " score_key {bintext} NOT NULL,"
    " version {bigint} NOT NULL,"
    " public TEXT NOT NULL,"
    " snapshot {blob} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS proj_leads_created ON proj_leads (created_key)",
    "CREATE INDEX IF NOT EXISTS proj_leads_score ON proj_leads (score_key)",
    "CREATE INDEX IF NOT EXISTS proj_leads_status ON proj_leads (status, created_key)",
    "CREATE INDEX IF NOT EXISTS proj_leads_owner ON proj_leads (owner, created_key)",
)
Order = Literal["-created", "-score"]


def search_text(public: dict[str, Any]) -> str:
    """What ``q`` matches: name, company and emails, lower-cased, ``|``-separated."""
    parts = [public["name"], public["company_name"] or "", *public["emails"]]
    return "|" + "|".join(part.lower() for part in parts) + "|"


def sort_keys(public: dict[str, Any]) -> tuple[str, str]:
    """(newest-first key, highest-score-first key); both sort DESC.

    The score key puts the score (3 digits) before the creation time, so that one
    descending order is: highest score first, then newest first."""
    created = f"{public['created_at']}{SEP}{public['id']}"
    return created, f"{public['score']:03d}{SEP}{created}"


class LeadsProjection(SnapshotRows[Lead]):
    """Maintains ``proj_leads``."""

    name = "leads"
    aggregate = Lead
    table = TABLE
    events = LEAD_EVENTS
    statements = _DDL

    def write(self, tx: Tx, lead: Lead, existed: bool) -> None:
        public = lead_snapshot(lead)
        created_key, score_key = sort_keys(public)
        self.store(
            tx,
            lead,
            public,
            existed,
            status=public["status"],
            owner=public["owner"],
            source=public["source"],
            campaign=public["campaign"],
            score=public["score"],
            search=search_text(public),
            created_key=created_key,
            score_key=score_key,
        )


@dataclass(frozen=True)
class LeadFilter:
    """Filters of ``GET /leads`` (all optional; ``q`` is a substring of the name, the
    company name or an email, any case)."""

    status: str | None = None
    owner: str | None = None
    source: str | None = None
    campaign: str | None = None
    min_score: int | None = None
    q: str | None = None


def list_leads(
    tx: Tx, filters: LeadFilter, *, order: Order, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of leads and the sort key to pass as `after` for the next (or None)."""
    where, params = equalities(
        ("status", filters.status),
        ("owner", filters.owner),
        ("source", filters.source),
        ("campaign", filters.campaign),
    )
    if filters.min_score is not None:
        where.append("score >= ?")
        params.append(filters.min_score)
    if filters.q:
        where.append("search LIKE ? ESCAPE '\\'")
        params.append(f"%{escape_like(filters.q.lower())}%")
    key = "created_key" if order == "-created" else "score_key"
    return page(tx, TABLE, key, where, params, limit=limit, after=after)


def find_lead_matches(tx: Tx, *, emails: Iterable[str]) -> list[dict[str, Any]]:
    """Open leads (new, contacted, qualified) sharing any of `emails` (compared as the
    contacts' duplicate search compares them), as ``{lead_id, name, matched_on:
    ["email"]}`` sorted by name. ``search`` holds each email lower-cased between ``|``:
    the LIKE narrows the candidates, the comparison on each one's public JSON decides."""
    emails = [e.strip() for e in emails if e.strip()]
    wanted = set(map(email_key, emails))
    if not wanted:
        return []
    patterns = [f"%|{escape_like(e.lower())}|%" for e in emails]
    statuses = sorted(s.value for s in OPEN)
    like = " OR ".join("search LIKE ? ESCAPE '\\'" for _ in patterns)
    rows = tx.all(
        f"SELECT public FROM {TABLE} WHERE status IN ({', '.join('?' * len(statuses))})"
        f" AND ({like})",
        [*statuses, *patterns],
    )
    matches = []
    for (public,) in rows:
        lead = orjson.loads(public)
        if wanted & {email_key(e) for e in lead["emails"]}:
            matches.append({"lead_id": lead["id"], "name": lead["name"], "matched_on": ["email"]})
    return sorted(matches, key=lambda m: (m["name"].casefold(), m["lead_id"]))
