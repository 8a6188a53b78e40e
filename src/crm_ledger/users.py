"""Account and login use cases, called by the API and the CLI.

People log in with a username, a password and, once enabled, a one-time code (TOTP),
and get a session token (``crms_...``, shown once, valid `SESSION_HOURS`) that the API
accepts as an API key is accepted, with the account's role; their writes are attributed
to ``user:<account id>``. Every login, success or failure, is a ledger event of the
account (`crm_ledger.domain.user`). An unknown username and a wrong password answer the
same and take as long (the password is checked against a decoy hash); logins to a locked
account are refused until the lock ends, the first of them noted on the account.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from crm_ledger.application import CrmApplication, Principal, Written
from crm_ledger.domain.errors import DomainError, InvalidCommandError, NotFoundError
from crm_ledger.domain.user import LOCK_MINUTES, USERNAME, User, UserError, user_id
from crm_ledger.kinds import Kind
from crm_ledger.ledger.envelope import format_timestamp
from crm_ledger.retry import store_retrying
from crm_ledger.security.passwords import check_password, hash_password, verify_password
from crm_ledger.security.totp import new_secret, provisioning_uri, verify_code
from crm_ledger.storage.user_store import Session, UserStore

USER = Kind(User, "user")
SESSION_HOURS = 12
LOCK_SECONDS = LOCK_MINUTES * 60
LOGIN_ACTOR = "system:login"


class AuthenticationFailedError(DomainError):
    """Unknown username, wrong password or one-time code, or a disabled account."""

    title = "Login failed"
    code = "login_failed"


class AccountLockedError(DomainError):
    """Too many failed logins in a row: the account is locked for a while."""

    title = "Account locked"
    code = "account_locked"

    def __init__(self, until: str) -> None:
        super().__init__(f"too many failed logins: locked until {until}")
        self.until = until


class ConfirmationFailedError(DomainError):
    """A change to one's own account was not confirmed: wrong current password or code."""

    title = "Confirmation failed"
    code = "confirmation_failed"


def now_ms() -> int:
    return int(time.time() * 1000)


def format_ms(ms: int) -> str:
    """Milliseconds since the epoch as RFC 3339 UTC text."""
    return format_timestamp(datetime.fromtimestamp(ms / 1000, UTC))


def create_user(
    crm: CrmApplication, store: UserStore, *, username: str, role: str, password: str, actor: str
) -> Written:
    """Create an account with its first password (UserError when the name is taken)."""
    check_password(password)
    user = User.register(username=username, role=role, actor=actor)
    try:
        USER.load(crm, user.id)
        raise UserError(f"username {username!r} is taken")
    except NotFoundError:
        pass
    user.password_set(actor=actor)
    written = Written(user, crm.store(user, actor=actor))  # a taken name fails here
    store.set_password(user.id, hash_password(password))
    return written


def get_user(crm: CrmApplication, account_id: UUID) -> User:
    return USER.load(crm, account_id)


def reset_password(
    crm: CrmApplication,
    store: UserStore,
    account_id: UUID,
    *,
    password: str,
    actor: str,
    keep: UUID | None = None,
) -> Written:
    """Set a new password and end every session of the account (but session `keep`)."""
    hashed = hash_password(password)

    def build() -> list[User]:
        user = USER.load(crm, account_id)
        user.password_set(actor=actor)
        return [user]

    written = store_retrying(crm, build, actor=actor, exhausted="the account kept changing")
    store.set_password(account_id, hashed)
    store.end_sessions_of(account_id, now_ms(), keep=keep)
    return written


def change_state(
    crm: CrmApplication, store: UserStore, account_id: UUID, command: str, *, actor: str
) -> Written:
    """``disable`` (also ends its sessions), ``enable`` or ``unlock`` the account."""

    def build() -> list[User]:
        user = USER.load(crm, account_id)
        getattr(user, command)(actor=actor)
        return [user]

    written = store_retrying(crm, build, actor=actor, exhausted="the account kept changing")
    if command == "disable":
        store.end_sessions_of(account_id, now_ms())
    return written


