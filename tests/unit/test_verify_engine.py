"""The streaming verifier (crm_ledger.ledger.verify.verify_log) against a REAL log that is
built, then tampered with for real: every case asserts the exact first finding."""

from __future__ import annotations

import base64
from hashlib import sha256

import pytest

from crm_ledger.ledger.envelope import Entry
from crm_ledger.ledger.merkle import leaf_hash
from crm_ledger.ledger.note import sign_note
from crm_ledger.ledger.verify import (
    KINDS,
    AnchorRecord,
    Report,
    SavedState,
    parse_anchor_lines,
    verify_log,
)
from tests.unit.ledger_builder import (
    ORIGIN,
    SEQ_STEP,
    Log,
    Rotation,
    anchor_lines,
    build_log,
    entry_time,
    flip_byte,
    make_entry,
    make_rotation,
    make_signer,
    replace_fields,
)

N, EVERY, OVERLAP = 60, 10, 30
FIRST, MIDDLE, LAST = 0, 27, N - 1
POSITIONS = [
    pytest.param(FIRST, id="first"),
    pytest.param(MIDDLE, id="middle"),
    pytest.param(LAST, id="last"),
]


@pytest.fixture(scope="module")
def rotation() -> Rotation:
    """Old key signs checkpoints 10, 20; both sign 30; the new key signs 40, 50, 60."""
    return make_rotation(OVERLAP)


@pytest.fixture
def log(rotation: Rotation) -> Log:
    """A fresh, valid 60-entry log with a checkpoint every 10 entries."""
    return build_log(N, EVERY, rotation=rotation)


def run(
    log: Log,
    entries: list[Entry] | None = None,
    checkpoints: list[AnchorRecord] | None = None,
    **kwargs: object,
) -> Report:
    return verify_log(
        log.entries if entries is None else entries,
        log.checkpoints if checkpoints is None else checkpoints,
        log.manifest,
        **kwargs,  # type: ignore[arg-type]
    )


def first(report: Report) -> tuple[str, int | None, int | None, int]:
    """(kind, leaf_index, seq, report exit code) of the first finding."""
    assert report.findings, "expected at least one finding"
    finding = report.findings[0]
    return finding.kind, finding.leaf_index, finding.seq, report.exit_code


def seq_of(index: int) -> int:
    return (index + 1) * SEQ_STEP


def actor_offset(canonical: bytes) -> int:
    """Offset of the first character of the actor value (changing it keeps valid JCS)."""
    return canonical.index(b'"actor":"') + len(b'"actor":"')


# --------------------------------------------------------------------------- untampered


def test_untampered_log_with_key_rotation(log: Log, rotation: Rotation) -> None:
    """A valid log, its keys rotated with an overlap checkpoint, verifies with exit 0."""
    report = run(log)
    assert [] == report.findings
    assert 0 == report.exit_code
    assert ORIGIN == report.origin
    assert N == report.count
    assert (seq_of(0), seq_of(N - 1)) == (report.first_seq, report.last_seq)
    assert log.root().hex() == report.root
    assert log.entries[-1].leaf_hash.hex() == report.head
    assert {
        "size": N,
        "root_hash": log.root().hex(),
        "created_at": log.checkpoint(N).created_at,
    } == report.latest_checkpoint
    assert 0 == report.unsealed_tail
    assert N // EVERY == report.checkpoints_verified
    assert sorted([rotation.old.name, rotation.new.name]) == report.key_names
    assert 2 == log.checkpoint(OVERLAP).note.count("\n\u2014 ")


def test_unsealed_tail(rotation: Rotation) -> None:
    """Entries after the latest checkpoint are reported as the unsealed tail."""
    log = build_log(N + 3, EVERY, rotation=rotation, checkpoint_at_end=False)
    report = run(log)
    assert [] == report.findings
    assert (N + 3, 3, N) == (report.count, report.unsealed_tail, report.latest_checkpoint["size"])


