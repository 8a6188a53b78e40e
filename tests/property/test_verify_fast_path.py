"""Property tests: the verifier's bulk fast path never changes a report.

A real log (``tests.unit.ledger_builder``) is tampered with at random: bytes flipped in
an envelope, a state or a leaf hash; entries swapped, deleted, duplicated or inserted;
envelope members replaced by odd but valid JSON (big, negative or float numbers, bools,
nested values, non-ASCII keys and text, lone surrogates) and re-sealed, sometimes with
the rest of the chain forged after it; equivalent but non-canonical JSON (whitespace,
member order, ``\\u`` escapes, duplicate members); wrong types in the event row; and the
same at the byte level of a bundle's ``entries.jsonl`` (torn lines, garbage, lines
merged or split so that a joined parse would see valid entries).

Each case is verified twice: with the fast path on, in batches cut at random places,
and with it off, entry by entry (the per-entry path that places every finding). The
reports (every field, every finding in order, progress calls, VERI*FACTU observations)
must be identical.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crm_ledger.ledger import native
from crm_ledger.ledger import verify as verify_module
from crm_ledger.ledger.entry_batch import EntryBatch
from crm_ledger.ledger.envelope import ENVELOPE_KEYS, Entry
from crm_ledger.ledger.merkle import leaf_hash
from crm_ledger.ledger.native import NativeChecks
from crm_ledger.ledger.verify import AnchorRecord, Report, SavedState, verify_log
from crm_ledger.storage import bundle as bundles
from crm_ledger.verifactu_chains import INVOICE_TOPICS, RECORD_TOPIC, ChainCheck
from crm_ledger.verification import observe_batches
from tests.unit.ledger_builder import ORIGIN, SEQ_STEP, Log, build_log, entry_time

N, EVERY = 40, 7
CHAIN_TOPICS = (RECORD_TOPIC, *sorted(INVOICE_TOPICS))


def chain_log() -> Log:
    """A valid log where a few events have the topics the VERI*FACTU pass reads (their
    states are random bytes, so that pass has findings: both paths must observe the
    same entries)."""
    log = build_log(N, EVERY, seed=7)
    for index, topic in zip((4, 19, 33), CHAIN_TOPICS, strict=True):
        log.envelopes[index]["topic"] = topic
        log.entries[index] = log.entries[index]._replace(topic=topic)
    log.rechain(4)
    log.resign()
    return log


LOG = chain_log()


def native_checks() -> NativeChecks:
    """The C checks; a skip when the install could not build them, or a failure with
    ``CRM_REQUIRE_NATIVE=1`` (as in CI)."""
    if native.NATIVE is None:
        if os.environ.get("CRM_REQUIRE_NATIVE", "") not in ("", "0"):
            pytest.fail("crm_ledger.ledger._native was not built (CRM_REQUIRE_NATIVE=1)")
        pytest.skip("crm_ledger.ledger._native was not built (no C compiler at install)")
    return native.NATIVE


@contextlib.contextmanager
def python_only(on: bool) -> Iterator[None]:
    """With `on`, the verifier without its C checks (`crm_ledger.ledger.native`)."""
    saved = native.NATIVE
    if on:
        native.NATIVE = None
    try:
        yield
    finally:
        native.NATIVE = saved


ENTRIES = list(LOG.entries)

odd_numbers = st.sampled_from(
    [-1, 0, 2**53 - 1, 2**53, -(2**53), 2**63, 1.0, 0.5, True, False, None]
)
odd_texts = st.sampled_from(
    ["", "ñandú", "😀", "\u2028", "a\nb", '"', "\\", "\x00", "\x7f", "\ud800", "a" * 70]
)
odd_values = st.one_of(
    odd_numbers,
    odd_texts,
    st.sampled_from([[], {}, [1], {"é": 1, "z": 2}, {"\U0001f600": 1, "\uffff": 2}]),
)


def reseal(entry: Entry, canonical: bytes) -> Entry:
    """`entry` holding `canonical` with its matching leaf hash (so deeper checks run)."""
    return entry._replace(canonical=canonical, leaf_hash=leaf_hash(canonical))


def encode(envelope: dict[str, Any]) -> bytes | None:
    """Sorted-key orjson bytes, or None when orjson cannot encode the value."""
    try:
        return orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return None


def envelope_of(entry: Entry) -> dict[str, Any] | None:
    """The entry's envelope as an object with every v1 member, if it still is one."""
    try:
        envelope = orjson.loads(entry.canonical)
    except orjson.JSONDecodeError:
        return None
    return envelope if isinstance(envelope, dict) and envelope.keys() >= ENVELOPE_KEYS else None