@dataclass(frozen=True)
class Login:
    token: str
    session: Session
    user: User


def login(
    crm: CrmApplication,
    store: UserStore,
    *,
    username: str,
    password: str,
    code: str | None,
    now: datetime | None = None,
) -> Login:
    """Log in (AuthenticationFailedError, AccountLockedError); each outcome is
    recorded on the account, but of the refusals during a lock only the first."""
    moment = now or datetime.now(UTC)
    known = isinstance(username, str) and USERNAME.match(username) is not None
    account = user_id(username) if known else None
    user: User | None = None
    if account is not None:
        try:
            user = USER.load(crm, account)
        except NotFoundError:
            user = None
    password_ok = verify_password(None if user is None else store.password_hash(user.id), password)
    if user is None:
        raise AuthenticationFailedError("wrong username, password or one-time code")
    _refuse_if_locked(crm, user, moment)
    reason = _failure(store, user, password_ok, code, moment)
    if reason is not None:
        _record(
            crm, user.id, lambda u: u.login_failed(reason=reason, now=moment, actor=LOGIN_ACTOR)
        )
        raise AuthenticationFailedError("wrong username, password or one-time code")
    token, session = store.open_session(
        user.id, user.role, int(moment.timestamp() * 1000), SESSION_HOURS * 3600 * 1000
    )
    at = format_timestamp(moment)
    done = _record(
        crm,
        user.id,
        lambda u: u.login_succeeded(at=at, session_id=str(session.session_id), actor=LOGIN_ACTOR),
    )
    return Login(token, session, done)


def _refuse_if_locked(crm: CrmApplication, user: User, moment: datetime) -> None:
    """AccountLockedError while the account is locked (the first refusal of a lock is
    noted on the account)."""
    if not user.locked_at(moment):
        return
    assert user.locked_until is not None
    if user.refused_in_lock != user.locked_until:
        _record(crm, user.id, lambda u: u.refuse_while_locked(now=moment, actor=LOGIN_ACTOR))
    raise AccountLockedError(user.locked_until)


def _failure(
    store: UserStore, user: User, password_ok: bool, code: str | None, moment: datetime
) -> str | None:
    """Why this login fails (None: it does not)."""
    if user.disabled:
        return "disabled"
    if not password_ok:
        return "password"
    if user.totp and not _code_ok(store, user.id, code, moment):
        return "one-time code"
    return None


def _code_ok(store: UserStore, account: UUID, code: str | None, moment: datetime) -> bool:
    """Whether `code` is a current one-time code of the account's second factor."""
    secret, _ = store.totp(account)
    return secret is not None and verify_code(secret, code, moment)


def _record(crm: CrmApplication, account: UUID, command: Callable[[User], None]) -> User:
    """Run `command` on the account and store it (retried on a concurrent change)."""

    def build() -> list[User]:
        user = USER.load(crm, account)
        command(user)
        return [user]

    written = store_retrying(crm, build, actor=LOGIN_ACTOR, exhausted="the account kept changing")
    assert isinstance(written.aggregate, User)
    return written.aggregate


def logout(store: UserStore, principal: Principal, token: str) -> None:
    """End the caller's session (nothing for an API key)."""
    session = store.session(token, now_ms())
    if principal.kind == "user" and session is not None:
        store.end_session(session.session_id, now_ms())


def principal_of(crm: CrmApplication, store: UserStore, token: str) -> Principal | None:
    """The principal of a live session token, or None."""
    session = store.session(token, now_ms())
    if session is None:
        return None
    user = USER.load(crm, session.user_id)
    if user.disabled:
        return None
    return Principal(key_id=user.id, name=user.username, role=session.role, kind="user")


