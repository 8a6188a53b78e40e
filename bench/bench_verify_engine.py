"""verify_log throughput on an in-memory log vs a bare hashlib SHA-256 chain (same run).

Builds N entries (~300-byte RFC 8785 envelopes, a signed checkpoint every 1,000 entries
and at the end) with the production code, then times:

* ``verify_log`` over the whole log (entries, checkpoints, manifest);
* a bare chain: ``h = sha256(h || 0x00 || canonical)`` over the same canonical bytes.

Prints entries/s for both and the ratio (targets: >= 150,000 entries/s, ratio >= 0.3),
then profiles one verify_log run with cProfile (top 10 functions by tottime).
No assertions on time. Usage: python bench/bench_verify_engine.py [--entries 200000]
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import pstats
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from hashlib import sha256

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crm_ledger.ledger.envelope import Entry, build_envelope, format_timestamp, seal
from crm_ledger.ledger.manifest import Manifest
from crm_ledger.ledger.merkle import RootAccumulator
from crm_ledger.ledger.note import checkpoint_body, key_id, sign_note
from crm_ledger.ledger.verify import AnchorRecord, verify_log

ORIGIN = "bench.local/log"
KEY_NAME = "bench.local-2026"
TOPICS = ("crm.Contact.Created", "crm.Contact.Renamed", "crm.Invoice.Issued")
TARGET_RATE = 150_000
TARGET_RATIO = 0.3


def build(n: int, every: int, seed: int = 7):  # type: ignore[no-untyped-def]
    """(entries, checkpoints, manifest, mean envelope size) of a valid n-entry log."""
    rng = random.Random(seed)
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    manifest = Manifest.load(
        orjson.dumps(
            {
                "version": 1,
                "keys": [
                    {
                        "name": KEY_NAME,
                        "key_id": key_id(KEY_NAME, public).hex(),
                        "algorithm": "ed25519",
                        "public_key": base64.b64encode(public).decode(),
                        "valid_from": "2025-01-01T00:00:00.000000Z",
                        "valid_to": None,
                        "status": "active",
                    }
                ],
            }
        )
    )
    aggregates = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(1000)]
    versions = dict.fromkeys(aggregates, 0)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    accumulator = RootAccumulator()
    entries: list[Entry] = []
    checkpoints: list[AnchorRecord] = []
    prev: bytes | None = None
    total = 0
    for index in range(n):
        aggregate = aggregates[rng.randrange(len(aggregates))]
        versions[aggregate] += 1
        state = rng.randbytes(120)
        seq = index + 1
        topic = TOPICS[index % 3]
        recorded_at = format_timestamp(base + timedelta(milliseconds=index))
        envelope = build_envelope(
            log=ORIGIN,
            seq=seq,
            prev=prev,
            aggregate_id=aggregate,
            aggregate_version=versions[aggregate],
            topic=topic,
            recorded_at=recorded_at,
            actor="system:bench",
            state=state,
        )
        canonical, leaf = seal(envelope)
        total += len(canonical)
        entries.append(
            Entry(index, seq, canonical, leaf, aggregate, versions[aggregate], topic, state)
        )
        accumulator.append(leaf)
        prev = leaf
        size = index + 1
        if size % every == 0 or size == n:
            root = accumulator.root()
            note = sign_note(checkpoint_body(ORIGIN, size, root), [(KEY_NAME, private)])
            checkpoints.append(AnchorRecord(size, root, note, recorded_at))
    return entries, checkpoints, manifest, total / max(n, 1)


def bare_chain(entries: list[Entry]) -> bytes:
    """The floor: one SHA-256 per entry over the same canonical bytes, chained."""
    head = b"\x00" * 32
    for entry in entries:
        head = sha256(head + b"\x00" + entry.canonical).digest()
    return head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--every", type=int, default=1_000)
    args = parser.parse_args()

    started = time.perf_counter()
    entries, checkpoints, manifest, mean_size = build(args.entries, args.every)
    print(
        f"built {len(entries):,} entries (mean envelope {mean_size:.0f} bytes), "
        f"{len(checkpoints)} checkpoints in {time.perf_counter() - started:.1f} s"
    )

    started = time.perf_counter()
    report = verify_log(entries, checkpoints, manifest)
    verify_s = time.perf_counter() - started
    if report.findings:
        print(f"UNEXPECTED findings: {[f.as_dict() for f in report.findings[:3]]}")

    started = time.perf_counter()
    bare_chain(entries)
    bare_s = time.perf_counter() - started

    verify_rate = len(entries) / verify_s
    bare_rate = len(entries) / bare_s
    ratio = verify_rate / bare_rate
    print(
        f"verify_log : {verify_rate:12,.0f} entries/s  ({verify_s:.2f} s, exit "
        f"{report.exit_code}, {report.checkpoints_verified} checkpoints verified)"
    )
    print(f"bare sha256: {bare_rate:12,.0f} entries/s  ({bare_s:.2f} s)")
    print(
        f"ratio      : {ratio:.3f}  (target >= {TARGET_RATIO}: "
        f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}; rate target >= {TARGET_RATE:,}: "
        f"{'met' if verify_rate >= TARGET_RATE else 'NOT met'})"
    )

    profiler = cProfile.Profile()
    profiler.enable()
    verify_log(entries, checkpoints, manifest)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(10)
    print("\ncProfile of one verify_log run (top 10 by tottime):")
    print(out.getvalue())


if __name__ == "__main__":
    main()
