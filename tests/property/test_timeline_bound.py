"""`bound_for`: a read model's time key below the bound is exactly a timeline key below
the cursor, for items of one kind, whatever kind of key the cursor is."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from crm_ledger.timeline import RELATED, SEP, bound_for

# few distinct times and ids, so that ties (same time, other kinds) are common
TIMES = st.sampled_from(["2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:00.000001Z"])
IDS = st.sampled_from(["0a", "5f", "5f0", "ff"])
LETTERS = st.sampled_from(sorted({"a", "e", *(letter for letter, _ in RELATED.values())}))


@given(
    letter=st.sampled_from([letter for letter, _ in RELATED.values()]),
    items=st.lists(st.tuples(TIMES, IDS), max_size=8),
    cursor=st.tuples(TIMES, LETTERS, IDS),
)
def test_the_bound_keeps_exactly_the_items_below_the_cursor(
    letter: str, items: list[tuple[str, str]], cursor: tuple[str, str, str]
) -> None:
    at, kind, item_id = cursor
    before = f"{at}{SEP}{kind}{item_id}"
    bound = bound_for(letter, before)
    assert bound is not None
    below = [(t, i) for t, i in items if f"{t}{SEP}{letter}{i}" < before]
    kept = [(t, i) for t, i in items if f"{t}{SEP}{i}" < bound]
    assert kept == below
    assert bound_for(letter, None) is None
