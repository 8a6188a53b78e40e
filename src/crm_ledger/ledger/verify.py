"""The streaming verifier: recompute everything, trust nothing, report the first break.

Pure: it is given iterables (entries in stored order, checkpoints by size), the public
key manifest, and optionally the anchor records and the auditor's saved state; it holds
O(log n) state plus the checkpoints, anchors and at most `max_findings` findings.

Per entry it checks: contiguous leaf index; envelope bytes parse, have the v1 shape and
are canonical (RFC 8785); the stored leaf hash equals SHA-256(0x00 || bytes); the
envelope's ``state_sha256`` equals SHA-256 of the stored event bytes; the envelope names
the event row's seq, aggregate id, version and topic; ``prev`` is the previous leaf;
seq strictly increases; ``recorded_at`` never decreases; ``log`` is the origin. At each
checkpoint size: the note parses, names the origin and size, carries a valid signature
by a manifest key valid at the checkpoint's time, and its root equals the recomputed
root. At each anchor (or saved-state) size: the anchored root equals the recomputed one.
At the end: nothing signed, anchored or saved is beyond the log; the latest checkpoint
is not behind the anchors or the saved state.

The exit code is the one of the first finding in stream order (entry checks first, then
checkpoint signature, checkpoint root, anchors, and the end-of-stream checks).

Entries are checked a batch at a time: `crm_ledger.ledger.batch_check` answers in bulk
whether a whole batch passes every entry check above; only a batch that does not (or
that has anything unusual) goes through the per-entry checks, which place each finding.
The report is the same either way (a property test compares both paths).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any, Protocol

import orjson

from crm_ledger.ledger import native
from crm_ledger.ledger.batch_check import Tip, check_batch
from crm_ledger.ledger.entry_batch import EntryBatch
from crm_ledger.ledger.envelope import (
    ENVELOPE_KEYS,
    ENVELOPE_VERSION,
    GENESIS_PREV,
    Entry,
    canonical_envelope,
)
from crm_ledger.ledger.errors import CanonicalizationError, LedgerError, NoteError
from crm_ledger.ledger.manifest import Manifest
from crm_ledger.ledger.merkle import RootAccumulator, leaf_hash
from crm_ledger.ledger.note import parse_checkpoint_body, parse_note, verify_note_signature

EXIT_OK = 0
EXIT_ALTERED = 1
EXIT_SIGNATURE = 2
EXIT_FORK = 3
EXIT_TRUNCATED = 4

#: finding kind -> exit code
KINDS: dict[str, int] = {
    "malformed": EXIT_ALTERED,
    "state_mismatch": EXIT_ALTERED,
    "leaf_mismatch": EXIT_ALTERED,
    "envelope_mismatch": EXIT_ALTERED,
    "chain_break": EXIT_ALTERED,
    "sequence_disorder": EXIT_ALTERED,
    "time_disorder": EXIT_ALTERED,
    "wrong_log": EXIT_ALTERED,
    "checkpoint_root_mismatch": EXIT_ALTERED,
    "verifactu_chain": EXIT_ALTERED,  # an issuer's VERI*FACTU chain (crm_ledger.verifactu_chains)
    "bad_signature": EXIT_SIGNATURE,
    "unknown_key": EXIT_SIGNATURE,
    "key_not_valid": EXIT_SIGNATURE,
    "unsigned_checkpoint": EXIT_SIGNATURE,
    "fork": EXIT_FORK,
    "checkpoint_inconsistent": EXIT_FORK,
    "truncated": EXIT_TRUNCATED,
    "rollback": EXIT_TRUNCATED,
}


class CheckpointLike(Protocol):
    """A checkpoint as stored (database row, bundle line or anchor line)."""

    @property
    def size(self) -> int: ...
    @property
    def root_hash(self) -> bytes: ...
    @property
    def note(self) -> str: ...
    @property
    def created_at(self) -> str: ...


@dataclass(frozen=True)
class AnchorRecord:
    """One line of the anchor file: a copy of a checkpoint kept outside the database."""

    size: int
    root_hash: bytes
    note: str
    created_at: str


@dataclass(frozen=True)
class SavedState:
    """What the auditor verified last time: the log's origin, size and root."""

    origin: str
    size: int
    root_hash: bytes


