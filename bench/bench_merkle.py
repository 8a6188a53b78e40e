"""Merkle proof latency at a million leaves vs the bare hashing floor (same run).

Builds a `MerkleTree` of N leaf hashes (default 1,000,000; the leaf hashes are
precomputed and their cost excluded), timing the build. Then, after a warm-up, times
Q random queries (default 1,000) of each kind against the full tree:

* ``inclusion_proof(index, N)`` for a random index;
* ``consistency_proof(first, N)`` for a random 0 < first < N;
* ``verify_inclusion`` / ``verify_consistency`` of those proofs (the auditor's side).

Baseline: the hashing floor of one proof, ``ceil(log2 N)`` bare
``hashlib.sha256(0x01 || 64 bytes)`` calls in a Python loop, timed the same way in the
same run. An RFC 9162 verifier must compute at least that many node hashes, so the
ratio says how many "hash-floor units" a query costs: proof generation from the cached
subtrees should stay within a small constant of it, i.e. O(log n), never O(n).

Prints median and p99 per query kind, in wall time and in process CPU time (the CPU
figures are immune to preemption on a busy machine, which inflates a wall p99), with the
ratio of wall medians to the baseline, and checks the issue's target (p99 wall proof
latency < 5 ms at 1M leaves). No assertions on time.
Usage: python bench/bench_merkle.py [--leaves 1000000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from hashlib import sha256

from crm_ledger.ledger.merkle import MerkleTree, verify_consistency, verify_inclusion

TARGET_MS = 5.0
WARMUP = 200


def timed_ms(calls: Sequence[Callable[[], object]]) -> tuple[list[float], list[float]]:
    """(wall, CPU) time of each call, in milliseconds."""
    wall: list[float] = []
    cpu: list[float] = []
    clock, cpu_clock = time.perf_counter_ns, time.process_time_ns
    for call in calls:
        started, cpu_started = clock(), cpu_clock()
        call()
        cpu.append((cpu_clock() - cpu_started) / 1e6)
        wall.append((clock() - started) / 1e6)
    return wall, cpu


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def line(name: str, times: tuple[list[float], list[float]], baseline_ms: float) -> str:
    wall, cpu = times
    med = statistics.median(wall)
    return (
        f"{name:<18}: wall p50 {med * 1000:7.1f} us  p99 {percentile(wall, 0.99) * 1000:7.1f} us"
        f"  | CPU p50 {statistics.median(cpu) * 1000:7.1f} us  p99 "
        f"{percentile(cpu, 0.99) * 1000:7.1f} us  | p50 ratio vs baseline {med / baseline_ms:5.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    n, q = args.leaves, args.queries
    rng = random.Random(args.seed)

    leaves = [sha256(i.to_bytes(8, "big")).digest() for i in range(n)]
    started = time.perf_counter()
    tree = MerkleTree(leaves)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    root = tree.root()
    root_ms = (time.perf_counter() - started) * 1000
    print(
        f"built a tree of {tree.size:,} leaves in {build_s:.2f} s "
        f"({tree.size / build_s:,.0f} leaves/s); root in {root_ms:.3f} ms"
    )

    depth = math.ceil(math.log2(n))
    node = b"\x01" + bytes(64)

    def hash_floor() -> None:
        for _ in range(depth):
            sha256(node).digest()

    indexes = [rng.randrange(n) for _ in range(WARMUP + q)]
    firsts = [rng.randrange(1, n) for _ in range(WARMUP + q)]
    inclusion = [partial(tree.inclusion_proof, i, n) for i in indexes]
    consistency = [partial(tree.consistency_proof, m, n) for m in firsts]
    warmup: list[Callable[[], object]] = [*inclusion[:WARMUP], *consistency[:WARMUP]]
    for call in warmup + [hash_floor] * WARMUP:
        call()

    baseline = timed_ms([hash_floor] * q)
    baseline_ms = statistics.median(baseline[0])
    incl = timed_ms(inclusion[WARMUP:])
    cons = timed_ms(consistency[WARMUP:])

    v_incl = timed_ms(
        [
            partial(verify_inclusion, tree.leaf(i), i, n, tree.inclusion_proof(i, n), root)
            for i in indexes[WARMUP:]
        ]
    )
    v_cons = timed_ms(
        [
            partial(verify_consistency, m, n, tree.root(m), root, tree.consistency_proof(m, n))
            for m in firsts[WARMUP:]
        ]
    )

    print(f"{q:,} random queries at size {n:,} after {WARMUP} warm-up queries each:")
    print(line(f"baseline {depth}xsha256", baseline, baseline_ms))
    print(line("inclusion_proof", incl, baseline_ms))
    print(line("consistency_proof", cons, baseline_ms))
    print(line("verify_inclusion", v_incl, baseline_ms))
    print(line("verify_consistency", v_cons, baseline_ms))
    worst = max(percentile(incl[0], 0.99), percentile(cons[0], 0.99))
    worst_cpu = max(percentile(incl[1], 0.99), percentile(cons[1], 0.99))
    print(
        f"target p99 proof latency < {TARGET_MS} ms at {n:,} leaves: "
        f"{'met' if worst < TARGET_MS else 'NOT met'} (worst wall p99 {worst:.3f} ms, "
        f"worst CPU p99 {worst_cpu:.3f} ms; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs)"
    )


if __name__ == "__main__":
    main()
