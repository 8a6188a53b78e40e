"""The ``crm-ledger verify`` use case: gather inputs, run the pure verifier, report.

Inputs come from an export bundle or a live database, a public key manifest, optional
anchors and an optional saved state. The saved state is rewritten only on full success.
The same pass over the entries also re-checks every issuer's VERI*FACTU chain
(:mod:`crm_ledger.verifactu_chains`); a break is a ``verifactu_chain`` finding (exit 1).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from crm_ledger.ledger.entry_batch import EntryBatch
from crm_ledger.ledger.envelope import Entry, format_timestamp
from crm_ledger.ledger.errors import LedgerError
from crm_ledger.ledger.manifest import Manifest
from crm_ledger.ledger.verify import (
    Finding,
    Report,
    SavedState,
    dump_saved_state,
    parse_anchor_lines,
    parse_saved_state,
    verify_log,
)
from crm_ledger.settings import load_settings
from crm_ledger.storage import bundle as bundles
from crm_ledger.storage.checkpoints import ANCHOR_FILE
from crm_ledger.storage.keystore import MANIFEST_NAME
from crm_ledger.verifactu_chains import INVOICE_TOPICS, RECORD_TOPIC, ChainCheck

_CHAIN_TOPICS = INVOICE_TOPICS | {RECORD_TOPIC}
_CHAIN_TOPIC_BYTES = tuple(topic.encode() for topic in sorted(_CHAIN_TOPICS))


class VerifyUsageError(Exception):
    """Inputs missing or unreadable (exit 5)."""


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise VerifyUsageError(f"cannot read {what} {path}: {exc.strerror}") from None


def _manifest(keys_path: str | None, fallback: Path) -> Manifest:
    path = Path(keys_path) if keys_path else fallback
    try:
        return Manifest.load(_read(path, "key manifest"))
    except LedgerError as exc:
        raise VerifyUsageError(f"{path}: {exc}") from None


def run_verification(
    *,
    bundle: str | None,
    database: str | None,
    keys_path: str | None,
    anchors: str | None,
    state_path: str | None,
    data_dir: str | None,
    as_json: bool,
    progress: Callable[[int], None] | None,
) -> tuple[Report, str]:
    """Verify and return the report and its rendering."""
    anchor_records: list[Any] = []
    pre_findings: list[Finding] = []
    if anchors:
        path = Path(anchors)
        path = path / ANCHOR_FILE if path.is_dir() else path
        anchor_records, pre_findings = parse_anchor_lines(_read(path, "anchor file"))
    saved: SavedState | None = None
    if state_path and Path(state_path).exists():
        try:
            saved = parse_saved_state(_read(Path(state_path), "saved state"))
        except LedgerError as exc:
            raise VerifyUsageError(str(exc)) from None
    declared: int | None = None
    chains = ChainCheck()
    if bundle is not None:
        root = Path(bundle)
        try:
            index = bundles.read_index(root)
        except bundles.BundleError as exc:
            raise VerifyUsageError(str(exc)) from None
        manifest = _manifest(keys_path, root / bundles.KEYS)
        origin = str(index["origin"])
        declared = int(index["entries"])
        try:
            checkpoints = list(bundles.read_checkpoints(root / bundles.CHECKPOINTS))
        except (bundles.BundleError, OSError) as exc:
            raise VerifyUsageError(str(exc)) from None
        batches = bundles.read_batches(root / bundles.ENTRIES)
        report = verify_log(
            observe_batches(chains, batches),
            checkpoints,
            manifest,
            origin=origin,
            anchors=anchor_records,
            saved=saved,
            progress=progress,
        )
    else:
        from crm_ledger.application import CrmApplication

        settings = load_settings(database_url=database)
        base = Path(data_dir) if data_dir else settings.data_dir
        manifest = _manifest(keys_path, base / "keys" / MANIFEST_NAME)
        crm = CrmApplication(settings)
        store = crm.ledger_store()
        with crm.db.transaction(write=False) as tx:
            checkpoints = store.checkpoints(tx, limit=10**9)
        report = verify_log(
            chains.observe(store.entries()),
            checkpoints,
            manifest,
            origin=crm.origin,
            anchors=anchor_records,
            saved=saved,
            progress=progress,
        )
        if crm.db.dialect == "sqlite":
            report.findings = [_rebuilt(finding) for finding in report.findings]
        crm.close()
    if declared is not None and declared != report.count and not report.findings:
        report.findings.append(
            Finding(
                "truncated" if report.count < declared else "malformed",
                report.count,
                None,
                str(declared),
                str(report.count),
                "bundle.json declares another number of entries",
            )
        )
    report.findings.extend(chains.finish())
    report.findings[:0] = pre_findings
    if state_path and not report.findings and report.origin and report.root:
        new_state = SavedState(report.origin, report.count, bytes.fromhex(report.root))
        Path(state_path).write_bytes(
            dump_saved_state(new_state, format_timestamp(datetime.now(UTC)))
        )
    return report, render(report, as_json, chains=(len(chains.chains), chains.records))


def observe_batches(chains: ChainCheck, batches: Iterable[EntryBatch]) -> Iterator[EntryBatch]:
    """Yield every batch unchanged, letting `chains` observe the entries it keeps.

    The same as ``chains.observe`` over the batches' entries, without making an `Entry`
    for every line: only the entries whose topic the VERI*FACTU pass looks at are made.
    A batch is observed after the verifier has checked it; when its C check confirmed
    the lines, it also found those entries (`EntryBatch.watched`), and only they are read.
    """
    for batch in batches:
        batch.watch = _CHAIN_TOPIC_BYTES
        yield batch
        if batch.watched is not None and batch.lines is not None:
            kept: Iterable[Entry] = bundles.entries_at(batch.lines, batch.watched)
        else:
            columns = batch.columns
            if columns is None:
                kept = batch.entries()
            elif _CHAIN_TOPICS.isdisjoint(columns.topic):
                continue
            else:
                kept = (
                    columns.entry(position)
                    for position, topic in enumerate(columns.topic)
                    if topic in _CHAIN_TOPICS
                )
        deque(chains.observe(kept), maxlen=0)


#: what a leaf mismatch means where the envelope is rebuilt from the event row (SQLite)
REBUILT_LEAF_MISMATCH = (
    "the event row differs from what was chained: its stored bytes, topic, aggregate id"
    " or version, its actor or recorded_at, or its stored leaf hash was changed (SQLite"
    " rebuilds each envelope from the row, so the changed column cannot be named)"
)


def _rebuilt(finding: Finding) -> Finding:
    """`finding`, explained for a SQLite database, whose envelopes are rebuilt."""
    if finding.kind != "leaf_mismatch":
        return finding
    return replace(finding, message=REBUILT_LEAF_MISMATCH)


def render(report: Report, as_json: bool, *, chains: tuple[int, int] = (0, 0)) -> str:
    """The report as JSON or as text for people (`chains`: VERI*FACTU issuers, records)."""
    if as_json:
        data = {**report.as_dict(), "verifactu": {"issuers": chains[0], "records": chains[1]}}
        return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    lines = [
        f"origin:            {report.origin}",
        f"entries:           {report.count} (seq {report.first_seq}..{report.last_seq})",
        f"head leaf:         {report.head}",
        f"root:              {report.root}",
        f"latest checkpoint: {report.latest_checkpoint}",
        f"unsealed tail:     {report.unsealed_tail} entries after the latest checkpoint",
        f"checkpoints:       {report.checkpoints_verified} verified, "
        f"signed by {', '.join(report.key_names) or '-'}",
        f"anchors checked:   {report.anchors_checked}",
        f"VERI*FACTU chains: {chains[0]} issuers, {chains[1]} records",
    ]
    if not report.findings:
        lines.append("result:            OK")
    else:
        lines.append(
            f"result:            FAILED (exit {report.exit_code}), "
            f"{len(report.findings)} finding(s)"
        )
        for f in report.findings[:20]:
            lines.append(f"  {f.kind} at leaf {f.leaf_index} seq {f.seq}: {f.message}")
            if f.expected is not None or f.actual is not None:
                lines.append(f"    expected {f.expected}\n    actual   {f.actual}")
    return "\n".join(lines)
