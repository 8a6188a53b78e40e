"""The Deal aggregate: a possible sale to a contact, moving through a pipeline's stages.

Money never passes through ``float``: the amount is stored in events as a decimal string
with exactly two places (``"1234.50"``) and exposed as ``Decimal``. Dates are ISO strings
in events and ``date`` on the aggregate. Whether the contact exists is checked by the
service; whether the target stage exists and is active is asked of the ``Pipeline``.

**Product lines.** A deal may hold lines (product or free text): quantity (above zero,
at most 3 decimals), unit price (money), discount percent (0 to 100, 2 decimals). A line's
total is ``quantity x unit_price x (1 - discount / 100)`` rounded once to cents with
``ROUND_HALF_UP`` (:func:`crm_ledger.domain.taxes.line_base`, the one rounding rule).
While a deal has lines its amount is the sum of their totals, decided at command time and
recorded in each line event; setting the amount by hand is then refused
(``DealAmountFromLinesError``) and so is changing the currency (``DealCurrencyLockedError``)
until every line is removed, which leaves the amount at ``0.00``. A won or lost deal
takes no line changes (``DealClosedError``).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain import taxes
from crm_ledger.domain.changes import changed_fields, check_known
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.pipeline import Pipeline
from crm_ledger.domain.sales_errors import (
    DealAmountFromLinesError,
    DealAmountRequiredError,
    DealClosedError,
    DealCurrencyLockedError,
    DealLineNotFoundError,
    DealNotClosedError,
)
from crm_ledger.ledger.envelope import format_timestamp

MAX_TITLE = 200
MAX_INTEGER_DIGITS = 12
CENT = Decimal("0.01")
CURRENCY = re.compile(r"^[A-Z]{3}$")
UPDATABLE = frozenset({"title", "amount", "currency", "expected_close", "owner"})
LINE_FIELDS = frozenset({"description", "quantity", "unit_price", "discount_percent"})
MAX_LINES = 200
MAX_DESCRIPTION = 500
MAX_QUANTITY_DIGITS = 9
QUANTITY_PLACES = 3
HUNDRED = Decimal(100)
# Where each updatable field is kept on the aggregate (amount and date as their text form).
STORED = {
    "title": "title",
    "amount": "amount_text",
    "currency": "currency",
    "expected_close": "expected_close_text",
    "owner": "owner",
}


class DealStatus(StrEnum):
    """Where a deal stands."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


