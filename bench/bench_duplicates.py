"""The duplicates report's one pass (``GET /contacts:duplicates``) over many contacts.

Builds CRM_BENCH_CONTACTS synthetic contacts (default 100,000): one email each, a phone,
a tax id on about half, names drawn from 1,000 first names and 2,000 surnames, two
thirds people; one in twenty is a near copy of another (the email in other letter case,
the phone written differently, or the same tax id with separators), as imports from
several sources leave them. Then, best of two passes over the same list:

* ours: `duplicate_pairs` (emails, phone digits, tax ids and name words, groups of more
  than `MAX_GROUP` counted as too common, pairs sorted);
* baseline: a bare exact grouping of the same contacts by lower-cased email, pairing
  each group the same way: the least a duplicates report does.

Prints contacts/s for both and the ratio of our time to the baseline's, with the pairs
found. No database: the endpoint reads the same public states from the contacts read
model first, which comes on top. No assertions on time.
"""

from __future__ import annotations

import os
import random
import time
from collections import defaultdict
from collections.abc import Callable
from itertools import combinations
from typing import Any

from crm_ledger.projections.contact_duplicates import MAX_GROUP, duplicate_pairs

N = int(os.environ.get("CRM_BENCH_CONTACTS", "100000"))
FIRST = [f"Nombre{i}" for i in range(1000)]
LAST = [f"Apellido{i}" for i in range(2000)]


def contacts(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    made: list[dict[str, Any]] = []
    for i in range(n):
        if made and rng.random() < 0.05:  # a near copy of an earlier contact
            other = rng.choice(made)
            made.append(
                {
                    **other,
                    "id": f"{i:032x}",
                    "emails": [e.upper() for e in other["emails"]],
                    "phones": [p.replace(" ", "-") for p in other["phones"]],
                    "tax_id": None
                    if other["tax_id"] is None
                    else f"{other['tax_id'][:3]}-{other['tax_id'][3:]}",
                }
            )
            continue
        person = rng.random() < 2 / 3
        name = (
            f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            if person
            else f"{rng.choice(LAST)} {rng.choice(['SL', 'SA', 'Coop'])}"
        )
        made.append(
            {
                "id": f"{i:032x}",
                "kind": "person" if person else "organisation",
                "name": name,
                "emails": [f"c{i}@example.{rng.choice(['com', 'es', 'org'])}"],
                "phones": [f"+34 6{rng.randrange(10**8):08d}"],
                "tax_id": f"B{rng.randrange(10**8):08d}" if rng.random() < 0.5 else None,
            }
        )
    return made


def by_email(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The baseline: exact lower-cased email groups, paired."""
    holders: dict[str, list[str]] = defaultdict(list)
    for contact in items:
        for email in contact["emails"]:
            holders[email.lower()].append(contact["id"])
    pairs: list[tuple[str, str]] = []
    for ids in holders.values():
        if 1 < len(ids) <= MAX_GROUP:
            pairs.extend(combinations(sorted(set(ids)), 2))
    pairs.sort()
    return pairs


def best_of(runs: int, work: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    items = contacts(N)
    base_s, base_pairs = best_of(2, lambda: by_email(items))
    ours_s, (pairs, too_common) = best_of(2, lambda: duplicate_pairs(items))
    print(f"Duplicates report: {N:,} contacts, one pass, best of 2")
    print(
        f"  baseline (exact email groups)   {N / base_s:>10,.0f} contacts/s"
        f"  {base_s:6.2f} s  {len(base_pairs):,} pairs"
    )
    print(
        f"  ours (duplicate_pairs)          {N / ours_s:>10,.0f} contacts/s"
        f"  {ours_s:6.2f} s  {len(pairs):,} pairs  ratio {ours_s / base_s:5.1f}x the"
        f" baseline's time"
    )
    print(f"  too common to pair (> {MAX_GROUP} holders): {too_common}")


if __name__ == "__main__":
    main()
