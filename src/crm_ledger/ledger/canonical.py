"""RFC 8785 (JSON Canonicalization Scheme) for the values the ledger hashes.

Hashed data never contains floats, so numbers are integers within ±(2**53 - 1), which
JCS (ECMAScript number serialisation) writes as plain decimal digits. Strings are
written as orjson writes them, which matches JCS escaping (``\\b \\t \\n \\f \\r \\" \\\\``
and ``\\u00xx`` for other control characters, everything else literal UTF-8). Object
members are sorted by UTF-16 code units: for ASCII keys that is orjson's
``OPT_SORT_KEYS``; any non-ASCII key takes an exact, slower path. Property tests prove
byte equality with a reference implementation.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from crm_ledger.ledger.errors import CanonicalizationError

MAX_SAFE_INTEGER = 2**53 - 1


def _scan(value: Any, path: str) -> bool:
    """Raise on what JCS cannot encode; return True when every object key is ASCII."""
    kind = type(value)
    if kind is str:
        return True
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return True
        raise CanonicalizationError(f"{path}: integer {value} is outside ±(2**53-1)")
    if kind is bool or value is None:
        return True
    if kind is dict:
        ascii_keys = True
        for key, item in value.items():
            if type(key) is not str:
                raise CanonicalizationError(f"{path}: object key {key!r} is not a string")
            if not key.isascii():
                ascii_keys = False
            if not _scan(item, f"{path}.{key}"):
                ascii_keys = False
        return ascii_keys
    if kind is list or kind is tuple:
        ascii_keys = True
        for number, item in enumerate(value):
            if not _scan(item, f"{path}[{number}]"):
                ascii_keys = False
        return ascii_keys
    if kind is float:
        raise CanonicalizationError(f"{path}: floats are not allowed in hashed data")
    raise CanonicalizationError(f"{path}: {kind.__name__} cannot be encoded as JSON")


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _exact(value: Any) -> bytes:
    if type(value) is dict:
        members = sorted(value.items(), key=lambda item: _utf16_key(item[0]))
        return b"{" + b",".join(orjson.dumps(k) + b":" + _exact(v) for k, v in members) + b"}"
    if type(value) in (list, tuple):
        return b"[" + b",".join(_exact(v) for v in value) + b"]"
    return orjson.dumps(value)


def canonical_json(value: object) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of `value` (CanonicalizationError if impossible)."""
    ascii_keys = _scan(value, "$")
    try:
        if ascii_keys:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        return _exact(value)
    except (orjson.JSONEncodeError, TypeError) as exc:  # lone surrogates and the like
        raise CanonicalizationError(f"$: cannot be encoded: {exc}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CanonicalizationError(f"duplicate object key {key!r}")
        result[key] = value
    return result


def _no_float(text: str) -> Any:
    raise CanonicalizationError(f"non-integer number {text!r}")


def parse_strict(data: bytes) -> object:
    """Parse JSON, rejecting duplicate keys, non-integers, invalid UTF-8, trailing data."""
    try:
        text = data.decode("utf-8")
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_float,
        )
    except CanonicalizationError:
        raise
    except (UnicodeDecodeError, ValueError) as exc:
        raise CanonicalizationError(f"not valid JSON: {exc}") from None


def is_canonical(data: bytes) -> bool:
    """True when `data` is exactly the canonical encoding of what it parses to."""
    try:
        return canonical_json(parse_strict(data)) == data
    except CanonicalizationError:
        return False
