"""Property tests: the Merkle tree agrees with the naive RFC 9162 tree, and proofs are tight.

For random leaf lists (and historical sizes of a larger tree) the root and every proof
equal the naive recursive definitions of ``tests/unit/merkle_reference.py``; every
honest proof verifies; and a proof with one element replaced, one element removed or
added, or two elements swapped, or a different leaf, fails verification.
An exhaustive test covers every proof of every size up to 64.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from crm_ledger.ledger.errors import ProofError
from crm_ledger.ledger.merkle import (
    MerkleTree,
    RootAccumulator,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from tests.unit import merkle_reference as ref

entries = st.binary(max_size=12)
entry_lists = st.lists(entries, max_size=80)
nonempty_entry_lists = st.lists(entries, min_size=1, max_size=80)
hashes = st.binary(min_size=32, max_size=32)


def tree_of(data: Sequence[bytes]) -> MerkleTree:
    return MerkleTree(leaf_hash(item) for item in data)


def inclusion_ok(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    try:
        verify_inclusion(leaf, index, size, proof, root)
    except ProofError:
        return False
    return True


def consistency_ok(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    try:
        verify_consistency(first, second, first_root, second_root, proof)
    except ProofError:
        return False
    return True


@st.composite
def damaged(draw: st.DrawFn, proof: list[bytes]) -> list[bytes]:
    """`proof` with exactly one change: an element replaced, removed, inserted, or swapped."""
    kinds = ["insert"]
    if proof:
        kinds += ["replace", "remove"]
    if len(proof) > 1:
        kinds.append("swap")
    kind = draw(st.sampled_from(kinds))
    result = list(proof)
    if kind == "insert":
        result.insert(draw(st.integers(0, len(proof))), draw(hashes))
    elif kind == "remove":
        del result[draw(st.integers(0, len(proof) - 1))]
    elif kind == "replace":
        position = draw(st.integers(0, len(proof) - 1))
        replacement = draw(hashes)
        assume(replacement != proof[position])
        result[position] = replacement
    else:
        i, j = draw(st.lists(st.integers(0, len(proof) - 1), min_size=2, max_size=2, unique=True))
        assume(proof[i] != proof[j])
        result[i], result[j] = proof[j], proof[i]
    return result


@given(entry_lists)
def test_root_equals_naive_mth(data: list[bytes]) -> None:
    """MerkleTree, root_of and RootAccumulator all give MTH(D[n]) of the RFC."""
    leaves = [leaf_hash(item) for item in data]
    expected = ref.mth(data)
    assert expected == MerkleTree(leaves).root()
    assert expected == root_of(leaves)
    accumulator = RootAccumulator()
    for leaf in leaves:
        accumulator.append(leaf)
    assert expected == accumulator.root()


@given(entry_lists, st.data())
def test_historical_root_equals_naive_mth(data: list[bytes], draw: st.DataObject) -> None:
    """The root of any earlier size, asked of the grown tree, is MTH of that prefix."""
    size = draw.draw(st.integers(0, len(data)))
    assert ref.mth(data[:size]) == tree_of(data).root(size)


@given(nonempty_entry_lists, st.data())
def test_inclusion_proof_is_path_and_verifies(data: list[bytes], draw: st.DataObject) -> None:
    """An audit path (any size the tree has reached) equals PATH(m, D[n]) and verifies."""
    tree = tree_of(data)
    size = draw.draw(st.integers(1, len(data)))
    index = draw.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index, size)
    assert ref.path(index, data[:size]) == proof
    verify_inclusion(leaf_hash(data[index]), index, size, proof, ref.mth(data[:size]))


@given(nonempty_entry_lists, st.data())
def test_damaged_inclusion_proof_fails(data: list[bytes], draw: st.DataObject) -> None:
    """One replaced, removed, inserted or swapped proof element makes verification fail."""
    tree = tree_of(data)
    size = draw.draw(st.integers(1, len(data)))
    index = draw.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index, size)
    bad = draw.draw(damaged(proof))
    assert not inclusion_ok(leaf_hash(data[index]), index, size, bad, tree.root(size))


@given(nonempty_entry_lists, st.data())
def test_other_leaf_fails_inclusion(data: list[bytes], draw: st.DataObject) -> None:
    """A leaf other than the one at `index` is not proven by its audit path."""
    tree = tree_of(data)
    index = draw.draw(st.integers(0, len(data) - 1))
    other = draw.draw(entries)
    assume(other != data[index])
    proof = tree.inclusion_proof(index, len(data))
    assert not inclusion_ok(leaf_hash(other), index, len(data), proof, tree.root())


@given(st.lists(entries, min_size=2, max_size=80, unique=True), st.data())
def test_other_index_or_size_fails_inclusion(data: list[bytes], draw: st.DataObject) -> None:
    """With distinct leaves a path proves one index only, and another size only if the
    path has the same shape there (the verifier then recomputes the same root)."""
    tree = tree_of(data)
    size = len(data)
    index, other = draw.draw(
        st.lists(st.integers(0, size - 1), min_size=2, max_size=2, unique=True)
    )
    proof = tree.inclusion_proof(index, size)
    leaf, root = tree.leaf(index), tree.root()
    assert not inclusion_ok(leaf, other, size, proof, root)
    other_size = draw.draw(st.integers(index + 1, 2 * size).filter(lambda n: n != size))
    same_shape = ref.path_sides(index, other_size) == ref.path_sides(index, size)
    assert same_shape == inclusion_ok(leaf, index, other_size, proof, root)


@given(nonempty_entry_lists, st.data())
def test_consistency_proof_is_proof_and_verifies(data: list[bytes], draw: st.DataObject) -> None:
    """A consistency proof between any two reached sizes equals PROOF(m, D[n]) and verifies."""
    tree = tree_of(data)
    second = draw.draw(st.integers(1, len(data)))
    first = draw.draw(st.integers(1, second))
    proof = tree.consistency_proof(first, second)
    assert ref.proof(first, data[:second]) == proof
    verify_consistency(first, second, ref.mth(data[:first]), ref.mth(data[:second]), proof)


@given(nonempty_entry_lists, st.data())
def test_damaged_consistency_proof_fails(data: list[bytes], draw: st.DataObject) -> None:
    """One replaced, removed, inserted or swapped element makes verification fail."""
    tree = tree_of(data)
    second = draw.draw(st.integers(1, len(data)))
    first = draw.draw(st.integers(1, second))
    proof = tree.consistency_proof(first, second)
    bad = draw.draw(damaged(proof))
    assert not consistency_ok(first, second, tree.root(first), tree.root(second), bad)


@given(nonempty_entry_lists, st.data(), hashes)
def test_other_root_fails_consistency(
    data: list[bytes], draw: st.DataObject, other_root: bytes
) -> None:
    """Replacing either root makes verification fail."""
    tree = tree_of(data)
    second = draw.draw(st.integers(1, len(data)))
    first = draw.draw(st.integers(1, second))
    proof = tree.consistency_proof(first, second)
    first_root, second_root = tree.root(first), tree.root(second)
    assume(other_root not in (first_root, second_root))
    assert not consistency_ok(first, second, other_root, second_root, proof)
    assert not consistency_ok(first, second, first_root, other_root, proof)


@given(entry_lists, entries)
def test_appending_extends_consistently(data: list[bytes], extra: bytes) -> None:
    """After one more append, the old tree is proven a prefix of the new one."""
    tree = tree_of(data)
    old_size, old_root = tree.size, tree.root()
    tree.append(leaf_hash(extra))
    assert ref.mth([*data, extra]) == tree.root()
    if old_size:
        proof = tree.consistency_proof(old_size, tree.size)
        verify_consistency(old_size, tree.size, old_root, tree.root(), proof)


# --- exhaustive: every proof of every size up to 64 ----------------------------------

EXHAUSTIVE = [i.to_bytes(2, "big") for i in range(64)]
EXHAUSTIVE_TREE = tree_of(EXHAUSTIVE)


def _one_bit_off(proof: list[bytes], position: int) -> list[bytes]:
    changed = bytearray(proof[position])
    changed[position % 32] ^= 0x80
    return [*proof[:position], bytes(changed), *proof[position + 1 :]]


@pytest.mark.parametrize("size", range(1, 65))
def test_every_inclusion_proof_up_to_64(size: int) -> None:
    """For each index: PATH equality, verification, and refusal of each one-bit change,
    of the proof reversed, truncated or extended."""
    root = ref.mth(EXHAUSTIVE[:size])
    assert root == EXHAUSTIVE_TREE.root(size)
    for index in range(size):
        leaf = leaf_hash(EXHAUSTIVE[index])
        proof = EXHAUSTIVE_TREE.inclusion_proof(index, size)
        assert ref.path(index, EXHAUSTIVE[:size]) == proof
        verify_inclusion(leaf, index, size, proof, root)
        for position in range(len(proof)):
            assert not inclusion_ok(leaf, index, size, _one_bit_off(proof, position), root)
        if len(proof) > 1:
            assert not inclusion_ok(leaf, index, size, proof[::-1], root)
        if proof:
            assert not inclusion_ok(leaf, index, size, proof[:-1], root)
        assert not inclusion_ok(leaf, index, size, [*proof, root], root)


@pytest.mark.parametrize("second", range(1, 65))
def test_every_consistency_proof_up_to_64(second: int) -> None:
    """For each first size: PROOF equality, verification, and refusal of each one-bit
    change, of the proof reversed, truncated or extended."""
    second_root = ref.mth(EXHAUSTIVE[:second])
    for first in range(1, second + 1):
        first_root = EXHAUSTIVE_TREE.root(first)
        proof = EXHAUSTIVE_TREE.consistency_proof(first, second)
        assert ref.proof(first, EXHAUSTIVE[:second]) == proof
        verify_consistency(first, second, first_root, second_root, proof)
        for position in range(len(proof)):
            bad = _one_bit_off(proof, position)
            assert not consistency_ok(first, second, first_root, second_root, bad)
        if len(proof) > 1:
            assert not consistency_ok(first, second, first_root, second_root, proof[::-1])
        if proof:
            assert not consistency_ok(first, second, first_root, second_root, proof[:-1])
        assert not consistency_ok(first, second, first_root, second_root, [*proof, second_root])
