"""``/segments``: saved contact filters, and the contacts each one selects now."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from crm_ledger import segments
from crm_ledger.api.contact_pages import POSITION_HEADER, ContactSort, contact_page
from crm_ledger.api.deps import (
    ConsentsRunnerDep,
    ContactsRunnerDep,
    CrmDep,
    ExpectedVersionDep,
    PrincipalDep,
)
from crm_ledger.api.problems import ProblemError
from crm_ledger.api.responses import etag, resource_response, write_headers
from crm_ledger.api.schemas.contacts import ContactPage
from crm_ledger.api.schemas.segments import (
    SegmentCreate,
    SegmentPage,
    SegmentPublic,
    SegmentUpdate,
)
from crm_ledger.application import Written
from crm_ledger.domain.segment import segment_snapshot
from crm_ledger.projections.contact_search import ContactFilter

router = APIRouter(prefix="/segments", tags=["segments"])


def _answer(written: Written, status: int = 200) -> Response:
    """The segment as JSON with its ETag and log position."""
    return resource_response(written, segment_snapshot, "/segments", status)


@router.post("", status_code=201, response_model=SegmentPublic, summary="Save a segment")
def create_segment(body: SegmentCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    written = segments.create_segment(crm, actor=principal.actor, **body.fields())
    return _answer(written, 201)


@router.get("", summary="List segments, oldest first")
def list_segments(
    crm: CrmDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> SegmentPage:
    if cursor is not None and not cursor.isdigit():
        raise ProblemError(
            400, "malformed_cursor", "Malformed cursor", "the cursor is not one this API returned"
        )
    found, next_position = segments.list_segments(
        crm, limit=limit, after=0 if cursor is None else int(cursor)
    )
    return SegmentPage(
        items=[SegmentPublic.model_validate(segment_snapshot(s)) for s in found],
        next_cursor=None if next_position is None else str(next_position),
    )


@router.get("/{segment_id}", summary="Read one segment (410 once deleted)")
def get_segment(
    segment_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> SegmentPublic:
    segment = segments.get_segment(crm, segment_id)
    response.headers["ETag"] = etag(segment)
    return SegmentPublic.model_validate(segment_snapshot(segment))


@router.patch(
    "/{segment_id}",
    response_model=SegmentPublic,
    summary="Rename, redefine or hand over a segment (If-Match required)",
)
def update_segment(
    segment_id: UUID,
    body: SegmentUpdate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = segments.update_segment(
        crm, segment_id, expected_version=version, actor=principal.actor, changes=body.changes()
    )
    return _answer(written)


@router.delete(
    "/{segment_id}",
    status_code=204,
    summary="Delete a segment (If-Match required; its history is kept)",
)
def delete_segment(
    segment_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    written = segments.delete_segment(
        crm, segment_id, expected_version=version, actor=principal.actor
    )
    return Response(status_code=204, headers=write_headers(written.aggregate, written.position))


@router.get(
    "/{segment_id}/contacts",
    summary="The contacts the segment selects now (paginated)",
    description="Evaluates the saved definition on the contacts list, exactly as the same "
    "filters given to `GET /contacts` would; `sort`, `limit` and `cursor` as there.",
)
def segment_contacts(
    segment_id: UUID,
    crm: CrmDep,
    runner: ContactsRunnerDep,
    consents_runner: ConsentsRunnerDep,
    principal: PrincipalDep,
    sort: Annotated[
        ContactSort | None, Query(description="default: relevance with q, else name")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    min_position: Annotated[
        int | None, Query(ge=0, description=f"wait until the list reflects this {POSITION_HEADER}")
    ] = None,
) -> ContactPage:
    segment = segments.get_segment(crm, segment_id)
    return contact_page(
        crm,
        runner,
        ContactFilter.from_definition(segment.definition),
        sort=sort,
        limit=limit,
        cursor=cursor,
        min_position=min_position,
        consents_runner=consents_runner,
    )
