"""The User aggregate: a person who logs in, and the security events of that account.

Every security event is a ledger event: the account created (username, role), its
password set or reset, its second factor (TOTP) enabled or disabled, each login that
succeeded or failed, its lock after too many failures in a row, unlock, disable and
enable. Password hashes and TOTP secrets are never in events (they live in
``user_credentials``).

A login fails for a wrong password or one-time code; ``MAX_FAILURES`` failures in a row
lock the account for ``LOCK_MINUTES`` (``Locked``, with the time it ends); a success
resets the count. The first login refused during a lock is noted
(``LoginRefusedWhileLocked``), the others of that lock are not. A disabled account
cannot log in until enabled again.

::

    DomainError
    ├── InvalidCommandError      a bad username or role
    └── UserError                a command the account's state does not allow
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.api_key import Role
from crm_ledger.domain.errors import DomainError, InvalidCommandError
from crm_ledger.ledger.envelope import format_timestamp

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{2,63}$")
MAX_FAILURES = 5
LOCK_MINUTES = 15


class UserError(DomainError):
    """A command the account's state does not allow."""

    title = "Account state conflict"
    code = "user_conflict"


def check_username(value: object) -> str:
    if not isinstance(value, str) or not USERNAME.match(value):
        raise InvalidCommandError(
            "username: 3 to 64 lowercase letters, digits, '_', '.', '@' or '-'", field="username"
        )
    return value


def check_role(value: object) -> str:
    try:
        return Role(str(value)).value
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise InvalidCommandError(f"role must be one of {names}", field="role") from None


NAMESPACE = UUID("5d0c1f5e-2b7a-4c51-9f0e-1d2c3b4a5f60")


def user_id(username: str) -> UUID:
    """An account's id, derived from its username (so a username is taken once)."""
    return uuid5(NAMESPACE, username)


class User(Aggregate):
    """A person's account (see the module docstring)."""

    @staticmethod
    def create_id(username: str) -> UUID:
        """The aggregate's id: derived from the username (the library calls this)."""
        return user_id(username)

    @event("Registered")
    def __init__(self, *, username: str, role: str, actor: str) -> None:
        self.username = username
        self.role = role
        self.totp = False
        self.disabled = False
        self.failures = 0
        self.locked_until: str | None = None
        self.last_login: str | None = None
        self.refused_in_lock: str | None = None  # the lock (its end) a refusal was noted in
        self.created_by = actor

    @classmethod
    def register(cls, *, username: str, role: str, actor: str) -> User:
        return cls(username=check_username(username), role=check_role(role), actor=actor)

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and format_timestamp(now) < self.locked_until

    @event("PasswordSet")
    def password_set(self, *, actor: str) -> None:
        """The password was set or reset (its hash is stored elsewhere)."""

    def enable_totp(self, *, actor: str) -> None:
        if self.totp:
            raise UserError(f"user {self.username} already has a second factor")
        self._totp_enabled(actor=actor)

    @event("TotpEnabled")
    def _totp_enabled(self, *, actor: str) -> None:
        self.totp = True

    def disable_totp(self, *, actor: str) -> None:
        if not self.totp:
            raise UserError(f"user {self.username} has no second factor")
        self._totp_disabled(actor=actor)

    @event("TotpDisabled")
    def _totp_disabled(self, *, actor: str) -> None:
        self.totp = False

    @event("LoginSucceeded")
    def login_succeeded(self, *, at: str, session_id: str, actor: str) -> None:
        self.failures = 0
        self.locked_until = None
        self.last_login = at

    def login_failed(self, *, reason: str, now: datetime, actor: str) -> None:
        """Record a failed login; the last failure allowed also locks the account."""
        self._login_failed(reason=reason, at=format_timestamp(now), actor=actor)
        if self.failures >= MAX_FAILURES:
            until = format_timestamp(now + timedelta(minutes=LOCK_MINUTES))
            self._locked(until=until, failures=self.failures, actor=actor)

    @event("LoginFailed")
    def _login_failed(self, *, reason: str, at: str, actor: str) -> None:
        self.failures += 1

    @event("Locked")
    def _locked(self, *, until: str, failures: int, actor: str) -> None:
        self.locked_until = until
        self.failures = 0

    def refuse_while_locked(self, *, now: datetime, actor: str) -> None:
        """Note a login refused during the lock, once per lock (so an auditor sees that
        someone kept trying, without an event per attempt)."""
        if self.locked_until is not None and self.refused_in_lock != self.locked_until:
            until = self.locked_until
            self._refused_while_locked(until=until, at=format_timestamp(now), actor=actor)

    @event("LoginRefusedWhileLocked")
    def _refused_while_locked(self, *, until: str, at: str, actor: str) -> None:
        self.refused_in_lock = until

    def unlock(self, *, actor: str) -> None:
        if self.locked_until is None:
            raise UserError(f"user {self.username} is not locked")
        self._unlocked(actor=actor)

    @event("Unlocked")
    def _unlocked(self, *, actor: str) -> None:
        self.locked_until = None
        self.failures = 0

    def disable(self, *, actor: str) -> None:
        if self.disabled:
            raise UserError(f"user {self.username} is already disabled")
        self._disabled(actor=actor)

    @event("Disabled")
    def _disabled(self, *, actor: str) -> None:
        self.disabled = True

    def enable(self, *, actor: str) -> None:
        if not self.disabled:
            raise UserError(f"user {self.username} is not disabled")
        self._enabled(actor=actor)

    @event("Enabled")
    def _enabled(self, *, actor: str) -> None:
        self.disabled = False


def user_snapshot(user: User) -> dict[str, Any]:
    """The account's public state (nothing secret)."""
    return {
        "id": str(user.id),
        "version": user.version,
        "username": user.username,
        "role": user.role,
        "totp": user.totp,
        "disabled": user.disabled,
        "locked_until": user.locked_until,
        "last_login": user.last_login,
        "created_by": user.created_by,
        "created_at": format_timestamp(user.created_on),
    }
