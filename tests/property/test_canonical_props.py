"""Property tests: canonical_json is byte-equal to the rfc8785 reference implementation.

Values have the shape of what the ledger hashes: objects with string keys (ASCII,
non-ASCII, astral-plane), arrays, strings, integers within ±(2**53 - 1), booleans and
null. Anything JCS cannot encode, placed anywhere in such a value, is refused.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from crm_ledger.ledger.canonical import (
    MAX_SAFE_INTEGER,
    canonical_json,
    is_canonical,
    parse_strict,
)
from crm_ledger.ledger.errors import CanonicalizationError

# Characters whose UTF-16 order differs from their code point or UTF-8 order, controls,
# and characters JSON escapes: to make sorting and escaping collide often.
TRICKY = (
    'aAzZ09 _-\x00\x1f\x7f"\\/\u0080\u00e9\u00ff\u2028'
    "\ud7ff\ue000\ufb33\uffff\U00010000\U0001f600\U0010ffff"
)
tricky_text = st.text(st.sampled_from(TRICKY), max_size=6)
any_text = st.text(st.characters(codec="utf-8"), max_size=12)
keys = st.one_of(st.text(st.characters(max_codepoint=0x7F), max_size=8), tricky_text, any_text)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER),
    tricky_text,
    any_text,
)


def nested(depth: int) -> st.SearchStrategy[Any]:
    """Scalars, arrays and objects nested at most `depth` deep (bounded, fast to draw)."""
    if depth == 0:
        return scalars
    children = nested(depth - 1)
    return st.one_of(
        scalars, st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    )


json_values = nested(3)
objects = st.dictionaries(keys, nested(2), max_size=10)


@given(json_values)
def test_equals_rfc8785_reference(value: Any) -> None:
    """Same bytes as the rfc8785 package for every value of the hashed shape."""
    assert rfc8785.dumps(value) == canonical_json(value)


@given(objects)
def test_objects_equal_rfc8785_reference(value: dict[str, Any]) -> None:
    """Top-level objects, the envelope shape, in particular."""
    assert rfc8785.dumps(value) == canonical_json(value)


@given(json_values)
def test_round_trip_and_recognised(value: Any) -> None:
    """Canonical bytes parse back to the value and are recognised as canonical."""
    data = canonical_json(value)
    assert value == parse_strict(data)
    assert is_canonical(data)


@given(json_values, st.booleans(), st.sampled_from([None, 1, "\t"]))
def test_any_serialisation_canonicalises_alike(
    value: Any, ensure_ascii: bool, indent: int | str | None
) -> None:
    """Whitespace, \\u escapes and member order of the input do not change the result."""
    other = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent).encode()
    assert canonical_json(value) == canonical_json(parse_strict(other))
    assert canonical_json(value) == canonical_json(parse_strict(orjson.dumps(value)))


def _containers(value: Any) -> list[Any]:
    """Every list and dict inside `value` (itself included)."""
    found: list[Any] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            found.append(item)
            stack.extend(item)
    return found


@st.composite
def with_bad_value(draw: st.DrawFn, bad: st.SearchStrategy[Any]) -> Any:
    """A JSON-like value with one `bad` item placed in a random container."""
    value = draw(json_values)
    containers = _containers(value)
    if not containers:
        value = [value]
        containers = [value]
    target = draw(st.sampled_from(containers))
    item = draw(bad)
    if isinstance(target, dict):
        target[draw(keys.filter(lambda k: k not in target))] = item
    else:
        target.insert(draw(st.integers(0, len(target))), item)
    return value


lone_surrogate_text = st.builds(
    lambda before, surrogate, after: before + surrogate + after,
    any_text,
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    any_text,
)


@given(with_bad_value(st.floats(allow_nan=True, allow_infinity=True)))
def test_float_anywhere_refused(value: Any) -> None:
    """A float at any depth is refused (the ledger hashes integers only)."""
    with pytest.raises(CanonicalizationError):
        canonical_json(value)


@given(
    with_bad_value(
        st.one_of(
            st.integers(min_value=MAX_SAFE_INTEGER + 1),
            st.integers(max_value=-MAX_SAFE_INTEGER - 1),
        )
    )
)
def test_unsafe_integer_anywhere_refused(value: Any) -> None:
    """An integer beyond ±(2**53 - 1) at any depth is refused, as by rfc8785."""
    with pytest.raises(CanonicalizationError):
        canonical_json(value)
    with pytest.raises(rfc8785.CanonicalizationError):
        rfc8785.dumps(value)


@given(with_bad_value(lone_surrogate_text))
def test_lone_surrogate_value_refused(value: Any) -> None:
    """A string value holding a lone surrogate is refused."""
    with pytest.raises(CanonicalizationError):
        canonical_json(value)


@given(with_bad_value(st.dictionaries(lone_surrogate_text, json_values, min_size=1, max_size=1)))
def test_lone_surrogate_key_refused(value: Any) -> None:
    """An object key holding a lone surrogate is refused."""
    with pytest.raises(CanonicalizationError):
        canonical_json(value)


@given(objects.filter(bool), st.data())
def test_duplicate_keys_refused_by_parse_strict(value: dict[str, Any], data: st.DataObject) -> None:
    """An object text that repeats a member name (possibly \\u-escaped) is refused."""
    key = data.draw(st.sampled_from(sorted(value)))
    members = [json.dumps(k) + ":" + json.dumps(v) for k, v in value.items()]
    duplicate = json.dumps(key, ensure_ascii=data.draw(st.booleans())) + ":null"
    members.insert(data.draw(st.integers(0, len(members))), duplicate)
    text = ("{" + ",".join(members) + "}").encode()
    with pytest.raises(CanonicalizationError, match="duplicate"):
        parse_strict(text)
    assert not is_canonical(text)
