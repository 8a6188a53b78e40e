r"""RFC 8785 canonical JSON (crm_ledger.ledger.canonical).

Inputs are the JSON texts of the RFC's examples (§3.2.2.2, §3.2.3, §3.2.4) and of the
test data of the RFC authors' reference implementation (cyberphone/json-canonicalization
``testdata/input`` and ``output``), parsed with ``parse_strict``; the expected outputs are
byte literals. The ledger hashes no floats, so the numeric examples are checked for
refusal instead, and ``structures`` uses the integer 56 where the original has 56.0.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from crm_ledger.ledger.canonical import (
    MAX_SAFE_INTEGER,
    canonical_json,
    is_canonical,
    parse_strict,
)
from crm_ledger.ledger.errors import CanonicalizationError

# RFC 8785 §3.2.3: the sorting example.
SORTING_INPUT = rb"""{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"""
SORTING_OUTPUT = (
    b'{"\\r":"Carriage Return","1":"One","\xc2\x80":"Control",'
    b'"\xc3\xb6":"Latin Small Letter O With Diaeresis","\xe2\x82\xac":"Euro Sign",'
    b'"\xf0\x9f\x98\x80":"Emoji: Grinning Face","\xef\xac\xb3":"Hebrew Letter Dalet With Dagesh"}'
)

# RFC 8785 §3.2.2.2: string serialisation.
STRING_INPUT = rb'''"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/"'''
STRING_OUTPUT = b'"\xe2\x82\xac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"'

# cyberphone/json-canonicalization testdata (input, output).
REFERENCE_DATA = {
    "arrays": (
        rb"""[
  56,
  {
    "d": true,
    "10": null,
    "1": [ ]
  }
]""",
        b'[56,{"1":[],"10":null,"d":true}]',
    ),
    "structures": (
        rb"""{
  "1": {"f": {"f": "hi","F": 5} ,"\n": 56},
  "10": { },
  "": "empty",
  "a": { },
  "111": [ {"e": "yes","E": "no" } ],
  "A": { }
}""",
        b'{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{"E":"no","e":"yes"}],'
        b'"A":{},"a":{}}',
    ),
    "unicode": (
        rb'{"Unnormalized Unicode":"A\u030a"}',
        b'{"Unnormalized Unicode":"A\xcc\x8a"}',
    ),
    "weird": (
        rb"""{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\u000a": "Newline",
  "1": "One",
  "\u0080": "Control\u007f",
  "\ud83d\ude02": "Smiley",
  "\u00f6": "Latin Small Letter O With Diaeresis",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "</script>": "Browser Challenge"
}""",
        b'{"\\n":"Newline","\\r":"Carriage Return","1":"One","</script>":"Browser Challenge",'
        b'"\xc2\x80":"Control\x7f","\xc3\xb6":"Latin Small Letter O With Diaeresis",'
        b'"\xe2\x82\xac":"Euro Sign","\xf0\x9f\x98\x82":"Smiley",'
        b'"\xef\xac\xb3":"Hebrew Letter Dalet With Dagesh"}',
    ),
}


def test_rfc_sorting_example() -> None:
    """§3.2.3: members sorted by UTF-16 code units (the emoji before U+FB33)."""
    assert SORTING_OUTPUT == canonical_json(parse_strict(SORTING_INPUT))


def test_rfc_string_example() -> None:
    """§3.2.2.2: the escapes JCS keeps, lowercase \\u000f, literal UTF-8 and solidus."""
    assert STRING_OUTPUT == canonical_json(parse_strict(STRING_INPUT))


def test_rfc_example_without_numbers() -> None:
    """§3.2.4's object minus its float array."""
    data = b'{"string": ' + STRING_INPUT + b', "literals": [null, true, false]}'
    expected = b'{"literals":[null,true,false],"string":' + STRING_OUTPUT + b"}"
    assert expected == canonical_json(parse_strict(data))


@pytest.mark.parametrize("name", sorted(REFERENCE_DATA))
def test_reference_implementation_data(name: str) -> None:
    """The reference implementation's test data, canonicalized and recognised as canonical."""
    source, expected = REFERENCE_DATA[name]
    assert expected == canonical_json(parse_strict(source))
    assert is_canonical(expected)
    assert not is_canonical(source)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["b", "a", "B", "A", "", "aa", "a\x00"], ["", "A", "B", "a", "a\x00", "aa", "b"]),
        # U+1F600 is D83D DE00 in UTF-16: before U+E000..U+FFFF, unlike in code point order.
        (
            ["\ufb33", "\U0001f600", "\ue000", "\ud7ff"],
            ["\ud7ff", "\U0001f600", "\ue000", "\ufb33"],
        ),
        (["\u00e9", "e\u0301", "z", "\u0080"], ["e\u0301", "z", "\u0080", "\u00e9"]),
    ],
)
def test_members_sorted_by_utf16_code_units(keys: list[str], expected: list[str]) -> None:
    """Object members come out in UTF-16 code unit order, whatever the input order."""
    value = {key: number for number, key in enumerate(keys)}
    out = json.loads(canonical_json(value), object_pairs_hook=lambda pairs: pairs)
    assert expected == [key for key, _ in out]