def test_untampered_with_anchors_and_saved_state(log: Log) -> None:
    """Matching anchors and a matching saved state give exit 0 and are counted."""
    anchors = [log.checkpoint(20), log.checkpoint(50)]
    report = run(log, anchors=anchors, saved=log.saved(45))
    assert ([], 0, 2) == (report.findings, report.exit_code, report.anchors_checked)


def test_progress_callback(log: Log) -> None:
    """progress is called with the final count at the end."""
    seen: list[int] = []
    run(log, progress=seen.append)
    assert [N] == seen


def test_kinds_table() -> None:
    """Every finding kind maps to one of the documented exit codes."""
    assert {1, 2, 3, 4} == set(KINDS.values())


# --------------------------------------------------------------------------- entry tampering


@pytest.mark.parametrize("index", POSITIONS)
def test_state_byte_changed(log: Log, index: int) -> None:
    """One changed byte in the stored event bytes is a state_mismatch there."""
    entry = log.entries[index]
    log.entries[index] = replace_fields(entry, state=flip_byte(entry.state, 5))
    report = run(log)
    assert ("state_mismatch", index, seq_of(index), 1) == first(report)
    assert 1 == len(report.findings)


@pytest.mark.parametrize("index", POSITIONS)
def test_envelope_byte_changed(log: Log, index: int) -> None:
    """One changed envelope byte (leaf hash not recomputed) is a leaf_mismatch there."""
    entry = log.entries[index]
    canonical = flip_byte(entry.canonical, actor_offset(entry.canonical))
    log.entries[index] = replace_fields(entry, canonical=canonical)
    assert ("leaf_mismatch", index, seq_of(index), 1) == first(run(log))


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        pytest.param(FIRST, ("chain_break", FIRST + 1, seq_of(FIRST + 1), 1), id="first"),
        pytest.param(MIDDLE, ("chain_break", MIDDLE + 1, seq_of(MIDDLE + 1), 1), id="middle"),
        pytest.param(LAST, ("checkpoint_root_mismatch", LAST, None, 1), id="last"),
    ],
)
def test_envelope_byte_changed_and_resealed(log: Log, index: int, expected: tuple) -> None:
    """A changed envelope with its leaf re-sealed breaks the chain at the next entry
    (or, for the last entry, the final checkpoint's root)."""
    entry = log.entries[index]
    canonical = flip_byte(entry.canonical, actor_offset(entry.canonical))
    log.entries[index] = replace_fields(entry, canonical=canonical, leaf_hash=leaf_hash(canonical))
    assert expected == first(run(log))


def test_non_canonical_envelope_is_malformed(log: Log) -> None:
    """Re-serialised (non-JCS) envelope bytes, leaf re-sealed, are malformed."""
    entry = log.entries[MIDDLE]
    canonical = entry.canonical.replace(b'","', b'", "', 1)
    log.entries[MIDDLE] = replace_fields(entry, canonical=canonical, leaf_hash=leaf_hash(canonical))
    assert ("malformed", MIDDLE, seq_of(MIDDLE), 1) == first(run(log))


def test_deleted_middle_entry(log: Log) -> None:
    """A deleted entry leaves a gap in leaf indexes: sequence_disorder at the gap."""
    entries = log.entries[:MIDDLE] + log.entries[MIDDLE + 1 :]
    assert ("sequence_disorder", MIDDLE, seq_of(MIDDLE + 1), 1) == first(run(log, entries))


def test_swapped_rows(log: Log) -> None:
    """Two entries stored in swapped order: sequence_disorder comes first."""
    entries = list(log.entries)
    entries[MIDDLE], entries[MIDDLE + 1] = entries[MIDDLE + 1], entries[MIDDLE]
    assert ("sequence_disorder", MIDDLE, seq_of(MIDDLE + 1), 1) == first(run(log, entries))


def test_swapped_contents_renumbered(log: Log) -> None:
    """Swapped entries with their leaf indexes rewritten: chain_break at the first one."""
    entries = list(log.entries)
    a, b = entries[MIDDLE], entries[MIDDLE + 1]
    entries[MIDDLE] = replace_fields(b, leaf_index=MIDDLE)
    entries[MIDDLE + 1] = replace_fields(a, leaf_index=MIDDLE + 1)
    assert ("chain_break", MIDDLE, seq_of(MIDDLE + 1), 1) == first(run(log, entries))


