"""FastAPI dependencies: the application, the caller, the If-Match version, and the
read models' runners (with the wait for one to catch up)."""

from __future__ import annotations

import re
import threading
import time
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool

from crm_ledger.api.problems import ProblemError
from crm_ledger.application import CrmApplication, Principal
from crm_ledger.domain.errors import PreconditionRequiredError
from crm_ledger.projections.runner import ProjectionRunner
from crm_ledger.storage.user_store import SESSION_PREFIX
from crm_ledger.users import principal_of

#: how long a read waits for its read model to reach the position it needs (then 503)
READ_WAIT_SECONDS = 5.0
_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


def crm_of(request: Request) -> CrmApplication:
    """The application built by ``create_app``."""
    crm: CrmApplication = request.app.state.crm
    return crm


async def get_crm(request: Request) -> CrmApplication:
    """`crm_of` as a dependency (``async``: FastAPI runs a plain ``def`` dependency in
    its thread pool, a hand-over that costs more than this function)."""
    return crm_of(request)


CrmDep = Annotated[CrmApplication, Depends(get_crm)]


class PrincipalCache:
    """Caches authenticated tokens for a few seconds (revocation shows up after that)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Principal | None:
        with self._lock:
            hit = self._items.get(token)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def drop(self, token: str) -> None:
        """Forget `token` (its session ended)."""
        with self._lock:
            self._items.pop(token, None)

    def put(self, token: str, principal: Principal) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[token] = (time.monotonic() + self.ttl, principal)


async def authenticate(request: Request) -> Principal:
    """The caller named by ``Authorization: Bearer <api key or session token>``; 401
    otherwise (a ``crms_`` token is a person's session, see `crm_ledger.users`).

    A token seen in the last few seconds is answered from `PrincipalCache` on the event
    loop; only a miss (a database read and a password hash check) goes to the thread
    pool. The principal is kept in ``request.state`` for `get_principal`."""
    challenge = {"WWW-Authenticate": 'Bearer realm="crm-ledger"'}
    authorization = request.headers.get("authorization")
    if not authorization or not authorization.startswith("Bearer "):
        raise ProblemError(
            401,
            "unauthenticated",
            "Authentication required",
            "send Authorization: Bearer <api key>",
            challenge,
        )
    token = authorization.removeprefix("Bearer ").strip()
    cache: PrincipalCache = request.app.state.principals
    principal = cache.get(token)
    if principal is None:
        crm = crm_of(request)
        if token.startswith(f"{SESSION_PREFIX}_"):
            store = request.app.state.user_store
            principal = await run_in_threadpool(principal_of, crm, store, token)
        else:
            principal = await run_in_threadpool(crm.authenticate, token)
        if principal is None:
            raise ProblemError(
                401,
                "invalid_api_key",
                "Invalid API key",
                "the API key is unknown or revoked",
                challenge,
            )
        cache.put(token, principal)
    request.state.actor = principal.actor
    request.state.principal = principal
    return principal


async def get_principal(request: Request) -> Principal:
    """`authenticate` as a dependency: the caller that ``permissions.authorize`` (which
    runs before every route) found for this request, or found now. It takes only the
    request: FastAPI resolves a dependency with parameters of its own (a header, the
    application) at a cost on every request."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal if principal is not None else await authenticate(request)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_expected_version(
    if_match: Annotated[
        str | None,
        Header(description='The ETag of the version you saw, e.g. "3" (required)'),
    ] = None,
) -> int:
    """The version named by ``If-Match`` (428 when absent, 400 when malformed)."""
    if if_match is None:
        raise PreconditionRequiredError("send If-Match with the ETag of the version you saw")
    match = _IF_MATCH.match(if_match)
    if match is None:
        raise ProblemError(
            400, "malformed_if_match", "Malformed If-Match", 'If-Match must be an ETag such as "3"'
        )
    return int(match.group(1))


ExpectedVersionDep = Annotated[int, Depends(get_expected_version)]


def runner_of(request: Request, name: str) -> ProjectionRunner:
    """The runner that keeps the read model `name` up to date."""
    runner: ProjectionRunner = request.app.state.runners[name]
    return runner


def wait_for_read_model(
    crm: CrmApplication,
    runner: ProjectionRunner,
    min_position: int | None,
    *,
    name: str,
    timeout: float,
) -> None:
    """Block until the read model `name` reached `min_position` (default: the head), at
    most `timeout` seconds; else 503 ``read_model_behind``."""
    wanted = crm.head_position() if min_position is None else min_position
    if not runner.wait_for(wanted, timeout):
        raise ProblemError(
            503,
            "read_model_behind",
            "Read model not caught up",
            f"the {name} read model has not reached position {wanted} yet",
            {"Retry-After": "1"},
        )


def malformed_cursor() -> ProblemError:
    """400 ``malformed_cursor``: a cursor this API did not return."""
    return ProblemError(
        400, "malformed_cursor", "Malformed cursor", "the cursor is not one this API returned"
    )


async def get_contacts_runner(request: Request) -> ProjectionRunner:
    """The runner that keeps the contacts read model up to date."""
    return runner_of(request, "contacts")


ContactsRunnerDep = Annotated[ProjectionRunner, Depends(get_contacts_runner)]


async def get_consents_runner(request: Request) -> ProjectionRunner:
    """The runner that keeps the consents read model (list filters) up to date."""
    return runner_of(request, "consents")


ConsentsRunnerDep = Annotated[ProjectionRunner, Depends(get_consents_runner)]
