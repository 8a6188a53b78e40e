"""The fast envelope encoder is byte-equal to the general RFC 8785 encoder."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_ledger.ledger.canonical import MAX_SAFE_INTEGER, canonical_json
from crm_ledger.ledger.envelope import ENVELOPE_KEYS, canonical_envelope
from crm_ledger.ledger.errors import CanonicalizationError

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
