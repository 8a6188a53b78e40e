"""The C module (``crm_ledger.ledger._native``) against the Python code.

`check_lines` may only ever confirm what the Python bulk check confirms: for any bytes
and any tip, it gives None or exactly the leaves and tip that `check_batch` gives over
the same lines read as columns (and the positions of the watched topics). The bytes are
a real log's ``entries.jsonl`` tampered with at random (the generators of the fast-path
tests: entries and envelopes edited and re-sealed, lines rewritten as other JSON,
flipped, swapped, cut), with tips that fit or do not.

`seal_links` (the writer's envelopes) gives exactly the bytes and leaves of envelopes
built one by one through the general encoder, always for plain members, and declines
(None) anything else.

These tests need the module: an install without a C compiler has none, and then they
are skipped, unless ``CRM_REQUIRE_NATIVE=1`` (as in CI), which makes that a failure.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace
from hashlib import sha256
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crm_ledger.ledger import native
from crm_ledger.ledger.batch_check import Tip, check_batch
from crm_ledger.ledger.entry_batch import Columns
from crm_ledger.ledger.envelope import GENESIS_PREV, seal_links
from crm_ledger.ledger.merkle import leaf_hash
from crm_ledger.storage import bundle as bundles
from tests.property.test_envelope_props import general_links, link_lists, members, plain
from tests.property.test_verify_fast_path import (
    CHAIN_TOPICS,
    ENTRIES,
    LOG,
    Jsonl,
    entry_tampering,
    line_tampering,
    lines_of,
    native_checks,
    python_only,
)
from tests.unit.ledger_builder import ORIGIN

CLEAN = b"".join(lines_of(ENTRIES))
WATCH = tuple(topic.encode() for topic in CHAIN_TOPICS)
FIRST = Tip(0, GENESIS_PREV, -1, "", None)

tips = st.one_of(
    st.just(FIRST),
    st.builds(
        Tip,
        st.sampled_from([0, 1, 5, -1, 2**53, 2**63, True, 0.0, "0"]),
        st.sampled_from([GENESIS_PREV, LOG.entries[4].leaf_hash.hex(), "", "ab" * 32, 5]),
        st.sampled_from([-1, 0, LOG.entries[0].seq, 2**64, -(2**64), 1.5]),
        st.sampled_from(["", LOG.envelopes[0]["recorded_at"], "9", "\ud800", 3]),
        st.sampled_from([None, ORIGIN, "other.local/log", "", "\ud800", 7]),
    ),
)


def python_result(data: bytes, tip: Tip, watch: tuple[bytes, ...]) -> Any:
    """What the Python bulk check says of `data` after `tip`, shaped like check_lines."""
    columns = bundles._columns(data)
    result = python_columns(columns, tip)
    if columns is None or result is None:
        return None
    leaves, last_seq, last_time, origin, prev_hex = result
    watched = tuple(
        position for position, topic in enumerate(columns.topic) if topic.encode() in watch
    )
    return (leaves, columns.seq[0], last_seq, last_time, origin, prev_hex, watched)


def python_columns(columns: Columns | None, tip: Tip) -> Any:
    """What the Python bulk check says of `columns`, shaped like check_columns."""
    if columns is None:
        return None
    clean = check_batch(columns, tip)
    if clean is None:
        return None
    after = clean.tip
    return (clean.leaves, after.last_seq, after.last_time, after.origin, after.prev_hex)


def native_result(data: bytes, tip: Tip, watch: tuple[bytes, ...]) -> Any:
    return native_checks().check_lines(data, *tip.values(), watch)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line_tampering(), tips, st.sampled_from([WATCH, (), (b"crm.Contact.Created",)]))
@example(Jsonl(CLEAN, ["none"]), FIRST, WATCH)
def test_native_confirms_only_what_python_confirms(
    data: Jsonl, tip: Tip, watch: tuple[bytes, ...]
) -> None:
    """None, or the same leaves, tip and watched positions as the Python check."""
    whole = bytes(data[: data.rfind(b"\n") + 1])  # batches hold whole lines
    if not whole:
        return
    result = native_result(whole, tip, watch)
    if result is not None:
        assert result == python_result(whole, tip, watch)


def test_native_confirms_a_clean_log_in_any_batches() -> None:
    """Not vacuous: the untouched log is confirmed, batch after batch, with the result
    of the Python check, and the chain topics are found where they are."""
    lines = lines_of(ENTRIES)
    tip = FIRST
    for start in range(0, len(lines), 9):
        data = b"".join(lines[start : start + 9])
        result = native_result(data, tip, WATCH)
        assert result is not None
        assert result == python_result(data, tip, WATCH)
        leaves, _first, last_seq, last_time, origin, prev_hex, _watched = result
        tip = Tip(tip.expected_index + len(leaves), prev_hex, last_seq, last_time, origin)
    assert tip.expected_index == len(ENTRIES)
    assert native_result(CLEAN, FIRST, WATCH)[6] == (4, 19, 33)  # see chain_log


def _upper_leaf_hash(line: bytes) -> bytes:
    start = line.index(b'"leaf_hash":"') + len(b'"leaf_hash":"')
    return line[:start] + line[start : start + 64].upper() + line[start + 64 :]


@pytest.mark.parametrize(
    "change",
    [
        lambda line: line.replace(b'"seq":', b'"seq": ', 1),  # whitespace
        lambda line: line.replace(b'"topic":"crm', b'"topic":"\\u0063rm', 1),  # an escape
        _upper_leaf_hash,  # bytes.fromhex reads upper case too
    ],
    ids=["whitespace", "escape", "upper-hex"],
)
def test_native_leaves_other_json_to_python(change: Any) -> None:
    """Equivalent JSON in another form is not confirmed in C (Python confirms it)."""
    line = lines_of(ENTRIES)[0]
    changed = change(line)
    assert changed != line
    assert python_result(changed, FIRST, ()) is not None
    assert native_result(changed, FIRST, ()) is None


@pytest.mark.parametrize("tail", [b"", b"{}\n", b"\n", b"x"])
def test_native_refuses_anything_after_the_lines(tail: bytes) -> None:
    """A block must be whole lines of the form, to its last byte."""
    data = CLEAN + tail
    assert (native_result(data, FIRST, ()) is not None) == (tail == b"")


def test_native_argument_errors() -> None:
    checks = native_checks()
    with pytest.raises(TypeError):
        checks.check_lines(CLEAN, 0, GENESIS_PREV, -1, "", None, [b"x"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        checks.check_lines(CLEAN, 0, GENESIS_PREV, -1, "", None, ("x",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most 8"):
        checks.check_lines(CLEAN, 0, GENESIS_PREV, -1, "", None, (b"x",) * 9)
    with pytest.raises(ValueError, match="even"):
        checks.node_hashes([b"a"])
    with pytest.raises(TypeError):
        checks.node_hashes([b"a", "b"])  # type: ignore[list-item]


@given(
    st.lists(st.binary(min_size=0, max_size=40), max_size=20).map(lambda xs: xs[: len(xs) // 2 * 2])
)
def test_node_hashes_are_rfc6962_nodes(level: list[bytes]) -> None:
    """SHA-256(0x01 || left || right) for every pair, as hashlib computes it."""
    expected = [sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    assert native_checks().node_hashes(level) == expected
    assert native_checks().node_hashes(tuple(level)) == expected


def test_a_module_of_another_interface_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """An install not rebuilt since ``_native.c`` changed keeps its old module: unused."""
    from crm_ledger.ledger import _native  # type: ignore[attr-defined]

    native_checks()
    monkeypatch.setattr(_native, "INTERFACE", native.INTERFACE + 1)
    assert native._load() is None
    monkeypatch.setattr(_native, "INTERFACE", native.INTERFACE)
    assert native._load() is _native


def test_python_only_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """CRM_VERIFY_PYTHON_ONLY=1 leaves the C checks out."""
    native_checks()
    monkeypatch.setenv("CRM_VERIFY_PYTHON_ONLY", "1")
    assert native._load() is None
    monkeypatch.setenv("CRM_VERIFY_PYTHON_ONLY", "0")
    assert native._load() is not None


# --- one guard at a time: a forged last line, re-sealed, after clean lines ---

LINES = lines_of(ENTRIES)


def forged(index: int, envelope: tuple[bytes, bytes] = (b"", b""), **row: Any) -> bytes:
    """Lines 0..`index`, where line `index` has `envelope` = (old, new) replaced in its
    envelope bytes (raw: new may be any bytes) and `row` fields set, and a leaf hash
    that fits its new envelope: only the checks after the leaf hash can refuse it."""
    line = LINES[index]
    item = orjson.loads(line)
    canonical = item["envelope"].encode()
    old, new = envelope
    changed = canonical.replace(old, new, 1) if old else canonical
    assert changed != canonical or not old
    escaped = orjson.dumps(item["envelope"])[1:-1]
    line = line.replace(
        escaped,
        escaped.replace(old.replace(b'"', b'\\"'), new.replace(b'"', b'\\"'), 1)
        if old
        else escaped,
    )
    line = line.replace(item["leaf_hash"].encode(), leaf_hash(changed).hex().encode())
    for name, value in row.items():
        text = orjson.dumps(item[name])
        line = line.replace(
            b'"%s":%s' % (name.encode(), text), b'"%s":%s' % (name.encode(), value), 1
        )
    return b"".join(LINES[:index]) + line


def field(index: int, name: str) -> bytes:
    """Member `name` of envelope `index` as its canonical JSON text."""
    return b'"%s":%s' % (name.encode(), orjson.dumps(LOG.envelopes[index][name]))


FORGERIES = {
    # ordering after the line before
    "seq not increasing": forged(
        3,
        (field(3, "seq"), b'"seq":%d' % LOG.envelopes[2]["seq"]),
        seq=b"%d" % LOG.envelopes[2]["seq"],
    ),
    "time going back": forged(3, (field(3, "recorded_at"), field(1, "recorded_at"))),
    "another log": forged(3, (field(3, "log"), b'"log":"other.local/log"')),
    "version 2": forged(3, (b'"v":1}', b'"v":2}')),
    "prev not the line before": forged(3, (field(3, "prev"), field(2, "prev"))),
    # the event row against its envelope
    "row topic": forged(3, topic=b'"crm.Other"'),
    "envelope topic": forged(3, (field(3, "topic"), b'"topic":"crm.Other"')),
    "row aggregate": forged(3, originator_id=b'"%s"' % str(uuid.UUID(int=5)).encode()),
    "row version": forged(3, originator_version=b"7"),
    "row seq": forged(3, seq=b"%d" % (LOG.envelopes[3]["seq"] + 1)),
    "row state": forged(3, state=b'"%s"' % base64.b64encode(b"other").decode().encode()),
    "row leaf index": forged(3, leaf_index=b"4"),
    # "!" is no base64: a decoder taking it as 63 ("/") would read 0xfc 0 0 from "!AAA"
    "row state not base64": forged(
        3,
        (
            field(3, "state_sha256"),
            b'"state_sha256":"%s"' % sha256(b"\xfc\0\0").hexdigest().encode(),
        ),
        state=b'"!AAA"',
    ),
    "row topic escaped": forged(
        3, topic=orjson.dumps(LOG.envelopes[3]["topic"]).replace(b"c", b"\\u0063", 1)
    ),
    # text JSON cannot hold, with a fitting leaf hash
    "control character": forged(3, (b"system:test", b"system:te\x01t")),
    "invalid UTF-8": forged(3, (b"system:test", b"system:te\x80t")),
    "lone backslash": forged(3, (b"system:test", b"system:te\\t")),
    # the line's first \" in the envelope written \n: JSON, but another envelope
    "escape not a quote": b"".join(LINES[:3]) + LINES[3].replace(b'\\"', b"\\n", 1),
    # fine for Python, not the plain form
    "DEL character": forged(3, (b"system:test", b"system:te\x7ft")),
    "non-ASCII text": forged(3, (b"system:test", "system:teñt".encode())),
}


PYTHON_CONFIRMS = ("DEL character", "non-ASCII text", "row topic escaped")


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_native_refuses_each_forgery(name: str) -> None:
    """Each forgery breaks one check; the C check refuses it, whatever Python says of it
    (those in PYTHON_CONFIRMS are JSON that only the Python check confirms)."""
    data = FORGERIES[name]
    assert native_result(data[: data.index(b"\n", 0) + 1], FIRST, ()) is not None
    assert native_result(data, FIRST, WATCH) is None
    python = python_result(data, FIRST, WATCH)
    assert (python is not None) == (name in PYTHON_CONFIRMS)


@pytest.mark.parametrize("member", ["seq", "last_time", "prev_hex", "origin", "expected_index"])
def test_native_refuses_a_tip_that_does_not_fit(member: str) -> None:
    """The first line is checked against the tip: each member that does not fit refuses."""
    data = b"".join(LINES[:3])
    first = LOG.envelopes[0]
    wrong = {
        "seq": {"last_seq": first["seq"]},
        "last_time": {"last_time": LOG.envelopes[1]["recorded_at"]},
        "prev_hex": {"prev_hex": "ab" * 32},
        "origin": {"origin": "other.local/log"},
        "expected_index": {"expected_index": 1},
    }[member]
    assert native_result(data, FIRST, ()) is not None
    assert native_result(data, replace(FIRST, **wrong), ()) is None
    assert python_result(data, replace(FIRST, **wrong), ()) is None


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=600),
        st.sampled_from(LINES).flatmap(
            lambda line: st.tuples(st.integers(0, len(line)), st.binary(max_size=8)).map(
                lambda cut: line[: cut[0]] + cut[1] + line[cut[0] :]
            )
        ),
    ),
    tips,
)
def test_native_takes_any_bytes(data: bytes, tip: Tip) -> None:
    """Any bytes and any tip: an answer (None, or the Python check's), never a crash."""
    result = native_result(data, tip, WATCH)
    if result is not None:
        assert result == python_result(data, tip, WATCH)


# --- the same checks over a batch's columns (the --database path) ---


def native_columns(columns: Columns, tip: Tip) -> Any:
    return native_checks().check_columns(
        columns.as_tuples(),
        tip.expected_index,
        tip.prev_hex,
        tip.last_seq,
        tip.last_time,
        tip.origin,
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), entry_tampering(), tips)
def test_native_columns_confirm_only_what_python_confirms(
    data: st.DataObject, entries: list[Any], tip: Tip
) -> None:
    """Tampered entries, in any run of them: None, or what `check_batch` gives."""
    start = data.draw(st.integers(0, max(0, len(entries) - 1)))
    size = data.draw(st.integers(1, 12))
    columns = Columns.of(entries[start : start + size])
    if columns is None:
        return
    result = native_columns(columns, tip)
    if result is not None:
        assert result == python_columns(columns, tip)


