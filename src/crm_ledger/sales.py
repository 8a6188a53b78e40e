"""Sales use cases (pipelines and deals), called by the API: one function per use case.

Rules that span aggregates live here: a deal's contact must exist, its stage must be an
active stage of its pipeline, a stage that still holds open deals cannot be retired, and
a deal's product line names an existing, active product, priced from the catalogue
(``catalog.price_for``) when the caller gives no unit price.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from crm_ledger import catalog
from crm_ledger.application import CrmApplication, Written
from crm_ledger.domain.contact import Contact
from crm_ledger.domain.deal import Deal
from crm_ledger.domain.pipeline import Pipeline, stage_id_of
from crm_ledger.domain.sales_errors import StageInUseError
from crm_ledger.kinds import Kind
from crm_ledger.ledger.envelope import format_timestamp
from crm_ledger.listing import created, topic_of

PIPELINE = Kind(Pipeline, "pipeline")
DEAL = Kind(Deal, "deal")

DEAL_CREATED_TOPIC = topic_of(Deal)


def _now() -> str:
    return format_timestamp(datetime.now(UTC))


# -- pipelines ------------------------------------------------------------------------


def create_pipeline(
    crm: CrmApplication, *, name: str, stages: Iterable[Mapping[str, Any]], actor: str
) -> Written:
    """Create a pipeline with its first stages."""
    pipeline = Pipeline.create(name=name, stages=stages, actor=actor)
    return Written(pipeline, crm.store(pipeline, actor=actor))


def get_pipeline(crm: CrmApplication, pipeline_id: UUID) -> Pipeline:
    """Return the pipeline or raise NotFoundError."""
    return PIPELINE.load(crm, pipeline_id)


def add_stage(
    crm: CrmApplication,
    pipeline_id: UUID,
    *,
    expected_version: int,
    actor: str,
    name: str,
    probability: int,
    forecast_category: str,
) -> Written:
    """Append a stage to the pipeline."""

    def command(pipeline: Pipeline) -> None:
        pipeline.add_stage(
            name=name, probability=probability, forecast_category=forecast_category, actor=actor
        )

    return PIPELINE.change(crm, pipeline_id, expected_version, actor, command)


def rename_stage(
    crm: CrmApplication,
    pipeline_id: UUID,
    stage_id: str,
    *,
    expected_version: int,
    actor: str,
    name: str,
) -> Written:
    """Rename an active stage."""
    return PIPELINE.change(
        crm,
        pipeline_id,
        expected_version,
        actor,
        lambda p: p.rename_stage(stage_id, name=name, actor=actor),
    )


def reorder_stages(
    crm: CrmApplication,
    pipeline_id: UUID,
    *,
    expected_version: int,
    actor: str,
    stage_ids: list[str],
) -> Written:
    """Put the active stages in a new order."""
    return PIPELINE.change(
        crm,
        pipeline_id,
        expected_version,
        actor,
        lambda p: p.reorder_stages(stage_ids, actor=actor),
    )


def retire_stage(
    crm: CrmApplication, pipeline_id: UUID, stage_id: str, *, expected_version: int, actor: str
) -> Written:
    """Retire a stage, refused (StageInUseError) while it holds open deals."""

    def command(pipeline: Pipeline) -> None:
        stage = pipeline.active_stage(stage_id)  # unknown or already retired: refused first
        count = open_deals_in_stage(crm, pipeline.id, stage["stage_id"])
        if count:
            raise StageInUseError(stage_id=stage["stage_id"], open_deals=count)
        pipeline.retire_stage(stage["stage_id"], actor=actor)

    return PIPELINE.change(crm, pipeline_id, expected_version, actor, command)


def deal_ids(crm: CrmApplication) -> Iterator[UUID]:
    """The id of every deal ever opened, oldest first (a scan of the notification log)."""
    for _, deal_id in created(crm, DEAL_CREATED_TOPIC):
        yield deal_id


def open_deals_in_stage(crm: CrmApplication, pipeline_id: UUID, stage_id: str) -> int:
    """How many open deals are in the stage now.

    Replays every deal: fine for now; a projection should replace it when deals grow.
    """
    wanted = stage_id_of(stage_id)
    count = 0
    for deal_id in deal_ids(crm):
        deal = DEAL.load(crm, deal_id)
        if deal.pipeline_id == pipeline_id and deal.stage_id == wanted and not deal.is_closed:
            count += 1
    return count


# -- deals ----------------------------------------------------------------------------


def create_deal(
    crm: CrmApplication,
    *,
    actor: str,
    title: str,
    contact_id: UUID,
    pipeline_id: UUID,
    currency: str,
    stage_id: str | None = None,
    amount: Decimal | str | None = None,
    expected_close: date | str | None = None,
    owner: str | None = None,
) -> Written:
    """Open a deal for an existing, active contact in an active stage of a pipeline."""
    contact = crm.load(Contact, contact_id, "contact")
    contact.check_active()
    pipeline = get_pipeline(crm, pipeline_id)
    deal = Deal.create(
        title=title,
        contact_id=contact.id,
        pipeline=pipeline,
        stage_id=stage_id,
        amount=amount,
        currency=currency,
        expected_close=expected_close,
        owner=owner,
        at=_now(),
        actor=actor,
    )
    return Written(deal, crm.store(deal, actor=actor))


def get_deal(crm: CrmApplication, deal_id: UUID) -> Deal:
    """Return the deal or raise NotFoundError."""
    return DEAL.load(crm, deal_id)


def update_deal(
    crm: CrmApplication,
    deal_id: UUID,
    *,
    expected_version: int,
    actor: str,
    changes: dict[str, Any],
) -> Written:
    """Change some of title, amount, currency, expected_close, owner."""
    return DEAL.change(
        crm, deal_id, expected_version, actor, lambda d: d.update(actor=actor, **changes)
    )


def move_deal(
    crm: CrmApplication, deal_id: UUID, *, expected_version: int, actor: str, stage_id: str
) -> Written:
    """Move an open deal to another active stage of its pipeline."""
    at = _now()

    def command(deal: Deal) -> None:
        pipeline = get_pipeline(crm, deal.pipeline_id)
        deal.move(pipeline, stage_id, at=at, actor=actor)

    return DEAL.change(crm, deal_id, expected_version, actor, command)


def win_deal(crm: CrmApplication, deal_id: UUID, *, expected_version: int, actor: str) -> Written:
    """Close the deal as won."""
    at = _now()
    return DEAL.change(crm, deal_id, expected_version, actor, lambda d: d.win(at=at, actor=actor))


def lose_deal(
    crm: CrmApplication, deal_id: UUID, *, expected_version: int, actor: str, reason: str
) -> Written:
    """Close the deal as lost, with a reason."""
    at = _now()
    return DEAL.change(
        crm, deal_id, expected_version, actor, lambda d: d.lose(reason=reason, at=at, actor=actor)
    )


def reopen_deal(
    crm: CrmApplication, deal_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Open a won or lost deal again."""
    return DEAL.change(crm, deal_id, expected_version, actor, lambda d: d.reopen(actor=actor))


