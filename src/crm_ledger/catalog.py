"""Catalog use cases (products and price lists), called by the API: one function per use case.

Rules that span aggregates live here:

* **SKU uniqueness.** A product's id is derived from its SKU (``product_id_for``), so
  creating a product whose SKU exists finds that product (``SkuTakenError``), and two
  concurrent creates of one SKU collide in the event store: the loser gets
  ``SkuTakenError`` too, never a second product.
* **Only active products get prices**, and an inactive product has no price.
* **Which price applies** (``price_for``): among the price lists that are not retired,
  are in the requested currency, are valid on the requested day (``valid_from`` and
  ``valid_until`` both included) and have an entry for the product whose minimum
  quantity (if any) is at most the requested quantity, the one with the **latest
  valid_from** wins. Ties go to the entry with the higher minimum quantity (a volume
  price beats the base price starting the same day), then to the list created last.

Listings scan the notification log for creation events and replay each aggregate: fine
for a catalog of thousands; a projection should replace it when catalogs grow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from crm_ledger.application import CrmApplication, Written
from crm_ledger.domain.errors import VersionConflictError
from crm_ledger.domain.price_list import PriceList, currency_of, date_text, quantity_text
from crm_ledger.domain.product import Product, TaxCategory, product_id_for, sku_of
from crm_ledger.domain.sales_errors import NoPriceError, SkuTakenError
from crm_ledger.kinds import Kind
from crm_ledger.listing import created, page_of, topic_of

PRODUCT = Kind(Product, "product")
PRICE_LIST = Kind(PriceList, "price list")

PRODUCT_CREATED_TOPIC = topic_of(Product)
PRICE_LIST_CREATED_TOPIC = topic_of(PriceList)
A = TypeVar("A", bound=Aggregate)


def _page(
    crm: CrmApplication,
    cls: type[A],
    kind: str,
    topic: str,
    *,
    keep: Callable[[A], bool],
    limit: int,
    after: int,
) -> tuple[list[A], int | None]:
    """Up to `limit` aggregates (creation order) that `keep` accepts, and the cursor of
    the next page (the log position of the last one returned) or None."""
    found = ((position, crm.load(cls, i, kind)) for position, i in created(crm, topic, after))
    return page_of(found, keep, limit=limit, after=after)


# -- products -------------------------------------------------------------------------


def create_product(
    crm: CrmApplication,
    *,
    actor: str,
    sku: str,
    name: str,
    tax_category: TaxCategory | str = TaxCategory.STANDARD,
    unit: str = "unit",
    description: str | None = None,
    cost: Decimal | str | None = None,
) -> Written:
    """Create an active product; SkuTakenError if another product has the SKU."""
    if product_id_for(sku) in crm.repository:
        raise SkuTakenError(sku_of(sku))
    product = Product.create(
        sku=sku,
        name=name,
        tax_category=tax_category,
        unit=unit,
        description=description,
        cost=cost,
        actor=actor,
    )
    try:
        position = crm.store(product, actor=actor)
    except VersionConflictError:  # created concurrently by another request
        raise SkuTakenError(product.sku) from None
    return Written(product, position)


def get_product(crm: CrmApplication, product_id: UUID) -> Product:
    """Return the product or raise NotFoundError."""
    return PRODUCT.load(crm, product_id)


def list_products(
    crm: CrmApplication, *, active: bool | None = None, limit: int = 50, after: int = 0
) -> tuple[list[Product], int | None]:
    """Products in creation order (only active or inactive ones when `active` is set)."""
    return _page(
        crm,
        Product,
        "product",
        PRODUCT_CREATED_TOPIC,
        keep=lambda p: active is None or p.active == active,
        limit=limit,
        after=after,
    )


def update_product(
    crm: CrmApplication,
    product_id: UUID,
    *,
    expected_version: int,
    actor: str,
    changes: dict[str, Any],
) -> Written:
    """Change some of name, description, unit, tax_category, cost."""
    return PRODUCT.change(
        crm, product_id, expected_version, actor, lambda p: p.update(actor=actor, **changes)
    )


def deactivate_product(
    crm: CrmApplication, product_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Stop selling the product."""
    return PRODUCT.change(
        crm, product_id, expected_version, actor, lambda p: p.deactivate(actor=actor)
    )


