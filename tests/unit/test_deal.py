"""Every guard of the Pipeline and Deal aggregates (no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any
from uuid import UUID, uuid4

import pytest

from crm_ledger.domain.deal import (
    MAX_LINES,
    Deal,
    DealStatus,
    deal_snapshot,
    line_total,
    money_text,
)
from crm_ledger.domain.errors import InvalidCommandError, NotFoundError
from crm_ledger.domain.pipeline import Pipeline
from crm_ledger.domain.sales_errors import (
    DealAmountFromLinesError,
    DealAmountRequiredError,
    DealClosedError,
    DealCurrencyLockedError,
    DealError,
    DealLineNotFoundError,
    DealNotClosedError,
    PipelineEmptyError,
    PipelineError,
    StageInUseError,
    StageNotFoundError,
    StageOrderError,
    StageRetiredError,
)

ACTOR = "user:test"
AT = "2026-01-02T03:04:05.000006Z"
STAGES = [
    {"name": "Qualified", "probability": 20, "forecast_category": "pipeline"},
    {"name": "Proposal", "probability": 50, "forecast_category": "best_case"},
    {"name": "Negotiation", "probability": 80, "forecast_category": "commit"},
]


def pipeline(stages: list[dict[str, Any]] | None = None) -> Pipeline:
    return Pipeline.create(name="New business", stages=stages or STAGES, actor=ACTOR)


def ids(p: Pipeline) -> list[str]:
    return [s["stage_id"] for s in p.stages]


def deal(p: Pipeline | None = None, **fields: Any) -> Deal:
    values: dict[str, Any] = {"title": "Acme renewal", "currency": "EUR", **fields}
    return Deal.create(contact_id=uuid4(), pipeline=p or pipeline(), at=AT, actor=ACTOR, **values)


def unchanged(aggregate: Pipeline | Deal, command: Callable[[], object], error: type) -> None:
    """`command` raises exactly `error` and records nothing."""
    before = aggregate.version
    with pytest.raises(error) as info:
        command()
    assert error is type(info.value)
    assert before == aggregate.version


def replayed(aggregate: Any) -> Any:
    """The aggregate rebuilt from its own pending events (event bodies only assign)."""
    rebuilt = None
    for e in aggregate.collect_events():
        rebuilt = e.mutate(rebuilt)
    return rebuilt


# -- pipeline -------------------------------------------------------------------------


def test_pipeline_create_assigns_uuid_stage_ids_in_order() -> None:
    """Stages keep their order, get UUID ids, start active; the event carries the actor."""
    p = pipeline()
    assert ["Qualified", "Proposal", "Negotiation"] == [s["name"] for s in p.stages]
    assert all(str(UUID(i)) == i for i in ids(p))
    assert [False, False, False] == [s["retired"] for s in p.stages]
    (created,) = p.collect_events()
    assert ACTOR == created.actor  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("stages", "field"),
    [
        ([], "stages"),
        ([{**STAGES[0], "probability": 101}], "probability"),
        ([{**STAGES[0], "probability": -1}], "probability"),
        ([{**STAGES[0], "probability": True}], "probability"),
        ([{**STAGES[0], "probability": 20.0}], "probability"),
        ([{**STAGES[0], "forecast_category": "maybe"}], "forecast_category"),
        ([{**STAGES[0], "name": "  "}], "name"),
        ([STAGES[0], {**STAGES[1], "name": "QUALIFIED"}], "stages"),
    ],
)
def test_pipeline_create_refuses_bad_stages(stages: list[dict[str, Any]], field: str) -> None:
    """Empty lists, bad probabilities and categories, blank or duplicate names are refused."""
    with pytest.raises(InvalidCommandError) as info:
        Pipeline.create(name="P", stages=stages, actor=ACTOR)
    assert field == info.value.field


def test_pipeline_needs_a_name() -> None:
    """A blank pipeline name is refused."""
    with pytest.raises(InvalidCommandError):
        Pipeline.create(name=" ", stages=STAGES, actor=ACTOR)


def test_unknown_or_malformed_stage_is_not_found() -> None:
    """An unknown or non-UUID stage id raises StageNotFoundError (a NotFoundError)."""
    p = pipeline()
    unchanged(p, lambda: p.rename_stage(uuid4(), name="X", actor=ACTOR), StageNotFoundError)
    unchanged(p, lambda: p.retire_stage("not-a-uuid", actor=ACTOR), StageNotFoundError)
    assert issubclass(StageNotFoundError, NotFoundError)


def test_add_stage_appends_and_refuses_duplicate_active_names() -> None:
    """A new stage goes last; an active stage's name cannot be reused."""
    p = pipeline()
    new_id = p.add_stage(name="Won", probability=100, forecast_category="closed", actor=ACTOR)
    assert new_id == ids(p)[-1]
    add = lambda: p.add_stage(  # noqa: E731
        name="won", probability=100, forecast_category="closed", actor=ACTOR
    )
    unchanged(p, add, InvalidCommandError)


