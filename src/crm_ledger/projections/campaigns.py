"""The campaign read models: ``proj_campaigns`` (one row per campaign, for
``GET /campaigns``) and ``proj_campaign_responses`` (one row per response, for a
campaign's responses and results). Results also count the leads whose ``campaign``
label is the campaign's code (the leads read model) and sum, per currency, the won deals
those leads were converted into (the deals read model)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import orjson

from crm_ledger.domain.campaign import (
    Campaign,
    CampaignResponse,
    ResponseKind,
    campaign_snapshot,
    response_snapshot,
)
from crm_ledger.projections.activities import SEP
from crm_ledger.projections.base import public_states
from crm_ledger.projections.deals import DEALS
from crm_ledger.projections.leads import TABLE as LEADS
from crm_ledger.projections.snapshot_rows import SnapshotRows, page
from crm_ledger.storage.sql import Tx, equalities

CAMPAIGNS = "proj_campaigns"
RESPONSES = "proj_campaign_responses"
_CAMPAIGN_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_campaigns ("
    " id TEXT PRIMARY KEY,"
    " code TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " created_key {bintext} NOT NULL,"
    " version {bigint} NOT NULL,"
    " public TEXT NOT NULL,"
    " snapshot {blob} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS proj_campaigns_created ON proj_campaigns (created_key)",
)
_RESPONSE_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_campaign_responses ("
    " id TEXT PRIMARY KEY,"
    " campaign_id TEXT NOT NULL,"
    " contact_id TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " at_key {bintext} NOT NULL,"
    " version {bigint} NOT NULL,"
    " public TEXT NOT NULL,"
    " snapshot {blob} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS proj_campaign_responses_campaign"
    " ON proj_campaign_responses (campaign_id, at_key)",
    "CREATE INDEX IF NOT EXISTS proj_campaign_responses_contact"
    " ON proj_campaign_responses (contact_id, at_key)",
)


class CampaignsProjection(SnapshotRows[Campaign]):
    """Maintains ``proj_campaigns``."""

    name = "campaigns"
    aggregate = Campaign
    table = CAMPAIGNS
    events = ("Planned", "Updated", "Launched", "Completed", "Cancelled")
    statements = _CAMPAIGN_DDL

    def write(self, tx: Tx, campaign: Campaign, existed: bool) -> None:
        public = campaign_snapshot(campaign)
        key = f"{public['created_at']}{SEP}{public['id']}"
        self.store(
            tx, campaign, public, existed, code=campaign.code, status=public["status"],
            created_key=key,
        )  # fmt: skip


class CampaignResponsesProjection(SnapshotRows[CampaignResponse]):
    """Maintains ``proj_campaign_responses``."""

    name = "campaign_responses"
    aggregate = CampaignResponse
    table = RESPONSES
    events = ("Recorded", "Relinked")
    statements = _RESPONSE_DDL

    def write(self, tx: Tx, response: CampaignResponse, existed: bool) -> None:
        public = response_snapshot(response)
        self.store(
            tx,
            response,
            public,
            existed,
            campaign_id=public["campaign_id"],
            contact_id=public["contact_id"],
            kind=public["kind"],
            at_key=f"{public['at']}{SEP}{public['id']}",
        )


def list_campaigns(
    tx: Tx, *, status: str | None, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of campaigns, newest first, and the key of the next (or None)."""
    where, params = equalities(("status", status))
    return page(tx, CAMPAIGNS, "created_key", where, params, limit=limit, after=after)


def list_responses(
    tx: Tx,
    *,
    campaign_id: str | None = None,
    contact_id: str | None = None,
    kind: str | None = None,
    limit: int,
    after: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of responses (of a campaign, a contact, a kind), newest first."""
    where, params = equalities(
        ("campaign_id", campaign_id), ("contact_id", contact_id), ("kind", kind)
    )
    return page(tx, RESPONSES, "at_key", where, params, limit=limit, after=after)


def results(tx: Tx, campaign_id: str, code: str) -> dict[str, Any]:
    """Per response kind, how many responses and how many distinct contacts; and the
    leads labelled with the campaign's code: how many, how many converted."""
    counted = {
        str(kind): (int(total), int(people))
        for kind, total, people in tx.all(
            f"SELECT kind, COUNT(*) AS responses, COUNT(DISTINCT contact_id) AS people"
            f" FROM {RESPONSES}"
            " WHERE campaign_id = ? GROUP BY kind",
            (campaign_id,),
        )
    }
    statuses = dict(
        tx.all(f"SELECT status, COUNT(*) FROM {LEADS} WHERE campaign = ? GROUP BY status", (code,))
    )
    by_kind = []
    for kind in ResponseKind:
        total, people = counted.get(kind.value, (0, 0))
        by_kind.append({"kind": kind.value, "responses": total, "contacts": people})
    return {
        "responses": by_kind,
        "leads": sum(int(n) for n in statuses.values()),
        "converted_leads": int(statuses.get("converted", 0)),
        "won": _won(tx, code),
    }


def _won(tx: Tx, code: str) -> list[dict[str, Any]]:
    """Per currency, the won deals the campaign's converted leads became, and their sum."""
    converted = tx.all(
        f"SELECT public FROM {LEADS} WHERE campaign = ? AND status = 'converted'", (code,)
    )
    deal_ids = [
        str(lead["conversion"]["deal_id"])
        for lead in (orjson.loads(row[0]) for row in converted)
        if lead["conversion"] and lead["conversion"]["deal_id"]
    ]
    totals: dict[str, list[Decimal]] = defaultdict(list)
    for at in range(0, len(deal_ids), 500):
        chunk = deal_ids[at : at + 500]
        marks = ", ".join("?" for _ in chunk)
        for (public,) in tx.all(
            f"SELECT public FROM {DEALS} WHERE id IN ({marks}) AND status = 'won'", chunk
        ):
            deal = orjson.loads(public)
            totals[deal["currency"]].append(Decimal(deal["amount"] or "0"))
    return [
        {"currency": currency, "deals": len(amounts), "amount": f"{sum(amounts, Decimal(0)):.2f}"}
        for currency, amounts in sorted(totals.items())
    ]


def campaigns_by_id(tx: Tx, campaign_ids: list[str]) -> list[dict[str, Any]]:
    """The campaigns (public state) with these ids, by id."""
    return public_states(tx, CAMPAIGNS, sorted(campaign_ids))
