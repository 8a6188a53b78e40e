"""Every guard of the Quote aggregate: revisions, send, accept, reject, expire, convert."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import pytest

from crm_ledger.domain.document_errors import (
    DocumentLinesRequiredError,
    QuoteExpiredError,
    QuoteStatusError,
    ValidUntilError,
)
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.order import SalesOrder
from crm_ledger.domain.quote import Quote, QuoteStatus, quote_snapshot

ACTOR = "user:test"
TODAY = date(2026, 3, 1)
UNTIL = date(2026, 3, 31)
LINES = [
    {"description": "Widget", "quantity": "3", "unit_price": "10.015", "vat_rate": "21"},
    {"description": "Book", "quantity": "2", "unit_price": "20", "vat_rate": "4"},
]


def quote(**fields: Any) -> Quote:
    values: dict[str, Any] = {"lines": LINES, "valid_until": UNTIL, **fields}
    return Quote.draft(customer_id=uuid4(), today=TODAY, actor=ACTOR, **values)


def sent(**fields: Any) -> Quote:
    q = quote(**fields)
    q.send(today=TODAY, actor=ACTOR)
    return q


def unchanged(aggregate: Any, command: Callable[[], object], error: type) -> Exception:
    """`command` raises exactly `error` and records nothing."""
    before = aggregate.version
    with pytest.raises(error) as info:
        command()
    assert error is type(info.value)
    assert before == aggregate.version
    return info.value


def replayed(aggregate: Any) -> Any:
    """The aggregate rebuilt from its own pending events (event bodies only assign)."""
    rebuilt = None
    for e in aggregate.collect_events():
        rebuilt = e.mutate(rebuilt)
    return rebuilt


def test_draft_stores_invoice_lines_and_totals_like_an_invoice() -> None:
    """Lines are normalised like invoice lines; totals follow the taxes rounding rule
    (3 x 10.015 = 30.045 -> 30.05, VAT 6.31; 2 x 20 at 4% = 40.00, VAT 1.60)."""
    q = quote()
    assert (1, QuoteStatus.DRAFT, "2026-03-31") == (q.revision, q.status, q.valid_until_text)
    assert ["3", "10.015", "0", "21", None] == [
        q.lines[0][k] for k in ("quantity", "unit_price", "discount", "vat_rate", "exemption")
    ]
    snapshot = quote_snapshot(q)
    assert ["30.05", "40.00"] == [line["base"] for line in snapshot["lines"]]
    assert [1, 2] == [line["line_no"] for line in snapshot["lines"]]
    assert ("70.05", "7.91", "77.96") == (
        snapshot["totals"]["base_total"],
        snapshot["totals"]["tax_total"],
        snapshot["totals"]["total"],
    )
    (drafted,) = q.collect_events()
    assert ACTOR == drafted.actor  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "error", "field"),
    [
        ({"valid_until": TODAY - timedelta(days=1)}, ValidUntilError, "valid_until"),
        ({"valid_until": "31/03/2026"}, InvalidCommandError, "valid_until"),
        ({"currency": "eur"}, InvalidCommandError, "currency"),
        ({"lines": [{**LINES[0], "quantity": "0"}]}, InvalidCommandError, "lines/0/quantity"),
        ({"lines": [{**LINES[0], "quantity": "-1"}]}, InvalidCommandError, "lines/0/quantity"),
        ({"lines": [{**LINES[0], "vat_rate": "7"}]}, InvalidCommandError, "lines/0/vat_rate"),
        ({"lines": [{**LINES[0], "unit_price": 1.5}]}, InvalidCommandError, "lines/0/unit_price"),
        ({"lines": "widget"}, InvalidCommandError, "lines"),
        ({"customer_id": "nope"}, InvalidCommandError, "customer_id"),
    ],
)
def test_draft_refuses_bad_input(fields: dict[str, Any], error: type, field: str) -> None:
    """A past valid_until, malformed dates, currencies, lines or ids are refused."""
    values: dict[str, Any] = {
        "customer_id": uuid4(),
        "lines": LINES,
        "valid_until": UNTIL,
        **fields,
    }
    with pytest.raises(error) as info:
        Quote.draft(today=TODAY, actor=ACTOR, **values)
    assert field == info.value.field  # type: ignore[attr-defined]


def test_valid_until_today_is_allowed() -> None:
    """The last valid day may be today."""
    assert "2026-03-01" == quote(valid_until=TODAY).valid_until_text


def test_revise_bumps_revision_keeps_history_and_returns_to_draft() -> None:
    """Revising a sent quote: revision 2, new lines, draft again; the events keep both."""
    q = sent()
    new_lines = [{**LINES[0], "discount": "10"}]
    q.revise(lines=new_lines, today=TODAY, actor=ACTOR, valid_until="2026-04-15")
    assert (2, QuoteStatus.DRAFT, "2026-04-15", None) == (
        q.revision,
        q.status,
        q.valid_until_text,
        q.sent_on,
    )
    assert ["10"] == [line["discount"] for line in q.lines]
    events = q.collect_events()
    assert ["Drafted", "Sent", "Revised"] == [type(e).__name__ for e in events]
    drafted, _, revised = events
    assert ["0", "0"] == [line["discount"] for line in drafted.lines]  # type: ignore[attr-defined]
    assert (2, "sent", ACTOR) == (
        revised.revision,  # type: ignore[attr-defined]
        revised.previous_status,  # type: ignore[attr-defined]
        revised.actor,  # type: ignore[attr-defined]
    )


def test_revise_is_refused_when_nothing_changes_or_not_revisable() -> None:
    """Identical content is refused; accepted, rejected, expired, converted quotes are not
    revisable."""
    q = quote()
    unchanged(q, lambda: q.revise(lines=LINES, today=TODAY, actor=ACTOR), InvalidCommandError)
    new_lines = [LINES[0]]
    accepted = sent()
    accepted.accept(today=TODAY, actor=ACTOR)
    rejected = sent()
    rejected.reject(reason="too expensive", today=TODAY, actor=ACTOR)
    expired = quote()
    expired.expire(today=UNTIL + timedelta(days=1), actor=ACTOR)
    for done in (accepted, rejected, expired):
        error = unchanged(
            done,
            lambda d=done: d.revise(lines=new_lines, today=TODAY, actor=ACTOR),
            QuoteStatusError,
        )
        assert ("revise", done.status_value) == (error.command, error.status)  # type: ignore[attr-defined]


def test_send_needs_lines_draft_status_and_validity() -> None:
    """Sending an empty quote, a sent quote, or after valid_until is refused."""
    empty = quote(lines=[])
    unchanged(empty, lambda: empty.send(today=TODAY, actor=ACTOR), DocumentLinesRequiredError)
    q = quote()
    late = UNTIL + timedelta(days=1)
    unchanged(q, lambda: q.send(today=late, actor=ACTOR), QuoteExpiredError)
    q.send(today=UNTIL, actor=ACTOR)
    assert ("sent", "2026-03-31") == (q.status_value, q.sent_on)
    unchanged(q, lambda: q.send(today=TODAY, actor=ACTOR), QuoteStatusError)


def test_accept_on_last_valid_day_but_not_after() -> None:
    """valid_until is the last day: accepted on it, refused the day after (no event)."""
    late = sent()
    unchanged(
        late, lambda: late.accept(today=UNTIL + timedelta(days=1), actor=ACTOR), QuoteExpiredError
    )
    assert QuoteStatus.SENT == late.status
    on_time = sent()
    on_time.accept(today=UNTIL, actor=ACTOR)
    assert (QuoteStatus.ACCEPTED, "2026-03-31") == (on_time.status, on_time.decided_on)


def test_accept_and_reject_need_a_sent_quote() -> None:
    """A draft cannot be accepted or rejected; a decided quote cannot be decided again."""
    q = quote()
    unchanged(q, lambda: q.accept(today=TODAY, actor=ACTOR), QuoteStatusError)
    unchanged(q, lambda: q.reject(reason="no", today=TODAY, actor=ACTOR), QuoteStatusError)
    q.send(today=TODAY, actor=ACTOR)
    unchanged(q, lambda: q.reject(reason="  ", today=TODAY, actor=ACTOR), InvalidCommandError)
    q.reject(reason=" too expensive ", today=TODAY, actor=ACTOR)
    assert (QuoteStatus.REJECTED, "too expensive") == (q.status, q.rejection_reason)
    unchanged(q, lambda: q.accept(today=TODAY, actor=ACTOR), QuoteStatusError)


def test_expire_only_after_valid_until() -> None:
    """Expiring a still-valid quote is refused; after valid_until it is expired for good."""
    q = sent()
    unchanged(q, lambda: q.expire(today=UNTIL, actor=ACTOR), InvalidCommandError)
    q.expire(today=UNTIL + timedelta(days=1), actor=ACTOR)
    assert QuoteStatus.EXPIRED == q.status
    unchanged(q, lambda: q.accept(today=TODAY, actor=ACTOR), QuoteStatusError)


def test_convert_only_an_accepted_quote_once() -> None:
    """An order is made only from an accepted quote; the quote is then converted."""
    q = sent()
    unchanged(q, lambda: SalesOrder.from_quote(q, actor=ACTOR), QuoteStatusError)
    unchanged(q, lambda: q.mark_converted(order_id=uuid4(), actor=ACTOR), QuoteStatusError)
    q.accept(today=TODAY, actor=ACTOR)
    order = SalesOrder.from_quote(q, actor=ACTOR)
    q.mark_converted(order_id=order.id, actor=ACTOR)
    assert (QuoteStatus.CONVERTED, order.id) == (q.status, q.order_id)
    assert (q.id, 1, q.lines, q.customer_id) == (
        order.quote_id,
        order.quote_revision,
        order.lines,
        order.customer_id,
    )
    unchanged(q, lambda: q.mark_converted(order_id=uuid4(), actor=ACTOR), QuoteStatusError)
    unchanged(q, lambda: SalesOrder.from_quote(q, actor=ACTOR), QuoteStatusError)


def test_replay_rebuilds_the_same_state() -> None:
    """Event bodies only assign: replaying the events gives the same snapshot."""
    q = sent()
    q.revise(lines=[LINES[1]], today=TODAY, actor=ACTOR)
    q.send(today=TODAY, actor=ACTOR)
    q.accept(today=TODAY, actor=ACTOR)
    expected = quote_snapshot(q)
    assert expected == quote_snapshot(replayed(q))
