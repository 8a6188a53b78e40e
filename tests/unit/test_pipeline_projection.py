"""The pipeline read model's event handling and money helpers, without a database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast
from uuid import uuid4

from crm_ledger.domain.deal import Deal
from crm_ledger.domain.pipeline import Pipeline
from crm_ledger.projections.pipeline import PipelineProjection, cents, money, weighted_money
from crm_ledger.storage.sql import Tx

STAGES = [{"name": "Qualified", "probability": 20, "forecast_category": "pipeline"}]


class RecordingTx:
    """Stands in for `Tx`: records the statements it is given."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    def execute(self, query: str, params: Sequence[Any] = ()) -> None:
        self.statements.append((query, tuple(params)))


def test_events_not_followed_are_skipped() -> None:
    """A deal event the read model does not follow (ContactRelinked) writes nothing, and
    its topic is not among the projection's topics; Created is followed."""
    pipeline = Pipeline.create(name="P", stages=STAGES, actor="t")
    deal = Deal.create(
        title="D", contact_id=uuid4(), pipeline=pipeline, currency="EUR", at="2026-01-01", actor="t"
    )
    deal.relink_contact(uuid4(), actor="t")
    created, relinked = deal.collect_events()
    projection = PipelineProjection()
    tx = RecordingTx()
    projection.apply_batch(cast(Tx, tx), [(relinked, 7)])
    assert [] == tx.statements
    assert not any(t.endswith(".ContactRelinked") for t in projection.topics)
    projection.apply_batch(cast(Tx, tx), [(created, 6)])
    assert 1 == len(tx.statements)
    assert tx.statements[0][0].startswith("INSERT INTO proj_pipeline_deals")


def test_money_helpers() -> None:
    """Cents round-trip exactly; weighted values round once, half up."""
    assert (123450, "1234.50", None, "0.00") == (
        cents("1234.50"),
        money(123450),
        cents(None),
        money(0),
    )
    assert "166.67" == weighted_money(33333 * 50)  # 166.665
    assert "125.03" == weighted_money(25005 * 50)  # 125.025
    assert "0.01" == weighted_money(50)  # 0.005
    assert "0.00" == weighted_money(49)  # 0.0049
