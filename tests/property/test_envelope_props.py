"""The fast envelope encoder is byte-equal to the general RFC 8785 encoder."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_ledger.ledger.canonical import MAX_SAFE_INTEGER, canonical_json
from crm_ledger.ledger.envelope import (
    ENVELOPE_KEYS,
    Link,
    build_envelope,
    canonical_envelope,
    format_timestamp,
    seal,
    seal_links,
)
from crm_ledger.ledger.errors import CanonicalizationError, EnvelopeError
from tests.property.test_verify_fast_path import python_only

texts = st.text(st.characters(codec="utf-8"), max_size=40)
ints = st.integers(min_value=0, max_value=MAX_SAFE_INTEGER)
envelopes = st.fixed_dictionaries(
    {
        name: (ints if name in ("v", "seq", "aggregate_version") else texts)
        for name in sorted(ENVELOPE_KEYS)
    }
)


@given(envelopes)
def test_fast_envelope_equals_general_encoder(envelope: dict[str, object]) -> None:
    """For every v1-shaped envelope the fast path gives exactly the JCS bytes."""
    assert canonical_json(envelope) == canonical_envelope(envelope)


@given(
    envelopes,
    st.sampled_from(["seq", "aggregate_version"]),
    st.one_of(st.integers(min_value=MAX_SAFE_INTEGER + 1), st.floats(allow_nan=True)),
)
def test_fast_envelope_rejects_what_jcs_cannot_encode(
    envelope: dict[str, object], name: str, bad: object
) -> None:
    """Out-of-range integers and floats are refused, as by the general encoder."""
    envelope[name] = bad
    with pytest.raises(CanonicalizationError):
        canonical_envelope(envelope)


def test_lone_surrogate_is_refused() -> None:
    """A lone surrogate in a string member is refused."""
    envelope: dict[str, object] = dict.fromkeys(ENVELOPE_KEYS, "x")
    envelope.update(v=1, seq=1, aggregate_version=1, actor="\ud800")
    with pytest.raises(CanonicalizationError):
        canonical_envelope(envelope)


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.timezones(),
    )
)
def test_recorded_at_is_rfc3339_utc_with_microseconds(moment: datetime) -> None:
    """``recorded_at`` is the instant in UTC, four year digits, six fraction digits, "Z":
    what strftime writes, and it parses back to the same instant."""
    text = format_timestamp(moment)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", text), text
    assert text == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert datetime.fromisoformat(text) == moment.astimezone(UTC)


def test_recorded_at_needs_a_time_zone() -> None:
    with pytest.raises(EnvelopeError):
        format_timestamp(datetime(2026, 1, 2, 3, 4, 5))


def general_links(
    log: str, recorded_at: str, prev: bytes | None, links: list[Link]
) -> list[tuple[bytes, bytes]]:
    """The same chain sealed one envelope at a time through the dict and the encoder."""
    sealed = []
    for seq, aggregate_id, version, topic, actor, state in links:
        envelope = build_envelope(
            log=log,
            seq=seq,
            prev=prev,
            aggregate_id=str(aggregate_id) if isinstance(aggregate_id, uuid.UUID) else aggregate_id,
            aggregate_version=version,
            topic=topic,
            recorded_at=recorded_at,
            actor=actor,
            state=state,
        )
        canonical, prev = seal(envelope)
        sealed.append((canonical, prev))
    return sealed


#: printable ASCII without quote or backslash: what the C module writes itself
plain = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\'),
    max_size=40,
)
members = plain | texts
link_lists = st.lists(
    st.tuples(
        ints,
        st.uuids() | members,
        ints,
        st.sampled_from(["t:A", 't:\u00e9"\\']) | members,
        st.sampled_from(["apikey:1", "user:\u2603"]) | members,
        st.binary(max_size=64),
    ),
    max_size=6,
)


@given(members, members, st.none() | st.binary(min_size=32, max_size=32), link_lists, st.booleans())
def test_sealed_links_equal_envelopes_sealed_one_by_one(
    log: str, recorded_at: str, prev: bytes | None, links: list[Link], pure: bool
) -> None:
    """The template path writes exactly the general encoder's bytes, and chains the
    same leaves, for any strings (quotes, backslashes, controls, non-ASCII) and integers
    up to 2**53 - 1."""
    assert seal_links(log, recorded_at, prev, links) == general_links(log, recorded_at, prev, links)


def outcome(seal: Callable[[], list[tuple[bytes, bytes]]]) -> object:
    """What sealing gives: its result, or the class of the error it raises."""
    try:
        return seal()
    except (CanonicalizationError, EnvelopeError) as exc:
        return type(exc)


@given(
    link_lists.filter(bool),
    st.integers(min_value=0, max_value=5),
    st.integers(min_value=0, max_value=4),
    st.one_of(
        st.integers(min_value=MAX_SAFE_INTEGER + 1),
        st.integers(max_value=-1),
        st.booleans(),
        st.floats(allow_nan=True),
        st.none(),
        st.uuids(),
        st.binary(max_size=4),
    ),
    st.booleans(),
)
def test_sealed_links_treat_odd_members_as_the_general_encoder_does(
    links: list[Link], position: int, member: int, odd: object, pure: bool
) -> None:
    """A member the template must not write as it is (an integer out of JCS range or
    negative, a bool, a float, null, a UUID or bytes object) takes the general path: the
    same bytes where JCS can write it, the same refusal where it cannot. Never a
    different envelope."""
    position %= len(links)
    changed: list[object] = list(links[position])
    changed[member] = odd
    links[position] = tuple(changed)  # type: ignore[assignment]
    time = "2026-01-02T03:04:05.000006Z"
    with python_only(pure):
        assert outcome(lambda: seal_links("log", time, None, links)) == outcome(
            lambda: general_links("log", time, None, links)
        )
        if isinstance(odd, float) or (type(odd) is int and odd > MAX_SAFE_INTEGER):
            with pytest.raises(CanonicalizationError):
                seal_links("log", time, None, links)


@given(
    link_lists,
    st.sampled_from(["log", "recorded_at"]),
    st.uuids() | st.binary(max_size=4),
    st.booleans(),
)
def test_sealed_links_take_an_odd_log_or_time_as_the_general_encoder_does(
    links: list[Link], member: str, odd: object, pure: bool
) -> None:
    """A log origin or time that is not a string is not written by the template."""
    values = {"log": "log", "recorded_at": "2026-01-02T03:04:05.000006Z", member: odd}
    log, time = values["log"], values["recorded_at"]
    with python_only(pure):
        assert outcome(lambda: seal_links(log, time, None, links)) == outcome(  # type: ignore[arg-type]
            lambda: general_links(log, time, None, links)  # type: ignore[arg-type]
        )


@pytest.mark.parametrize("pure", [False, True])
def test_sealed_links_refuse_a_lone_surrogate(pure: bool) -> None:
    links: list[Link] = [(1, "id", 1, "topic\ud800", "actor", b"")]
    with python_only(pure), pytest.raises(CanonicalizationError):
        seal_links("log", "2026-01-02T03:04:05.000006Z", None, links)