def rechain(entries: list[Entry], start: int) -> list[Entry]:
    """What a forger does after a change: fix every later prev link and leaf hash."""
    result = list(entries)
    for index in range(max(start, 1), len(result)):
        envelope = envelope_of(result[index])
        if envelope is None:
            continue
        envelope["prev"] = result[index - 1].leaf_hash.hex()
        canonical = encode(envelope)
        if canonical is not None:
            result[index] = reseal(result[index], canonical)
    return result


@st.composite
def envelope_edit(draw: st.DrawFn, entries: list[Entry]) -> list[Entry]:
    """One envelope member replaced (or added, or removed), re-sealed; maybe re-chained."""
    index = draw(st.integers(0, len(entries) - 1))
    entry = entries[index]
    envelope = envelope_of(entry)
    if envelope is None:
        return entries
    action = draw(st.sampled_from(["set", "add", "remove", "valid"]))
    name = draw(st.sampled_from(sorted(ENVELOPE_KEYS)))
    if action == "set":
        envelope[name] = draw(odd_values)
    elif action == "add":
        envelope[draw(st.sampled_from(["x", "é", "\U0001f600", "V"]))] = draw(odd_values)
    elif action == "remove":
        del envelope[name]
    else:  # a different but well-formed value, and the event row says the same
        envelope, entry = valid_change(draw, envelope, entry, name)
    canonical = encode(envelope)
    if canonical is None:  # orjson refuses (a lone surrogate): store such text as is
        canonical = entry.canonical[:-1] + b',"x":"\\ud800"}'
    result = list(entries)
    result[index] = reseal(entry, canonical)
    return rechain(result, index + 1) if draw(st.booleans()) else result


def valid_change(
    draw: st.DrawFn, envelope: dict[str, Any], entry: Entry, name: str
) -> tuple[dict[str, Any], Entry]:
    """A plausible value for member `name`, with the event row kept in agreement."""
    if name == "seq":
        value = draw(st.integers(0, (N + 2) * SEQ_STEP))
        return {**envelope, "seq": value}, entry._replace(seq=value)
    if name == "aggregate_version":
        value = draw(st.integers(0, 9))
        return {**envelope, name: value}, entry._replace(originator_version=value)
    if name == "aggregate_id":
        value = str(uuid.UUID(int=draw(st.integers(0, 3)), version=4))
        return {**envelope, name: value}, entry._replace(originator_id=value)
    if name == "topic":
        value = draw(st.sampled_from(["crm.Other", RECORD_TOPIC, "crm.Contact.Created"]))
        return {**envelope, name: value}, entry._replace(topic=value)
    if name == "state_sha256":
        state = draw(st.binary(max_size=20))
        return {**envelope, name: sha256(state).hexdigest()}, entry._replace(state=state)
    if name == "recorded_at":
        value = entry_time(draw(st.integers(-2, N + 2)))
        return {**envelope, name: value}, entry
    if name == "log":
        return {**envelope, name: draw(st.sampled_from([ORIGIN, "other.local/log", ""]))}, entry
    if name == "prev":
        return {**envelope, name: draw(st.sampled_from(["0" * 64, "ab" * 32, "AB" * 32]))}, entry
    if name == "v":
        return {**envelope, name: draw(st.sampled_from([1, 2]))}, entry
    return {**envelope, name: draw(st.sampled_from(["system:test", "apikey:x", "ñ"]))}, entry


