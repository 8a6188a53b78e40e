"""``/auth``: people log in (password and, once enabled, a one-time code) and get a
session token; ``/users``: admins manage accounts. See `crm_ledger.users`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from crm_ledger import users
from crm_ledger.api.deps import CrmDep, PrincipalDep
from crm_ledger.api.problems import ProblemError
from crm_ledger.api.responses import etag, resource_response
from crm_ledger.api.schemas.auth import (
    Credentials,
    Me,
    PasswordChange,
    PasswordReset,
    SessionPublic,
    TotpCode,
    TotpOff,
    TotpSetup,
    UserCreate,
    UserPage,
    UserPublic,
)
from crm_ledger.domain.user import User, user_snapshot
from crm_ledger.listing import created, page_of, topic_of
from crm_ledger.storage.user_store import UserStore

T = TypeVar("T")
router = APIRouter(prefix="/auth", tags=["auth"])
users_router = APIRouter(prefix="/users", tags=["users"])


def _store(request: Request) -> UserStore:
    store: UserStore = request.app.state.user_store
    return store


@router.post(
    "/login",
    response_model=SessionPublic,
    summary="Log in with username, password and (once enabled) a one-time code",
    description="401 `login_failed` for an unknown username, a wrong password or code, or a "
    "disabled account (all alike); 429 `account_locked` (with `Retry-After`) after 5 "
    "failures in a row, for 15 minutes. Every login, success or failure, is a ledger event.",
)
async def login(body: Credentials, request: Request, crm: CrmDep) -> SessionPublic:
    done = await run_in_threadpool(
        _unless_locked,
        lambda: users.login(
            crm,
            _store(request),
            username=body.username,
            password=body.password,
            code=body.code,
        ),
    )
    expires = users.format_ms(done.session.expires)
    return SessionPublic(token=done.token, expires_at=expires, user=_user(done.user))


def _unless_locked(call: Callable[[], T]) -> T:
    """`call()`, answering a locked account with 429 and ``Retry-After``."""
    try:
        return call()
    except users.AccountLockedError as exc:
        raise ProblemError(
            429, exc.code, exc.title, exc.detail, {"Retry-After": str(users.LOCK_SECONDS)}
        ) from None


def _user(user: Any) -> UserPublic:
    return UserPublic.model_validate(user_snapshot(user))


@router.post("/logout", status_code=204, summary="End this session (nothing for an API key)")
def logout(
    request: Request,
    principal: PrincipalDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    token = _token(authorization)
    users.logout(_store(request), principal, token)
    request.app.state.principals.drop(token)
    return Response(status_code=204)


@router.get("/me", summary="Who is calling: the actor name writes are attributed to")
def me(principal: PrincipalDep) -> Me:
    return Me(actor=principal.actor, name=principal.name, role=principal.role, kind=principal.kind)


def _token(authorization: str | None) -> str:
    return (authorization or "").removeprefix("Bearer ").strip()


CONFIRMING = (
    "422 `invalid_command` for an API key (it has no account); 403 `confirmation_failed` "
    "for a wrong current password or code, which counts as a failed login (5 in a row lock "
    "the account: 429 `account_locked` with `Retry-After`)."
)


@router.post(
    "/password",
    response_model=UserPublic,
    summary="Change your own password, confirmed with the current one",
    description="Your other sessions end; this one goes on. " + CONFIRMING,
)
def change_password(
    body: PasswordChange,
    request: Request,
    crm: CrmDep,
    principal: PrincipalDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    written = _unless_locked(
        lambda: users.change_own_password(
            crm,
            _store(request),
            principal,
            _token(authorization),
            current=body.current_password,
            new=body.new_password,
        )
    )
    return resource_response(written, user_snapshot, "/users")


@router.post(
    "/totp",
    response_model=TotpSetup,
    summary="Start enabling a second factor: a new secret for an authenticator app",
)
def totp_setup(request: Request, principal: PrincipalDep) -> TotpSetup:
    secret, uri = users.totp_setup(_store(request), principal)
    return TotpSetup(secret=secret, uri=uri)


@router.post(
    "/totp/confirm",
    response_model=UserPublic,
    summary="Enable the second factor with a code from the app; later logins need one",
)
def totp_confirm(
    body: TotpCode, request: Request, crm: CrmDep, principal: PrincipalDep
) -> Response:
    written = users.totp_confirm(crm, _store(request), principal, body.code)
    return resource_response(written, user_snapshot, "/users")


@router.post(
    "/totp/disable",
    response_model=UserPublic,
    summary="Turn off your own second factor, confirmed with your password and a code",
    description="Without the phone, ask an admin (`DELETE /users/{id}/totp`). "
    + "409 `user_conflict` when no second factor is on. "
    + CONFIRMING,
)
def totp_disable(body: TotpOff, request: Request, crm: CrmDep, principal: PrincipalDep) -> Response:
    written = _unless_locked(
        lambda: users.turn_off_own_totp(
            crm, _store(request), principal, password=body.password, code=body.code
        )
    )
    return resource_response(written, user_snapshot, "/users")


# -- accounts (admin) --------------------------------------------------------------------

REGISTERED = topic_of(User, "Registered")


@users_router.post("", status_code=201, response_model=UserPublic, summary="Create an account")
def create_user(
    body: UserCreate, request: Request, crm: CrmDep, principal: PrincipalDep
) -> Response:
    written = users.create_user(
        crm,
        _store(request),
        username=body.username,
        role=body.role,
        password=body.password,
        actor=principal.actor,
    )
    return resource_response(written, user_snapshot, "/users", 201)


@users_router.get("", summary="List accounts, oldest first")
def list_users(
    crm: CrmDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[int, Query(ge=0, description="the next_cursor of the page before")] = 0,
) -> UserPage:
    found = ((p, users.get_user(crm, i)) for p, i in created(crm, REGISTERED, cursor))
    items, next_position = page_of(found, lambda _u: True, limit=limit, after=cursor)
    return UserPage(
        items=[_user(u) for u in items],
        next_cursor=None if next_position is None else str(next_position),
    )


@users_router.get("/{user_id}", summary="Read one account")
def get_user(user_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response) -> UserPublic:
    user = users.get_user(crm, user_id)
    response.headers["ETag"] = etag(user)
    return _user(user)


@users_router.post(
    "/{user_id}/password",
    response_model=UserPublic,
    summary="Set a new password; every session of the account ends",
)
def reset_password(
    user_id: UUID, body: PasswordReset, request: Request, crm: CrmDep, principal: PrincipalDep
) -> Response:
    written = users.reset_password(
        crm, _store(request), user_id, password=body.password, actor=principal.actor
    )
    return resource_response(written, user_snapshot, "/users")


def _state_route(command: str, summary: str) -> None:
    def route(user_id: UUID, request: Request, crm: CrmDep, principal: PrincipalDep) -> Response:
        written = users.change_state(crm, _store(request), user_id, command, actor=principal.actor)
        return resource_response(written, user_snapshot, "/users")

    route.__name__ = f"{command}_user"
    users_router.post(f"/{{user_id}}/{command}", response_model=UserPublic, summary=summary)(route)


for _command, _summary in (
    ("disable", "Disable the account; its sessions end"),
    ("enable", "Enable a disabled account"),
    ("unlock", "Lift a lock left by failed logins"),
):
    _state_route(_command, _summary)


@users_router.delete(
    "/{user_id}/totp",
    response_model=UserPublic,
    summary="Remove the account's second factor (a lost phone)",
)
def reset_totp(user_id: UUID, request: Request, crm: CrmDep, principal: PrincipalDep) -> Response:
    written = users.totp_reset(crm, _store(request), user_id, actor=principal.actor)
    return resource_response(written, user_snapshot, "/users")