def test_retired_stage_name_can_be_reused() -> None:
    """Only active names must be unique."""
    p = pipeline()
    p.retire_stage(ids(p)[0], actor=ACTOR)
    p.add_stage(name="Qualified", probability=10, forecast_category="pipeline", actor=ACTOR)
    assert 3 == p.version


def test_rename_stage() -> None:
    """Rename changes one stage; same name is no event; duplicate or retired is refused."""
    p = pipeline()
    first, second, _ = ids(p)
    p.rename_stage(first, name=" Lead ", actor=ACTOR)
    assert "Lead" == p.stage(first)["name"]
    assert 2 == p.version
    p.rename_stage(first, name="Lead", actor=ACTOR)
    assert 2 == p.version
    unchanged(p, lambda: p.rename_stage(first, name="proposal", actor=ACTOR), InvalidCommandError)
    p.retire_stage(second, actor=ACTOR)
    unchanged(p, lambda: p.rename_stage(second, name="Y", actor=ACTOR), StageRetiredError)


def test_reorder_must_be_a_permutation_of_active_stages() -> None:
    """Missing, extra, duplicated, retired or malformed ids are refused."""
    p = pipeline()
    a, b, c = ids(p)
    for order in ([a, b], [a, b, c, str(uuid4())], [a, a, b], [a, b, "x"]):
        unchanged(p, partial(p.reorder_stages, order, actor=ACTOR), StageOrderError)
    p.retire_stage(b, actor=ACTOR)
    unchanged(p, lambda: p.reorder_stages([c, b, a], actor=ACTOR), StageOrderError)


def test_reorder_moves_active_stages_and_keeps_retired_at_the_tail() -> None:
    """Same order is no event; retired stages follow the active ones."""
    p = pipeline()
    a, b, c = ids(p)
    p.reorder_stages([a, b, c], actor=ACTOR)
    assert 1 == p.version
    p.retire_stage(a, actor=ACTOR)
    p.reorder_stages([c, b], actor=ACTOR)
    assert [c, b, a] == ids(p)
    assert [c, b] == p.active_stage_ids


def test_retire_stage_guards() -> None:
    """Retired twice is StageRetiredError; the last active stage cannot be retired."""
    p = pipeline()
    a, b, c = ids(p)
    p.retire_stage(a, actor=ACTOR)
    assert p.stage(a)["retired"]
    unchanged(p, lambda: p.retire_stage(a, actor=ACTOR), StageRetiredError)
    p.retire_stage(b, actor=ACTOR)
    unchanged(p, lambda: p.retire_stage(c, actor=ACTOR), PipelineEmptyError)


def test_pipeline_replays_to_the_same_state() -> None:
    """Rebuilding from the events gives the same stages."""
    p = pipeline()
    a, b, c = ids(p)
    p.add_stage(name="Won", probability=100, forecast_category="closed", actor=ACTOR)
    p.rename_stage(b, name="Demo", actor=ACTOR)
    p.retire_stage(a, actor=ACTOR)
    p.reorder_stages([c, ids(p)[3], b], actor=ACTOR)
    stages, version = [dict(s) for s in p.stages], p.version
    rebuilt = replayed(p)
    assert (stages, version) == (rebuilt.stages, rebuilt.version)