@st.composite
def text_edit(draw: st.DrawFn, entries: list[Entry]) -> list[Entry]:
    """The same envelope as other JSON text (not canonical), re-sealed; maybe re-chained."""
    index = draw(st.integers(0, len(entries) - 1))
    text = entries[index].canonical
    if envelope_of(entries[index]) is None:
        return entries
    kind = draw(st.sampled_from(["space", "order", "escape", "duplicate", "trailing", "bom"]))
    if kind == "space":
        text = text.replace(b'":', b'": ', 1)
    elif kind == "order":
        members = sorted(orjson.loads(text).items(), reverse=True)
        text = b"{" + b",".join(orjson.dumps(k) + b":" + orjson.dumps(v) for k, v in members) + b"}"
    elif kind == "escape":
        text = text.replace(b'"actor"', b'"\\u0061ctor"', 1)
    elif kind == "duplicate":
        text = text[:-1] + b',"v":1}'
    elif kind == "trailing":
        text = text + draw(st.sampled_from([b" ", b"\n", b"x", b"{}"]))
    else:
        text = b"\xef\xbb\xbf" + text
    result = list(entries)
    result[index] = reseal(result[index], text)
    return rechain(result, index + 1) if draw(st.booleans()) else result


SPLIT = b"],["


@st.composite
def split_envelopes(draw: st.DrawFn, entries: list[Entry]) -> list[Entry]:
    """A forger's envelopes that only a joined parse would accept: entry i's envelope has
    an actor holding ``],[`` and is stored cut there across entries i and i+1, entry i+2
    stores envelopes i+1 and i+2 joined by ``],[``, and every prev link and leaf hash
    fits the stored bytes. Joined as ``[[e1],[e2],...]`` (no newlines) they parse as one
    valid envelope per entry; entry by entry, all three are malformed."""
    first = draw(st.integers(0, len(entries) - 3))
    envelopes = [envelope_of(e) for e in entries[first : first + 3]]
    if any(envelope is None for envelope in envelopes):
        return entries
    a, b, c = (envelope for envelope in envelopes if envelope is not None)
    a["actor"] = draw(st.sampled_from(["system:test", "apikey:x"])) + SPLIT.decode() + "y"
    whole = encode(a)
    if whole is None:
        return entries
    cut = whole.index(SPLIT)
    head, tail = whole[:cut], whole[cut + len(SPLIT) :]
    b["prev"] = leaf_hash(head).hex()
    c["prev"] = leaf_hash(tail).hex()
    b_bytes, c_bytes = encode(b), encode(c)
    if b_bytes is None or c_bytes is None:
        return entries
    result = list(entries)
    result[first] = reseal(result[first], head)
    result[first + 1] = reseal(result[first + 1], tail)
    result[first + 2] = reseal(result[first + 2], b_bytes + SPLIT + c_bytes)
    return rechain(result, first + 3)


class Tampered(list[Entry]):
    """Stored entries after tampering; shown by what was done to them (a failing example
    stays readable, and Hypothesis is not asked for the repr of kilobytes of entries)."""

    def __init__(self, entries: list[Entry], done: list[str]) -> None:
        super().__init__(entries)
        self.done = done

    def __repr__(self) -> str:
        return f"Tampered({self.done})"


