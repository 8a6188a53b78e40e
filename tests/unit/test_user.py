"""The User aggregate: lockout after failures in a row, unlock, disable, second factor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.user import LOCK_MINUTES, MAX_FAILURES, User, UserError, user_id

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_failures_in_a_row_lock_and_a_success_resets_the_count() -> None:
    user = User.register(username="ana", role="sales", actor="system:test")
    assert user.id == user_id("ana")
    for _ in range(MAX_FAILURES - 1):
        user.login_failed(reason="password", now=NOW, actor="system:login")
    user.login_succeeded(at="2026-03-02T09:00:00.000000Z", session_id="s", actor="system:login")
    for _ in range(MAX_FAILURES - 1):
        user.login_failed(reason="password", now=NOW, actor="system:login")
    assert not user.locked_at(NOW)  # the success started the count again
    user.login_failed(reason="password", now=NOW, actor="system:login")
    assert user.locked_at(NOW)
    assert user.locked_at(NOW + timedelta(minutes=LOCK_MINUTES - 1))
    assert not user.locked_at(NOW + timedelta(minutes=LOCK_MINUTES))
    names = [type(e).__name__ for e in user.collect_events()]
    assert names.count("Locked") == 1
    assert names[-2:] == ["LoginFailed", "Locked"]
    user.unlock(actor="user:admin")
    assert not user.locked_at(NOW)
    with pytest.raises(UserError):
        user.unlock(actor="user:admin")


def test_states_and_values() -> None:
    user = User.register(username="bob.smith@example.com", role="auditor", actor="system:test")
    user.disable(actor="user:admin")
    with pytest.raises(UserError):
        user.disable(actor="user:admin")
    user.enable(actor="user:admin")
    user.enable_totp(actor="user:bob")
    with pytest.raises(UserError):
        user.enable_totp(actor="user:bob")
    user.disable_totp(actor="user:admin")
    for bad in ({"username": "Bob"}, {"username": "ab"}, {"role": "boss"}):
        with pytest.raises(InvalidCommandError):
            User.register(**{"username": "carol", "role": "sales", **bad}, actor="system:test")
