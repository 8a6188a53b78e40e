"""``/pipeline/...``: reports over the pipeline read model (board, owners, slipping deals,
stage ageing), as JSON or CSV.

Every report first waits (up to a few seconds) until the read model reached
``min_position`` (the ``X-Log-Position`` of a write; default: every write acknowledged
before the request), else answers 503 ``read_model_behind`` with ``Retry-After``.

CSV: ``?format=csv``, or ``Accept: text/csv`` preferred over JSON. One row per report
line and currency; cells that a spreadsheet would run as a formula get a leading ``'``
(see `crm_ledger.api.reports_common`). The CSV of the slipping list holds every row from
the cursor on (``limit`` is ignored).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from crm_ledger.api.deps import (
    READ_WAIT_SECONDS,
    CrmDep,
    PrincipalDep,
    runner_of,
    wait_for_read_model,
)
from crm_ledger.api.reports_common import (
    CSV_PAGE,
    CSV_RESPONSE,
    AcceptHeader,
    Format,
    csv_response,
    every_page,
    next_cursor,
    records_csv,
    wants_csv,
)
from crm_ledger.api.routers.activities import Cursor, MinPosition, cursor_key
from crm_ledger.api.schemas.pipeline_reports import (
    AgeingPublic,
    BoardPublic,
    OwnersPublic,
    SlippingDeal,
    SlippingPage,
)
from crm_ledger.application import CrmApplication
from crm_ledger.domain.errors import NotFoundError
from crm_ledger.projections import pipeline as model
from crm_ledger.projections.runner import ProjectionRunner
from crm_ledger.storage.sql import Tx

router = APIRouter(prefix="/pipeline", tags=["pipeline reports"])

AsOf = Annotated[date | None, Query(description="the reference day (default: today, UTC)")]


async def get_pipeline_runner(request: Request) -> ProjectionRunner:
    """The runner that keeps the pipeline read model up to date."""
    return runner_of(request, "pipeline")


PipelineRunnerDep = Annotated[ProjectionRunner, Depends(get_pipeline_runner)]


def caught_up(crm: CrmApplication, runner: ProjectionRunner, min_position: int | None) -> None:
    """Block until the pipeline read model reached `min_position` (default: the head)."""
    wait_for_read_model(crm, runner, min_position, name="pipeline", timeout=READ_WAIT_SECONDS)


def _stages(crm: CrmApplication, pipeline_id: UUID) -> list[model.Stage]:
    with crm.db.transaction(write=False) as tx:
        stages = model.stages_of(tx, str(pipeline_id))
    if not stages:
        raise NotFoundError(kind="pipeline", id=str(pipeline_id))
    return stages


def _over_pipeline(
    crm: CrmApplication,
    runner: ProjectionRunner,
    min_position: int | None,
    pipeline_id: UUID,
    query: Callable[[Tx, str, list[model.Stage]], dict[str, Any]],
) -> dict[str, Any]:
    """Wait for the read model, check the pipeline exists, then run `query` over it."""
    caught_up(crm, runner, min_position)
    stages = _stages(crm, pipeline_id)
    with crm.db.transaction(write=False) as tx:
        return query(tx, str(pipeline_id), stages)


def _today() -> date:
    return datetime.now(UTC).date()


@router.get(
    "/slipping",
    response_model=SlippingPage,
    responses=CSV_RESPONSE,
    summary="Open deals past their expected close date",
    description="Open deals whose `expected_close` is before `as_of`, oldest first, "
    "cursor-paginated; filter by pipeline or owner.",
)
def slipping_deals(
    crm: CrmDep,
    runner: PipelineRunnerDep,
    principal: PrincipalDep,
    as_of: AsOf = None,
    pipeline_id: UUID | None = None,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
    format: Format = None,
    accept: AcceptHeader = None,
) -> Response | SlippingPage:
    caught_up(crm, runner, min_position)
    after = cursor_key(cursor)
    day = as_of or _today()
    filters = model.SlippingFilter(
        as_of=day, pipeline_id=None if pipeline_id is None else str(pipeline_id), owner=owner
    )
    if wants_csv(format, accept):
        with crm.db.transaction(write=False) as tx:
            rows = every_page(
                tx,
                after,
                lambda tx, after: model.slipping(tx, filters, limit=CSV_PAGE, after=after),
            )
        return records_csv(f"pipeline-slipping-{day.isoformat()}", SlippingDeal, rows)
    with crm.db.transaction(write=False) as tx:
        items, next_key = model.slipping(tx, filters, limit=limit, after=after)
    return SlippingPage.model_validate(
        {
            "as_of": day.isoformat(),
            "items": items,
            "next_cursor": next_cursor(next_key),
        }
    )


@router.get(
    "/{pipeline_id}/board",
    response_model=BoardPublic,
    responses=CSV_RESPONSE,
    summary="Open deals per stage: count, amount and weighted amount per currency",
    description="Weighted = amount x stage probability / 100, rounded to cents (half up) "
    "once per figure. Won and lost deals are summed apart. A retired stage is listed "
    "only while it holds open deals.",
)
def pipeline_board(
    pipeline_id: UUID,
    crm: CrmDep,
    runner: PipelineRunnerDep,
    principal: PrincipalDep,
    min_position: MinPosition = None,
    format: Format = None,
    accept: AcceptHeader = None,
) -> Response | BoardPublic:
    report = _over_pipeline(crm, runner, min_position, pipeline_id, model.board)
    if not wants_csv(format, accept):
        return BoardPublic.model_validate(report)
    header = ["status", "stage_id", "stage_name", "probability", "retired"]
    header += ["currency", "count", "amount", "weighted"]
    rows: list[list[Any]] = []
    for stage in report["stages"]:
        first = [model.OPEN, stage["stage_id"], stage["name"], stage["probability"]]
        first.append(stage["retired"])
        if not stage["totals"]:
            rows.append([*first, None, 0, None, None])
        for t in stage["totals"]:
            rows.append([*first, t["currency"], t["count"], t["amount"], t["weighted"]])
    for status in (model.WON, model.LOST):
        for t in report[status]["totals"]:
            closed = [status, None, None, None, None]
            rows.append([*closed, t["currency"], t["count"], t["amount"], None])
    return csv_response(f"pipeline-board-{pipeline_id}", header, rows)


@router.get(
    "/{pipeline_id}/owners",
    response_model=OwnersPublic,
    responses=CSV_RESPONSE,
    summary="Open deals per owner: count, amount and weighted amount per currency",
)
def pipeline_owners(
    pipeline_id: UUID,
    crm: CrmDep,
    runner: PipelineRunnerDep,
    principal: PrincipalDep,
    min_position: MinPosition = None,
    format: Format = None,
    accept: AcceptHeader = None,
) -> Response | OwnersPublic:
    report = _over_pipeline(crm, runner, min_position, pipeline_id, model.owners)
    if not wants_csv(format, accept):
        return OwnersPublic.model_validate(report)
    header = ["owner", "currency", "count", "amount", "weighted"]
    rows = [
        [row["owner"], t["currency"], t["count"], t["amount"], t["weighted"]]
        for row in report["owners"]
        for t in row["totals"]
    ]
    return csv_response(f"pipeline-owners-{pipeline_id}", header, rows)


@router.get(
    "/{pipeline_id}/ageing",
    response_model=AgeingPublic,
    responses=CSV_RESPONSE,
    summary="Per stage: open deals, average and most whole days in the stage",
)
def pipeline_ageing(
    pipeline_id: UUID,
    crm: CrmDep,
    runner: PipelineRunnerDep,
    principal: PrincipalDep,
    as_of: AsOf = None,
    min_position: MinPosition = None,
    format: Format = None,
    accept: AcceptHeader = None,
) -> Response | AgeingPublic:
    day = as_of or _today()
    report = _over_pipeline(
        crm,
        runner,
        min_position,
        pipeline_id,
        lambda tx, pipeline, stages: model.ageing(tx, pipeline, stages, day),
    )
    if not wants_csv(format, accept):
        return AgeingPublic.model_validate(report)
    header = ["stage_id", "stage_name", "count", "average_days", "max_days"]
    rows = [
        [s["stage_id"], s["name"], s["count"], s["average_days"], s["max_days"]]
        for s in report["stages"]
    ]
    return csv_response(f"pipeline-ageing-{pipeline_id}-{day.isoformat()}", header, rows)