def test_stage_in_use_error_says_how_many() -> None:
    """The service's refusal names the stage and the number of open deals."""
    error = StageInUseError(stage_id="s1", open_deals=3)
    assert "3 open deal(s)" in error.detail
    assert isinstance(error, PipelineError)


# -- deal: creation and values --------------------------------------------------------


def test_deal_starts_open_in_the_first_active_stage() -> None:
    """Default stage is the first active one; amount is stored as text, exposed as Decimal."""
    p = pipeline()
    p.retire_stage(ids(p)[0], actor=ACTOR)
    d = deal(p, amount="1234.5", expected_close="2026-06-30")
    assert ids(p)[1] == d.stage_id
    assert DealStatus.OPEN is d.status
    assert Decimal("1234.50") == d.amount
    assert "1234.50" == d.amount_text
    assert date(2026, 6, 30) == d.expected_close
    (created,) = d.collect_events()
    assert "1234.50" == created.amount  # type: ignore[attr-defined]
    assert ACTOR == created.actor  # type: ignore[attr-defined]


def test_deal_cannot_start_in_a_retired_or_unknown_stage() -> None:
    """Retired: StageRetiredError; unknown: StageNotFoundError."""
    p = pipeline()
    p.retire_stage(ids(p)[0], actor=ACTOR)
    with pytest.raises(StageRetiredError):
        deal(p, stage_id=ids(p)[0])
    with pytest.raises(StageNotFoundError):
        deal(p, stage_id=str(uuid4()))


@pytest.mark.parametrize(
    "amount",
    [12.5, -1, "-0.01", "12.345", "abc", "NaN", "Infinity", "1" * 13, True, Decimal("1e-3")],
)
def test_bad_amounts_are_refused(amount: object) -> None:
    """Floats, negatives, more than 2 decimals or 12 integer digits, non-numbers."""
    with pytest.raises(InvalidCommandError) as info:
        money_text(amount)
    assert "amount" == info.value.field


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (None, None),
        ("0", "0.00"),
        (7, "7.00"),
        (Decimal("1E+3"), "1000.00"),
        ("9" * 12, "9" * 12 + ".00"),
    ],
)
def test_amounts_are_stored_with_two_places(given: object, stored: str | None) -> None:
    """Valid amounts are normalised to exactly two decimal places."""
    assert stored == money_text(given)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": " "}, "title"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"expected_close": "30/06/2026"}, "expected_close"),
        ({"owner": 5}, "owner"),
    ],
)
def test_create_refuses_bad_values(fields: dict[str, Any], field: str) -> None:
    """Blank title, non-ISO currency or date, non-text owner."""
    with pytest.raises(InvalidCommandError) as info:
        deal(**fields)
    assert field == info.value.field


# -- deal: update ---------------------------------------------------------------------


def test_update_records_only_real_changes() -> None:
    """Differing values make one event; identical values make none."""
    d = deal(amount="10")
    d.update(actor=ACTOR, title="Acme renewal", amount="10.00")
    assert 1 == d.version
    d.update(actor=ACTOR, amount="12.50", owner=" bob ", expected_close=date(2026, 7, 1))
    assert (2, Decimal("12.50"), "bob", "2026-07-01") == (
        d.version,
        d.amount,
        d.owner,
        d.expected_close_text,
    )


def test_update_refuses_unknown_fields() -> None:
    """Only title, amount, currency, expected_close and owner can change."""
    d = deal()
    unchanged(d, lambda: d.update(actor=ACTOR, status="won"), InvalidCommandError)