def test_inserted_entry(log: Log) -> None:
    """A well-formed entry inserted after MIDDLE (later indexes shifted) breaks the chain
    at the entry after it."""
    _, inserted = make_entry(
        log,
        leaf_index=MIDDLE + 1,
        seq=seq_of(MIDDLE) + 5,
        prev=log.entries[MIDDLE].leaf_hash,
        recorded_at=entry_time(MIDDLE),
    )
    tail = [replace_fields(e, leaf_index=e.leaf_index + 1) for e in log.entries[MIDDLE + 1 :]]
    entries = [*log.entries[: MIDDLE + 1], inserted, *tail]
    assert ("chain_break", MIDDLE + 2, seq_of(MIDDLE + 1), 1) == first(run(log, entries))


def test_inserted_entry_not_renumbered(log: Log) -> None:
    """An inserted entry that reuses a leaf index is a sequence_disorder after it."""
    _, inserted = make_entry(
        log,
        leaf_index=MIDDLE + 1,
        seq=seq_of(MIDDLE) + 5,
        prev=log.entries[MIDDLE].leaf_hash,
        recorded_at=entry_time(MIDDLE),
    )
    entries = [*log.entries[: MIDDLE + 1], inserted, *log.entries[MIDDLE + 1 :]]
    assert ("sequence_disorder", MIDDLE + 2, seq_of(MIDDLE + 1), 1) == first(run(log, entries))


def test_event_without_ledger_entry(log: Log) -> None:
    """An event row with no ledger row (inserted outside the ledger) is malformed."""
    orphan = Entry(MIDDLE + 1, seq_of(MIDDLE) + 5, b"", b"", "x", 1, "t", b"state")
    entries = [*log.entries[: MIDDLE + 1], orphan, *log.entries[MIDDLE + 1 :]]
    report = run(log, entries)
    assert ("malformed", MIDDLE + 1, seq_of(MIDDLE) + 5, 1) == first(report)
    assert 1 == len(report.findings)


def test_backdated_entry_resealed_and_rechained(log: Log) -> None:
    """A back-dated recorded_at, re-sealed, re-chained and re-signed: time_disorder."""
    log.envelopes[MIDDLE]["recorded_at"] = entry_time(MIDDLE - 7)
    log.rechain(MIDDLE)
    log.resign()
    report = run(log)
    assert ("time_disorder", MIDDLE, seq_of(MIDDLE), 1) == first(report)
    assert 1 == len(report.findings)


def test_entry_of_another_log(log: Log) -> None:
    """An entry whose envelope names another log (chain and checkpoints redone): wrong_log."""
    log.envelopes[MIDDLE]["log"] = "other.example/log"
    log.rechain(MIDDLE)
    log.resign()
    report = run(log)
    assert ("wrong_log", MIDDLE, seq_of(MIDDLE), 1) == first(report)
    assert 1 == len(report.findings)


def test_envelope_names_other_event_row(log: Log) -> None:
    """Event row seq differs from the seq its envelope names: envelope_mismatch."""
    log.entries[MIDDLE] = replace_fields(log.entries[MIDDLE], seq=seq_of(MIDDLE) + 1)
    assert ("envelope_mismatch", MIDDLE, seq_of(MIDDLE) + 1, 1) == first(run(log))


# --------------------------------------------------------------------------- truncation


def test_deleted_tail_vs_checkpoint(log: Log) -> None:
    """The log is shorter than a signed checkpoint: truncated (4)."""
    report = run(log, log.entries[:45])
    assert ("truncated", 45, None, 4) == first(report)


def test_deleted_tail_and_checkpoints_vs_anchor(log: Log) -> None:
    """Tail and its checkpoints deleted, an anchor remembers size 50: truncated (4)."""
    checkpoints = [cp for cp in log.checkpoints if cp.size <= 45]
    report = run(log, log.entries[:45], checkpoints, anchors=[log.checkpoint(50)])
    assert ("truncated", 45, None, 4) == first(report)
    assert 1 == len(report.findings)