def totp_setup(store: UserStore, principal: Principal) -> tuple[str, str]:
    """Start enabling a second factor for the caller's account: a new secret (kept as
    pending) and its ``otpauth://`` URI; `totp_confirm` enables it."""
    _own_account(principal)
    secret = new_secret()
    store.set_totp_pending(principal.key_id, secret)
    return secret, provisioning_uri(secret, principal.name)


def totp_confirm(crm: CrmApplication, store: UserStore, principal: Principal, code: str) -> Written:
    """Enable the pending second factor when `code` is right (InvalidCommandError)."""
    _, pending = store.totp(principal.key_id)
    if pending is None or not verify_code(pending, code, datetime.now(UTC)):
        raise InvalidCommandError("the one-time code does not match the secret being set up")

    def build() -> list[User]:
        user = USER.load(crm, principal.key_id)
        user.enable_totp(actor=principal.actor)
        return [user]

    written = store_retrying(crm, build, actor=principal.actor, exhausted="the account changed")
    store.set_totp(principal.key_id, pending)
    return written


def totp_reset(crm: CrmApplication, store: UserStore, account_id: UUID, *, actor: str) -> Written:
    """An admin removes an account's second factor (a lost phone)."""

    def build() -> list[User]:
        user = USER.load(crm, account_id)
        user.disable_totp(actor=actor)
        return [user]

    written = store_retrying(crm, build, actor=actor, exhausted="the account kept changing")
    store.set_totp(account_id, None)
    return written


def _own_account(principal: Principal) -> UUID:
    """The caller's account (InvalidCommandError for an API key, which has none)."""
    if principal.kind != "user":
        raise InvalidCommandError("this is for people's accounts, not API keys")
    return principal.key_id


def _confirm(
    crm: CrmApplication,
    store: UserStore,
    user: User,
    *,
    password: str,
    code: str | None,
    moment: datetime,
) -> None:
    """Check the caller's current password (and code, when given) before a change to
    their own account. A wrong one counts as a failed login (so a stolen session cannot
    guess the password: five in a row lock the account, as at login);
    ConfirmationFailedError, or AccountLockedError while locked."""
    _refuse_if_locked(crm, user, moment)
    reason = None
    if not verify_password(store.password_hash(user.id), password):
        reason = "password"
    elif code is not None and not _code_ok(store, user.id, code, moment):
        reason = "one-time code"
    if reason is not None:
        why = f"{reason} (confirming a change)"
        _record(crm, user.id, lambda u: u.login_failed(reason=why, now=moment, actor=LOGIN_ACTOR))
        raise ConfirmationFailedError(f"wrong current {reason}")


def change_own_password(
    crm: CrmApplication,
    store: UserStore,
    principal: Principal,
    token: str,
    *,
    current: str,
    new: str,
    now: datetime | None = None,
) -> Written:
    """The caller sets a new password, confirmed with the current one; the account's
    other sessions end, the one making the change (`token`) goes on."""
    account = _own_account(principal)
    check_password(new)
    moment = now or datetime.now(UTC)
    _confirm(crm, store, USER.load(crm, account), password=current, code=None, moment=moment)
    session = store.session(token, now_ms())
    keep = None if session is None else session.session_id
    return reset_password(crm, store, account, password=new, actor=principal.actor, keep=keep)


def turn_off_own_totp(
    crm: CrmApplication,
    store: UserStore,
    principal: Principal,
    *,
    password: str,
    code: str,
    now: datetime | None = None,
) -> Written:
    """The caller removes their own second factor, confirmed with their password and a
    current code (without the phone, an admin resets it: `totp_reset`)."""
    account = _own_account(principal)
    user = USER.load(crm, account)
    if not user.totp:
        raise UserError(f"user {user.username} has no second factor")
    _confirm(crm, store, user, password=password, code=code, moment=now or datetime.now(UTC))
    return totp_reset(crm, store, account, actor=principal.actor)
