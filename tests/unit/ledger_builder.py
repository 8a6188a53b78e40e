"""Build a real in-memory ledger (entries, Merkle tree, signed checkpoints, manifest)
for the verifier tests, and re-seal / re-chain / re-sign it after tampering.

Everything here goes through the production code (`build_envelope`, `seal`,
`MerkleTree`, `sign_note`, `Manifest.load`): the tests tamper with real data.
"""

from __future__ import annotations

import base64
import dataclasses
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crm_ledger.ledger.envelope import Entry, build_envelope, format_timestamp, seal
from crm_ledger.ledger.manifest import Manifest
from crm_ledger.ledger.merkle import MerkleTree
from crm_ledger.ledger.note import checkpoint_body, key_id, sign_note
from crm_ledger.ledger.verify import AnchorRecord, SavedState


def replace_fields(obj: Any, **changes: Any) -> Any:
    """A copy of `obj` (an Entry named tuple or a dataclass) with `changes`."""
    if hasattr(obj, "_replace"):
        return obj._replace(**changes)
    return dataclasses.replace(obj, **changes)


ORIGIN = "test.local/log"
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
SEQ_STEP = 10  # seqs are 10, 20, 30, ... so there is room to insert between them
TOPICS = ("crm.Contact.Created", "crm.Contact.Renamed", "crm.Invoice.Issued")


@dataclass(frozen=True)
class Signer:
    """A named Ed25519 key pair."""

    name: str
    private: Ed25519PrivateKey
    public: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public)


