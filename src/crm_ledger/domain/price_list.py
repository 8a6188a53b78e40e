"""The PriceList aggregate: unit prices of products in one currency for a period.

A price list is valid from ``valid_from`` to ``valid_until`` (both days included;
no end date means open-ended). Each entry prices one product: a unit price (money, two
decimals), an optional minimum quantity (the entry applies only to at least that many
units) and an optional line discount in percent. Retiring a list is final: it keeps its
history but prices nothing and takes no changes. Which list wins when several apply is
decided by the service (``catalog.price_for``); here, only whether one applies.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.deal import CURRENCY
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.product import Product, price_text
from crm_ledger.domain.sales_errors import (
    PriceListRetiredError,
    PriceNotFoundError,
    ValidityPeriodError,
)
from crm_ledger.ledger.envelope import format_timestamp

MAX_NAME = 200
MAX_QUANTITY_DIGITS = 9
QUANTITY_PLACES = 3
HUNDRED = Decimal(100)
PERCENT_STEP = Decimal("0.01")


def currency_of(value: object) -> str:
    """An ISO 4217 code such as ``EUR``; InvalidCommandError otherwise."""
    if not isinstance(value, str) or not CURRENCY.match(value):
        raise InvalidCommandError("currency must be an ISO 4217 code such as EUR", field="currency")
    return value


def _decimal(value: object, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (Decimal, str, int)):
        raise InvalidCommandError(f"{field} must be a decimal string such as 2.5", field=field)
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise InvalidCommandError(f"{field} must be a decimal number", field=field) from None
    if not number.is_finite():
        raise InvalidCommandError(f"{field} must be a finite number", field=field)
    return number


def quantity_text(value: object, field: str = "quantity") -> str:
    """A quantity above zero with at most 3 decimals, as its shortest string (``"2.5"``)."""
    number = _decimal(value, field)
    if number <= 0:
        raise InvalidCommandError(f"{field} must be above zero", field=field)
    if len(str(int(number))) > MAX_QUANTITY_DIGITS:
        raise InvalidCommandError(
            f"{field} has at most {MAX_QUANTITY_DIGITS} integer digits", field=field
        )
    if number != round(number, QUANTITY_PLACES):
        raise InvalidCommandError(
            f"{field} has at most {QUANTITY_PLACES} decimal places", field=field
        )
    return f"{number.normalize():f}"


def percent_text(value: object, field: str = "discount_percent") -> str | None:
    """A percentage from 0 to 100 with at most 2 decimals, as ``"12.50"``, or None."""
    if value is None:
        return None
    number = _decimal(value, field)
    if not 0 <= number <= HUNDRED:
        raise InvalidCommandError(f"{field} must be from 0 to 100", field=field)
    if number != number.quantize(PERCENT_STEP):
        raise InvalidCommandError(f"{field} has at most 2 decimal places", field=field)
    return f"{number.quantize(PERCENT_STEP):f}"


def date_text(value: object, field: str) -> str:
    """An ISO date string (from a ``date`` or ``YYYY-MM-DD``); InvalidCommandError otherwise."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    try:
        if isinstance(value, str) and len(value) == len("2026-01-01"):
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise InvalidCommandError(f"{field} must be an ISO date such as 2026-01-01", field=field)


def _period(valid_from: object, valid_until: object) -> tuple[str, str | None]:
    start = date_text(valid_from, "valid_from")
    end = None if valid_until is None else date_text(valid_until, "valid_until")
    if end is not None and end < start:  # ISO dates order as text
        raise ValidityPeriodError(
            f"valid_until {end} is before valid_from {start}", field="valid_until"
        )
    return start, end


def _name(value: object) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > MAX_NAME:
        raise InvalidCommandError(f"name must have 1 to {MAX_NAME} characters", field="name")
    return name