@st.composite
def entry_tampering(draw: st.DrawFn) -> Tampered:
    """The stored entries with 0 to 3 random tamperings applied."""
    entries = list(ENTRIES)
    done: list[str] = []
    for _ in range(draw(st.integers(0, 3))):
        if len(entries) < 4:
            break
        kind = draw(
            st.sampled_from(
                [
                    "flip_canonical",
                    "flip_state",
                    "flip_leaf",
                    "swap",
                    "delete",
                    "duplicate",
                    "insert",
                    "envelope",
                    "text",
                    "split",
                    "row",
                    "unreadable",
                ]
            )
        )
        if kind in ("envelope", "text", "split"):
            edit = {"envelope": envelope_edit, "text": text_edit, "split": split_envelopes}
            before = entries
            entries = draw(edit[kind](entries))
            changed = [i for i, (a, b) in enumerate(zip(before, entries, strict=False)) if a != b]
            done.append(f"{kind} changing {changed}")
            continue
        index = draw(st.integers(0, len(entries) - 1))
        done.append(f"{kind} at {index}")
        entry = entries[index]
        if kind in ("flip_canonical", "flip_state", "flip_leaf"):
            field = {"flip_canonical": "canonical", "flip_state": "state", "flip_leaf": "leaf_hash"}
            data = getattr(entry, field[kind])
            if data:
                offset = draw(st.integers(0, len(data) - 1))
                changed = bytearray(data)
                changed[offset] ^= draw(st.sampled_from([0x01, 0x20, 0x80]))
                entries[index] = entry._replace(**{field[kind]: bytes(changed)})
        elif kind == "swap":
            other = draw(st.integers(0, len(entries) - 1))
            entries[index], entries[other] = entries[other], entries[index]
        elif kind == "delete":
            del entries[index]
        elif kind == "duplicate":
            entries.insert(index, entry)
        elif kind == "insert":
            entries.insert(index, inserted(entries, index, draw(st.booleans())))
        elif kind == "row":
            entries[index] = draw(row_edit(entry))
        else:
            entries[index] = draw(
                st.sampled_from(
                    [
                        entry._replace(leaf_hash=b""),
                        entry._replace(canonical=b"", leaf_hash=b""),
                        Entry(index, -1, b'{"garbage', b"", "", -1, "", b""),
                    ]
                )
            )
    return Tampered(entries, done)


def inserted(entries: list[Entry], index: int, forged: bool) -> Entry:
    """A well-formed entry put at `index` (`forged`: its prev and seq fit the neighbours)."""
    before = entries[index - 1] if index else None
    seq = (before.seq + 1) if before and forged else SEQ_STEP // 2
    envelope = {
        "v": 1,
        "log": ORIGIN,
        "seq": seq,
        "prev": before.leaf_hash.hex() if before and forged else "0" * 64,
        "aggregate_id": str(uuid.UUID(int=99, version=4)),
        "aggregate_version": 1,
        "topic": "crm.Contact.Created",
        "recorded_at": entry_time(index),
        "actor": "system:test",
        "state_sha256": sha256(b"inserted").hexdigest(),
    }
    canonical = orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS)
    return Entry(
        index if forged else 10**6,
        seq,
        canonical,
        leaf_hash(canonical),
        envelope["aggregate_id"],
        1,
        "crm.Contact.Created",
        b"inserted",
    )


@st.composite
def row_edit(draw: st.DrawFn, entry: Entry) -> Entry:
    """The event row (or leaf index) changed, sometimes to a value of another type."""
    name = draw(
        st.sampled_from(
            ["leaf_index", "seq", "originator_id", "originator_version", "topic", "state"]
        )
    )
    value: object
    current = getattr(entry, name)
    if type(current) is not int:  # changed before
        current = 0
    if name == "leaf_index":  # (a text leaf index is beyond what any source gives)
        value = draw(st.sampled_from([current + 1, current - 1, float(current), True]))
    elif name in ("seq", "originator_version"):
        value = draw(
            st.sampled_from([current + 1, current - 1, float(current), True, str(current)])
        )
    elif name == "state":
        value = draw(st.sampled_from([b"", bytearray(entry.state), entry.state + b"!"]))
    else:
        value = draw(st.sampled_from(["", "crm.Other", RECORD_TOPIC, 5]))
    return entry._replace(**{name: value})


class Batches(list[Entry | EntryBatch]):
    """Entries cut into batches; shown by the batch sizes (0: one entry handed alone)."""

    def __init__(self, items: list[Entry | EntryBatch], sizes: list[int]) -> None:
        super().__init__(items)
        self.sizes = sizes

    def __repr__(self) -> str:
        return f"Batches({self.sizes})"


@st.composite
def batches_of(draw: st.DrawFn, entries: list[Entry]) -> Batches:
    """`entries` cut into batches at random places (some handed over one by one)."""
    items: list[Entry | EntryBatch] = []
    sizes: list[int] = []
    position = 0
    while position < len(entries):
        size = draw(st.integers(1, 16))
        chunk = entries[position : position + size]
        if draw(st.integers(0, 4)) == 0:
            items.extend(chunk)
            sizes.extend([0] * len(chunk))
        else:
            items.append(EntryBatch.of(chunk))
            sizes.append(len(chunk))
        position += size
    return Batches(items, sizes)