def test_currency_changes_only_while_amount_is_unset_or_zero() -> None:
    """No amount or zero: currency may change; amount above zero: DealCurrencyLockedError."""
    d = deal()
    d.update(actor=ACTOR, currency="USD")
    d.update(actor=ACTOR, amount="0", currency="GBP")
    d.update(actor=ACTOR, amount="5", currency="JPY")  # judged on the amount before
    assert ("JPY", 4) == (d.currency, d.version)
    unchanged(d, lambda: d.update(actor=ACTOR, currency="EUR"), DealCurrencyLockedError)
    unchanged(d, lambda: d.update(actor=ACTOR, amount="0", currency="EUR"), DealCurrencyLockedError)
    d.update(actor=ACTOR, currency="JPY")  # same currency: allowed, no event
    assert 4 == d.version


def test_closed_deal_cannot_be_updated() -> None:
    """Updates to a won or lost deal are refused until it is reopened."""
    d = deal()
    d.lose(reason="budget", at=AT, actor=ACTOR)
    unchanged(d, lambda: d.update(actor=ACTOR, title="X"), DealClosedError)


# -- deal: move -----------------------------------------------------------------------


def test_move_records_stage_history() -> None:
    """A move records the new stage with who and when; same stage is no event."""
    p = pipeline()
    d = deal(p)
    d.move(p, ids(p)[2], at="t2", actor="user:b")
    assert ids(p)[2] == d.stage_id
    d.move(p, ids(p)[2], at="t3", actor=ACTOR)
    assert 2 == d.version
    assert [(ids(p)[0], AT, ACTOR), (ids(p)[2], "t2", "user:b")] == [
        (h["stage_id"], h["at"], h["actor"]) for h in d.stage_history
    ]


def test_move_guards() -> None:
    """Closed: DealClosedError; retired: StageRetiredError; unknown: StageNotFoundError;
    a stage of another pipeline: InvalidCommandError."""
    p = pipeline()
    d = deal(p, amount="1")
    a, b, c = ids(p)
    p.retire_stage(b, actor=ACTOR)
    unchanged(d, lambda: d.move(p, b, at=AT, actor=ACTOR), StageRetiredError)
    unchanged(d, lambda: d.move(p, uuid4(), at=AT, actor=ACTOR), StageNotFoundError)
    unchanged(d, lambda: d.move(pipeline(), a, at=AT, actor=ACTOR), InvalidCommandError)
    d.win(at=AT, actor=ACTOR)
    unchanged(d, lambda: d.move(p, c, at=AT, actor=ACTOR), DealClosedError)


# -- deal: win, lose, reopen ----------------------------------------------------------


@pytest.mark.parametrize("amount", [None, "0", "0.00"])
def test_win_needs_an_amount_above_zero(amount: str | None) -> None:
    """No amount or zero: DealAmountRequiredError (an InvalidCommandError, so 422)."""
    d = deal(amount=amount)
    unchanged(d, lambda: d.win(at=AT, actor=ACTOR), DealAmountRequiredError)
    assert issubclass(DealAmountRequiredError, InvalidCommandError)


def test_win_then_win_or_lose_again_is_refused() -> None:
    """A closed deal is neither won nor lost again."""
    d = deal(amount="100")
    d.win(at=AT, actor=ACTOR)
    assert (DealStatus.WON, AT) == (d.status, d.closed_at)
    unchanged(d, lambda: d.win(at=AT, actor=ACTOR), DealClosedError)
    unchanged(d, lambda: d.lose(reason="x", at=AT, actor=ACTOR), DealClosedError)


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_lose_needs_a_reason(reason: Any) -> None:
    """A blank or missing reason is refused."""
    d = deal()
    unchanged(d, lambda: d.lose(reason=reason, at=AT, actor=ACTOR), InvalidCommandError)


