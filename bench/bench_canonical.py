"""canonical_json throughput vs orjson (sorted keys) and vs rfc8785 on the same inputs.

Builds N realistic v1 envelopes with `build_envelope` (random aggregate UUIDs and
states, real topics and timestamps, ASCII and non-ASCII actors) and times, best of
three passes over the same list:

* ``canonical_json`` (the general RFC 8785 encoder, what the ledger relies on);
* ``canonical_envelope`` (its fast path for the v1 envelope shape);
* ``orjson.dumps(..., option=OPT_SORT_KEYS)``, the floor (no checks at all);
* ``rfc8785.dumps``, the pure-Python reference implementation.

Also times the same encoders on objects with non-ASCII keys, where canonical_json takes
its exact UTF-16 sorting path (orjson's key sort would not be JCS there: it is skipped).
Every encoder's output is compared byte for byte with rfc8785's first. Prints ev/s and
the ratios against orjson and rfc8785 measured in the same run. No assertions on time.
Usage: python bench/bench_canonical.py [--events 30000]
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
import rfc8785

from crm_ledger.ledger.canonical import canonical_json
from crm_ledger.ledger.envelope import build_envelope, canonical_envelope, format_timestamp

TOPICS = (
    "crm_ledger.domain.contact:Contact.Created",
    "crm_ledger.domain.contact:Contact.Renamed",
    "crm_ledger.domain.deal:Deal.StageChanged",
    "crm_ledger.domain.invoice:Invoice.Issued",
)
ACTORS = ("system:import", "apikey:7f3a9c2e", "user:zoë@example.com", "user:李雷@example.cn")
Encoder = Callable[[Any], bytes]


def envelopes(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """n v1 envelopes as the ledger builds them."""
    rng = random.Random(seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    prev: bytes | None = None
    out = []
    for index in range(n):
        envelope = build_envelope(
            log="crm.example.com/ledger",
            seq=index + 1,
            prev=prev,
            aggregate_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            aggregate_version=rng.randrange(1, 50),
            topic=TOPICS[index % len(TOPICS)],
            recorded_at=format_timestamp(base + timedelta(microseconds=137 * index)),
            actor=ACTORS[index % len(ACTORS)],
            state=rng.randbytes(rng.randrange(80, 400)),
        )
        prev = rng.randbytes(32)
        out.append(envelope)
    return out


def non_ascii_objects(n: int, seed: int = 11) -> list[dict[str, Any]]:
    """n objects whose keys include non-ASCII and astral characters."""
    rng = random.Random(seed)
    keys = ("name", "Straße", "città", "é", "€", "\U0001f600", "\ufb33", "z", "A")
    return [
        {key: rng.choice([rng.randrange(10**9), f"v{i}", None, True]) for key in keys}
        for i in range(n)
    ]


def best_rate(encode: Encoder, values: list[Any], passes: int = 3) -> float:
    """Best events/s over `passes` passes."""
    best = float("inf")
    for _ in range(passes):
        started = time.perf_counter()
        for value in values:
            encode(value)
        best = min(best, time.perf_counter() - started)
    return len(values) / best


def run(title: str, values: list[Any], encoders: dict[str, Encoder]) -> None:
    reference = [rfc8785.dumps(value) for value in values]
    size = sum(map(len, reference)) / len(reference)
    print(f"\n{title}: {len(values):,} values, mean {size:.0f} bytes")
    for name, encode in encoders.items():
        if encode is rfc8785.dumps:
            continue
        mismatches = sum(encode(v) != r for v, r in zip(values, reference, strict=True))
        verdict = f"MISMATCH on {mismatches:,}" if mismatches else "byte-equal on all"
        print(f"  {name:<20}: {verdict} vs rfc8785")
    rates = {name: best_rate(encode, values) for name, encode in encoders.items()}
    for name, rate in rates.items():
        vs_orjson = (
            f"{rate / rates['orjson sort_keys']:5.2f}x orjson"
            if "orjson sort_keys" in rates
            else ""
        )
        print(
            f"  {name:<20}: {rate:12,.0f} ev/s  {vs_orjson:>14}  "
            f"{rate / rates['rfc8785.dumps']:6.1f}x rfc8785"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=30_000)
    args = parser.parse_args()

    sort_keys = partial(orjson.dumps, option=orjson.OPT_SORT_KEYS)
    run(
        "v1 envelopes",
        envelopes(args.events),
        {
            "canonical_json": canonical_json,
            "canonical_envelope": canonical_envelope,
            "orjson sort_keys": sort_keys,
            "rfc8785.dumps": rfc8785.dumps,
        },
    )
    run(
        "objects with non-ASCII keys (exact UTF-16 path)",
        non_ascii_objects(args.events // 5),
        {"canonical_json": canonical_json, "rfc8785.dumps": rfc8785.dumps},
    )


if __name__ == "__main__":
    main()
