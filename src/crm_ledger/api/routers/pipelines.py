"""``/pipelines``: sales pipelines and their ordered stages."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from crm_ledger import sales
from crm_ledger.api.deps import (
    CrmDep,
    ExpectedVersionDep,
    PrincipalDep,
)
from crm_ledger.api.read_model_pages import read_model_page
from crm_ledger.api.responses import etag, resource_response
from crm_ledger.api.routers.activities import Cursor, MinPosition
from crm_ledger.api.schemas.sales import (
    PipelineCreate,
    PipelinePage,
    PipelinePublic,
    StageCreate,
    StageRename,
    StageReorder,
)
from crm_ledger.application import Written
from crm_ledger.domain.pipeline import pipeline_snapshot
from crm_ledger.projections import sales_documents

router = APIRouter(prefix="/pipelines", tags=["pipelines"])


def _answer(written: Written, status: int = 200) -> Response:
    """The pipeline as JSON with its ETag and log position."""
    return resource_response(written, pipeline_snapshot, "/pipelines", status)


@router.post("", status_code=201, response_model=PipelinePublic, summary="Create a pipeline")
def create_pipeline(body: PipelineCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    written = sales.create_pipeline(
        crm,
        name=body.name,
        stages=[s.model_dump() for s in body.stages],
        actor=principal.actor,
    )
    return _answer(written, 201)


@router.get("", summary="List pipelines, newest first")
def list_pipelines(
    request: Request,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> PipelinePage:
    page = read_model_page(
        request,
        "pipelines",
        min_position,
        cursor,
        lambda tx, after: sales_documents.list_pipelines(tx, limit=limit, after=after),
    )
    return PipelinePage.model_validate(page)


@router.get("/{pipeline_id}", summary="Read one pipeline")
def get_pipeline(
    pipeline_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> PipelinePublic:
    pipeline = sales.get_pipeline(crm, pipeline_id)
    response.headers["ETag"] = etag(pipeline)
    return PipelinePublic.model_validate(pipeline_snapshot(pipeline))


@router.post(
    "/{pipeline_id}/stages",
    response_model=PipelinePublic,
    summary="Append a stage (If-Match required)",
)
def add_stage(
    pipeline_id: UUID,
    body: StageCreate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = sales.add_stage(
        crm,
        pipeline_id,
        expected_version=version,
        actor=principal.actor,
        name=body.name,
        probability=body.probability,
        forecast_category=body.forecast_category,
    )
    return _answer(written)


@router.patch(
    "/{pipeline_id}/stages/{stage_id}",
    response_model=PipelinePublic,
    summary="Rename a stage (If-Match required)",
)
def rename_stage(
    pipeline_id: UUID,
    stage_id: UUID,
    body: StageRename,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = sales.rename_stage(
        crm,
        pipeline_id,
        str(stage_id),
        expected_version=version,
        actor=principal.actor,
        name=body.name,
    )
    return _answer(written)


@router.post(
    "/{pipeline_id}/stages:reorder",
    response_model=PipelinePublic,
    summary="Reorder the active stages (If-Match required)",
)
def reorder_stages(
    pipeline_id: UUID,
    body: StageReorder,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = sales.reorder_stages(
        crm,
        pipeline_id,
        expected_version=version,
        actor=principal.actor,
        stage_ids=[str(i) for i in body.stage_ids],
    )
    return _answer(written)


@router.post(
    "/{pipeline_id}/stages/{stage_id}/retire",
    response_model=PipelinePublic,
    summary="Retire a stage that holds no open deal (If-Match required)",
)
def retire_stage(
    pipeline_id: UUID,
    stage_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = sales.retire_stage(
        crm, pipeline_id, str(stage_id), expected_version=version, actor=principal.actor
    )
    return _answer(written)
