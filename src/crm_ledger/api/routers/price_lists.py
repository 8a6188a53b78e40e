"""``/price-lists``: unit prices per currency and period; ``/products/{id}/price``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from crm_ledger import catalog
from crm_ledger.api.deps import CrmDep, ExpectedVersionDep, PrincipalDep
from crm_ledger.api.responses import etag, resource_response
from crm_ledger.api.schemas.catalog import (
    QUANTITY_PATTERN,
    PriceListCreate,
    PriceListPage,
    PriceListPublic,
    PriceListValidity,
    PricePublic,
    PriceSet,
)
from crm_ledger.application import Written
from crm_ledger.domain.price_list import price_list_snapshot

router = APIRouter(tags=["price lists"])


def _answer(written: Written, status: int = 200) -> Response:
    """The price list as JSON with its ETag and log position."""
    return resource_response(written, price_list_snapshot, "/price-lists", status)


@router.post(
    "/price-lists", status_code=201, response_model=PriceListPublic, summary="Create a price list"
)
def create_price_list(body: PriceListCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    written = catalog.create_price_list(crm, actor=principal.actor, **body.model_dump())
    return _answer(written, 201)


@router.get("/price-lists", summary="List price lists, oldest first")
def list_price_lists(
    crm: CrmDep,
    principal: PrincipalDep,
    currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    retired: Annotated[bool | None, Query(description="only retired (true) or not")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> PriceListPage:
    items, next_position = catalog.list_price_lists(
        crm, currency=currency, retired=retired, limit=limit, after=int(cursor) if cursor else 0
    )
    return PriceListPage(
        items=[PriceListPublic.model_validate(price_list_snapshot(p)) for p in items],
        next_cursor=None if next_position is None else str(next_position),
    )


@router.get("/price-lists/{price_list_id}", summary="Read one price list")
def get_price_list(
    price_list_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> PriceListPublic:
    price_list = catalog.get_price_list(crm, price_list_id)
    response.headers["ETag"] = etag(price_list)
    return PriceListPublic.model_validate(price_list_snapshot(price_list))


@router.put(
    "/price-lists/{price_list_id}/validity",
    response_model=PriceListPublic,
    summary="Set the validity period (If-Match required)",
)
def change_validity(
    price_list_id: UUID,
    body: PriceListValidity,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = catalog.change_validity(
        crm,
        price_list_id,
        expected_version=version,
        actor=principal.actor,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
    )
    return _answer(written)


@router.put(
    "/price-lists/{price_list_id}/prices/{product_id}",
    response_model=PriceListPublic,
    summary="Set an active product's price on the list (If-Match required)",
)
def set_price(
    price_list_id: UUID,
    product_id: UUID,
    body: PriceSet,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = catalog.set_price(
        crm,
        price_list_id,
        product_id,
        expected_version=version,
        actor=principal.actor,
        unit_price=body.unit_price,
        min_quantity=body.min_quantity,
        discount_percent=body.discount_percent,
    )
    return _answer(written)


@router.delete(
    "/price-lists/{price_list_id}/prices/{product_id}",
    response_model=PriceListPublic,
    summary="Remove a product's price from the list (If-Match required)",
)
def remove_price(
    price_list_id: UUID,
    product_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = catalog.remove_price(
        crm, price_list_id, product_id, expected_version=version, actor=principal.actor
    )
    return _answer(written)


@router.post(
    "/price-lists/{price_list_id}/retire",
    response_model=PriceListPublic,
    summary="Retire the price list for good (If-Match required)",
)
def retire_price_list(
    price_list_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    written = catalog.retire_price_list(
        crm, price_list_id, expected_version=version, actor=principal.actor
    )
    return _answer(written)


@router.get(
    "/products/{product_id}/price",
    tags=["products"],
    summary="The unit price and discount that apply (latest valid_from wins)",
    description=(
        "Among the price lists that are not retired, are in `currency`, are valid on `on` "
        "(both ends included) and price the product for at least `quantity` units, the "
        "one with the latest `valid_from` wins; ties go to the higher minimum quantity, "
        "then to the list created last. 404 `no_price` when none applies, 409 "
        "`product_inactive` for an inactive product."
    ),
)
def price_for(
    product_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    currency: Annotated[str, Query(pattern=r"^[A-Z]{3}$", examples=["EUR"])],
    on: Annotated[
        date | None, Query(description="the day (default: today, UTC)", examples=["2027-01-01"])
    ] = None,
    quantity: Annotated[
        str, Query(pattern=QUANTITY_PATTERN, description="units to price", examples=["3"])
    ] = "1",
) -> PricePublic:
    day = on or datetime.now(UTC).date()
    price = catalog.price_for(crm, product_id, currency=currency, on=day, quantity=quantity)
    return PricePublic.model_validate(catalog.price_snapshot(price))
