"""A Hypothesis state machine for Deal: a small model predicts every command's outcome.

The model knows nothing of the domain code: for each command it predicts either the exact
exception class (and then that nothing changed) or the new state and version. Deleting any
guard in ``domain/deal.py`` makes a prediction fail.

Product lines are modelled too: the model works out each line's stored values and total
(``quantity x unit_price x (100 - discount) / 100``, rounded half up to cents) and the
deal's amount (the sum of the totals while lines exist) on its own. The only thing it
takes from the code is each new line's id (random, returned by ``add_line``).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from crm_ledger.domain.deal import Deal
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.pipeline import Pipeline
from crm_ledger.domain.sales_errors import (
    DealAmountFromLinesError,
    DealAmountRequiredError,
    DealClosedError,
    DealCurrencyLockedError,
    DealLineNotFoundError,
    DealNotClosedError,
    PipelineEmptyError,
    StageNotFoundError,
    StageRetiredError,
)

ACTOR = "user:machine"
AT = "2026-01-01T00:00:00.000000Z"
KEYS = ["a", "b", "c", "d"]
UNKNOWN = "unknown"

# Amounts: (what is sent, the text the model expects stored, or None when it must fail).
valid_amounts = st.integers(min_value=0, max_value=10**14 - 1).map(
    lambda cents: (f"{cents // 100}.{cents % 100:02d}", f"{cents // 100}.{cents % 100:02d}")
)
short_amounts = st.integers(min_value=0, max_value=999).map(lambda n: (str(n), f"{n}.00"))
bad_amounts = st.sampled_from([("12.345", None), ("-1.00", None), (12.5, None), ("x", None)])
amounts = st.one_of(
    st.just((None, None)), st.sampled_from([("0", "0.00")]), valid_amounts, short_amounts
)
currencies = st.sampled_from(["EUR", "USD", "JPY", "eur", "EU"])
titles = st.sampled_from(["Acme", "Acme renewal", " ", " Acme "])
reasons = st.sampled_from(["", "   ", "price", " late "])
CLOSED = {"won", "lost"}
PRODUCT = uuid4()

# Line values: (what is sent, the text the model expects stored, or None when it must fail).
line_quantities = st.one_of(
    st.integers(min_value=1, max_value=999_999).map(
        lambda n: (f"{n // 1000}.{n % 1000:03d}", f"{n // 1000}.{n % 1000:03d}".rstrip("0"))
    ),
    st.integers(min_value=1, max_value=50).map(lambda n: (str(n), str(n))),
    st.sampled_from([("0", None), ("-1", None), ("1.2345", None), (1.5, None), ("x", None)]),
).map(lambda pair: (pair[0], None if pair[1] is None else pair[1].rstrip(".")))
line_prices = st.one_of(
    st.integers(min_value=0, max_value=999_999).map(
        lambda c: (f"{c // 100}.{c % 100:02d}", f"{c // 100}.{c % 100:02d}")
    ),
    st.integers(min_value=0, max_value=99).map(lambda n: (str(n), f"{n}.00")),
    st.just(("0", "0.00")),  # a line worth nothing still fixes the currency
    st.sampled_from([("1.234", None), ("-1", None), (2.5, None), (None, None)]),
)
line_discounts = st.one_of(
    st.integers(min_value=0, max_value=10_000).map(
        lambda c: (f"{c // 100}.{c % 100:02d}", f"{c // 100}.{c % 100:02d}")
    ),
    st.sampled_from([("0", "0.00"), ("10", "10.00"), (None, "0.00")]),
    st.just(("100", "100.00")),
    st.sampled_from([("100.01", None), ("-1", None), ("1.234", None)]),
)
line_descriptions = st.sampled_from(
    [("GPS", "GPS"), (" Install ", "Install"), ("  ", None), (None, None)]
)
line_changes = st.fixed_dictionaries(
    {},
    optional={
        "description": line_descriptions,
        "quantity": line_quantities,
        "unit_price": line_prices,
        "discount_percent": line_discounts,
    },
)
# Which line a command names: an index into the model's lines (too high: an unknown id).
line_picks = st.integers(min_value=0, max_value=4)


def expected_total(quantity: str, unit_price: str, discount: str) -> str:
    """The model's own line total: exact product, then cents, halves away from zero."""
    exact = Decimal(quantity) * Decimal(unit_price) * (100 - Decimal(discount)) / 100
    return f"{exact.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):f}"