def test_nested_objects_are_sorted_too() -> None:
    """Sorting applies at every depth, including objects inside arrays."""
    value = {"z": [{"y": 1, "x": {"b": 2, "a": 1}}], "\u00e4": {"\u00e5": 0, "a": 1}}
    expected = '{"z":[{"x":{"a":1,"b":2},"y":1}],"\u00e4":{"a":1,"\u00e5":0}}'.encode()
    assert expected == canonical_json(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, b"0"),
        (1, b"1"),
        (-1, b"-1"),
        (123456789, b"123456789"),
        (MAX_SAFE_INTEGER, b"9007199254740991"),
        (-MAX_SAFE_INTEGER, b"-9007199254740991"),
        (True, b"true"),
        (False, b"false"),
        (None, b"null"),
        ([], b"[]"),
        ({}, b"{}"),
        ((1, "a", None), b'[1,"a",null]'),
        ("", b'""'),
    ],
)
def test_scalars_and_empty_containers(value: object, expected: bytes) -> None:
    """Integers as plain digits, literals, empty containers; tuples as arrays."""
    assert expected == canonical_json(value)


@pytest.mark.parametrize("code", range(0x20))
def test_control_characters_escaped(code: int) -> None:
    """The five short escapes, otherwise \\u00xx in lowercase hex (RFC 8785 §3.2.2.2)."""
    short = {0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0C: b"\\f", 0x0D: b"\\r"}
    escaped = short.get(code, b"\\u%04x" % code)
    assert b'"' + escaped + b'"' == canonical_json(chr(code))
    assert b'{"' + escaped + b'":0}' == canonical_json({chr(code): 0})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"', b'"\\""'),
        ("\\", b'"\\\\"'),
        ("/", b'"/"'),
        ("\x7f", b'"\x7f"'),
        ("\u2028\u2029", b'"\xe2\x80\xa8\xe2\x80\xa9"'),
        ("\U0001f600", b'"\xf0\x9f\x98\x80"'),
        ("<>&'", b'"<>&\'"'),
    ],
)
def test_other_characters_literal(text: str, expected: bytes) -> None:
    """Only '"' and '\\' are escaped besides controls; the rest is literal UTF-8."""
    assert expected == canonical_json(text)


# --- refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        0.5,
        -0.0,
        float("nan"),
        float("inf"),
        float("-inf"),
        [1, 2.5],
        {"a": {"b": [float("nan")]}},
        {"\u00e9": 1.5},
    ],
)
def test_floats_refused(value: object) -> None:
    """Hashed data has no floats, NaN or infinities, at any depth or key path."""
    with pytest.raises(CanonicalizationError, match="float"):
        canonical_json(value)