@dataclass
class Inputs:
    """Checkpoints, anchors, saved state (sizes fall inside batches), findings limit."""

    checkpoints: list[AnchorRecord]
    anchors: list[AnchorRecord]
    saved: SavedState | None
    max_findings: int = 100
    progress_every: int = 10_000

    def __repr__(self) -> str:
        saved = None if self.saved is None else self.saved.size
        return (
            f"Inputs(checkpoints={[c.size for c in self.checkpoints]}, "
            f"anchors={[a.size for a in self.anchors]}, saved={saved}, "
            f"max_findings={self.max_findings}, progress_every={self.progress_every})"
        )


inputs = st.builds(
    Inputs,
    st.sampled_from([LOG.checkpoints, LOG.checkpoints[:2], [], LOG.checkpoints[1::2]]),
    st.sampled_from([[], LOG.checkpoints[:1], LOG.checkpoints[2:4]]),
    st.sampled_from([None, LOG.saved(), LOG.saved(13), SavedState(ORIGIN, N + 5, bytes(32))]),
    st.sampled_from([100, 2]),
    st.sampled_from([10_000, 3, 8]),
)


def run(entries: Any, given_inputs: Inputs, fast_path: bool) -> tuple[Report, list[int]]:
    """Verify; return the report and every progress call."""
    calls: list[int] = []
    every, verify_module.PROGRESS_EVERY = verify_module.PROGRESS_EVERY, given_inputs.progress_every
    try:
        report = verify_log(
            entries,
            given_inputs.checkpoints,
            LOG.manifest,
            anchors=given_inputs.anchors,
            saved=given_inputs.saved,
            max_findings=given_inputs.max_findings,
            progress=calls.append,
            fast_path=fast_path,
        )
    finally:
        verify_module.PROGRESS_EVERY = every
    return report, calls


def same(fast: tuple[Report, list[int]], slow: tuple[Report, list[int]]) -> None:
    assert fast[0].as_dict() == slow[0].as_dict()
    assert fast[1] == slow[1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), entry_tampering(), inputs, st.booleans())
def test_fast_path_report_equals_per_entry_report(
    data: st.DataObject, entries: list[Entry], given_inputs: Inputs, pure: bool
) -> None:
    """Whatever was done to the entries, the report with bulk batches (the C check of
    columns first when built, unless `pure`) is the per-entry one."""
    items = data.draw(batches_of(entries))
    with python_only(pure):
        fast = run(items, given_inputs, True)
    same(fast, run(entries, given_inputs, False))


def test_clean_log_goes_through_the_fast_path(monkeypatch: Any) -> None:
    """The untouched log is verified in bulk (no batch falls back), and verifies OK."""
    outcomes: list[bool] = []
    original = verify_module.check_batch

    def spy(columns: Any, tip: Any) -> Any:
        result = original(columns, tip)
        outcomes.append(result is not None)
        return result

    monkeypatch.setattr(verify_module, "check_batch", spy)
    monkeypatch.setattr(native, "NATIVE", None)  # (its C check goes first; see below)
    assert verify_clean_log_in_batches_of_6() == 0
    assert outcomes == [True] * 7


def verify_clean_log_in_batches_of_6() -> int:
    """The exit code of verifying the untouched log handed over in 7 batches."""
    report = verify_log(
        [EntryBatch.of(LOG.entries[i : i + 6]) for i in range(0, N, 6)],
        LOG.checkpoints,
        LOG.manifest,
    )
    return report.exit_code


def test_clean_log_goes_through_the_c_check_of_columns(monkeypatch: Any) -> None:
    """With the C checks built, the untouched log's batches are confirmed there."""
    checks = native_checks()
    outcomes: list[bool] = []

    class Spy:
        def check_columns(self, *args: Any) -> Any:
            result = checks.check_columns(*args)
            outcomes.append(result is not None)
            return result

        def node_hashes(self, level: Any) -> Any:
            return checks.node_hashes(level)

    monkeypatch.setattr(native, "NATIVE", Spy())
    assert verify_clean_log_in_batches_of_6() == 0
    assert outcomes == [True] * 7