# -- deal lines -----------------------------------------------------------------------


def _today() -> date:
    return datetime.now(UTC).date()


def add_deal_line(
    crm: CrmApplication,
    deal_id: UUID,
    *,
    expected_version: int,
    actor: str,
    quantity: Decimal | str,
    product_id: UUID | None = None,
    description: str | None = None,
    unit_price: Decimal | str | None = None,
    discount_percent: Decimal | str | None = None,
) -> Written:
    """Add a line to an open deal.

    With `product_id`, the product must exist and be active, and its name is the default
    description. When `unit_price` is omitted, the catalogue prices `quantity` units in the
    deal's currency today (``catalog.price_for``; NoPriceError if no list applies), and
    the price list's discount applies unless `discount_percent` is given. Without a
    product, description and unit price are required.
    """

    def command(deal: Deal) -> None:
        price, discount, text = unit_price, discount_percent, description
        if product_id is not None and not deal.is_closed:  # a closed deal refuses first
            product = catalog.get_product(crm, product_id)
            product.check_active()
            text = product.name if text is None else text
            if price is None:
                found = catalog.price_for(
                    crm, product.id, currency=deal.currency, on=_today(), quantity=quantity
                )
                price = found.unit_price
                discount = found.discount_percent if discount is None else discount
        deal.add_line(product_id, text, quantity, price, discount, actor=actor)

    return DEAL.change(crm, deal_id, expected_version, actor, command)


def update_deal_line(
    crm: CrmApplication,
    deal_id: UUID,
    line_id: UUID,
    *,
    expected_version: int,
    actor: str,
    changes: dict[str, Any],
) -> Written:
    """Change some of a line's description, quantity, unit_price, discount_percent."""
    return DEAL.change(
        crm,
        deal_id,
        expected_version,
        actor,
        lambda d: d.update_line(line_id, actor=actor, **changes),
    )


def remove_deal_line(
    crm: CrmApplication, deal_id: UUID, line_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Remove a line from an open deal (its amount becomes the sum of the rest)."""
    return DEAL.change(
        crm, deal_id, expected_version, actor, lambda d: d.remove_line(line_id, actor=actor)
    )
