"""`FastJSONTranscoder` writes exactly the bytes of the library's `JSONTranscoder`.

Any value an event may hold: plain JSON values, the registered types (UUID, Decimal,
datetime, date) anywhere in the tree, and what only the library's encoder writes as it
must be written (floats, including NaN and infinities; integers beyond 64 bits; enums and
other subclasses; non-string keys; lone surrogates), which must fall back to it.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_ledger.application import CrmApplication, DateAsISO
from crm_ledger.storage.transcoder import FastJSONTranscoder


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


def transcoders() -> tuple[JSONTranscoder, FastJSONTranscoder]:
    library, fast = JSONTranscoder(), FastJSONTranscoder()
    for transcoder in (library, fast):  # the application's registrations
        for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
            transcoder.register(transcoding)
    return library, fast


LIBRARY, FAST = transcoders()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.integers(),  # beyond 64 bits too
    st.text(),
    st.text(alphabet=st.characters(codec=None, categories=["Cs", "Cc", "Zl", "Zp"])),
    st.floats(allow_nan=True, allow_infinity=True),
    st.uuids(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(),
    st.dates(),
    st.sampled_from([Colour.RED, Level.HIGH]),
)
keys = st.one_of(st.text(max_size=8), st.sampled_from([Colour.RED, 1, True, None]))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(keys, inner, max_size=4),
    ),
    max_leaves=12,
)


def outcome(transcoder: JSONTranscoder, value: Any) -> bytes | type[BaseException]:
    try:
        return transcoder.encode(value)
    except Exception as exc:
        return type(exc)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), values, max_size=8))
def test_same_bytes_as_the_library(state: dict[str, Any]) -> None:
    assert outcome(FAST, state) == outcome(LIBRARY, state)


@pytest.mark.parametrize(
    "state",
    [
        {"id": UUID(int=7), "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "n": 1},
        {"amount": Decimal("12.30"), "day": date(2026, 2, 28), "lines": [{"q": 2}]},
        {"ratio": 0.5},  # a float: the library writes it
        {"big": 2**70},  # beyond 64 bits: orjson refuses, the library writes it
        {"colour": Colour.RED, "level": Level.HIGH},
        {1: "int key"},
    ],
)
def test_examples(state: dict[Any, Any]) -> None:
    assert FAST.encode(state) == LIBRARY.encode(state)
    assert FAST.decode(FAST.encode(state)) == LIBRARY.decode(LIBRARY.encode(state))


def test_the_application_uses_it(tmp_path: Any) -> None:
    from crm_ledger.settings import Settings

    crm = CrmApplication(Settings(database_url=f"sqlite:///{tmp_path}/x.db", data_dir=tmp_path))
    assert isinstance(crm.mapper.transcoder, FastJSONTranscoder)
    crm.close()
