"""The launch audiences read model: for each contact, the campaigns launched to it.

A campaign's audience at launch is recorded as the ``Listed`` and ``Continued`` events of
its ``LaunchAudience`` (`crm_ledger.domain.campaign`), each naming the campaign and a
chunk of contact ids. ``proj_launch_audiences`` holds one row per (contact, campaign), so
a person's data (``GET /contacts/{id}/personal-data``) can say which campaigns were sent
to them without reading every campaign's list. Rows never change: an audience is written
once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.utils import get_topic

from crm_ledger.domain.campaign import CONTINUED, LISTED
from crm_ledger.projections.base import Dispatching, Handler
from crm_ledger.storage.sql import Tx

TABLE = "proj_launch_audiences"
_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_launch_audiences ("
    " contact_id TEXT NOT NULL,"
    " campaign_id TEXT NOT NULL,"
    " PRIMARY KEY (contact_id, campaign_id))",
)


class LaunchAudiencesProjection(Dispatching):
    """Maintains ``proj_launch_audiences``."""

    name = "launch_audiences"
    statements = _DDL

    def __init__(self) -> None:
        self._handlers: dict[type, Handler] = {LISTED: self._listed, CONTINUED: self._listed}
        self.topics = tuple(get_topic(cls) for cls in self._handlers)

    @staticmethod
    def _listed(tx: Tx, event: Any) -> None:
        campaign = str(event.campaign_id)
        tx.executemany(
            f"INSERT INTO {TABLE} (contact_id, campaign_id) VALUES (?, ?)"
            " ON CONFLICT (contact_id, campaign_id) DO NOTHING",
            [(contact, campaign) for contact in event.contact_ids],
        )


def campaigns_launched_to(tx: Tx, contact_ids: Sequence[str]) -> list[str]:
    """The campaigns whose launch audience held any of `contact_ids`, by id."""
    if not contact_ids:
        return []
    marks = ", ".join("?" * len(contact_ids))
    rows = tx.all(
        f"SELECT DISTINCT campaign_id FROM {TABLE} WHERE contact_id IN ({marks})"
        " ORDER BY campaign_id",
        list(contact_ids),
    )
    return [str(row[0]) for row in rows]