def make_signer(name: str, seed: bytes | None = None) -> Signer:
    """A signer called `name` (deterministic when `seed`, 32 bytes, is given)."""
    private = (
        Ed25519PrivateKey.generate() if seed is None else Ed25519PrivateKey.from_private_bytes(seed)
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return Signer(name, private, public)


def timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds, as the ledger writes it."""
    return format_timestamp(moment)


def entry_time(index: int) -> str:
    """The recorded_at of entry `index` (one second apart)."""
    return timestamp(BASE_TIME + timedelta(seconds=index))


def checkpoint_time(size: int) -> str:
    """When the checkpoint of `size` entries is made: half a second after its last entry."""
    return timestamp(BASE_TIME + timedelta(seconds=size - 1, milliseconds=500))


def manifest_item(
    signer: Signer,
    *,
    valid_from: str = "2025-01-01T00:00:00.000000Z",
    valid_to: str | None = None,
    status: str = "active",
    **overrides: Any,
) -> dict[str, Any]:
    """One manifest key entry for `signer` (fields overridable to make it malformed)."""
    item: dict[str, Any] = {
        "name": signer.name,
        "key_id": signer.key_id.hex(),
        "algorithm": "ed25519",
        "public_key": base64.b64encode(signer.public).decode(),
        "valid_from": valid_from,
        "valid_to": valid_to,
        "status": status,
    }
    item.update(overrides)
    return item


def manifest_bytes(items: Sequence[dict[str, Any]], version: object = 1) -> bytes:
    """The manifest JSON document with `items`."""
    return orjson.dumps({"version": version, "keys": list(items)})


@dataclass
class Rotation:
    """Two keys: `old` signs early checkpoints and is retired at `rotated_at`."""

    old: Signer
    new: Signer
    rotated_at: str  # old.valid_to and new.valid_from
    overlap_size: int  # the checkpoint signed by both keys

    def signers_for(self, size: int) -> list[Signer]:
        """Who signs the checkpoint of `size`."""
        if size < self.overlap_size:
            return [self.old]
        if size == self.overlap_size:
            return [self.old, self.new]
        return [self.new]

    def manifest(self) -> Manifest:
        return Manifest.load(
            manifest_bytes(
                [
                    manifest_item(self.old, valid_to=self.rotated_at, status="retired"),
                    manifest_item(self.new, valid_from=checkpoint_time(self.overlap_size)),
                ]
            )
        )


def make_rotation(overlap_size: int) -> Rotation:
    """Old key valid until just after checkpoint `overlap_size`, new key from it on."""
    rotated_at = timestamp(BASE_TIME + timedelta(seconds=overlap_size - 1, milliseconds=750))
    return Rotation(
        make_signer("test.local-2025"), make_signer("test.local-2026"), rotated_at, overlap_size
    )


@dataclass
class Log:
    """A built log: envelopes (mutable dicts), stored entries, tree, checkpoints."""

    envelopes: list[dict[str, Any]]
    entries: list[Entry]
    checkpoints: list[AnchorRecord]
    manifest: Manifest
    signers_for: Callable[[int], Sequence[Signer]]
    every: int
    tree: MerkleTree = field(default_factory=MerkleTree)

    @property
    def size(self) -> int:
        return len(self.entries)

    def root(self, size: int | None = None) -> bytes:
        return self.tree.root(size)

    def checkpoint(self, size: int) -> AnchorRecord:
        """The stored checkpoint of `size` entries."""
        for record in self.checkpoints:
            if record.size == size:
                return record
        raise KeyError(size)

    def saved(self, size: int | None = None) -> SavedState:
        """The auditor's saved state at `size` (default: the whole log)."""
        size = self.size if size is None else size
        return SavedState(ORIGIN, size, self.root(size))

    def rebuild_tree(self) -> None:
        self.tree = MerkleTree(entry.leaf_hash for entry in self.entries)

    def reseal(self, index: int) -> None:
        """Recompute canonical bytes and leaf hash of entry `index` from its envelope."""
        canonical, leaf = seal(self.envelopes[index])
        self.entries[index] = replace_fields(
            self.entries[index], canonical=canonical, leaf_hash=leaf
        )
        self.rebuild_tree()

    def set_state(self, index: int, state: bytes) -> None:
        """Store new event bytes AND commit to them in the envelope (then reseal)."""
        self.entries[index] = replace_fields(self.entries[index], state=state)
        self.envelopes[index]["state_sha256"] = sha256(state).hexdigest()
        self.reseal(index)

    def rechain(self, start: int) -> None:
        """Recompute prev links and leaf hashes from `start` to the end, as a forger would."""
        for index in range(start, self.size):
            if index > 0:
                self.envelopes[index]["prev"] = self.entries[index - 1].leaf_hash.hex()
            canonical, leaf = seal(self.envelopes[index])
            self.entries[index] = replace_fields(
                self.entries[index], canonical=canonical, leaf_hash=leaf
            )
        self.rebuild_tree()

    def sign(
        self, size: int, signers: Sequence[Signer], created_at: str | None = None
    ) -> AnchorRecord:
        """A checkpoint of the current tree at `size`, signed by `signers`."""
        root = self.root(size)
        note = sign_note(
            checkpoint_body(ORIGIN, size, root), [(s.name, s.private) for s in signers]
        )
        return AnchorRecord(size, root, note, created_at or checkpoint_time(size))

    def resign(
        self, signers_for: Callable[[int], Sequence[Signer]] | None = None, start: int = 0
    ) -> None:
        """Re-sign every checkpoint of size > `start` over the current tree."""
        chooser = signers_for or self.signers_for
        self.checkpoints = [
            cp if cp.size <= start else self.sign(cp.size, chooser(cp.size))
            for cp in self.checkpoints
        ]

    def replace_checkpoint(self, record: AnchorRecord) -> None:
        self.checkpoints = [record if cp.size == record.size else cp for cp in self.checkpoints]


def build_log(
    n: int = 60,
    every: int = 10,
    *,
    rotation: Rotation | None = None,
    seed: int = 1,
    state_size: int = 48,
    checkpoint_at_end: bool = True,
) -> Log:
    """A valid log of `n` entries with a checkpoint every `every` entries and at the end."""
    rng = random.Random(seed)
    rotation = rotation or make_rotation(overlap_size=min(3 * every, n))
    aggregates = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(5)]
    versions = dict.fromkeys(aggregates, 0)
    envelopes: list[dict[str, Any]] = []
    entries: list[Entry] = []
    tree = MerkleTree()
    prev: bytes | None = None
    for index in range(n):
        aggregate = aggregates[rng.randrange(len(aggregates))]
        versions[aggregate] += 1
        state = rng.randbytes(state_size)
        seq = (index + 1) * SEQ_STEP
        topic = TOPICS[index % len(TOPICS)]
        envelope = build_envelope(
            log=ORIGIN,
            seq=seq,
            prev=prev,
            aggregate_id=aggregate,
            aggregate_version=versions[aggregate],
            topic=topic,
            recorded_at=entry_time(index),
            actor="system:test",
            state=state,
        )
        canonical, leaf = seal(envelope)
        envelopes.append(envelope)
        entries.append(
            Entry(index, seq, canonical, leaf, aggregate, versions[aggregate], topic, state)
        )
        tree.append(leaf)
        prev = leaf
    log = Log(envelopes, entries, [], rotation.manifest(), rotation.signers_for, every, tree)
    sizes = list(range(every, n + 1, every))
    if checkpoint_at_end and n and (not sizes or sizes[-1] != n):
        sizes.append(n)
    log.checkpoints = [log.sign(size, rotation.signers_for(size)) for size in sizes]
    return log


def make_entry(
    log: Log,
    *,
    leaf_index: int,
    seq: int,
    prev: bytes | None,
    recorded_at: str,
    origin: str = ORIGIN,
    state: bytes = b"inserted",
) -> tuple[dict[str, Any], Entry]:
    """A fresh, well-formed entry (envelope, stored entry) not yet placed in `log`."""
    aggregate = str(uuid.UUID(int=leaf_index + 1, version=4))
    envelope = build_envelope(
        log=origin,
        seq=seq,
        prev=prev,
        aggregate_id=aggregate,
        aggregate_version=1,
        topic=TOPICS[0],
        recorded_at=recorded_at,
        actor="system:test",
        state=state,
    )
    canonical, leaf = seal(envelope)
    return envelope, Entry(leaf_index, seq, canonical, leaf, aggregate, 1, TOPICS[0], state)


def flip_byte(data: bytes, offset: int) -> bytes:
    """`data` with the byte at `offset` changed (still ASCII, different)."""
    changed = bytearray(data)
    changed[offset] = changed[offset] ^ 0x01
    return bytes(changed)


def anchor_lines(records: Sequence[AnchorRecord]) -> bytes:
    """An anchor file holding `records`."""
    from crm_ledger.ledger.verify import format_anchor_line

    return b"".join(format_anchor_line(r.size, r.root_hash, r.note, r.created_at) for r in records)
