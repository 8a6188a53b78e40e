"""The RFC 6962 / RFC 9162 Merkle tree: hashes, an append-only tree with O(log n)
proofs, proof verification, and a streaming root accumulator.

Leaf hash ``SHA-256(0x00 || d)``, interior node ``SHA-256(0x01 || left || right)``,
the empty tree's root ``SHA-256("")``. Leaf index = 0-based position in the log.

`MerkleTree` caches every complete, aligned subtree: level k holds the hashes of the
perfect subtrees over leaves ``[i*2**k, (i+1)*2**k)``, each level one ``bytearray`` of
32-byte hashes (about 64 MB per million leaves). The root of any size and every node of
a proof is then assembled from O(log n) cached subtrees, never by rehashing leaves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from hashlib import sha256
from operator import methodcaller

from crm_ledger.ledger import native
from crm_ledger.ledger.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = sha256(b"").digest()
_NODE_PREFIX = b"\x01".__add__
_DIGEST = methodcaller("digest")


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash of `data`."""
    return sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash."""
    return sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than `n` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over `leaf_hashes` (RFC 9162 §2.1.1), computed iteratively."""
    accumulator = RootAccumulator()
    for leaf in leaf_hashes:
        accumulator.append(leaf)
    return accumulator.root()


def _node_hashes(level: list[bytes]) -> list[bytes]:
    """The interior nodes over consecutive pairs of `level` (of even length)."""
    checks = native.NATIVE
    if checks is not None:
        return checks.node_hashes(level)
    pairs = iter(level)
    return list(map(_DIGEST, map(sha256, map(_NODE_PREFIX, map(bytes.__add__, pairs, pairs)))))


class RootAccumulator:
    """Streaming root: O(log n) memory, the perfect subtrees of the right edge."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (height, hash), heights decreasing
        self.size = 0

    def append(self, leaf: bytes) -> None:
        """Add the next leaf hash."""
        height, current = 0, leaf
        stack = self._stack
        while stack and stack[-1][0] == height:
            current = node_hash(stack.pop()[1], current)
            height += 1
        stack.append((height, current))
        self.size += 1

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Add many leaf hashes at once: the same result as appending them one by one,
        computed a level at a time with C-level ``map`` calls."""
        stack = self._stack
        size = self.size
        level = list(leaves)
        leftovers: list[tuple[int, bytes]] = []
        height = 0
        while level:
            if size >> height & 1:  # the right edge holds a subtree of this height
                level.insert(0, stack.pop()[1])
            if len(level) % 2:
                leftovers.append((height, level.pop()))
            level = _node_hashes(level)
            height += 1
        stack.extend(reversed(leftovers))
        self.size = size + len(leaves)

    def root(self) -> bytes:
        """The root of the leaves appended so far."""
        if not self._stack:
            return EMPTY_ROOT
        current = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            current = node_hash(left, current)
        return current


class MerkleTree:
    """Append-only in-memory tree with cached complete subtrees."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self.extend(leaves)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0]) // HASH_SIZE

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash and complete any subtree it closes."""
        if len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash has 32 bytes")
        levels = self._levels
        levels[0] += leaf
        level, current = 0, leaf
        while (len(levels[level]) // HASH_SIZE) % 2 == 0:
            left = bytes(levels[level][-2 * HASH_SIZE : -HASH_SIZE])
            current = node_hash(left, current)
            level += 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += current

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append many leaf hashes."""
        for leaf in leaves:
            self.append(leaf)

    def leaf(self, index: int) -> bytes:
        """The leaf hash at `index`."""
        if not 0 <= index < self.size:
            raise ProofError(f"leaf index {index} outside tree of size {self.size}")
        return bytes(self._levels[0][index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def _mth(self, start: int, n: int) -> bytes:
        """MTH of leaves [start, start + n), from cached perfect subtrees."""
        if n & (n - 1) == 0 and start % n == 0:
            level = n.bit_length() - 1
            offset = (start >> level) * HASH_SIZE
            return bytes(self._levels[level][offset : offset + HASH_SIZE])
        k = _split(n)
        return node_hash(self._mth(start, k), self._mth(start + k, n - k))

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ProofError(f"tree size {size} outside 0..{self.size}")

    def root(self, size: int | None = None) -> bytes:
        """The root of the first `size` leaves (default: all)."""
        size = self.size if size is None else size
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._mth(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 §2.1.3.1 PATH(index, D[0:size])."""
        self._check_size(size)
        if not 0 <= index < size:
            raise ProofError(f"leaf index {index} outside tree of size {size}")
        proof: list[bytes] = []
        start, n, m = 0, size, index
        while n > 1:
            k = _split(n)
            if m < k:
                proof.append(self._mth(start + k, n - k))
                n = k
            else:
                proof.append(self._mth(start, k))
                start, n, m = start + k, n - k, m - k
        proof.reverse()
        return proof

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 §2.1.4.1 PROOF(first, D[0:second]); 0 < first <= second."""
        self._check_size(second)
        if not 0 < first <= second:
            raise ProofError(f"need 0 < first <= second, got {first}, {second}")
        proof: list[bytes] = []
        start, n, m, complete = 0, second, first, True
        while m != n:
            k = _split(n)
            if m <= k:
                proof.append(self._mth(start + k, n - k))
                n = k
            else:
                proof.append(self._mth(start, k))
                start, n, m, complete = start + k, n - k, m - k, False
        if not complete:
            proof.append(self._mth(start, n))
        proof.reverse()
        return proof


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2; raise ProofError unless `proof` proves `leaf` at `index`."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} outside tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if len(p) != HASH_SIZE:
            raise ProofError("a proof hash has 32 bytes")
        if sn == 0:
            raise ProofError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof too short")
    if r != root:
        raise ProofError(f"inclusion proof leads to {r.hex()}, not root {root.hex()}")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2; raise ProofError unless tree `first` is a prefix of `second`.

    Sizes must satisfy 0 < first <= second; equal sizes need an empty proof and equal
    roots (nothing else can be proven about them).
    """
    if not 0 < first <= second:
        raise ProofError(f"need 0 < first <= second, got {first}, {second}")
    if any(len(p) != HASH_SIZE for p in proof):
        raise ProofError("a proof hash has 32 bytes")
    if first == second:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if first_root != second_root:
            raise ProofError("equal sizes with different roots")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof too short")
    if fr != first_root:
        raise ProofError(f"proof leads to first root {fr.hex()}, not {first_root.hex()}")
    if sr != second_root:
        raise ProofError(f"proof leads to second root {sr.hex()}, not {second_root.hex()}")