@pytest.mark.parametrize(
    "value", [MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1, 10**30, [0, 2**64], {"n": -(2**63)}]
)
def test_integers_outside_safe_range_refused(value: object) -> None:
    """Integers beyond ±(2**53 - 1) have no exact I-JSON number."""
    with pytest.raises(CanonicalizationError, match="outside"):
        canonical_json(value)


@pytest.mark.parametrize(
    "value",
    [
        "\ud800",
        "a\udfffb",
        ["ok", "\udc00"],
        {"k": "\ud83d"},
        {"\ud800": 1},
        {"a": {"\udbff": None}},
        {"\u00e9": {"\ud800": 1}},
        {"\u00e9": "\ud800"},
    ],
)
def test_lone_surrogates_refused(value: object) -> None:
    """A lone surrogate (in a key or a value, ASCII-keyed or not) has no UTF-8 form."""
    with pytest.raises(CanonicalizationError):
        canonical_json(value)


@pytest.mark.parametrize(
    "value",
    [{1: "a"}, {None: 1}, {b"k": 1}, {True: 1}, {("a",): 1}, {"ok": {2: 3}}],
)
def test_non_string_keys_refused(value: object) -> None:
    """Object keys must be strings (no silent str() conversion)."""
    with pytest.raises(CanonicalizationError, match="not a string"):
        canonical_json(value)


@pytest.mark.parametrize(
    "value",
    [b"bytes", {1, 2}, Decimal("1"), datetime(2026, 1, 1, tzinfo=UTC), object(), {"a": [b""]}],
)
def test_other_types_refused(value: object) -> None:
    """Only dict, list, tuple, str, int, bool and None are encoded."""
    with pytest.raises(CanonicalizationError, match="cannot be encoded"):
        canonical_json(value)


def test_error_names_the_path() -> None:
    """The error says where the offending value is."""
    with pytest.raises(CanonicalizationError, match=r"\$\.a\[1\]\.b"):
        canonical_json({"a": [0, {"b": 1.5}]})


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1,"a":2}',
        b'{"a":1,"\\u0061":2}',
        b'{"x":[{"k":0,"k":0}]}',
        b'{"\xc3\xa9":1,"\\u00e9":1}',
    ],
)
def test_parse_strict_refuses_duplicate_keys(data: bytes) -> None:
    """Duplicate member names (also when spelled differently) are refused."""
    with pytest.raises(CanonicalizationError, match="duplicate"):
        parse_strict(data)
    assert not is_canonical(data)


@pytest.mark.parametrize(
    "data", [b"1.0", b"1e3", b"-0.0", b"[0.5]", b'{"a":1E-2}', b"NaN", b"Infinity", b"-Infinity"]
)
def test_parse_strict_refuses_non_integers(data: bytes) -> None:
    """Fractions, exponents and the non-standard constants are refused."""
    with pytest.raises(CanonicalizationError, match="non-integer"):
        parse_strict(data)


@pytest.mark.parametrize("data", [b'"\xff"', b'"\xed\xa0\x80"', b"{} x", b"[1,]", b"", b"{'a':1}"])
def test_parse_strict_refuses_invalid_json(data: bytes) -> None:
    """Invalid UTF-8 (including encoded surrogates), trailing data and syntax errors."""
    with pytest.raises(CanonicalizationError, match="not valid JSON"):
        parse_strict(data)


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1,"a":2}',
        b'{"a": 1}',
        b" 1",
        b'"\\u001F"',
        b'"\\/"',
        b'"\\u00e9"',
        b"-0",
        b"1.0",
        b"9007199254740992",
        b'"\\ud800"',
        b"[1,2]\n",
    ],
)
def test_is_canonical_false(data: bytes) -> None:
    """Unsorted, spaced, over-escaped, float, unsafe or unencodable input is not canonical."""
    assert not is_canonical(data)


@pytest.mark.parametrize(
    "data", [b'{"a":2,"b":1}', b"1", b'"\\u001f"', b'"/"', b'"\xc3\xa9"', b"-9007199254740991"]
)
def test_is_canonical_true(data: bytes) -> None:
    """Canonical bytes are recognised."""
    assert is_canonical(data)
