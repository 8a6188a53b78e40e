"""The v1 ledger envelope: what is hashed for every stored event.

An envelope is a JSON object with exactly these members (see docs/ledger-format.md)::

    v                  1
    log                the log's origin string (also the checkpoint origin)
    seq                the event's notification id (integer, strictly increasing)
    prev               lowercase hex leaf hash of the previous entry (64 zeros at genesis)
    aggregate_id       the aggregate's UUID, canonical lowercase hyphenated form
    aggregate_version  integer, the aggregate's version after this event
    topic              the event's topic string
    recorded_at        RFC 3339 UTC timestamp with microseconds and "Z", non-decreasing
    actor              who caused the event (e.g. "apikey:<id>", "system:<job>")
    state_sha256       lowercase hex SHA-256 of the stored event bytes

Its canonical bytes are RFC 8785 (JCS) UTF-8; the leaf hash is
``SHA-256(0x00 || canonical)`` (RFC 6962 leaf hash).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any, NamedTuple
from uuid import UUID

import orjson

from crm_ledger.ledger import native
from crm_ledger.ledger.canonical import MAX_SAFE_INTEGER, canonical_json
from crm_ledger.ledger.errors import EnvelopeError
from crm_ledger.ledger.merkle import leaf_hash

ENVELOPE_VERSION = 1
GENESIS_PREV = "0" * 64
#: the v1 members, in the order of the module docstring
ENVELOPE_MEMBERS = (
    "v",
    "log",
    "seq",
    "prev",
    "aggregate_id",
    "aggregate_version",
    "topic",
    "recorded_at",
    "actor",
    "state_sha256",
)
ENVELOPE_KEYS = frozenset(ENVELOPE_MEMBERS)


class Entry(NamedTuple):
    """One ledger entry as stored: the event row and its ledger row, side by side.

    ``leaf_index``, ``canonical`` (the exact hashed envelope bytes) and ``leaf_hash``
    come from the ledger table; ``seq``, ``originator_id``, ``originator_version``,
    ``topic`` and ``state`` (the stored event bytes that ``state_sha256`` commits to)
    come from the events table. A verifier checks that both sides agree.
    """

    leaf_index: int
    seq: int
    canonical: bytes
    leaf_hash: bytes
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


def format_timestamp(moment: datetime) -> str:
    """Return `moment` as RFC 3339 UTC with microseconds, e.g. 2026-01-02T03:04:05.000006Z."""
    if moment.tzinfo is None:
        raise EnvelopeError("recorded_at must be timezone-aware")
    # isoformat is C code throughout, a third of strftime's cost, and always writes four
    # year digits; the offset it ends with is "+00:00" in UTC.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def build_envelope(
    *,
    log: str,
    seq: int,
    prev: bytes | None,
    aggregate_id: str,
    aggregate_version: int,
    topic: str,
    recorded_at: str,
    actor: str,
    state: bytes,
) -> dict[str, Any]:
    """Return the v1 envelope for one stored event (``prev`` None at genesis)."""
    return {
        "v": ENVELOPE_VERSION,
        "log": log,
        "seq": seq,
        "prev": GENESIS_PREV if prev is None else prev.hex(),
        "aggregate_id": aggregate_id,
        "aggregate_version": aggregate_version,
        "topic": topic,
        "recorded_at": recorded_at,
        "actor": actor,
        "state_sha256": sha256(state).hexdigest(),
    }


_INT_MEMBERS = ("v", "seq", "aggregate_version")
_STR_MEMBERS = ("log", "prev", "aggregate_id", "topic", "recorded_at", "actor", "state_sha256")


def canonical_envelope(envelope: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of a v1 envelope: the fast path of `canonical_json` for this shape.

    Members are fixed ASCII names, so orjson's key sort is the JCS order; integers are
    range-checked here and orjson rejects lone surrogates. Any other shape goes through
    the general encoder. A property test proves both give the same bytes.
    """
    if envelope.keys() != ENVELOPE_KEYS:
        return canonical_json(envelope)
    for name in _INT_MEMBERS:
        value = envelope[name]
        if type(value) is not int or not 0 <= value <= MAX_SAFE_INTEGER:
            return canonical_json(envelope)
    for name in _STR_MEMBERS:
        if type(envelope[name]) is not str:
            return canonical_json(envelope)
    try:
        return orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return canonical_json(envelope)  # raises the precise CanonicalizationError