def test_deleted_tail_and_checkpoints_vs_saved_state(log: Log) -> None:
    """Tail and its checkpoints deleted, the auditor saw size 60 last time: truncated (4)."""
    checkpoints = [cp for cp in log.checkpoints if cp.size <= 45]
    report = run(log, log.entries[:45], checkpoints, saved=log.saved())
    assert ("truncated", 45, None, 4) == first(report)
    assert 1 == len(report.findings)


def test_rollback_vs_saved_state(log: Log) -> None:
    """The latest checkpoint (30) is behind the saved size (60) of a long-enough log."""
    checkpoints = [cp for cp in log.checkpoints if cp.size <= 30]
    report = run(log, checkpoints=checkpoints, saved=log.saved())
    assert ("rollback", 30, None, 4) == first(report)
    assert 1 == len(report.findings)


def test_rollback_vs_anchor(log: Log) -> None:
    """The latest checkpoint (30) is behind an anchored checkpoint (50)."""
    checkpoints = [cp for cp in log.checkpoints if cp.size <= 30]
    report = run(log, checkpoints=checkpoints, anchors=[log.checkpoint(50)])
    assert ("rollback", 30, None, 4) == first(report)


# --------------------------------------------------------------------------- rewrites


def _rewrite(log: Log, index: int) -> None:
    """Change the event bytes at `index` and redo everything a forger without the key can."""
    log.set_state(index, b"rewritten history")
    log.rechain(index)


def test_consistent_rewrite_with_edited_note_root(log: Log) -> None:
    """A re-chained rewrite whose checkpoint notes had their root line edited (no key):
    bad_signature at the first checkpoint after the rewrite."""
    _rewrite(log, MIDDLE)
    for cp in list(log.checkpoints):
        if cp.size > MIDDLE:
            new_root = log.root(cp.size)
            note = cp.note.replace(
                base64.b64encode(cp.root_hash).decode(), base64.b64encode(new_root).decode()
            )
            log.replace_checkpoint(replace_fields(cp, root_hash=new_root, note=note))
    report = run(log)
    assert ("bad_signature", OVERLAP - 1, None, 2) == first(report)
    assert {"bad_signature"} == {f.kind for f in report.findings}


def test_rewrite_resigned_by_key_holder_passes_alone(log: Log) -> None:
    """Without anchors or saved state, a key holder's consistent rewrite is undetectable."""
    _rewrite(log, MIDDLE)
    log.resign()
    assert 0 == run(log).exit_code


def test_rewrite_resigned_contradicts_anchor(log: Log) -> None:
    """A key holder's re-signed rewrite contradicts an anchored checkpoint: fork (3)."""
    anchor = log.checkpoint(40)
    _rewrite(log, MIDDLE)
    log.resign()
    report = run(log, anchors=[log.checkpoint(20), anchor])
    assert ("fork", 39, None, 3) == first(report)
    assert 1 == report.findings.__len__()


def test_rewrite_resigned_contradicts_saved_state(log: Log) -> None:
    """A key holder's re-signed rewrite contradicts the auditor's saved state: fork (3)."""
    saved = log.saved(50)
    _rewrite(log, MIDDLE)
    log.resign()
    report = run(log, saved=saved)
    assert ("fork", 49, None, 3) == first(report)
    assert 1 == len(report.findings)


# --------------------------------------------------------------------------- signatures


def test_checkpoint_signed_by_unknown_key(log: Log) -> None:
    """A checkpoint signed only by a key not in the manifest: unknown_key (2)."""
    log.replace_checkpoint(log.sign(20, [make_signer("rogue.example")]))
    assert ("unknown_key", 19, None, 2) == first(run(log))


def test_checkpoint_signed_by_impostor_with_listed_name(log: Log, rotation: Rotation) -> None:
    """Another key using the listed name has another key id: unknown_key (2)."""
    log.replace_checkpoint(log.sign(50, [make_signer(rotation.new.name)]))
    assert ("unknown_key", 49, None, 2) == first(run(log))