def test_native_columns_confirm_a_clean_log() -> None:
    """Not vacuous: the untouched log's columns are confirmed, batch after batch."""
    tip = FIRST
    for start in range(0, len(ENTRIES), 9):
        columns = Columns.of(ENTRIES[start : start + 9])
        assert columns is not None
        result = native_columns(columns, tip)
        assert result is not None
        assert result == python_columns(columns, tip)
        leaves, last_seq, last_time, origin, prev_hex = result
        tip = Tip(tip.expected_index + len(leaves), prev_hex, last_seq, last_time, origin)
    assert tip.expected_index == len(ENTRIES)


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_native_columns_refuse_each_forgery(name: str) -> None:
    """The line forgeries, read as columns by the Python reader (those that are not JSON
    or base64 do not read at all): each refused in C, but the escaped row topic, which
    reads as the very columns of a clean line."""
    columns = bundles._columns(FORGERIES[name])
    if columns is None:
        assert name in ("control character", "invalid UTF-8", "row state not base64")
        return
    python = python_columns(columns, FIRST)
    if name == "row topic escaped":
        assert native_columns(columns, FIRST) == python is not None
        return
    assert native_columns(columns, FIRST) is None
    assert (python is not None) == (name in ("DEL character", "non-ASCII text"))


class Text(str):
    """A str that is not exactly a str."""