def money_text(value: object) -> str | None:
    """`value` (Decimal, decimal string or int, never float) as ``"1234.50"``, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (Decimal, str, int)):
        raise InvalidCommandError("amount must be a decimal string such as 1234.50", field="amount")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise InvalidCommandError("amount must be a decimal number", field="amount") from None
    if not amount.is_finite() or amount < 0:
        raise InvalidCommandError("amount must be a number >= 0", field="amount")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and amount != amount.quantize(CENT):
        raise InvalidCommandError("amount has at most 2 decimal places", field="amount")
    cents = abs(amount).quantize(CENT)  # abs: "-0" is stored as "0.00"
    if len(str(int(cents))) > MAX_INTEGER_DIGITS:
        raise InvalidCommandError(
            f"amount has at most {MAX_INTEGER_DIGITS} integer digits", field="amount"
        )
    return f"{cents:f}"


def _currency(value: object) -> str:
    if not isinstance(value, str) or not CURRENCY.match(value):
        raise InvalidCommandError("currency must be an ISO 4217 code such as EUR", field="currency")
    return value


def _date_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        raise InvalidCommandError("expected_close must be a date", field="expected_close")
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InvalidCommandError(
            "expected_close must be an ISO date such as 2026-06-30", field="expected_close"
        ) from None


def _title(value: object) -> str:
    title = value.strip() if isinstance(value, str) else ""
    if not title or len(title) > MAX_TITLE:
        raise InvalidCommandError(f"title must have 1 to {MAX_TITLE} characters", field="title")
    return title


def _owner(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidCommandError("owner must be text", field="owner")
    return value.strip() or None


def normalise(field: str, value: Any) -> Any:
    """The stored form of `value` for the updatable `field` (InvalidCommandError if invalid)."""
    if field == "title":
        return _title(value)
    if field == "amount":
        return money_text(value)
    if field == "currency":
        return _currency(value)
    if field == "expected_close":
        return _date_text(value)
    if field == "owner":
        return _owner(value)
    raise InvalidCommandError(f"unknown field {field!r}", field=field)


# -- product lines ----------------------------------------------------------------------


def _description(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_DESCRIPTION:
        raise InvalidCommandError(
            f"description must have 1 to {MAX_DESCRIPTION} characters", field="description"
        )
    return text


def _quantity(value: object) -> str:
    """A quantity above zero with at most 3 decimals, as its shortest string (``"2.5"``)."""
    number = taxes.decimal_of(value, "quantity", places=QUANTITY_PLACES)
    if number <= 0:
        raise InvalidCommandError("quantity must be above zero", field="quantity")
    if len(str(int(number))) > MAX_QUANTITY_DIGITS:
        raise InvalidCommandError(
            f"quantity has at most {MAX_QUANTITY_DIGITS} integer digits", field="quantity"
        )
    return f"{number.normalize():f}"


def _unit_price(value: object) -> str:
    """A unit price as money text (``"49.00"``); errors name ``unit_price``."""
    try:
        text = money_text(value)
    except InvalidCommandError as exc:
        detail = exc.detail.replace("amount", "unit_price", 1)
        raise InvalidCommandError(detail, field="unit_price") from None
    if text is None:
        raise InvalidCommandError("unit_price is required", field="unit_price")
    return text


def _discount(value: object) -> str:
    """A discount percent from 0 to 100 with two places (``"10.00"``); None is 0."""
    if value is None:
        return "0.00"
    number = taxes.decimal_of(value, "discount_percent", places=2, signed=False)
    if number > HUNDRED:
        raise InvalidCommandError(
            "discount_percent must be from 0 to 100", field="discount_percent"
        )
    return f"{abs(number).quantize(CENT):f}"


def _product_id(value: object) -> str | None:
    if value is None:
        return None
    try:
        return str(value if isinstance(value, UUID) else UUID(str(value)))
    except ValueError:
        raise InvalidCommandError("product_id must be a UUID", field="product_id") from None


LINE_VALUES = {
    "description": _description,
    "quantity": _quantity,
    "unit_price": _unit_price,
    "discount_percent": _discount,
}


def line_total(quantity: str, unit_price: str, discount_percent: str) -> str:
    """``quantity x unit_price x (1 - discount / 100)`` rounded once to cents, half up."""
    line = taxes.TaxLine(
        quantity=Decimal(quantity),
        unit_price=Decimal(unit_price),
        discount=Decimal(discount_percent),
    )
    return taxes.money(taxes.line_base(line))


def _lines_amount(lines: list[dict[str, Any]]) -> str:
    """The sum of the lines' totals as money text (``"0.00"`` for none)."""
    total = sum((Decimal(line["total"]) for line in lines), Decimal(0))
    if len(str(int(total))) > MAX_INTEGER_DIGITS:
        raise InvalidCommandError(
            f"the lines would take the deal's amount past {MAX_INTEGER_DIGITS} integer digits",
            field="quantity",
        )
    return taxes.money(total)


