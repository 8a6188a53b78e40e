"""Response models of the ledger (proof) endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CheckpointPublic(BaseModel):
    """A signed checkpoint over the first `size` entries."""

    origin: str
    size: int
    root_hash: str = Field(description="lowercase hex SHA-256 Merkle root (RFC 6962)")
    note: str = Field(description="the C2SP signed note text")
    created_at: str


class CheckpointPage(BaseModel):
    """Checkpoints in size order."""

    items: list[CheckpointPublic]
    next_cursor: str | None


class EntryProof(BaseModel):
    """One ledger entry and its inclusion proof in the tree of `tree_size` entries."""

    leaf_index: int
    seq: int
    envelope: dict[str, Any]
    canonical: str = Field(description="base64 of the exact bytes hashed into the leaf")
    leaf_hash: str
    tree_size: int
    inclusion_proof: list[str]


class ConsistencyProof(BaseModel):
    """An RFC 9162 consistency proof between two tree sizes."""

    first: int
    second: int
    proof: list[str]
