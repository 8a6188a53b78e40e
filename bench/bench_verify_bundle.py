"""Verify an export bundle of N events (default 200,000) vs a bare SHA-256 chain.

The bundle is written in the real format (real envelopes, stored bytes, signed
checkpoints every 1,000 entries, key manifest) and verified by the same code path as
`crm-ledger verify BUNDLE`. The baseline, measured in the same run, is a bare
``hashlib`` SHA-256 chain over the same canonical envelope bytes, in memory.
Targets: >= 150,000 events/s and >= 0.3 of the baseline.

Also timed, to show what the ratio can reach at best through ``hashlib``: only the
SHA-256 work the format requires of a verifier per event (the stored bytes' hash, the
leaf hash and the Merkle tree's node hashes), each over the same bytes, with C-level
``map`` calls and nothing else (no reading, parsing or checking). The verifier passes
it because its C check (``crm_ledger.ledger._native``) calls OpenSSL's SHA-256 without
a Python object per hash; ``CRM_VERIFY_PYTHON_ONLY=1`` times the Python path instead.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from operator import methodcaller
from pathlib import Path

from crm_ledger.ledger import native
from crm_ledger.ledger.envelope import Entry, build_envelope, format_timestamp, seal
from crm_ledger.ledger.merkle import MerkleTree
from crm_ledger.ledger.note import checkpoint_body, sign_note
from crm_ledger.storage import bundle as bundles
from crm_ledger.storage.keystore import KeyStore
from crm_ledger.storage.ledger_store import CheckpointRow
from crm_ledger.verification import run_verification

ORIGIN = "crm-ledger.local/bench"
TOPIC = "crm_ledger.domain.contact:Contact.Registered"


def write_bundle(out: Path, n: int) -> tuple[list[bytes], list[bytes]]:
    """Write the bundle; return the canonical envelopes and the stored event bytes."""
    keys = KeyStore(out.parent / "keys")
    keys.ensure_key()
    signer = [(s.name, s.private_key) for s in keys.signers()]
    tree = MerkleTree()
    canonicals: list[bytes] = []
    states: list[bytes] = []
    prev = None
    out.mkdir()
    stamp = format_timestamp(datetime.now(UTC))
    with open(out / bundles.ENTRIES, "wb") as entries, open(out / bundles.CHECKPOINTS, "wb") as cps:
        for i in range(n):
            aggregate = str(uuid.uuid4())
            state = b'{"name":"Bench Person %d","emails":["p@example.com"],"actor":"x"}' % i
            envelope = build_envelope(
                log=ORIGIN,
                seq=i + 1,
                prev=prev,
                aggregate_id=aggregate,
                aggregate_version=1,
                topic=TOPIC,
                recorded_at=stamp,
                actor="apikey:bench",
                state=state,
            )
            canonical, leaf = seal(envelope)
            canonicals.append(canonical)
            states.append(state)
            entries.write(
                bundles.entry_line(Entry(i, i + 1, canonical, leaf, aggregate, 1, TOPIC, state))
            )
            tree.append(leaf)
            prev = leaf
            if (i + 1) % 1000 == 0 or i + 1 == n:
                root = tree.root()
                note = sign_note(checkpoint_body(ORIGIN, i + 1, root), signer)
                cps.write(bundles.checkpoint_line(CheckpointRow(i + 1, root, note, stamp)))
    (out / bundles.KEYS).write_bytes(keys.manifest_bytes())
    (out / bundles.INDEX).write_bytes(
        b'{"format": "%s", "origin": "%s", "entries": %d, "checkpoints": 0, "files": {}}'
        % (bundles.FORMAT.encode(), ORIGIN.encode(), n)
    )
    return canonicals, states


def required_hashing(canonicals: list[bytes], states: list[bytes]) -> float:
    """Seconds for the hashes alone: SHA-256 of each stored event, each leaf hash
    SHA-256(0x00 || envelope), and every node SHA-256(0x01 || left || right) of the tree
    (its perfect subtrees, the n - 1 nodes bar the few of the right edge)."""
    digest = methodcaller("digest")
    hexdigest = methodcaller("hexdigest")
    started = time.perf_counter()
    states_hex = list(map(hexdigest, map(hashlib.sha256, states)))
    level = list(map(digest, map(hashlib.sha256, map(b"\x00".__add__, canonicals))))
    while len(level) > 1:
        pairs = iter(level[: len(level) // 2 * 2])
        level = list(
            map(digest, map(hashlib.sha256, map(b"\x01".__add__, map(bytes.__add__, pairs, pairs))))
        )
    seconds = time.perf_counter() - started
    assert len(states_hex) == len(states)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        started = time.perf_counter()
        canonicals, states = write_bundle(bundle, args.events)
        size_mb = os.path.getsize(bundle / bundles.ENTRIES) / 1e6
        print(
            f"bundle: {args.events:,} events, {size_mb:.0f} MB, written in "
            f"{time.perf_counter() - started:.1f}s"
        )

        # Each timing starts from a collected heap: otherwise the first timed part pays the
        # collector for this process's bundle generation (seen: 31 ms of a 0.53 s verify),
        # which `crm-ledger verify` in its own process never has.
        gc.collect()
        started = time.perf_counter()
        head = b"\x00" * 32
        for canonical in canonicals:
            head = hashlib.sha256(head + canonical).digest()
        bare = time.perf_counter() - started
        gc.collect()
        floor = required_hashing(canonicals, states)

        gc.collect()
        started = time.perf_counter()
        report, _ = run_verification(
            bundle=str(bundle),
            database=None,
            keys_path=None,
            anchors=None,
            state_path=None,
            data_dir=None,
            as_json=True,
            progress=None,
        )
        ours = time.perf_counter() - started
    assert report.exit_code == 0, report.findings[:3]
    print(f"baseline bare SHA-256 chain: {args.events / bare:,.0f} events/s")
    print(
        f"the required hashes alone:   {args.events / floor:,.0f} events/s "
        f"({bare / floor:.3f} of the bare chain: a ceiling for any verifier built on hashlib)"
    )
    check = "its C check" if native.NATIVE is not None else "no C check: Python only"
    print(
        f"crm-ledger verify (bundle):  {args.events / ours:,.0f} events/s "
        f"({report.checkpoints_verified} checkpoints verified; {check})"
    )
    print(
        f"ratio: {bare / ours:.3f} of the bare chain (target >= 0.3); "
        f"absolute target >= 150,000 events/s"
    )


if __name__ == "__main__":
    main()