def test_lose_and_reopen() -> None:
    """Lost keeps the stripped reason; reopen clears it; reopening an open deal is refused."""
    d = deal()
    unchanged(d, lambda: d.reopen(actor=ACTOR), DealNotClosedError)
    d.lose(reason=" chose a competitor ", at=AT, actor=ACTOR)
    assert (DealStatus.LOST, "chose a competitor") == (d.status, d.lost_reason)
    d.reopen(actor=ACTOR)
    assert (DealStatus.OPEN, None, None) == (d.status, d.lost_reason, d.closed_at)
    unchanged(d, lambda: d.reopen(actor=ACTOR), DealNotClosedError)


def test_deal_errors_are_state_conflicts() -> None:
    """Closed / not closed / currency locked share the DealError base (409)."""
    for cls in (DealClosedError, DealNotClosedError, DealCurrencyLockedError):
        assert issubclass(cls, DealError)


def test_deal_replays_to_the_same_state() -> None:
    """Rebuilding from the events gives the same state."""
    p = pipeline()
    d = deal(p)
    d.update(actor=ACTOR, amount="99.90", owner="ana")
    d.move(p, ids(p)[1], at="t1", actor=ACTOR)
    d.lose(reason="late", at="t2", actor=ACTOR)
    d.reopen(actor=ACTOR)
    d.win(at="t3", actor=ACTOR)
    state = {k: v for k, v in vars(d).items() if k != "_pending_events"}
    rebuilt = replayed(d)
    assert state == {k: v for k, v in vars(rebuilt).items() if k != "_pending_events"}


# -- deal: product lines --------------------------------------------------------------


def add(
    d: Deal, quantity: str = "12", price: str = "49.00", discount: str = "10", **kw: Any
) -> UUID:
    values: dict[str, Any] = {"product_id": None, "description": "GPS tracker", **kw}
    return d.add_line(
        values["product_id"], values["description"], quantity, price, discount, actor=ACTOR
    )


def test_add_line_records_line_amount_and_actor() -> None:
    """12 x 49.00 less 10 % = 529.20: the line's total and the deal's amount, both in the
    event, which also carries the actor; the returned id is the line's."""
    d = deal()
    product = uuid4()
    line_id = add(d, product_id=product, description=" GPS tracker ")
    assert (2, Decimal("529.20"), "529.20") == (d.version, d.amount, d.amount_text)
    assert [
        {
            "line_id": str(line_id),
            "product_id": str(product),
            "description": "GPS tracker",
            "quantity": "12",
            "unit_price": "49.00",
            "discount_percent": "10.00",
            "total": "529.20",
        }
    ] == d.lines
    _, added = d.collect_events()
    assert ("529.20", ACTOR, "529.20") == (
        added.amount,  # type: ignore[attr-defined]
        added.actor,  # type: ignore[attr-defined]
        added.line["total"],  # type: ignore[attr-defined]
    )
    add(d, quantity="2.5", price="10", discount="0", description="Install")
    assert ("25.00", Decimal("554.20")) == (d.lines[1]["total"], d.amount)
    assert d.lines == deal_snapshot(d)["lines"]


@pytest.mark.parametrize(
    ("quantity", "price", "discount", "total"),
    [
        ("0.5", "0.05", "0.00", "0.03"),  # 0.025: half up (half-even would give 0.02)
        ("1", "0.10", "25.00", "0.08"),  # 0.075
        ("3", "10.01", "50.00", "15.02"),  # 15.015
        ("1", "0.01", "50.00", "0.01"),  # 0.005
        ("7", "3.33", "100.00", "0.00"),
        ("1.001", "999.99", "0.00", "1000.99"),  # 1000.98999
    ],
)
def test_line_total_is_rounded_once_half_up(
    quantity: str, price: str, discount: str, total: str
) -> None:
    """quantity x unit_price x (1 - discount / 100), rounded once to cents, half up."""
    assert total == line_total(quantity, price, discount)
    d = deal()
    add(d, quantity=quantity, price=price, discount=discount)
    assert (total, total) == (d.lines[0]["total"], d.amount_text)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "1.2345"}, "quantity"),
        ({"quantity": 1.5}, "quantity"),
        ({"quantity": "1234567890"}, "quantity"),
        ({"quantity": "abc"}, "quantity"),
        ({"price": "1.234"}, "unit_price"),
        ({"price": "-1"}, "unit_price"),
        ({"price": 2.5}, "unit_price"),
        ({"price": None}, "unit_price"),
        ({"discount": "100.01"}, "discount_percent"),
        ({"discount": "-1"}, "discount_percent"),
        ({"discount": "1.234"}, "discount_percent"),
        ({"discount": 0.5}, "discount_percent"),
        ({"description": "  "}, "description"),
        ({"description": None}, "description"),
        ({"description": "x" * 501}, "description"),
        ({"product_id": "not-a-uuid"}, "product_id"),
    ],
)
def test_add_line_refuses_bad_values(values: dict[str, Any], field: str) -> None:
    """Each bad value is refused with its field named, and nothing is recorded."""
    d = deal()
    with pytest.raises(InvalidCommandError) as info:
        add(d, **values)
    assert (field, 1, []) == (info.value.field, d.version, d.lines)


