"""A Hypothesis state machine for Deal: a small model predicts every command's outcome.

The model knows nothing of the domain code: for each command it predicts either the exact
exception class (and then that nothing changed) or the new state and version. Deleting any
guard in ``domain/deal.py`` makes a prediction fail.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from crm_ledger.domain.deal import Deal
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.pipeline import Pipeline
from crm_ledger.domain.sales_errors import (
    DealAmountRequiredError,
    DealClosedError,
    DealCurrencyLockedError,
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
        }

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
        elif self.amount_is_set():
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
        elif currency != self.model["currency"] and self.amount_is_set():
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


DealMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestDealMachine = DealMachine.TestCase