def expected_sum(lines: list[dict[str, Any]]) -> str:
    cents = sum(int(line["total"].replace(".", "")) for line in lines)
    return f"{cents // 100}.{cents % 100:02d}"


def valid_currency(code: str) -> bool:
    return len(code) == 3 and code.isalpha() and code.isupper()


class DealMachine(RuleBasedStateMachine):
    """One deal in a four-stage pipeline, driven by random commands."""

    def __init__(self) -> None:
        super().__init__()
        self.stage_ids = {k: str(uuid4()) for k in KEYS}
        self.stage_ids[UNKNOWN] = str(uuid4())
        self.key_of = {v: k for k, v in self.stage_ids.items()}
        self.pipeline = Pipeline.create(
            name="P",
            stages=[
                {
                    "stage_id": self.stage_ids[k],
                    "name": k.upper(),
                    "probability": 10,
                    "forecast_category": "pipeline",
                }
                for k in KEYS
            ],
            actor=ACTOR,
        )
        self.deal = Deal.create(
            title="Acme",
            contact_id=uuid4(),
            pipeline=self.pipeline,
            currency="EUR",
            at=AT,
            actor=ACTOR,
        )
        self.events: list[Any] = list(self.deal.collect_events())
        self.retired: set[str] = set()
        self.model: dict[str, Any] = {
            "version": 1,
            "status": "open",
            "stage": "a",
            "amount": None,
            "currency": "EUR",
            "title": "Acme",
            "lost_reason": None,
            "history": ["a"],
            "lines": [],
        }
        self.line_ids: list[str] = []  # the ids add_line returned, in line order

    # -- the comparison -----------------------------------------------------------------

    def observed(self) -> dict[str, Any]:
        d = self.deal
        return {
            "version": d.version,
            "status": d.status_value,
            "stage": self.key_of[d.stage_id],
            "amount": d.amount_text,
            "currency": d.currency,
            "title": d.title,
            "lost_reason": d.lost_reason,
            "history": [self.key_of[h["stage_id"]] for h in d.stage_history],
            "lines": [{k: v for k, v in line.items() if k != "line_id"} for line in d.lines],
        }

    def outcome(
        self, command: Callable[[], object], error: type[Exception] | None, **changes: Any
    ) -> None:
        """Run `command`: it raises exactly `error` (nothing changes), or the model moves
        to `changes` with one more version (no changes given: no event, same version)."""
        if error is not None:
            with pytest.raises(error) as info:
                command()
            assert error is type(info.value)
        else:
            command()
            if changes:
                self.model = {**self.model, **changes, "version": self.model["version"] + 1}
        self.events.extend(self.deal.collect_events())
        assert self.model == self.observed()

    @property
    def closed(self) -> bool:
        return self.model["status"] in CLOSED

    def amount_is_set(self) -> bool:
        amount = self.model["amount"]
        return amount is not None and Decimal(amount) != 0

    @property
    def has_lines(self) -> bool:
        return bool(self.model["lines"])

    def picked(self, pick: int) -> str:
        """The id of line number `pick` (as add_line returned it), or an id no line has."""
        return self.line_ids[pick] if pick < len(self.line_ids) else str(uuid4())

    # -- rules --------------------------------------------------------------------------

    @rule(amount=st.one_of(amounts, bad_amounts))
    def update_amount(self, amount: tuple[object, str | None]) -> None:
        sent, stored = amount
        command = lambda: self.deal.update(actor=ACTOR, amount=sent)  # noqa: E731
        if self.closed:
            self.outcome(command, DealClosedError)
        elif sent is not None and stored is None:
            self.outcome(command, InvalidCommandError)
        elif stored == self.model["amount"]:
            self.outcome(command, None)
        elif self.has_lines:
            self.outcome(command, DealAmountFromLinesError)
        else:
            self.outcome(command, None, amount=stored)

    @rule(currency=currencies)
    def update_currency(self, currency: str) -> None:
        command = lambda: self.deal.update(actor=ACTOR, currency=currency)  # noqa: E731
        if self.closed:
            self.outcome(command, DealClosedError)
        elif not valid_currency(currency):
            self.outcome(command, InvalidCommandError)
        elif currency == self.model["currency"]:
            self.outcome(command, None)
        elif self.amount_is_set() or self.has_lines:
            self.outcome(command, DealCurrencyLockedError)
        else:
            self.outcome(command, None, currency=currency)

    @rule(amount=amounts, currency=currencies)
    def update_amount_and_currency(self, amount: tuple[object, str | None], currency: str) -> None:
        sent, stored = amount
        command = lambda: self.deal.update(actor=ACTOR, amount=sent, currency=currency)  # noqa: E731
        if self.closed:
            self.outcome(command, DealClosedError)
        elif not valid_currency(currency):
            self.outcome(command, InvalidCommandError)
        elif stored != self.model["amount"] and self.has_lines:
            self.outcome(command, DealAmountFromLinesError)
        elif currency != self.model["currency"] and (self.amount_is_set() or self.has_lines):
            self.outcome(command, DealCurrencyLockedError)
        else:
            changes = {}
            if stored != self.model["amount"]:
                changes["amount"] = stored
            if currency != self.model["currency"]:
                changes["currency"] = currency
            self.outcome(command, None, **changes)

    @rule(title=titles)
    def update_title(self, title: str) -> None:
        command = lambda: self.deal.update(actor=ACTOR, title=title)  # noqa: E731
        if self.closed:
            self.outcome(command, DealClosedError)
        elif not title.strip():
            self.outcome(command, InvalidCommandError)
        elif title.strip() == self.model["title"]:
            self.outcome(command, None)
        else:
            self.outcome(command, None, title=title.strip())

    @rule(key=st.sampled_from([*KEYS, UNKNOWN]))
    def move(self, key: str) -> None:
        stage_id = self.stage_ids[key]
        command = lambda: self.deal.move(self.pipeline, stage_id, at=AT, actor=ACTOR)  # noqa: E731
        if self.closed:
            self.outcome(command, DealClosedError)
        elif key == UNKNOWN:
            self.outcome(command, StageNotFoundError)
        elif key == self.model["stage"]:
            self.outcome(command, None)
        elif key in self.retired:
            self.outcome(command, StageRetiredError)
        else:
            self.outcome(command, None, stage=key, history=[*self.model["history"], key])

    @rule()
    def win(self) -> None:
        command = lambda: self.deal.win(at=AT, actor=ACTOR)  # noqa: E731
        if self.closed:
            self.outcome(command, DealClosedError)
        elif not self.amount_is_set():
            self.outcome(command, DealAmountRequiredError)
        else:
            self.outcome(command, None, status="won")

    @rule(reason=reasons)
    def lose(self, reason: str) -> None:
        command = lambda: self.deal.lose(reason=reason, at=AT, actor=ACTOR)  # noqa: E731
        if self.closed:
            self.outcome(command, DealClosedError)
        elif not reason.strip():
            self.outcome(command, InvalidCommandError)
        else:
            self.outcome(command, None, status="lost", lost_reason=reason.strip())

    @rule()
    def reopen(self) -> None:
        command = lambda: self.deal.reopen(actor=ACTOR)  # noqa: E731
        if not self.closed:
            self.outcome(command, DealNotClosedError)
        else:
            self.outcome(command, None, status="open", lost_reason=None)

    @rule(
        description=line_descriptions,
        quantity=line_quantities,
        price=line_prices,
        discount=line_discounts,
        product=st.sampled_from([None, PRODUCT]),
    )
    def add_line(
        self,
        description: tuple[Any, str | None],
        quantity: tuple[Any, str | None],
        price: tuple[Any, str | None],
        discount: tuple[Any, str | None],
        product: UUID | None,
    ) -> None:
        returned: list[UUID] = []

        def command() -> None:
            returned.append(
                self.deal.add_line(
                    product, description[0], quantity[0], price[0], discount[0], actor=ACTOR
                )
            )

        text, amount, unit_price, percent = (description[1], quantity[1], price[1], discount[1])
        if self.closed:
            self.outcome(command, DealClosedError)
        elif text is None or amount is None or unit_price is None or percent is None:
            self.outcome(command, InvalidCommandError)
        else:
            line = {
                "product_id": None if product is None else str(product),
                "description": text,
                "quantity": amount,
                "unit_price": unit_price,
                "discount_percent": percent,
                "total": expected_total(amount, unit_price, percent),
            }
            lines = [*self.model["lines"], line]
            self.outcome(command, None, lines=lines, amount=expected_sum(lines))
            self.line_ids.append(str(returned[0]))

    @rule(pick=line_picks, changes=line_changes)
    def update_line(self, pick: int, changes: dict[str, tuple[Any, str | None]]) -> None:
        line_id = self.picked(pick)
        sent = {field: value[0] for field, value in changes.items()}
        command = lambda: self.deal.update_line(line_id, actor=ACTOR, **sent)  # noqa: E731
        if self.closed:
            self.outcome(command, DealClosedError)
        elif pick >= len(self.model["lines"]):
            self.outcome(command, DealLineNotFoundError)
        elif any(value[1] is None for value in changes.values()):
            self.outcome(command, InvalidCommandError)
        else:
            current = self.model["lines"][pick]
            new = {**current, **{field: value[1] for field, value in changes.items()}}
            if new == current:
                self.outcome(command, None)
                return
            new["total"] = expected_total(
                new["quantity"], new["unit_price"], new["discount_percent"]
            )
            lines = [*self.model["lines"]]
            lines[pick] = new
            self.outcome(command, None, lines=lines, amount=expected_sum(lines))

    @rule(pick=line_picks)
    def remove_line(self, pick: int) -> None:
        line_id = self.picked(pick)
        command = lambda: self.deal.remove_line(line_id, actor=ACTOR)  # noqa: E731
        if self.closed:
            self.outcome(command, DealClosedError)
        elif pick >= len(self.model["lines"]):
            self.outcome(command, DealLineNotFoundError)
        else:
            lines = [line for i, line in enumerate(self.model["lines"]) if i != pick]
            self.outcome(command, None, lines=lines, amount=expected_sum(lines))
            del self.line_ids[pick]

    @rule(key=st.sampled_from(KEYS))
    def retire_stage(self, key: str) -> None:
        """Retire a pipeline stage (the deal may sit in it: the service guards that)."""
        before = self.pipeline.version
        command = partial(self.pipeline.retire_stage, self.stage_ids[key], actor=ACTOR)
        if key in self.retired:
            expected: type[Exception] | None = StageRetiredError
        elif len(self.retired) == len(KEYS) - 1:
            expected = PipelineEmptyError
        else:
            expected = None
        if expected is None:
            command()
            self.retired.add(key)
            assert before + 1 == self.pipeline.version
        else:
            with pytest.raises(expected) as info:
                command()
            assert expected is type(info.value)
            assert before == self.pipeline.version
        assert self.retired == {
            self.key_of[s["stage_id"]] for s in self.pipeline.stages if s["retired"]
        }

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def lines_keep_their_ids(self) -> None:
        """Each line keeps the id add_line returned for it, in the order added."""
        assert self.line_ids == [line["line_id"] for line in self.deal.lines]

    @invariant()
    def replay_gives_the_same_deal(self) -> None:
        """Every recorded event replayed from scratch rebuilds the same deal."""
        rebuilt = None
        for e in self.events:
            rebuilt = e.mutate(rebuilt)
        assert rebuilt is not None
        assert (self.deal.version, self.deal.__dict__.keys()) == (
            rebuilt.version,
            rebuilt.__dict__.keys(),
        )
        for name in ("status_value", "stage_id", "amount_text", "currency", "title"):
            assert getattr(self.deal, name) == getattr(rebuilt, name)
        assert self.deal.stage_history == rebuilt.stage_history
        assert self.deal.lost_reason == rebuilt.lost_reason
        assert self.deal.lines == rebuilt.lines


DealMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestDealMachine = DealMachine.TestCase