def activate_product(
    crm: CrmApplication, product_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Sell an inactive product again."""
    return PRODUCT.change(
        crm, product_id, expected_version, actor, lambda p: p.activate(actor=actor)
    )


# -- price lists ----------------------------------------------------------------------


def create_price_list(
    crm: CrmApplication,
    *,
    actor: str,
    name: str,
    currency: str,
    valid_from: date | str,
    valid_until: date | str | None = None,
) -> Written:
    """Create an empty price list."""
    price_list = PriceList.create(
        name=name, currency=currency, valid_from=valid_from, valid_until=valid_until, actor=actor
    )
    return Written(price_list, crm.store(price_list, actor=actor))


def get_price_list(crm: CrmApplication, price_list_id: UUID) -> PriceList:
    """Return the price list or raise NotFoundError."""
    return PRICE_LIST.load(crm, price_list_id)


def list_price_lists(
    crm: CrmApplication,
    *,
    currency: str | None = None,
    retired: bool | None = None,
    limit: int = 50,
    after: int = 0,
) -> tuple[list[PriceList], int | None]:
    """Price lists in creation order, optionally of one currency and retired or not."""
    return _page(
        crm,
        PriceList,
        "price list",
        PRICE_LIST_CREATED_TOPIC,
        keep=lambda p: (
            (currency is None or p.currency == currency)
            and (retired is None or p.retired == retired)
        ),
        limit=limit,
        after=after,
    )


def set_price(
    crm: CrmApplication,
    price_list_id: UUID,
    product_id: UUID,
    *,
    expected_version: int,
    actor: str,
    unit_price: Decimal | str,
    min_quantity: Decimal | str | None = None,
    discount_percent: Decimal | str | None = None,
) -> Written:
    """Price an existing, active product on the list (replaces its entry)."""

    def command(price_list: PriceList) -> None:
        product = get_product(crm, product_id)
        price_list.set_price(
            product,
            unit_price=unit_price,
            min_quantity=min_quantity,
            discount_percent=discount_percent,
            actor=actor,
        )

    return PRICE_LIST.change(crm, price_list_id, expected_version, actor, command)


def remove_price(
    crm: CrmApplication,
    price_list_id: UUID,
    product_id: UUID,
    *,
    expected_version: int,
    actor: str,
) -> Written:
    """Remove the product's entry from the list."""
    return PRICE_LIST.change(
        crm,
        price_list_id,
        expected_version,
        actor,
        lambda p: p.remove_price(product_id, actor=actor),
    )


def change_validity(
    crm: CrmApplication,
    price_list_id: UUID,
    *,
    expected_version: int,
    actor: str,
    valid_from: date | str,
    valid_until: date | str | None,
) -> Written:
    """Give the list a new validity period."""
    return PRICE_LIST.change(
        crm,
        price_list_id,
        expected_version,
        actor,
        lambda p: p.change_validity(valid_from=valid_from, valid_until=valid_until, actor=actor),
    )


def retire_price_list(
    crm: CrmApplication, price_list_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Withdraw the list for good."""
    return PRICE_LIST.change(
        crm, price_list_id, expected_version, actor, lambda p: p.retire(actor=actor)
    )


# -- pricing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    """The price that applies to a product for a currency, day and quantity."""

    product_id: UUID
    price_list: PriceList
    unit_price: Decimal
    min_quantity: Decimal | None
    discount_percent: Decimal | None
    quantity: Decimal
    on: date


def price_for(
    crm: CrmApplication,
    product_id: UUID,
    *,
    currency: str,
    on: date | str,
    quantity: Decimal | str | int = 1,
) -> Price:
    """The unit price and line discount for `quantity` units of an active product on day
    `on` (the rule is in the module docstring); NoPriceError when no list applies."""
    product = get_product(crm, product_id)
    currency = currency_of(currency)
    day = date.fromisoformat(date_text(on, "on"))
    amount = Decimal(quantity_text(quantity))
    product.check_active()
    best: tuple[tuple[date, Decimal, int], PriceList] | None = None
    for position, price_list_id in created(crm, PRICE_LIST_CREATED_TOPIC):
        candidate = get_price_list(crm, price_list_id)
        if candidate.currency != currency:
            continue
        if not candidate.applies(product.id, on=day, quantity=amount):
            continue
        minimum = candidate.price(product.id)["min_quantity"]
        key = (candidate.valid_from, Decimal(minimum or 0), position)
        if best is None or key > best[0]:
            best = (key, candidate)
    if best is None:
        raise NoPriceError(
            product_id=str(product.id), currency=currency, on=day.isoformat(), quantity=str(amount)
        )
    winner = best[1]
    entry = winner.price(product.id)
    return Price(
        product_id=product.id,
        price_list=winner,
        unit_price=Decimal(str(entry["unit_price"])),
        min_quantity=None if entry["min_quantity"] is None else Decimal(entry["min_quantity"]),
        discount_percent=(
            None if entry["discount_percent"] is None else Decimal(entry["discount_percent"])
        ),
        quantity=amount,
        on=day,
    )


def price_snapshot(price: Price) -> dict[str, Any]:
    """The price's public, JSON-ready form (decimals as strings)."""
    price_list = price.price_list
    return {
        "product_id": str(price.product_id),
        "price_list_id": str(price_list.id),
        "price_list_name": price_list.name,
        "currency": price_list.currency,
        "valid_from": price_list.valid_from_text,
        "valid_until": price_list.valid_until_text,
        "on": price.on.isoformat(),
        "quantity": f"{price.quantity:f}",
        "unit_price": f"{price.unit_price:f}",
        "min_quantity": None if price.min_quantity is None else f"{price.min_quantity:f}",
        "discount_percent": (
            None if price.discount_percent is None else f"{price.discount_percent:f}"
        ),
    }