@dataclass(frozen=True)
class Finding:
    """One failure: its kind, where, and what was expected vs found."""

    kind: str
    leaf_index: int | None
    seq: int | None
    expected: str | None
    actual: str | None
    message: str

    @property
    def exit_code(self) -> int:
        return KINDS[self.kind]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "exit_code": self.exit_code,
            "leaf_index": self.leaf_index,
            "seq": self.seq,
            "expected": self.expected,
            "actual": self.actual,
            "message": self.message,
        }


@dataclass
class Report:
    """The outcome of a verification."""

    origin: str | None = None
    count: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head: str | None = None
    root: str | None = None
    latest_checkpoint: dict[str, Any] | None = None
    unsealed_tail: int = 0
    checkpoints_verified: int = 0
    anchors_checked: int = 0
    key_names: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    findings_dropped: int = 0

    @property
    def exit_code(self) -> int:
        return self.findings[0].exit_code if self.findings else EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.findings,
            "exit_code": self.exit_code,
            "origin": self.origin,
            "count": self.count,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "head": self.head,
            "root": self.root,
            "latest_checkpoint": self.latest_checkpoint,
            "unsealed_tail": self.unsealed_tail,
            "checkpoints_verified": self.checkpoints_verified,
            "anchors_checked": self.anchors_checked,
            "key_names": self.key_names,
            "findings": [f.as_dict() for f in self.findings],
            "findings_dropped": self.findings_dropped,
        }


def format_anchor_line(size: int, root: bytes, note: str, created_at: str) -> bytes:
    """One anchor file line (JSON, newline-terminated)."""
    return (
        orjson.dumps(
            {"size": size, "root_hash": root.hex(), "note": note, "created_at": created_at}
        )
        + b"\n"
    )