class Deal(Aggregate):
    """A possible sale: who, how much, when, and which stage it has reached."""

    @event("Created")
    def __init__(
        self,
        *,
        title: str,
        contact_id: UUID,
        pipeline_id: UUID,
        stage_id: str,
        amount: str | None,
        currency: str,
        expected_close: str | None,
        owner: str | None,
        at: str,
        actor: str,
    ) -> None:
        self.title = title
        self.contact_id = contact_id
        self.pipeline_id = pipeline_id
        self.stage_id = stage_id
        self.amount_text = amount
        self.currency = currency
        self.expected_close_text = expected_close
        self.owner = owner
        self.status_value = DealStatus.OPEN.value
        self.lost_reason: str | None = None
        self.closed_at: str | None = None
        self.stage_history = [{"stage_id": stage_id, "at": at, "actor": actor}]
        self.created_by = actor
        self.lines: list[dict[str, Any]] = []

    @classmethod
    def create(
        cls,
        *,
        title: str,
        contact_id: UUID,
        pipeline: Pipeline,
        currency: str,
        at: str,
        actor: str,
        stage_id: str | None = None,
        amount: Decimal | str | None = None,
        expected_close: date | str | None = None,
        owner: str | None = None,
    ) -> Deal:
        """Open a deal in an active stage of `pipeline` (default: its first active stage)."""
        if stage_id is None:
            active = pipeline.active_stage_ids
            stage_id = active[0] if active else ""
        stage = pipeline.active_stage(stage_id)
        return cls(
            title=_title(title),
            contact_id=contact_id,
            pipeline_id=pipeline.id,
            stage_id=stage["stage_id"],
            amount=money_text(amount),
            currency=_currency(currency),
            expected_close=_date_text(expected_close),
            owner=_owner(owner),
            at=at,
            actor=actor,
        )

    # -- queries ----------------------------------------------------------------------

    @property
    def status(self) -> DealStatus:
        """Open, won or lost."""
        return DealStatus(self.status_value)

    @property
    def is_closed(self) -> bool:
        """Won or lost."""
        return self.status is not DealStatus.OPEN

    @property
    def amount(self) -> Decimal | None:
        """The amount with two decimal places, or None when not set."""
        return None if self.amount_text is None else Decimal(self.amount_text)

    @property
    def expected_close(self) -> date | None:
        """The expected closing date, if any."""
        text = self.expected_close_text
        return None if text is None else date.fromisoformat(text)

    def line(self, line_id: object) -> dict[str, Any]:
        """The line with `line_id` (DealLineNotFoundError if the deal has none)."""
        return self.lines[self._line_index(line_id)]

    def _line_index(self, line_id: object) -> int:
        key = str(line_id)
        for index, line in enumerate(self.lines):
            if line["line_id"] == key:
                return index
        raise DealLineNotFoundError(key)

    def _check_open(self) -> None:
        if self.is_closed:
            raise DealClosedError(f"deal {self.id} is {self.status_value}; reopen it first")

    # -- commands ---------------------------------------------------------------------

    def update(self, *, actor: str, **changes: Any) -> None:
        """Change some of title, amount, currency, expected_close, owner (no event if none
        differ). The currency can change only while the current amount is unset or zero
        and the deal has no lines; while it has lines, the amount is theirs."""
        check_known(changes, UPDATABLE)
        self._check_open()
        differing = changed_fields(changes, normalise, lambda f: getattr(self, STORED[f]))
        if "amount" in differing and self.lines:
            raise DealAmountFromLinesError(
                f"the amount is the sum of the deal's {len(self.lines)} line(s)"
                f" ({self.amount_text}); add, change or remove lines instead",
            )
        if "currency" in differing and self.lines:
            raise DealCurrencyLockedError(
                f"the currency is fixed at {self.currency} while the deal has lines;"
                " remove them first",
            )
        if "currency" in differing and self.amount:
            raise DealCurrencyLockedError(
                f"the currency is fixed at {self.currency} once an amount is set",
            )
        if differing:
            self._updated(changes=differing, actor=actor)

    @event("Updated")
    def _updated(self, *, changes: dict[str, Any], actor: str) -> None:
        for field, value in changes.items():
            setattr(self, STORED[field], value)

    def add_line(
        self,
        product_id: UUID | None,
        description: str | None,
        quantity: Decimal | str,
        unit_price: Decimal | str | None,
        discount_percent: Decimal | str | None = Decimal(0),
        *,
        actor: str,
    ) -> UUID:
        """Add a product (or free-text) line to the open deal; its amount becomes the sum
        of the line totals. Returns the new line's id. A discount of None is 0."""
        self._check_open()
        if len(self.lines) >= MAX_LINES:
            raise InvalidCommandError(f"a deal has at most {MAX_LINES} lines", field="lines")
        values = {
            "description": _description(description),
            "quantity": _quantity(quantity),
            "unit_price": _unit_price(unit_price),
            "discount_percent": _discount(discount_percent),
        }
        line_id = uuid4()
        line = {
            "line_id": str(line_id),
            "product_id": _product_id(product_id),
            **values,
            "total": line_total(
                values["quantity"], values["unit_price"], values["discount_percent"]
            ),
        }
        amount = _lines_amount([*self.lines, line])
        self._line_added(line=line, amount=amount, actor=actor)
        return line_id

    @event("LineAdded")
    def _line_added(self, *, line: dict[str, Any], amount: str, actor: str) -> None:
        self.lines = [*self.lines, dict(line)]
        self.amount_text = amount

    def update_line(self, line_id: object, *, actor: str, **changes: Any) -> None:
        """Change some of a line's description, quantity, unit_price, discount_percent
        (no event if none differ); the line's total and the deal's amount follow."""
        check_known(changes, LINE_FIELDS, "line fields")
        self._check_open()
        index = self._line_index(line_id)
        current = self.lines[index]
        differing = {}
        for field, value in changes.items():
            new = LINE_VALUES[field](value)
            if new != current[field]:
                differing[field] = new
        if not differing:
            return
        merged = {**current, **differing}
        total = line_total(merged["quantity"], merged["unit_price"], merged["discount_percent"])
        lines = [*self.lines]
        lines[index] = {**merged, "total": total}
        amount = _lines_amount(lines)
        self._line_updated(
            line_id=current["line_id"], changes=differing, total=total, amount=amount, actor=actor
        )

    @event("LineUpdated")
    def _line_updated(
        self, *, line_id: str, changes: dict[str, str], total: str, amount: str, actor: str
    ) -> None:
        self.lines = [
            {**line, **changes, "total": total} if line["line_id"] == line_id else line
            for line in self.lines
        ]
        self.amount_text = amount

    def remove_line(self, line_id: object, *, actor: str) -> None:
        """Remove a line; the amount becomes the sum of the rest (``0.00`` when none is
        left, and the currency may change again)."""
        self._check_open()
        index = self._line_index(line_id)
        remaining = [*self.lines[:index], *self.lines[index + 1 :]]
        amount = _lines_amount(remaining)
        self._line_removed(line_id=self.lines[index]["line_id"], amount=amount, actor=actor)

    @event("LineRemoved")
    def _line_removed(self, *, line_id: str, amount: str, actor: str) -> None:
        self.lines = [line for line in self.lines if line["line_id"] != line_id]
        self.amount_text = amount

    def move(self, pipeline: Pipeline, stage_id: object, *, at: str, actor: str) -> None:
        """Move the open deal to another active stage of its pipeline (same stage: no event)."""
        if pipeline.id != self.pipeline_id:
            raise InvalidCommandError("the deal is in another pipeline", field="pipeline_id")
        self._check_open()
        stage = pipeline.stage(stage_id)
        if stage["stage_id"] == self.stage_id:
            return
        pipeline.active_stage(stage["stage_id"])
        self._moved(stage_id=stage["stage_id"], from_stage_id=self.stage_id, at=at, actor=actor)

    @event("Moved")
    def _moved(self, *, stage_id: str, from_stage_id: str, at: str, actor: str) -> None:
        self.stage_id = stage_id
        self.stage_history = [
            *self.stage_history,
            {"stage_id": stage_id, "at": at, "actor": actor},
        ]

    def win(self, *, at: str, actor: str) -> None:
        """Close the deal as won (it needs an amount above zero)."""
        self._check_open()
        if not self.amount:
            raise DealAmountRequiredError("set an amount above zero before winning the deal")
        self._won(at=at, actor=actor)

    @event("Won")
    def _won(self, *, at: str, actor: str) -> None:
        self.status_value = DealStatus.WON.value
        self.closed_at = at

    def lose(self, *, reason: str, at: str, actor: str) -> None:
        """Close the deal as lost, saying why."""
        self._check_open()
        text = reason.strip() if isinstance(reason, str) else ""
        if not text:
            raise InvalidCommandError("a lost deal needs a reason", field="reason")
        self._lost(reason=text, at=at, actor=actor)

    @event("Lost")
    def _lost(self, *, reason: str, at: str, actor: str) -> None:
        self.status_value = DealStatus.LOST.value
        self.lost_reason = reason
        self.closed_at = at

    def reopen(self, *, actor: str) -> None:
        """Open a won or lost deal again, in the stage it was in."""
        if not self.is_closed:
            raise DealNotClosedError(f"deal {self.id} is open")
        self._reopened(actor=actor)

    @event("Reopened")
    def _reopened(self, *, actor: str) -> None:
        self.status_value = DealStatus.OPEN.value
        self.lost_reason = None
        self.closed_at = None

    def relink_contact(self, contact_id: UUID, *, actor: str) -> None:
        """Point the deal at another contact because its own was merged into that one
        (same contact: no event). Allowed on won and lost deals too: it fixes a reference,
        it does not change the sale."""
        if contact_id != self.contact_id:
            self._contact_relinked(contact_id=contact_id, previous=self.contact_id, actor=actor)

    @event("ContactRelinked")
    def _contact_relinked(self, *, contact_id: UUID, previous: UUID, actor: str) -> None:
        self.contact_id = contact_id


def deal_snapshot(deal: Deal) -> dict[str, Any]:
    """The deal's public, JSON-ready state (amount as a decimal string)."""
    return {
        "id": str(deal.id),
        "version": deal.version,
        "title": deal.title,
        "contact_id": str(deal.contact_id),
        "pipeline_id": str(deal.pipeline_id),
        "stage_id": deal.stage_id,
        "amount": deal.amount_text,
        "currency": deal.currency,
        "expected_close": deal.expected_close_text,
        "owner": deal.owner,
        "status": deal.status_value,
        "lost_reason": deal.lost_reason,
        "closed_at": deal.closed_at,
        "stage_history": [dict(h) for h in deal.stage_history],
        "lines": [dict(line) for line in deal.lines],
        "created_at": format_timestamp(deal.created_on),
        "modified_at": format_timestamp(deal.modified_on),
    }