class Blob(bytes):
    """Bytes that are not exactly bytes."""


def _odd(value: Any) -> list[Any]:
    """Values equal to `value` (as Python compares) of another type than the reader's."""
    if isinstance(value, int):
        return [float(value), *([bool(value)] if value in (0, 1) else [])]
    if isinstance(value, bytes):
        return [bytearray(value), Blob(value)]
    return [Text(value)]


ODD = [
    (column, odd)
    for column, values in enumerate(Columns.of(ENTRIES[:3]).as_tuples())  # type: ignore[union-attr]
    for odd in _odd(values[1])
]


@pytest.mark.parametrize(("position", "value"), ODD)
def test_native_columns_refuse_other_types(position: int, value: Any) -> None:
    """A value of another type than the reader's, equal to the right one, in any column:
    None (the Python check relies on the reader's types), never a crash."""
    columns = Columns.of(ENTRIES[:3])
    assert columns is not None
    assert native_columns(columns, FIRST) is not None
    changed = list(columns.as_tuples())
    changed[position] = (changed[position][0], value, *changed[position][2:])
    assert native_columns(Columns(*changed), FIRST) is None


def test_native_columns_argument_errors() -> None:
    checks = native_checks()
    columns = Columns.of(ENTRIES[:3])
    assert columns is not None
    tuples = columns.as_tuples()
    with pytest.raises(ValueError, match="eight"):
        checks.check_columns(tuples[:7], 0, GENESIS_PREV, -1, "", None)
    with pytest.raises(ValueError, match="lengths"):
        checks.check_columns((*tuples[:7], tuples[7][:2]), 0, GENESIS_PREV, -1, "", None)
    with pytest.raises(TypeError):
        checks.check_columns((*tuples[:7], list(tuples[7])), 0, GENESIS_PREV, -1, "", None)  # type: ignore[arg-type]