def parse_anchor_lines(data: bytes) -> tuple[list[AnchorRecord], list[Finding]]:
    """Parse an anchor file; an unreadable line is a finding, not an exception."""
    records: list[AnchorRecord] = []
    findings: list[Finding] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw:
            continue
        try:
            item = orjson.loads(raw)
            records.append(
                AnchorRecord(
                    int(item["size"]),
                    bytes.fromhex(item["root_hash"]),
                    str(item["note"]),
                    str(item["created_at"]),
                )
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            findings.append(
                Finding(
                    "checkpoint_inconsistent",
                    None,
                    None,
                    None,
                    raw[:80].decode("utf-8", "replace"),
                    f"anchor line {number} is unreadable (torn or garbage)",
                )
            )
    if data and not data.endswith(b"\n") and not findings:
        findings.append(
            Finding(
                "checkpoint_inconsistent",
                None,
                None,
                None,
                None,
                "anchor file does not end with a newline (torn last line)",
            )
        )
    return records, findings


def parse_saved_state(data: bytes) -> SavedState:
    """Parse the auditor's saved state file."""
    try:
        item = orjson.loads(data)
        return SavedState(str(item["origin"]), int(item["size"]), bytes.fromhex(item["root_hash"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise LedgerError(f"saved state is unreadable: {exc}") from None


def dump_saved_state(state: SavedState, verified_at: str) -> bytes:
    """The saved state file's bytes."""
    return (
        orjson.dumps(
            {
                "origin": state.origin,
                "size": state.size,
                "root_hash": state.root_hash.hex(),
                "verified_at": verified_at,
            },
            option=orjson.OPT_INDENT_2,
        )
        + b"\n"
    )


class _Findings:
    def __init__(self, report: Report, limit: int) -> None:
        self.report, self.limit = report, limit

    def add(
        self,
        kind: str,
        index: int | None,
        seq: int | None,
        expected: object,
        actual: object,
        message: str,
    ) -> None:
        if len(self.report.findings) >= self.limit:
            self.report.findings_dropped += 1
            return
        self.report.findings.append(
            Finding(
                kind,
                index,
                seq,
                None if expected is None else str(expected),
                None if actual is None else str(actual),
                message,
            )
        )


#: entries handed over one by one are checked in batches of this many
BATCH_SIZE = 1024
#: `verify_log` calls `progress` each time the log has grown by this many entries
PROGRESS_EVERY = 10_000


def verify_log(
    entries: Iterable[Entry | EntryBatch],
    checkpoints: Iterable[CheckpointLike],
    manifest: Manifest,
    *,
    origin: str | None = None,
    anchors: Sequence[CheckpointLike] = (),
    saved: SavedState | None = None,
    max_findings: int = 100,
    progress: Callable[[int], None] | None = None,
    fast_path: bool = True,
) -> Report:
    """Verify a whole log in one streaming pass; see the module docstring.

    `entries` yields entries one by one or in batches (`EntryBatch`, e.g. from a bundle
    reader), in stored order. With `fast_path`, each batch is first checked in bulk
    (`crm_ledger.ledger.batch_check`); a batch that is not clean in every respect is
    checked entry by entry, so the report is the same either way.
    """
    report = Report(origin=origin)
    found = _Findings(report, max_findings)
    checkpoint_list = _ordered(list(checkpoints), "checkpoint", found)
    anchor_list = _ordered(list(anchors), "anchor", found)
    if report.origin is None:
        report.origin = _origin_of(checkpoint_list) or (saved.origin if saved else None)
    state = _Pass(report, found, manifest, checkpoint_list, anchor_list, saved, progress)
    pending: list[Entry] = []
    for item in entries:
        if isinstance(item, EntryBatch):
            if pending:
                state.batch(EntryBatch.of(pending), fast_path)
                pending = []
            state.batch(item, fast_path)
        elif not fast_path:
            state.entry(item)
        else:
            pending.append(item)
            if len(pending) >= BATCH_SIZE:
                state.batch(EntryBatch.of(pending), fast_path)
                pending = []
    if pending:
        state.batch(EntryBatch.of(pending), fast_path)

    accumulator = state.accumulator
    n = accumulator.size
    report.count = n
    report.root = accumulator.root().hex()
    report.head = state.prev_hex if n else None
    if progress is not None:
        progress(n)
    _end_checks(report, found, checkpoint_list, anchor_list, saved, state.saved_root, n)
    report.key_names = sorted(state.keys_used)
    latest_size = report.latest_checkpoint["size"] if report.latest_checkpoint else 0
    report.unsealed_tail = max(0, n - latest_size)
    return report


class _Pass:
    """The state of one verification pass and its per-entry and per-batch steps."""

    def __init__(
        self,
        report: Report,
        found: _Findings,
        manifest: Manifest,
        checkpoints: list[CheckpointLike],
        anchors: list[CheckpointLike],
        saved: SavedState | None,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.report, self.found, self.manifest = report, found, manifest
        self.saved, self.progress = saved, progress
        self.saved_root: bytes | None = None
        self.cp_iter, self.an_iter = iter(checkpoints), iter(anchors)
        self.next_cp, self.next_an = next(self.cp_iter, None), next(self.an_iter, None)
        self.accumulator = RootAccumulator()
        self.prev_hex, self.last_seq, self.last_time = GENESIS_PREV, -1, ""
        self.keys_used: set[str] = set()
        self.expected_index = 0

    def batch(self, batch: EntryBatch, fast_path: bool) -> None:
        """Check a batch in bulk when it is clean (the C checks first, when built: on
        the bundle lines, then on the columns; then the Python bulk check), else entry
        by entry."""
        if fast_path and (self._lines_in_c(batch) or self._columns_in_bulk(batch)):
            return
        for entry in batch.entries():
            self.entry(entry)

    def _lines_in_c(self, batch: EntryBatch) -> bool:
        """Whether the C check confirmed the batch's bundle lines (and took them in)."""
        checks = native.NATIVE
        if batch.lines is None or checks is None:
            return False
        checked = checks.check_lines(batch.lines, *self._tip().values(), batch.watch)
        if checked is None:
            return False
        leaves, first_seq, last_seq, last_time, origin, prev_hex, watched = checked
        self._clean(leaves, first_seq, self._after(leaves, prev_hex, last_seq, last_time, origin))
        batch.watched = watched
        return True

    def _columns_in_bulk(self, batch: EntryBatch) -> bool:
        """Whether the batch's columns are clean (in C when built, else or then by
        `check_batch`), and were taken in."""
        columns = batch.columns
        if columns is None:
            return False
        checks = native.NATIVE
        if checks is not None:
            checked = checks.check_columns(columns.as_tuples(), *self._tip().values())
            if checked is not None:
                leaves, last_seq, last_time, origin, prev_hex = checked
                after = self._after(leaves, prev_hex, last_seq, last_time, origin)
                self._clean(leaves, columns.seq[0], after)
                return True
        clean = check_batch(columns, self._tip())
        if clean is None:
            return False
        self._clean(clean.leaves, columns.seq[0], clean.tip)
        return True

    def _tip(self) -> Tip:
        """What this pass knows after the entries it has checked."""
        return Tip(
            self.expected_index, self.prev_hex, self.last_seq, self.last_time, self.report.origin
        )

    def _after(
        self, leaves: Sequence[bytes], prev_hex: str, last_seq: int, last_time: str, origin: str
    ) -> Tip:
        """The tip after `leaves` were found clean (values from a C check)."""
        return Tip(self.expected_index + len(leaves), prev_hex, last_seq, last_time, origin)

    def _clean(self, leaves: Sequence[bytes], first_seq: int, tip: Tip) -> None:
        """Take in a batch found clean in bulk: its leaves and the tip after it."""
        report = self.report
        self.expected_index, self.prev_hex = tip.expected_index, tip.prev_hex
        self.last_seq, self.last_time = tip.last_seq, tip.last_time
        report.origin = tip.origin
        if report.first_seq is None:
            report.first_seq = first_seq
        report.last_seq = tip.last_seq
        self._extend(leaves)

    def _extend(self, leaves: Sequence[bytes]) -> None:
        """Append clean leaves, stopping at every size where something is due."""
        accumulator = self.accumulator
        done, end = 0, len(leaves)
        while done < end:
            size = accumulator.size
            stop = min(end, done + self._due_after(size) - size)
            accumulator.extend(leaves[done:stop])
            done = stop
            self._reached(accumulator.size)

    def _due_after(self, size: int) -> int:
        """The smallest size above `size` at which a progress call or a check is due.

        Checkpoints and anchors at or below `size` can no longer be checked (the log has
        passed them, or they are of size 0 or less): they are skipped here, as the next
        `_reached` would skip them.
        """
        while self.next_cp is not None and self.next_cp.size <= size:
            self.next_cp = next(self.cp_iter, None)
        while self.next_an is not None and self.next_an.size <= size:
            self.next_an = next(self.an_iter, None)
        due = [
            item.size
            for item in (self.next_cp, self.next_an)
            if item is not None and item.size > size
        ]
        if self.saved is not None and self.saved.size > size:
            due.append(self.saved.size)
        if self.progress is not None:
            due.append((size // PROGRESS_EVERY + 1) * PROGRESS_EVERY)
        return min(due, default=size + 2**62)

    def entry(self, entry: Entry) -> None:
        """Check one entry (the exact per-entry path that places every finding)."""
        report, found = self.report, self.found
        index, seq = entry.leaf_index, entry.seq
        if not entry.leaf_hash:
            if entry.canonical:
                found.add(
                    "malformed",
                    index,
                    None,
                    "a readable entry",
                    entry.canonical[:60].decode("utf-8", "replace"),
                    "unreadable entry (truncated, garbled or trailing garbage)",
                )
            else:
                found.add(
                    "malformed",
                    index,
                    seq,
                    "a ledger entry for every event",
                    "none",
                    "an event is stored without a ledger entry (inserted outside the ledger)",
                )
            return
        if index != self.expected_index:
            found.add(
                "sequence_disorder",
                self.expected_index,
                seq,
                self.expected_index,
                index,
                "leaf indexes must be contiguous from 0 (an entry is missing or extra)",
            )
        self.expected_index = index + 1
        computed = leaf_hash(entry.canonical)
        if computed != entry.leaf_hash:
            found.add(
                "leaf_mismatch",
                index,
                seq,
                computed.hex(),
                entry.leaf_hash.hex(),
                "stored leaf hash differs from SHA-256(0x00 || envelope bytes)",
            )
        envelope = _envelope(entry, found)
        if envelope is not None:
            if report.origin is None:
                report.origin = envelope["log"]
            _check_entry(
                entry, envelope, found, self.prev_hex, self.last_seq, self.last_time, report.origin
            )
            self.last_seq = (
                max(self.last_seq, envelope["seq"])
                if isinstance(envelope["seq"], int)
                else self.last_seq
            )
            self.last_time = max(self.last_time, str(envelope["recorded_at"]))
        if report.first_seq is None:
            report.first_seq = seq
        report.last_seq = seq
        self.prev_hex = computed.hex()
        self.accumulator.append(computed)
        self._reached(self.accumulator.size)

    def _reached(self, size: int) -> None:
        """What is due once the log has `size` entries: progress, checkpoints, anchors."""
        if self.progress is not None and size % PROGRESS_EVERY == 0:
            self.progress(size)
        report, found = self.report, self.found
        while self.next_cp is not None and self.next_cp.size <= size:
            if self.next_cp.size == size:
                _check_checkpoint(
                    self.next_cp,
                    self.accumulator.root(),
                    report,
                    self.manifest,
                    found,
                    self.keys_used,
                )
                report.latest_checkpoint = _describe(self.next_cp)
            self.next_cp = next(self.cp_iter, None)
        while self.next_an is not None and self.next_an.size <= size:
            if self.next_an.size == size:
                _check_anchor(self.next_an, self.accumulator.root(), report, found)
            self.next_an = next(self.an_iter, None)
        if self.saved is not None and self.saved.size == size:
            self.saved_root = self.accumulator.root()


def _ordered(items: list[CheckpointLike], what: str, found: _Findings) -> list[CheckpointLike]:
    result: list[CheckpointLike] = []
    for item in items:
        if result and item.size <= result[-1].size:
            if item.size == result[-1].size and item.root_hash == result[-1].root_hash:
                continue
            found.add(
                "checkpoint_inconsistent",
                None,
                None,
                f"size > {result[-1].size}",
                item.size,
                f"{what}s must have strictly increasing sizes, one root each",
            )
            continue
        result.append(item)
    return result


def _origin_of(checkpoints: list[CheckpointLike]) -> str | None:
    for checkpoint in checkpoints:
        try:
            return parse_checkpoint_body(parse_note(checkpoint.note)[0]).origin
        except NoteError:
            continue
    return None


def _envelope(entry: Entry, found: _Findings) -> dict[str, Any] | None:
    try:
        envelope = orjson.loads(entry.canonical)
    except orjson.JSONDecodeError:
        found.add(
            "malformed",
            entry.leaf_index,
            entry.seq,
            "an RFC 8785 JSON envelope",
            base64.b64encode(entry.canonical[:48]).decode(),
            "envelope bytes are not JSON",
        )
        return None
    if (
        not isinstance(envelope, dict)
        or envelope.keys() != ENVELOPE_KEYS
        or envelope.get("v") != ENVELOPE_VERSION
    ):
        found.add(
            "malformed",
            entry.leaf_index,
            entry.seq,
            sorted(ENVELOPE_KEYS),
            sorted(envelope) if isinstance(envelope, dict) else type(envelope).__name__,
            "envelope is not of the v1 shape",
        )
        return None
    try:
        canonical = canonical_envelope(envelope)
    except CanonicalizationError as exc:
        found.add("malformed", entry.leaf_index, entry.seq, None, None, str(exc))
        return None
    if canonical != entry.canonical:
        found.add(
            "malformed",
            entry.leaf_index,
            entry.seq,
            canonical.decode("utf-8", "replace"),
            entry.canonical.decode("utf-8", "replace"),
            "envelope bytes are not canonical RFC 8785",
        )
        return None
    return envelope


def _check_entry(
    entry: Entry,
    envelope: dict[str, Any],
    found: _Findings,
    prev_hex: str,
    last_seq: int,
    last_time: str,
    origin: str | None,
) -> None:
    index, seq = entry.leaf_index, entry.seq
    state_hash = sha256(entry.state).hexdigest()
    if state_hash != envelope["state_sha256"]:
        found.add(
            "state_mismatch",
            index,
            seq,
            envelope["state_sha256"],
            state_hash,
            "stored event bytes differ from what the envelope committed to",
        )
    row = (seq, entry.originator_id, entry.originator_version, entry.topic)
    named = (
        envelope["seq"],
        envelope["aggregate_id"],
        envelope["aggregate_version"],
        envelope["topic"],
    )
    if row != named:
        found.add(
            "envelope_mismatch",
            index,
            seq,
            named,
            row,
            "event row (seq, aggregate id, version, topic) differs from its envelope",
        )
    if envelope["prev"] != prev_hex:
        found.add(
            "chain_break",
            index,
            seq,
            prev_hex,
            envelope["prev"],
            "prev is not the previous entry's leaf hash",
        )
    if isinstance(envelope["seq"], int) and envelope["seq"] <= last_seq:
        found.add(
            "sequence_disorder",
            index,
            seq,
            f"> {last_seq}",
            envelope["seq"],
            "seq must strictly increase",
        )
    if str(envelope["recorded_at"]) < last_time:
        found.add(
            "time_disorder",
            index,
            seq,
            f">= {last_time}",
            envelope["recorded_at"],
            "recorded_at went backwards (back-dated entry)",
        )
    if origin is not None and envelope["log"] != origin:
        found.add("wrong_log", index, seq, origin, envelope["log"], "entry of another log")


def _describe(checkpoint: CheckpointLike) -> dict[str, Any]:
    return {
        "size": checkpoint.size,
        "root_hash": checkpoint.root_hash.hex(),
        "created_at": checkpoint.created_at,
    }


def _check_checkpoint(
    checkpoint: CheckpointLike,
    root: bytes,
    report: Report,
    manifest: Manifest,
    found: _Findings,
    keys_used: set[str],
) -> None:
    at = checkpoint.size
    try:
        body, signatures = parse_note(checkpoint.note)
        parsed = parse_checkpoint_body(body)
    except NoteError as exc:
        found.add(
            "unsigned_checkpoint",
            at - 1,
            None,
            "a signed checkpoint note",
            None,
            f"checkpoint at size {at}: {exc}",
        )
        return
    if parsed.size != at or parsed.root != checkpoint.root_hash:
        found.add(
            "checkpoint_inconsistent",
            at - 1,
            None,
            f"{at} {checkpoint.root_hash.hex()}",
            f"{parsed.size} {parsed.root.hex()}",
            "checkpoint row and its signed note disagree",
        )
    if report.origin is not None and parsed.origin != report.origin:
        found.add(
            "wrong_log",
            at - 1,
            None,
            report.origin,
            parsed.origin,
            f"checkpoint at size {at} is for another log",
        )
    outcome = "unknown_key"
    for signature in signatures:
        key = manifest.find(signature.name, signature.key_id)
        if key is None:
            continue
        if not verify_note_signature(body, signature, key.public_key):
            outcome = "bad_signature"
            continue
        if not key.valid_at(checkpoint.created_at):
            if outcome != "bad_signature":
                outcome = "key_not_valid"
            continue
        outcome = "ok"
        keys_used.add(key.name)
        break
    if outcome != "ok":
        names = ", ".join(s.name for s in signatures)
        found.add(
            outcome,
            at - 1,
            None,
            f"a valid signature by a key valid at {checkpoint.created_at}",
            names,
            f"checkpoint at size {at} has no acceptable signature ({outcome})",
        )
    else:
        report.checkpoints_verified += 1
    if parsed.root != root:
        found.add(
            "checkpoint_root_mismatch",
            at - 1,
            None,
            parsed.root.hex(),
            root.hex(),
            f"the log's root at size {at} differs from the signed checkpoint",
        )


def _check_anchor(anchor: CheckpointLike, root: bytes, report: Report, found: _Findings) -> None:
    report.anchors_checked += 1
    if anchor.root_hash != root:
        found.add(
            "fork",
            anchor.size - 1,
            None,
            anchor.root_hash.hex(),
            root.hex(),
            f"the log's root at size {anchor.size} differs from the anchored checkpoint",
        )


def _end_checks(
    report: Report,
    found: _Findings,
    checkpoints: list[CheckpointLike],
    anchors: list[CheckpointLike],
    saved: SavedState | None,
    saved_root: bytes | None,
    n: int,
) -> None:
    beyond = [c.size for c in checkpoints if c.size > n]
    if beyond:
        found.add(
            "truncated",
            n,
            None,
            f"at least {max(beyond)} entries",
            n,
            "the log is shorter than a signed checkpoint",
        )
    anchored = max((a.size for a in anchors), default=0)
    if anchored > n:
        found.add(
            "truncated",
            n,
            None,
            f"at least {anchored} entries",
            n,
            "the log is shorter than an anchored checkpoint",
        )
    if saved is not None:
        if saved.origin != report.origin:
            found.add(
                "wrong_log",
                None,
                None,
                saved.origin,
                report.origin,
                "the saved state is of another log",
            )
        if saved.size > n:
            found.add(
                "truncated",
                n,
                None,
                f"at least {saved.size} entries",
                n,
                "the log is shorter than when you last verified it",
            )
        elif saved_root is not None and saved_root != saved.root_hash and saved.size > 0:
            found.add(
                "fork",
                saved.size - 1,
                None,
                saved.root_hash.hex(),
                saved_root.hex(),
                "the log's root at your saved size differs from what you verified",
            )
    latest = max((c.size for c in checkpoints), default=0)
    highest_known = max(anchored, saved.size if saved else 0)
    if latest < highest_known <= n:
        found.add(
            "rollback",
            latest,
            None,
            f"a checkpoint of size >= {highest_known}",
            latest,
            "the latest checkpoint is behind the anchors or your saved state",
        )