# --- bundle level: entries.jsonl bytes, the batch reader and the VERI*FACTU observer ---


def lines_of(entries: list[Entry]) -> list[bytes]:
    """The ``entries.jsonl`` lines of `entries` (an entry that cannot be written is
    written as its raw bytes, as a garbage line)."""
    lines = []
    for entry in entries:
        try:
            lines.append(bundles.entry_line(entry))
        except (UnicodeDecodeError, orjson.JSONEncodeError, TypeError):
            lines.append(entry.canonical.replace(b"\n", b" ") + b"\n")
    return lines


class Jsonl(bytes):
    """``entries.jsonl`` bytes, shown by what was done to them."""

    done: list[str]

    def __new__(cls, data: bytes, done: list[str]) -> Jsonl:
        result = super().__new__(cls, data)
        result.done = done
        return result

    def __repr__(self) -> str:
        return f"Jsonl({len(self)} bytes, {self.done})"


@st.composite
def line_tampering(draw: st.DrawFn) -> Jsonl:
    """``entries.jsonl`` bytes: tampered entries, then 0 to 3 byte-level tamperings."""
    entries = draw(st.one_of(st.just(Tampered(list(ENTRIES), [])), entry_tampering()))
    done = list(entries.done)
    lines = lines_of(entries)
    if draw(st.integers(0, 4)) == 0:
        index = draw(st.integers(0, len(entries)))
        forged = merged(entries, index)
        if forged is not None:
            lines = forged
            done.append(f"lines merged at {index}")
    for _ in range(draw(st.integers(0, 3))):
        if len(lines) < 4:
            break
        index = draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        kind = draw(
            st.sampled_from(
                [
                    "flip",
                    "swap",
                    "delete",
                    "duplicate",
                    "garbage",
                    "rewrite",
                    "blank",
                ]
            )
        )
        done.append(f"line {kind} at {index}")
        if kind == "flip":
            offset = draw(st.integers(0, len(line) - 1))
            changed = bytearray(line)
            changed[offset] ^= draw(st.sampled_from([0x01, 0x20, 0x80]))
            lines[index] = bytes(changed)
        elif kind == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        elif kind == "delete":
            del lines[index]
        elif kind == "duplicate":
            lines.insert(index, line)
        elif kind == "garbage":
            lines.insert(index, draw(st.sampled_from([b"\n", b"{}\n", b"[]\n", b"x\n", b"1\n"])))
        elif kind == "rewrite":
            lines[index] = draw(rewritten(line))
        else:
            lines[index] = b"  " + line.rstrip(b"\n") + b" \r\n"
    data = b"".join(lines)
    if draw(st.integers(0, 5)) == 0:
        cut = draw(st.integers(0, len(data)))
        done.append(f"cut at byte {cut}")
        data = data[:cut]
    return Jsonl(data, done)


def merged(entries: list[Entry], index: int) -> list[bytes] | None:
    """The lines of a forger's log that only a joined parse would accept: event `index`
    gets a topic holding ``],[`` (envelope and row, the rest re-chained); its line is
    stored cut there, and the next two lines are stored as one line joined by ``],[``.
    Joined as ``[[l1],[l2],...]`` (no newlines) they parse as one valid entry per line;
    line by line, all three are malformed."""
    if index + 2 >= len(entries):
        return None
    envelope = envelope_of(entries[index])
    if envelope is None:
        return None
    topic = "crm.Contact" + SPLIT.decode() + "Created"
    envelope["topic"] = topic
    canonical = encode(envelope)
    if canonical is None:
        return None
    forged = list(entries)
    forged[index] = reseal(forged[index]._replace(topic=topic), canonical)
    lines = lines_of(rechain(forged, index + 1))
    line = lines[index].rstrip(b"\n")
    cut = line.rfind(SPLIT)  # in the row's topic, after the envelope
    lines[index : index + 3] = [
        line[:cut] + b"\n",
        line[cut + len(SPLIT) :] + b"\n",
        lines[index + 1].rstrip(b"\n") + SPLIT + lines[index + 2],
    ]
    return lines