# ---- the writer's sealing ------------------------------------------------------------


class ShoutedUUID(uuid.UUID):
    def __str__(self) -> str:
        return super().__str__() + "!"


plain_links = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2**53 - 1),
        st.uuids() | plain,
        st.integers(min_value=0, max_value=2**53 - 1),
        plain,
        plain,
        st.binary(max_size=300),
    ),
    max_size=8,
)


@given(plain, plain, st.none() | st.binary(min_size=32, max_size=32), plain_links)
def test_seal_links_writes_plain_envelopes_itself_with_the_general_bytes(
    log: str, recorded_at: str, prev: bytes | None, links: list[Any]
) -> None:
    """Plain members (printable ASCII without quote or backslash, integers in JCS range,
    aggregate ids as text or UUID objects) are sealed by the C module itself, never
    declined, into exactly the bytes and leaves of the envelopes built one by one."""
    written = native_checks().seal_links(log, recorded_at, prev, links)
    assert written is not None
    assert written == general_links(log, recorded_at, prev, links)


@given(
    members,
    members,
    st.none() | st.binary(max_size=40),
    link_lists,
)
def test_seal_links_declines_or_agrees(
    log: str, recorded_at: str, prev: bytes | None, links: list[Any]
) -> None:
    """For any members, the C module gives None or the general bytes, never others; and
    it declines whatever is not plain."""
    written = native_checks().seal_links(log, recorded_at, prev, links)
    if prev is not None and len(prev) != 32:
        assert written is None
        return
    if written is not None:
        assert written == general_links(log, recorded_at, prev, links)
    texts = [log, recorded_at, *(text for link in links for text in (link[3], link[4]))]
    texts += [link[1] for link in links if not isinstance(link[1], uuid.UUID)]
    if any(
        not (text.isascii() and text.isprintable()) or '"' in text or "\\" in text for text in texts
    ):
        assert written is None