def test_discount_none_is_zero_and_amount_is_bounded() -> None:
    """No discount is 0.00; lines cannot take the amount past 12 integer digits."""
    d = deal()
    d.add_line(None, "Plain", "1", "5", None, actor=ACTOR)
    assert ("0.00", "5.00") == (d.lines[0]["discount_percent"], d.amount_text)
    big = lambda: add(d, quantity="999999999", price="999999999999.99", discount="0")  # noqa: E731
    unchanged(d, big, InvalidCommandError)
    add(d, quantity="1", price="999999999994.99", discount="0")
    assert "999999999999.99" == d.amount_text
    unchanged(d, lambda: add(d, quantity="1", price="0.01", discount="0"), InvalidCommandError)


def test_a_deal_holds_at_most_max_lines() -> None:
    """The MAX_LINES + 1st line is refused."""
    d = deal()
    for _ in range(MAX_LINES):
        add(d, quantity="1", price="1", discount="0")
    assert (str(MAX_LINES) + ".00", MAX_LINES + 1) == (d.amount_text, d.version)
    unchanged(d, lambda: add(d), InvalidCommandError)


def test_update_line_recomputes_total_and_amount() -> None:
    """Changed values make one event (total and amount follow); same values make none;
    a discount of None means no discount."""
    d = deal()
    first = add(d)
    add(d, quantity="1", price="100", discount="0", description="Install")
    d.update_line(first, actor=ACTOR, quantity="12.000", discount_percent="10.00")
    assert 3 == d.version
    d.update_line(str(first), actor="user:b", quantity="15", discount_percent=None)
    assert ("15", "0.00", "735.00", Decimal("835.00"), 4) == (
        d.lines[0]["quantity"],
        d.lines[0]["discount_percent"],
        d.lines[0]["total"],
        d.amount,
        d.version,
    )
    *_, updated = d.collect_events()
    assert ("user:b", {"quantity": "15", "discount_percent": "0.00"}, "835.00") == (
        updated.actor,  # type: ignore[attr-defined]
        updated.changes,  # type: ignore[attr-defined]
        updated.amount,  # type: ignore[attr-defined]
    )
    d.update_line(first, actor=ACTOR, description=" Tracker ", unit_price="40")
    assert ("Tracker", "600.00", "700.00") == (
        d.lines[0]["description"],
        d.lines[0]["total"],
        d.amount_text,
    )


def test_update_line_guards() -> None:
    """Unknown field (product_id included): InvalidCommandError; bad value: its field;
    unknown line: DealLineNotFoundError (a NotFoundError)."""
    d = deal()
    line = add(d)
    unchanged(d, lambda: d.update_line(line, actor=ACTOR, product_id=uuid4()), InvalidCommandError)
    unchanged(d, lambda: d.update_line(line, actor=ACTOR, quantity="0"), InvalidCommandError)
    unchanged(d, lambda: d.update_line(uuid4(), actor=ACTOR, quantity="1"), DealLineNotFoundError)
    unchanged(d, lambda: d.remove_line(uuid4(), actor=ACTOR), DealLineNotFoundError)
    unchanged(d, lambda: d.line("nope"), DealLineNotFoundError)
    assert issubclass(DealLineNotFoundError, NotFoundError)