class PriceList(Aggregate):
    """Unit prices per product, in one currency, for a validity period."""

    @event("Created")
    def __init__(
        self,
        *,
        name: str,
        currency: str,
        valid_from: str,
        valid_until: str | None,
        actor: str,
    ) -> None:
        self.name = name
        self.currency = currency
        self.valid_from_text = valid_from
        self.valid_until_text = valid_until
        self.prices: dict[str, dict[str, str | None]] = {}
        self.retired = False
        self.created_by = actor

    @classmethod
    def create(
        cls,
        *,
        name: str,
        currency: str,
        valid_from: date | str,
        actor: str,
        valid_until: date | str | None = None,
    ) -> PriceList:
        """A new, empty price list."""
        start, end = _period(valid_from, valid_until)
        return cls(
            name=_name(name),
            currency=currency_of(currency),
            valid_from=start,
            valid_until=end,
            actor=actor,
        )

    # -- queries ----------------------------------------------------------------------

    @property
    def valid_from(self) -> date:
        """The first day the list is valid."""
        return date.fromisoformat(self.valid_from_text)

    @property
    def valid_until(self) -> date | None:
        """The last day the list is valid, or None when open-ended."""
        text = self.valid_until_text
        return None if text is None else date.fromisoformat(text)

    def valid_on(self, day: date) -> bool:
        """Not retired, and `day` is within the validity period (both ends included)."""
        end = self.valid_until
        return not self.retired and self.valid_from <= day and (end is None or day <= end)

    def price(self, product_id: UUID) -> dict[str, str | None]:
        """The entry for the product; PriceNotFoundError when it has none."""
        entry = self.prices.get(str(product_id))
        if entry is None:
            raise PriceNotFoundError(price_list_id=str(self.id), product_id=str(product_id))
        return dict(entry)

    def applies(self, product_id: UUID, *, on: date, quantity: Decimal) -> bool:
        """Whether the list prices `quantity` units of the product on day `on`."""
        entry = self.prices.get(str(product_id))
        if entry is None or not self.valid_on(on):
            return False
        minimum = entry["min_quantity"]
        return minimum is None or quantity >= Decimal(minimum)

    def _check_not_retired(self) -> None:
        if self.retired:
            raise PriceListRetiredError(f"price list {self.id} is retired")

    # -- commands ---------------------------------------------------------------------

    def set_price(
        self,
        product: Product,
        *,
        unit_price: Decimal | str,
        actor: str,
        min_quantity: Decimal | str | int | None = None,
        discount_percent: Decimal | str | int | None = None,
    ) -> None:
        """Price an active product (replacing its entry; no event if nothing differs)."""
        self._check_not_retired()
        price = price_text(unit_price, "unit_price")
        if price is None:
            raise InvalidCommandError("unit_price is required", field="unit_price")
        minimum = None if min_quantity is None else quantity_text(min_quantity, "min_quantity")
        discount = percent_text(discount_percent)
        product.check_active()
        entry = {"unit_price": price, "min_quantity": minimum, "discount_percent": discount}
        if self.prices.get(str(product.id)) == entry:
            return
        self._price_set(
            product_id=str(product.id),
            unit_price=price,
            min_quantity=minimum,
            discount_percent=discount,
            actor=actor,
        )

    @event("PriceSet")
    def _price_set(
        self,
        *,
        product_id: str,
        unit_price: str,
        min_quantity: str | None,
        discount_percent: str | None,
        actor: str,
    ) -> None:
        entry = {
            "unit_price": unit_price,
            "min_quantity": min_quantity,
            "discount_percent": discount_percent,
        }
        self.prices = {**self.prices, product_id: entry}

    def remove_price(self, product_id: UUID, *, actor: str) -> None:
        """Remove the product's entry (PriceNotFoundError when it has none)."""
        self._check_not_retired()
        self.price(product_id)
        self._price_removed(product_id=str(product_id), actor=actor)

    @event("PriceRemoved")
    def _price_removed(self, *, product_id: str, actor: str) -> None:
        self.prices = {k: v for k, v in self.prices.items() if k != product_id}

    def change_validity(
        self, *, valid_from: date | str, valid_until: date | str | None, actor: str
    ) -> None:
        """Set a new validity period (no event if it is the same)."""
        self._check_not_retired()
        start, end = _period(valid_from, valid_until)
        if (start, end) != (self.valid_from_text, self.valid_until_text):
            self._validity_changed(valid_from=start, valid_until=end, actor=actor)

    @event("ValidityChanged")
    def _validity_changed(self, *, valid_from: str, valid_until: str | None, actor: str) -> None:
        self.valid_from_text = valid_from
        self.valid_until_text = valid_until

    def retire(self, *, actor: str) -> None:
        """Withdraw the list for good: it prices nothing from now on."""
        self._check_not_retired()
        self._retired(actor=actor)

    @event("Retired")
    def _retired(self, *, actor: str) -> None:
        self.retired = True


def price_list_snapshot(price_list: PriceList) -> dict[str, Any]:
    """The price list's public, JSON-ready state (money and quantities as strings)."""
    return {
        "id": str(price_list.id),
        "version": price_list.version,
        "name": price_list.name,
        "currency": price_list.currency,
        "valid_from": price_list.valid_from_text,
        "valid_until": price_list.valid_until_text,
        "retired": price_list.retired,
        "prices": [{"product_id": k, **v} for k, v in price_list.prices.items()],
        "created_at": format_timestamp(price_list.created_on),
        "modified_at": format_timestamp(price_list.modified_on),
    }