@pytest.mark.parametrize(
    "odd",
    [
        [(1, "a", 1, "t", "x", bytearray(b"s"))],  # state not bytes
        [(1, "a", 1, "t", "x", b"s", "extra")],  # not six members
        [[1, "a", 1, "t", "x", b"s"]],  # a list, not a tuple
        [(2**53, "a", 1, "t", "x", b"s")],
        [(1, "a", -1, "t", "x", b"s")],
        [(True, "a", 1, "t", "x", b"s")],
        [(1, b"a", 1, "t", "x", b"s")],
        [(1, "a", 1, "t\x7f", "x", b"s")],
        [(1, "a", 1, "t", 'x"', b"s")],
        # wide characters whose code units are printable bytes ("AA", "AA\x01\x00")
        [(1, "a", 1, "\u4141", "x", b"s")],
        [(1, "\U00014141", 1, "t", "x", b"s")],
        # only uuid.UUID itself: a subclass may write its text otherwise
        [(1, ShoutedUUID(int=7), 1, "t", "x", b"s")],
    ],
)
def test_seal_links_declines_what_is_not_plain(odd: list[Any]) -> None:
    assert native_checks().seal_links("log", "time", None, odd) is None
    assert native_checks().seal_links("log", "time", None, [*PLAIN_LINK, *odd]) is None


PLAIN_LINK = [(1, uuid.UUID(int=7), 1, "t:A", "user:x", b"state")]


def test_seal_links_of_a_uuid_subclass_is_its_text() -> None:
    """What the C module declines above, the Python path writes with the subclass's own
    text, as `str` gives it."""
    links: list[Any] = [(1, ShoutedUUID(int=7), 1, "t", "x", b"s")]
    with python_only(True):
        ((canonical, _),) = seal_links("log", "time", None, links)
    assert b'"aggregate_id":"00000000-0000-0000-0000-000000000007!"' in canonical


def test_seal_links_arguments() -> None:
    checks = native_checks()
    assert checks.seal_links("log", "time", None, []) == []
    with pytest.raises(TypeError):
        checks.seal_links("log", "time", None, tuple(PLAIN_LINK))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        checks.seal_links("log", "time", None)  # type: ignore[call-arg]
    assert checks.seal_links("log", "time", b"\x00" * 31, PLAIN_LINK) is None
    assert checks.seal_links(b"log", "time", None, PLAIN_LINK) is None
    ((canonical, leaf),) = checks.seal_links("log", "time", None, PLAIN_LINK) or [None]
    assert b'"aggregate_id":"00000000-0000-0000-0000-000000000007"' in canonical
    assert leaf == leaf_hash(canonical)
