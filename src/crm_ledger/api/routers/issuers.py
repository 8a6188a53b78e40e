"""``/issuers``: who invoices, their numbering series and their VERI*FACTU chain."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from crm_ledger import invoicing
from crm_ledger.api.deps import CrmDep, ExpectedVersionDep, PrincipalDep
from crm_ledger.api.read_model_pages import read_model_page
from crm_ledger.api.responses import etag, resource_response
from crm_ledger.api.routers.activities import Cursor, MinPosition
from crm_ledger.api.schemas.invoicing import (
    ChainPage,
    ChainRecord,
    IssuerCreate,
    IssuerPage,
    IssuerPublic,
    SeriesCreate,
    SimplifiedLimitUpdate,
)
from crm_ledger.application import Written
from crm_ledger.domain.issuer import issuer_snapshot
from crm_ledger.projections.issuers import list_issuers

router = APIRouter(prefix="/issuers", tags=["invoicing"])


def _answer(written: Written, status: int = 200) -> Response:
    """The issuer as JSON with its ETag and log position."""
    return resource_response(written, issuer_snapshot, "/issuers", status)


@router.post("", status_code=201, response_model=IssuerPublic, summary="Register an issuer")
def register_issuer(body: IssuerCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    return _answer(invoicing.register_issuer(crm, actor=principal.actor, **body.fields()), 201)


@router.get("", summary="List issuers, newest first")
def list_all(
    request: Request,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    min_position: MinPosition = None,
) -> IssuerPage:
    page = read_model_page(
        request,
        "issuers",
        min_position,
        cursor,
        lambda tx, after: list_issuers(tx, limit=limit, after=after),
    )
    return IssuerPage.model_validate(page)


@router.get("/{issuer_id}", summary="Read one issuer (series, next numbers, chain head)")
def get_issuer(
    issuer_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> IssuerPublic:
    issuer = invoicing.get_issuer(crm, issuer_id)
    response.headers["ETag"] = etag(issuer)
    return IssuerPublic.model_validate(issuer_snapshot(issuer))


@router.post("/{issuer_id}/series", response_model=IssuerPublic, summary="Open a series (If-Match)")
def add_series(
    issuer_id: UUID,
    body: SeriesCreate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = invoicing.add_series(
        crm,
        issuer_id,
        expected_version=version,
        actor=principal.actor,
        code=body.code,
        pattern=body.pattern,
    )
    return _answer(written)


@router.put(
    "/{issuer_id}/simplified-limit",
    response_model=IssuerPublic,
    summary="Set the highest total of the issuer's simplified invoices (F2) (If-Match)",
)
def set_simplified_limit(
    issuer_id: UUID,
    body: SimplifiedLimitUpdate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = invoicing.set_simplified_limit(
        crm,
        issuer_id,
        expected_version=version,
        actor=principal.actor,
        simplified_limit=body.simplified_limit,
    )
    return _answer(written)


@router.get(
    "/{issuer_id}/verifactu/records",
    summary="The issuer's VERI*FACTU records (alta, anulación), in chain order",
)
def verifactu_records(
    issuer_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> ChainPage:
    items, following = invoicing.issuer_records(
        crm, issuer_id, after=int(cursor) if cursor else 0, limit=limit
    )
    return ChainPage(
        items=[ChainRecord.model_validate(item) for item in items],
        next_cursor=None if following is None else str(following),
    )
