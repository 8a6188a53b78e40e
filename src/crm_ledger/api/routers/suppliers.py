"""``/suppliers``: who the company buys from (contact, fiscal identity, payment terms)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from crm_ledger import purchasing
from crm_ledger.api.deps import CrmDep, ExpectedVersionDep, PrincipalDep
from crm_ledger.api.responses import etag, resource_response
from crm_ledger.api.schemas.purchasing import (
    SupplierCreate,
    SupplierPage,
    SupplierPublic,
    SupplierUpdate,
)
from crm_ledger.application import Written
from crm_ledger.domain.supplier import supplier_snapshot

router = APIRouter(prefix="/suppliers", tags=["purchasing"])


def _answer(written: Written, status: int = 200) -> Response:
    """The supplier as JSON with its ETag and log position."""
    return resource_response(written, supplier_snapshot, "/suppliers", status)


@router.post(
    "",
    status_code=201,
    response_model=SupplierPublic,
    summary="Register a supplier for a contact (IBAN checked with ISO 13616 mod 97)",
)
def register_supplier(body: SupplierCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    written = purchasing.register_supplier(crm, actor=principal.actor, **body.model_dump())
    return _answer(written, 201)


@router.get("", summary="List suppliers, oldest first")
def list_suppliers(
    crm: CrmDep,
    principal: PrincipalDep,
    active: Annotated[bool | None, Query(description="only active (true) or inactive")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> SupplierPage:
    items, next_position = purchasing.list_suppliers(
        crm, active=active, limit=limit, after=int(cursor) if cursor else 0
    )
    return SupplierPage(
        items=[SupplierPublic.model_validate(supplier_snapshot(s)) for s in items],
        next_cursor=None if next_position is None else str(next_position),
    )


@router.get("/{supplier_id}", summary="Read one supplier")
def get_supplier(
    supplier_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> SupplierPublic:
    supplier = purchasing.get_supplier(crm, supplier_id)
    response.headers["ETag"] = etag(supplier)
    return SupplierPublic.model_validate(supplier_snapshot(supplier))


@router.patch(
    "/{supplier_id}",
    response_model=SupplierPublic,
    summary="Change some fields (If-Match required)",
)
def update_supplier(
    supplier_id: UUID,
    body: SupplierUpdate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = purchasing.update_supplier(
        crm, supplier_id, expected_version=version, actor=principal.actor, changes=body.changes()
    )
    return _answer(written)


@router.post(
    "/{supplier_id}/deactivate",
    response_model=SupplierPublic,
    summary="Stop buying from the supplier (If-Match required)",
)
def deactivate_supplier(
    supplier_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    written = purchasing.deactivate_supplier(
        crm, supplier_id, expected_version=version, actor=principal.actor
    )
    return _answer(written)