def test_remove_line_and_emptying_unlocks_the_currency() -> None:
    """Removing a line leaves the sum of the rest; the last one leaves 0.00, and then the
    currency may change and the amount may be set by hand again."""
    d = deal()
    first = add(d)
    second = add(d, quantity="1", price="100", discount="0")
    d.remove_line(first, actor=ACTOR)
    assert ([str(second)], "100.00") == ([x["line_id"] for x in d.lines], d.amount_text)
    unchanged(d, lambda: d.update(actor=ACTOR, currency="USD"), DealCurrencyLockedError)
    d.remove_line(second, actor=ACTOR)
    assert ([], "0.00", 5) == (d.lines, d.amount_text, d.version)
    d.update(actor=ACTOR, currency="USD")
    d.update(actor=ACTOR, amount="12.00")
    assert ("USD", "12.00") == (d.currency, d.amount_text)


def test_amount_comes_from_lines() -> None:
    """With lines, a different amount is DealAmountFromLinesError (a DealError, 409); the
    same amount is no event; other fields still change."""
    d = deal(amount="10")
    add(d)
    unchanged(d, lambda: d.update(actor=ACTOR, amount="99"), DealAmountFromLinesError)
    unchanged(d, lambda: d.update(actor=ACTOR, amount=None), DealAmountFromLinesError)
    d.update(actor=ACTOR, amount="529.20", title="Fleet")
    assert ("Fleet", "529.20", 3) == (d.title, d.amount_text, d.version)
    assert issubclass(DealAmountFromLinesError, DealError)


def test_currency_is_fixed_after_the_first_line() -> None:
    """Even a line whose total is zero fixes the currency; the same currency is fine."""
    d = deal()
    line = add(d, discount="100")
    assert "0.00" == d.amount_text
    unchanged(d, lambda: d.update(actor=ACTOR, currency="USD"), DealCurrencyLockedError)
    d.update(actor=ACTOR, currency="EUR")
    assert 2 == d.version
    unchanged(d, lambda: d.win(at=AT, actor=ACTOR), DealAmountRequiredError)
    d.update_line(line, actor=ACTOR, discount_percent="0")
    d.win(at=AT, actor=ACTOR)
    assert DealStatus.WON is d.status


def test_closed_deal_refuses_line_changes() -> None:
    """Won or lost: add, update and remove are DealClosedError until reopened."""
    d = deal()
    line = add(d)
    closers: list[Callable[[], None]] = [
        partial(d.win, at=AT, actor=ACTOR),
        partial(d.lose, reason="x", at=AT, actor=ACTOR),
    ]
    for close in closers:
        close()
        unchanged(d, lambda: add(d), DealClosedError)
        unchanged(d, lambda: d.update_line(line, actor=ACTOR, quantity="1"), DealClosedError)
        unchanged(d, lambda: d.remove_line(line, actor=ACTOR), DealClosedError)
        d.reopen(actor=ACTOR)
    d.remove_line(line, actor=ACTOR)
    assert [] == d.lines


def test_deal_with_lines_replays_to_the_same_state() -> None:
    """Line events only assign: replay rebuilds the same lines and amount."""
    d = deal()
    first = add(d)
    second = add(d, quantity="3", price="10.01", discount="50")
    d.update_line(first, actor=ACTOR, quantity="1")
    d.remove_line(second, actor=ACTOR)
    add(d, description="Training", quantity="2", price="80", discount="0")
    d.win(at=AT, actor=ACTOR)
    state = {k: v for k, v in vars(d).items() if k != "_pending_events"}
    rebuilt = replayed(d)
    assert state == {k: v for k, v in vars(rebuilt).items() if k != "_pending_events"}
    assert "204.10" == rebuilt.amount_text
