"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from crm_ledger.api.deps import CrmDep
from crm_ledger.api.problems import ProblemError

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers")
def readyz(crm: CrmDep) -> dict[str, str | int]:
    try:
        head = crm.head_position()
    except Exception as exc:
        raise ProblemError(
            503,
            "not_ready",
            "Not ready",
            f"database check failed: {type(exc).__name__}",
            {"Retry-After": "2"},
        ) from exc
    return {"status": "ready", "head": head}