def seal(envelope: dict[str, Any]) -> tuple[bytes, bytes]:
    """Return ``(canonical bytes, leaf hash)`` of `envelope`."""
    canonical = canonical_envelope(envelope)
    return canonical, leaf_hash(canonical)


#: What one stored event brings to its envelope, the rest being the log's and the batch's:
#: ``(seq, aggregate_id, aggregate_version, topic, actor, state)``; the aggregate id as
#: text or as the `uuid.UUID` it is the canonical text of.
Link = tuple[int, str | UUID, int, str, str, bytes]


#: A v1 envelope's canonical bytes: its members in JCS order, strings as JSON strings.
_CANONICAL = (
    b'{"actor":%b,"aggregate_id":%b,"aggregate_version":%d,"log":%b,"prev":"%b",'
    b'"recorded_at":%b,"seq":%d,"state_sha256":"%b","topic":%b,"v":1}'
)


def seal_links(
    log: str, recorded_at: str, prev: bytes | None, links: Sequence[Link]
) -> list[tuple[bytes, bytes]]:
    """``(canonical bytes, leaf hash)`` of each link's envelope, each chained to the one
    before it and the first to `prev` (None at genesis).

    The ledger's C module writes them when it is built and every member is plain (see
    ``_native.c``). Otherwise the bytes are written from a template in Python instead of
    through a dict and the encoder, for about a third less time. Both give the same
    bytes as ``seal(build_envelope(...))``, as property tests show. A link whose members
    the template cannot take as they are (an integer out of range or not an int, a
    member not a string, a string orjson refuses) goes the general way, which raises its
    precise error.
    """
    if native.NATIVE is not None:
        written = native.NATIVE.seal_links(
            log, recorded_at, prev, links if type(links) is list else list(links)
        )
        if written is not None:
            return written
    dumps = orjson.dumps
    quoted: dict[str, bytes] = {}  # actors and topics repeat along a batch

    def quote(text: str) -> bytes:
        found = quoted.get(text)
        if found is None:
            found = quoted[text] = dumps(text)
        return found

    fixed = type(log) is str and type(recorded_at) is str
    sealed: list[tuple[bytes, bytes]] = []
    for seq, aggregate, version, topic, actor, state in links:
        aggregate_id = str(aggregate) if isinstance(aggregate, UUID) else aggregate
        canonical = None
        if (
            fixed
            and type(seq) is int
            and type(version) is int
            and 0 <= seq <= MAX_SAFE_INTEGER
            and 0 <= version <= MAX_SAFE_INTEGER
            and type(aggregate_id) is str
            and type(topic) is str
            and type(actor) is str
        ):
            # try/except, not contextlib.suppress: a context manager per event costs 10%
            try:  # noqa: SIM105
                canonical = _CANONICAL % (
                    quote(actor),
                    dumps(aggregate_id),
                    version,
                    quote(log),
                    GENESIS_PREV.encode() if prev is None else prev.hex().encode(),
                    quote(recorded_at),
                    seq,
                    sha256(state).hexdigest().encode(),
                    quote(topic),
                )
            except orjson.JSONEncodeError:
                pass  # a lone surrogate: the general path below names it
        if canonical is None:
            envelope = build_envelope(
                log=log,
                seq=seq,
                prev=prev,
                aggregate_id=aggregate_id,
                aggregate_version=version,
                topic=topic,
                recorded_at=recorded_at,
                actor=actor,
                state=state,
            )
            canonical = canonical_envelope(envelope)
        prev = leaf_hash(canonical)
        sealed.append((canonical, prev))
    return sealed


def check_envelope_shape(envelope: object) -> dict[str, Any]:
    """Return `envelope` if it has exactly the v1 members with the right types."""
    if not isinstance(envelope, dict):
        raise EnvelopeError("envelope is not a JSON object")
    keys = set(envelope)
    if keys != ENVELOPE_KEYS:
        missing = sorted(ENVELOPE_KEYS - keys)
        extra = sorted(keys - ENVELOPE_KEYS)
        raise EnvelopeError(f"envelope members differ: missing={missing} extra={extra}")
    if envelope["v"] != ENVELOPE_VERSION:
        raise EnvelopeError(f"unsupported envelope version {envelope['v']!r}")
    for name in ("seq", "aggregate_version"):
        value = envelope[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise EnvelopeError(f"{name} must be a non-negative integer")
    for name in ("log", "prev", "aggregate_id", "topic", "recorded_at", "actor", "state_sha256"):
        if not isinstance(envelope[name], str):
            raise EnvelopeError(f"{name} must be a string")
    return envelope
