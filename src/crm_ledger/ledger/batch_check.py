"""The verifier's bulk check of one batch: "every entry is clean", or nothing at all.

`check_batch` runs every per-entry check of `crm_ledger.ledger.verify` over a whole
`Columns` batch with a few C-level calls per check (one JSON parse and one JSON encode
for all envelopes, hashes via ``map``, column comparisons). It returns a `CleanBatch`
only when each entry would pass the per-entry checks without a finding; on anything
else, including anything merely unusual, it returns None and the verifier re-checks the
batch entry by entry, which finds and places the problem exactly.

Why one parse of all envelopes is exact: the envelopes are joined as
``[[e1\\n],[e2\\n],...]``. A JSON string cannot hold a raw newline, so every inserted
bracket lies outside strings; the parse must give one list per envelope holding one
object with the ten v1 members, all strings or integers (no nested brackets), so the
inserted brackets are all there are and each ``ei`` alone parses to the i-th object.
``orjson.dumps`` of those objects with sorted keys joined the same way must then equal
``[[e1],[e2],...]`` byte for byte; as each ``ei`` starts where its encoding starts and a
JSON object ends where its text ends, each ``ei`` is exactly its object's sorted-key
encoding, which for this shape (ASCII member names, strings, integers within
0..2**53-1) is what `crm_ledger.ledger.envelope.canonical_envelope` gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha256
from operator import itemgetter, le, lt, methodcaller
from typing import Any

import orjson

from crm_ledger.ledger.canonical import MAX_SAFE_INTEGER
from crm_ledger.ledger.entry_batch import Columns, only
from crm_ledger.ledger.envelope import ENVELOPE_KEYS, ENVELOPE_MEMBERS, ENVELOPE_VERSION

_FIELDS = itemgetter(*ENVELOPE_MEMBERS)  # unpacked in this order in check_batch
_FIRST = itemgetter(0)
_DIGEST = methodcaller("digest")
_HEXDIGEST = methodcaller("hexdigest")
_LEAF_PREFIX = b"\x00".__add__


@dataclass(frozen=True, slots=True)
class Tip:
    """What the verifier knows after the entries before the batch."""

    expected_index: int
    prev_hex: str
    last_seq: int
    last_time: str
    origin: str | None

    def values(self) -> tuple[int, str, int, str, str | None]:
        """The members in order (the C checks' arguments, `crm_ledger.ledger.native`)."""
        return (self.expected_index, self.prev_hex, self.last_seq, self.last_time, self.origin)


@dataclass(frozen=True, slots=True)
class CleanBatch:
    """A batch that passed every per-entry check: its leaf hashes and the new tip."""

    leaves: tuple[bytes, ...]
    tip: Tip


def check_batch(columns: Columns, tip: Tip) -> CleanBatch | None:
    """`CleanBatch` if every entry of `columns` is clean after `tip`, else None."""
    n, start = len(columns), tip.expected_index
    # (after an entry with an odd leaf index the per-entry path may expect a non-integer)
    if n == 0 or type(start) is not int or columns.leaf_index != tuple(range(start, start + n)):
        return None
    envelopes = _envelopes(columns.canonical)
    if envelopes is None:
        return None
    version, log, seq, prev, aggregate, aggregate_version, topic, recorded, actor, state_hash = (
        envelopes
    )
    # member types: v is the integer 1, seq and aggregate_version integers in
    # 0..2**53-1, the others strings (log, prev, aggregate_id, topic and state_sha256
    # are compared with strings below; the event row's columns have exact types)
    if not (
        only(int, version)
        and set(version) == {ENVELOPE_VERSION}
        and only(int, seq)
        and only(int, aggregate_version)
        and only(str, recorded)
        and only(str, actor)
        and min(seq) >= 0
        and max(seq) <= MAX_SAFE_INTEGER
        and min(aggregate_version) >= 0
        and max(aggregate_version) <= MAX_SAFE_INTEGER
    ):
        return None
    # the event row names what its envelope names
    if (
        columns.seq != seq
        or columns.originator_id != aggregate
        or columns.originator_version != aggregate_version
        or columns.topic != topic
    ):
        return None
    # seq strictly increases, recorded_at never decreases, one log
    origin = log[0] if tip.origin is None else tip.origin
    if (
        type(origin) is not str
        or log.count(origin) != n
        or seq[0] <= tip.last_seq
        or not all(map(lt, seq, seq[1:]))
        or recorded[0] < tip.last_time
        or not all(map(le, recorded, recorded[1:]))
    ):
        return None
    # stored event bytes, leaf hashes and the chain
    if tuple(map(_HEXDIGEST, map(sha256, columns.state))) != state_hash:
        return None
    leaves = tuple(map(_DIGEST, map(sha256, map(_LEAF_PREFIX, columns.canonical))))
    if leaves != columns.leaf_hash:
        return None
    hexes = tuple(map(bytes.hex, leaves))
    if prev[0] != tip.prev_hex or prev[1:] != hexes[:-1]:
        return None
    return CleanBatch(leaves, Tip(tip.expected_index + n, hexes[-1], seq[-1], recorded[-1], origin))


def _envelopes(canonical: tuple[bytes, ...]) -> tuple[tuple[Any, ...], ...] | None:
    """The ten member columns of canonical v1 envelopes (see the module docstring)."""
    try:
        wrapped = orjson.loads(_joined(canonical, b"[[", b"\n],[", b"\n]]"))
        # a wrapper that is not a one-element list, or an item that is not an object of
        # ten members, fails one of these checks or raises TypeError / KeyError
        if len(wrapped) != len(canonical) or set(map(len, wrapped)) != {1}:
            return None
        objects = list(map(_FIRST, wrapped))
        if set(map(len, objects)) != {len(ENVELOPE_KEYS)}:
            return None
        members = tuple(zip(*map(_FIELDS, objects), strict=True))
        # no nested values (the caller checks every member is a string or an integer),
        # and the sorted-key encoding equals the stored bytes
        encoded = orjson.dumps(wrapped, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, KeyError, TypeError):
        return None
    if encoded != _joined(canonical, b"[[", b"],[", b"]]"):
        return None
    return members


def _joined(parts: tuple[bytes, ...], head: bytes, separator: bytes, tail: bytes) -> bytes:
    """``head + separator.join(parts) + tail`` with one copy of the parts, not three."""
    middle = list(parts)
    middle[0] = head + middle[0]
    middle[-1] += tail
    return separator.join(middle)