def test_checkpoint_signed_by_retired_key_after_valid_to(log: Log, rotation: Rotation) -> None:
    """The retired key signs a checkpoint made after its valid_to: key_not_valid (2)."""
    log.replace_checkpoint(log.sign(50, [rotation.old]))
    assert ("key_not_valid", 49, None, 2) == first(run(log))


def test_new_key_before_valid_from(log: Log, rotation: Rotation) -> None:
    """The new key signs a checkpoint made before its valid_from: key_not_valid (2)."""
    log.replace_checkpoint(log.sign(10, [rotation.new]))
    assert ("key_not_valid", 9, None, 2) == first(run(log))


def test_unsigned_checkpoint(log: Log) -> None:
    """A checkpoint whose note has no signature lines: unsigned_checkpoint (2)."""
    cp = log.checkpoint(20)
    log.replace_checkpoint(replace_fields(cp, note=cp.note.split("\n\n")[0] + "\n\n"))
    assert ("unsigned_checkpoint", 19, None, 2) == first(run(log))


# --------------------------------------------------------------------------- checkpoint files


def test_duplicate_checkpoint_size_with_other_root(log: Log) -> None:
    """Two checkpoints of the same size with different roots: checkpoint_inconsistent (3)."""
    cp = log.checkpoint(30)
    other = replace_fields(cp, root_hash=sha256(b"other").digest())
    checkpoints = (
        [c for c in log.checkpoints if c.size <= 30]
        + [other]
        + [c for c in log.checkpoints if c.size > 30]
    )
    report = run(log, checkpoints=checkpoints)
    assert ("checkpoint_inconsistent", None, None, 3) == first(report)


def test_duplicate_checkpoint_same_root_is_fine(log: Log) -> None:
    """The same checkpoint twice (e.g. replayed anchor line) is not a finding."""
    checkpoints = sorted([*log.checkpoints, log.checkpoint(30)], key=lambda c: c.size)
    assert [] == run(log, checkpoints=checkpoints).findings


def test_anchor_file_round_trip(log: Log) -> None:
    """Anchor lines written by format_anchor_line parse back and verify."""
    records, findings = parse_anchor_lines(anchor_lines(log.checkpoints[:3]))
    assert ([], log.checkpoints[:3]) == (findings, records)
    report = run(log, anchors=records)
    assert ([], 3) == (report.findings, report.anchors_checked)


def test_anchor_file_torn_last_line(log: Log) -> None:
    """A torn (half-written) last anchor line is a checkpoint_inconsistent finding."""
    data = anchor_lines(log.checkpoints[:4])
    torn = data[: len(data) - 40]
    records, findings = parse_anchor_lines(torn)
    assert log.checkpoints[:3] == records
    assert [("checkpoint_inconsistent", 3)] == [(f.kind, f.exit_code) for f in findings]


def test_anchor_file_missing_final_newline(log: Log) -> None:
    """A complete last line without its newline is still flagged as torn."""
    records, findings = parse_anchor_lines(anchor_lines(log.checkpoints[:2])[:-1])
    assert log.checkpoints[:2] == records
    assert ["checkpoint_inconsistent"] == [f.kind for f in findings]


# ------------------------------------------------------------- regression: unicode digits


def test_unsigned_garbage_checkpoint_does_not_crash_verifier(log: Log) -> None:
    """Anyone who can write a checkpoint row must not be able to crash the audit."""
    root = log.root(N)
    body = f"{ORIGIN}\n\u00b2\n{base64.b64encode(root).decode()}\n"
    garbage = AnchorRecord(N, root, sign_note(body, [("x", make_signer("x").private)]), "t")
    checkpoints = [c for c in log.checkpoints if c.size < N] + [garbage]
    report = run(log, checkpoints=checkpoints, origin=ORIGIN)
    assert "unsigned_checkpoint" == report.findings[0].kind


def test_saved_state_of_other_log(log: Log) -> None:
    """A saved state of another origin is wrong_log."""
    saved = SavedState("other.example/log", 10, log.root(10))
    assert ("wrong_log", None, None, 1) == first(run(log, saved=saved))