@st.composite
def rewritten(draw: st.DrawFn, line: bytes) -> bytes:
    """The line as other JSON for the same or nearly the same entry."""
    try:
        item = orjson.loads(line)
    except orjson.JSONDecodeError:
        return line
    if not isinstance(item, dict) or "leaf_index" not in item:
        return line
    kind = draw(
        st.sampled_from(
            [
                "order",
                "extra",
                "missing",
                "float",
                "bool",
                "string_int",
                "upper_hex",
                "loose_base64",
                "object_envelope",
                "escaped",
                "nested",
            ]
        )
    )
    if kind == "order":
        item = dict(reversed(list(item.items())))
    elif kind == "extra":
        item["extra"] = draw(st.sampled_from([1, [1, [2]], {"a": "]"}]))
    elif kind == "missing":
        del item[draw(st.sampled_from(sorted(item)))]
    elif kind == "float":
        item[draw(st.sampled_from(["leaf_index", "seq", "originator_version"]))] = 1.0
    elif kind == "bool":
        item[draw(st.sampled_from(["leaf_index", "seq", "originator_version"]))] = True
    elif kind == "string_int":
        item["seq"] = str(item["seq"])
    elif kind == "upper_hex":
        item["leaf_hash"] = str(item["leaf_hash"]).upper()
    elif kind == "loose_base64":
        item["state"] = str(item["state"]).rstrip("=")
    elif kind == "object_envelope":
        with contextlib.suppress(orjson.JSONDecodeError, TypeError):
            item["envelope"] = orjson.loads(item["envelope"])
    elif kind == "nested":
        item["originator_id"] = [item["originator_id"]]
    else:
        return orjson.dumps(item).replace(b'"seq"', b'"\\u0073eq"', 1) + b"\n"
    return orjson.dumps(item) + b"\n"


def verify_bundle(path: Path, given_inputs: Inputs, block_size: int | None) -> Any:
    """Report, progress calls, and the VERI*FACTU pass's findings and record count;
    `block_size` None: per-entry reader and path, else the batch reader and fast path."""
    chains = ChainCheck()
    entries: Iterator[Any]
    if block_size is None:
        entries = chains.observe(bundles.read_entries(path))
    else:
        entries = observe_batches(chains, bundles.read_batches(path, block_size))
    report, calls = run(entries, given_inputs, block_size is not None)
    return report, calls, [f.as_dict() for f in chains.finish()], chains.records


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line_tampering(), st.integers(1, 3000), inputs, st.booleans())
@example(
    Jsonl(b"".join(lines_of(ENTRIES)), ["none"]), 500, Inputs(LOG.checkpoints, [], None), False
)
def test_bundle_batches_report_equals_per_line_report(
    tmp_path_factory: Any, data: Jsonl, block_size: int, given_inputs: Inputs, pure: bool
) -> None:
    """Whatever was done to ``entries.jsonl``, the batch reader with the fast path (its C
    check first when built, unless `pure`) gives the report, progress and VERI*FACTU
    observations of the per-line reader."""
    path = tmp_path_factory.mktemp("bundle") / bundles.ENTRIES
    path.write_bytes(data)
    with python_only(pure):
        fast = verify_bundle(path, given_inputs, block_size)
    slow = verify_bundle(path, given_inputs, None)
    assert fast[0].as_dict() == slow[0].as_dict()
    assert fast[1:] == slow[1:]


def test_batch_reader_gives_the_per_line_entries(tmp_path: Path) -> None:
    """Entries of the batch reader (columns or not) are exactly those of read_entries."""
    lines = lines_of(ENTRIES)
    lines[5] = b"not json\n"
    lines[20] = lines[20].replace(b'"seq":', b'"seq": ', 1)
    path = tmp_path / bundles.ENTRIES
    path.write_bytes(b"".join(lines) + b'{"torn')
    batches = list(bundles.read_batches(path, 300))
    assert [e for b in batches for e in b.entries()] == list(bundles.read_entries(path))
    assert any(b.columns is not None for b in batches)
    assert any(b.columns is None for b in batches)
