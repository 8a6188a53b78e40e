"""``/products``: the articles the company sells."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from crm_ledger import catalog
from crm_ledger.api.deps import CrmDep, ExpectedVersionDep, PrincipalDep
from crm_ledger.api.responses import etag, resource_response
from crm_ledger.api.schemas.catalog import ProductCreate, ProductPage, ProductPublic, ProductUpdate
from crm_ledger.application import Written
from crm_ledger.domain.product import product_snapshot

router = APIRouter(prefix="/products", tags=["products"])


def _answer(written: Written, status: int = 200) -> Response:
    """The product as JSON with its ETag and log position."""
    return resource_response(written, product_snapshot, "/products", status)


@router.post(
    "",
    status_code=201,
    response_model=ProductPublic,
    summary="Create a product (409 sku_taken when the SKU exists)",
)
def create_product(body: ProductCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    written = catalog.create_product(crm, actor=principal.actor, **body.model_dump())
    return _answer(written, 201)


@router.get("", summary="List products, oldest first")
def list_products(
    crm: CrmDep,
    principal: PrincipalDep,
    active: Annotated[bool | None, Query(description="only active (true) or inactive")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> ProductPage:
    items, next_position = catalog.list_products(
        crm, active=active, limit=limit, after=int(cursor) if cursor else 0
    )
    return ProductPage(
        items=[ProductPublic.model_validate(product_snapshot(p)) for p in items],
        next_cursor=None if next_position is None else str(next_position),
    )


@router.get("/{product_id}", summary="Read one product")
def get_product(
    product_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> ProductPublic:
    product = catalog.get_product(crm, product_id)
    response.headers["ETag"] = etag(product)
    return ProductPublic.model_validate(product_snapshot(product))


@router.patch(
    "/{product_id}", response_model=ProductPublic, summary="Change some fields (If-Match required)"
)
def update_product(
    product_id: UUID,
    body: ProductUpdate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = catalog.update_product(
        crm, product_id, expected_version=version, actor=principal.actor, changes=body.changes()
    )
    return _answer(written)


@router.post(
    "/{product_id}/deactivate",
    response_model=ProductPublic,
    summary="Stop selling the product (If-Match required)",
)
def deactivate_product(
    product_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    written = catalog.deactivate_product(
        crm, product_id, expected_version=version, actor=principal.actor
    )
    return _answer(written)


@router.post(
    "/{product_id}/activate",
    response_model=ProductPublic,
    summary="Sell an inactive product again (If-Match required)",
)
def activate_product(
    product_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    written = catalog.activate_product(
        crm, product_id, expected_version=version, actor=principal.actor
    )
    return _answer(written)
