"""``/ledger``: checkpoints, entries with inclusion proofs, consistency proofs, keys."""

from __future__ import annotations

import base64
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request, Response

from crm_ledger.api.deps import CrmDep, PrincipalDep
from crm_ledger.api.problems import ProblemError
from crm_ledger.api.schemas.ledger import (
    CheckpointPage,
    CheckpointPublic,
    ConsistencyProof,
    EntryProof,
)
from crm_ledger.storage.keystore import KeyStore
from crm_ledger.storage.ledger_store import CheckpointRow, LedgerStore
from crm_ledger.storage.sql import Tx

router = APIRouter(prefix="/ledger", tags=["ledger"])


def _store(request: Request) -> LedgerStore:
    store: LedgerStore = request.app.state.ledger
    return store


def _public(origin: str, row: CheckpointRow) -> CheckpointPublic:
    return CheckpointPublic(
        origin=origin,
        size=row.size,
        root_hash=row.root_hash.hex(),
        note=row.note,
        created_at=row.created_at,
    )


def _within_log(store: LedgerStore, tx: Tx, size: int, name: str) -> None:
    """422 unless a tree of `size` entries exists."""
    log_size = store.size(tx)
    if size > log_size:
        raise ProblemError(
            422,
            "tree_size_too_large",
            "Tree size too large",
            f"{name} {size} exceeds the log size {log_size}",
        )


def _no_checkpoint() -> ProblemError:
    return ProblemError(
        404,
        "no_checkpoint",
        "No checkpoint yet",
        "no checkpoint has been signed yet; retry in a second",
        {"Retry-After": "1"},
    )


@router.get("/checkpoints/latest", summary="The latest signed checkpoint")
def latest_checkpoint(request: Request, crm: CrmDep, principal: PrincipalDep) -> CheckpointPublic:
    with crm.db.transaction(write=False) as tx:
        row = _store(request).latest_checkpoint(tx)
    if row is None:
        raise _no_checkpoint()
    return _public(crm.origin, row)


@router.get("/checkpoints", summary="Checkpoints after a size, in size order")
def list_checkpoints(
    request: Request,
    crm: CrmDep,
    principal: PrincipalDep,
    after_size: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> CheckpointPage:
    with crm.db.transaction(write=False) as tx:
        rows = _store(request).checkpoints(tx, after_size=after_size, limit=limit + 1)
    items = [_public(crm.origin, r) for r in rows[:limit]]
    next_cursor = str(rows[limit - 1].size) if len(rows) > limit else None
    return CheckpointPage(items=items, next_cursor=next_cursor)


@router.get(
    "/entries",
    summary="The entry of an event's log position, with its inclusion proof",
    description="As `GET /ledger/entries/{leaf_index}`, found by `seq`: the `position` of "
    "a `GET /changes` item, or the `X-Log-Position` a write answered with (positions may "
    "have gaps on PostgreSQL, so a leaf index is not a position minus one).",
)
def entry_of_seq(
    request: Request,
    crm: CrmDep,
    principal: PrincipalDep,
    seq: Annotated[int, Query(ge=1, description="the event's log position")],
    tree_size: Annotated[int | None, Query(ge=1, description="default: latest checkpoint")] = None,
) -> EntryProof:
    with crm.db.transaction(write=False) as tx:
        leaf_index = _store(request).leaf_index_of(tx, seq)
    if leaf_index is None:
        raise ProblemError(404, "not_found", "No such entry", f"no ledger entry has seq {seq}")
    return entry(request, crm, principal, leaf_index, tree_size)


@router.get("/entries/{leaf_index}", summary="An entry with its inclusion proof")
def entry(
    request: Request,
    crm: CrmDep,
    principal: PrincipalDep,
    leaf_index: Annotated[int, Path(ge=0)],
    tree_size: Annotated[int | None, Query(ge=1, description="default: latest checkpoint")] = None,
) -> EntryProof:
    store = _store(request)
    with crm.db.transaction(write=False) as tx:
        if tree_size is None:
            latest = store.latest_checkpoint(tx)
            if latest is None:
                raise _no_checkpoint()
            tree_size = latest.size
        _within_log(store, tx, tree_size, "tree_size")
        if leaf_index >= tree_size:
            raise ProblemError(
                404,
                "not_found",
                "No such entry",
                f"leaf_index {leaf_index} is not in a tree of size {tree_size}",
            )
        tree = store.sync_tree(tx, tree_size)
        proof = tree.inclusion_proof(leaf_index, tree_size)
    found = store.entry(leaf_index)
    if found is None:
        raise ProblemError(404, "not_found", "No such entry", f"no entry {leaf_index}")
    envelope: dict[str, Any] = orjson.loads(found.canonical)
    return EntryProof(
        leaf_index=found.leaf_index,
        seq=found.seq,
        envelope=envelope,
        canonical=base64.b64encode(found.canonical).decode(),
        leaf_hash=found.leaf_hash.hex(),
        tree_size=tree_size,
        inclusion_proof=[p.hex() for p in proof],
    )


@router.get("/consistency", summary="A consistency proof between two tree sizes")
def consistency(
    request: Request,
    crm: CrmDep,
    principal: PrincipalDep,
    first: Annotated[int, Query(ge=1)],
    second: Annotated[int, Query(ge=1)],
) -> ConsistencyProof:
    if first > second:
        raise ProblemError(422, "bad_range", "Bad range", "first must not exceed second")
    store = _store(request)
    with crm.db.transaction(write=False) as tx:
        _within_log(store, tx, second, "second")
        tree = store.sync_tree(tx, second)
        proof = tree.consistency_proof(first, second)
    return ConsistencyProof(first=first, second=second, proof=[p.hex() for p in proof])


@router.get("/keys", summary="The public key manifest")
def keys(request: Request, principal: PrincipalDep) -> Response:
    keystore: KeyStore = request.app.state.keystore
    return Response(keystore.manifest_bytes(), media_type="application/json")
