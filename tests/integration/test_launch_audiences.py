"""The launch audiences read model (SQLite and PostgreSQL): every chunk of a recorded
audience becomes (contact, campaign) rows, incrementally and by a rebuild alike."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from crm_ledger import campaigns
from crm_ledger.application import CrmApplication
from crm_ledger.domain.campaign import AUDIENCE_CHUNK, Campaign
from crm_ledger.projections.launch_audiences import TABLE, campaigns_launched_to
from tests.property.projection_helpers import application, catch_up, rebuild, table_rows

NAMES = ["launch_audiences"]


def launch(crm: CrmApplication, code: str, contact_ids: list[UUID]) -> str:
    campaign = Campaign.plan(name=code, code=code, actor="user:ana")
    crm.store(campaign, actor="user:ana")
    campaigns.launch_campaign(
        crm, campaign, contact_ids, position=None, filters={}, actor="user:ana"
    )
    return str(campaign.id)


def test_every_chunk_is_listed_and_a_rebuild_agrees(database_url: str, tmp_path: Path) -> None:
    many = [UUID(int=n) for n in range(1, 2 * AUDIENCE_CHUNK + 4)]  # three chunks
    with application(database_url, tmp_path) as crm:
        big = launch(crm, "big", many)
        small = launch(crm, "small", [many[0], many[-1], UUID(int=10**6)])
        launch(crm, "empty", [])
        catch_up(crm, NAMES, batch_size=2)
        incremental = table_rows(crm, TABLE)
        assert len(incremental) == len(many) + 3
        with crm.db.transaction(write=False) as tx:
            assert campaigns_launched_to(tx, [str(many[-1])]) == sorted([big, small])
            assert campaigns_launched_to(tx, [str(many[AUDIENCE_CHUNK])]) == [big]
            assert campaigns_launched_to(tx, [str(UUID(int=10**6))]) == [small]
            assert campaigns_launched_to(tx, [str(UUID(int=10**7))]) == []
            assert campaigns_launched_to(tx, []) == []
        rebuild(crm, NAMES, bulk=False, batch_size=3)
        assert table_rows(crm, TABLE) == incremental
