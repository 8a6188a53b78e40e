"""A naive Merkle tree written straight from RFC 9162 §2.1, for tests only.

Deliberately independent of ``crm_ledger.ledger.merkle``: it hashes the raw entries
itself and follows the recursive definitions literally (no caching, O(n) per call).

* §2.1.1   MTH({}) = SHA-256(), MTH({d0}) = SHA-256(0x00 || d0),
           MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])),
           k the largest power of two smaller than n.
* §2.1.3.1 PATH(m, D[n]): {} for n = 1; PATH(m, D[0:k]) : MTH(D[k:n]) for m < k;
           PATH(m - k, D[k:n]) : MTH(D[0:k]) for m >= k.
* §2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true); SUBPROOF(m, D[m], true) = {},
           SUBPROOF(m, D[m], false) = {MTH(D[m])}; for m < n: SUBPROOF(m, D[0:k], b) :
           MTH(D[k:n]) when m <= k, SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]) when m > k.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def largest_power_of_two_below(n: int) -> int:
    """k with k < n <= 2k, k a power of two (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(entries: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over the raw entries."""
    n = len(entries)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = largest_power_of_two_below(n)
    return hashlib.sha256(b"\x01" + mth(entries[:k]) + mth(entries[k:])).digest()


def path(m: int, entries: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path of entry m, leaf to root."""
    n = len(entries)
    if not 0 <= m < n:
        raise IndexError(m)
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return [*path(m, entries[:k]), mth(entries[k:])]
    return [*path(m - k, entries[k:]), mth(entries[:k])]


def path_sides(m: int, n: int) -> list[bool]:
    """For each element of PATH(m, D[n]), True when it is the LEFT sibling."""
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return [*path_sides(m, k), False]
    return [*path_sides(m - k, n - k), True]


def _subproof(m: int, entries: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if b else [mth(entries)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return [*_subproof(m, entries[:k], b), mth(entries[k:])]
    return [*_subproof(m - k, entries[k:], False), mth(entries[:k])]


def proof(m: int, entries: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): the consistency proof from the first m entries to all n."""
    if not 0 < m <= len(entries):
        raise IndexError(m)
    return _subproof(m, entries, True)
