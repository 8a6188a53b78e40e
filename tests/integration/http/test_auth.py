"""People log in: accounts, passwords (Argon2id, never in the log), sessions, the
second factor (TOTP), lockout after failures, and every security event in the ledger
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pyotp

from crm_ledger.security.totp import verify_code
from crm_ledger.users import principal_of
from tests.integration.http.conftest import Api
from tests.integration.http.test_changes import as_role, feed
from tests.integration.http.test_sales_api import ok, problem

PASSWORD = "correct horse battery staple"


def create(api: Api, username: str = "ana", role: str = "sales", **extra: Any) -> Any:
    body = {"username": username, "role": role, "password": PASSWORD, **extra}
    return api.post("/users", json=body)


def login(
    api: Api, username: str = "ana", password: str = PASSWORD, code: str | None = None
) -> Any:
    body = {"username": username, "password": password, "code": code}
    return api.client.post("/auth/login", json=body)  # no key: the route is public


def as_session(api: Api, token: str) -> Api:
    return Api(api.client, api.crm, token)


def api_actor(api: Api) -> str:
    return str(ok(api.get("/auth/me"))["actor"])


def user_events(api: Api, user_id: str) -> list[str]:
    return [type(e).__name__ for e in api.crm.history(UUID(user_id))]


def test_a_person_logs_in_and_acts_as_themselves(api: Api) -> None:
    made = create(api)
    user = ok(made, 201)
    assert made.headers["Location"] == f"/users/{user['id']}"
    assert (user["username"], user["role"], user["totp"]) == ("ana", "sales", False)
    problem(create(api), 409, "user_conflict")  # the name is taken
    problem(create(api, "bob", password="short"), 422, "validation_failed")
    problem(create(api, "bob", role="boss"), 422, "invalid_command")
    problem(create(api, "Bob Smith"), 422, "invalid_command")

    wrong = login(api, password="not the password")
    unknown = login(api, username="nobody")
    for failed in (wrong, unknown):
        problem(failed, 401, "login_failed")
    assert wrong.json()["detail"] == unknown.json()["detail"]  # nothing tells them apart

    body = {"username": "ana", "password": PASSWORD}
    twice = [
        api.client.post("/auth/login", json=body, headers={"Idempotency-Key": "same"})
        for _ in range(2)
    ]
    assert twice[0].json()["token"] != twice[1].json()["token"]  # never replayed
    assert "idempotent-replayed" not in twice[1].headers
    session = ok(login(api))
    assert session["token"].startswith("crms_")
    assert session["user"]["last_login"] is not None
    ana = as_session(api, session["token"])
    me = ok(ana.get("/auth/me"))
    assert (me["actor"], me["role"], me["kind"]) == (f"user:{user['id']}", "sales", "user")
    contact = ok(ana.post("/contacts", json={"kind": "person", "name": "Eva"}), 201)
    (history,) = ok(api.get(f"/contacts/{contact['id']}/history"))["items"]
    assert history["actor"] == f"user:{user['id']}"
    problem(ana.get("/users"), 403, "forbidden_for_role")
    problem(ana.get("/payments"), 403, "forbidden_for_role")

    assert ana.post("/auth/logout").status_code == 204
    problem(ana.get("/auth/me"), 401, "invalid_api_key")
    assert user_events(api, user["id"]) == [
        "Registered",
        "PasswordSet",
        "LoginFailed",
        "LoginSucceeded",
        "LoginSucceeded",
        "LoginSucceeded",
    ]

    # neither the password nor its hash is in any stored event
    table = api.crm.recorder.events_table_name  # type: ignore[attr-defined]
    with api.crm.db.transaction(write=False) as tx:
        states = b"".join(bytes(row[0]) for row in tx.all(f"SELECT state FROM {table}"))
        stored = tx.scalar("SELECT password_hash FROM user_credentials")
    assert str(stored).startswith("$argon2id$")
    assert PASSWORD.encode() not in states
    assert str(stored).encode() not in states
    assert b"argon2" not in states


def test_failures_lock_the_account_and_an_admin_unlocks_it(api: Api) -> None:
    user = ok(create(api), 201)
    for _ in range(5):
        problem(login(api, password="guessing wrong"), 401, "login_failed")
    locked = login(api)  # even the right password, while locked
    problem(locked, 429, "account_locked")
    assert locked.headers["Retry-After"] == "900"
    problem(login(api, password="still guessing"), 429, "account_locked")
    # the first refusal of the lock is noted, not each one
    assert user_events(api, user["id"])[-7:] == ["LoginFailed"] * 5 + [
        "Locked",
        "LoginRefusedWhileLocked",
    ]
    assert ok(api.get(f"/users/{user['id']}"))["locked_until"] is not None
    ok(api.post(f"/users/{user['id']}/unlock"))
    ok(login(api))


def test_the_second_factor(api: Api) -> None:
    user = ok(create(api), 201)
    ana = as_session(api, ok(login(api))["token"])
    setup = ok(ana.post("/auth/totp"))
    assert setup["uri"].startswith("otpauth://totp/crm-ledger:ana?secret=")
    problem(ana.post("/auth/totp/confirm", json={"code": "000000"}), 422, "invalid_command")
    code = pyotp.TOTP(setup["secret"]).now()
    assert ok(ana.post("/auth/totp/confirm", json={"code": code}))["totp"] is True

    problem(login(api), 401, "login_failed")  # the password alone is not enough
    problem(login(api, code="123456" if code != "123456" else "654321"), 401, "login_failed")
    ok(login(api, code=pyotp.TOTP(setup["secret"]).now()))
    ok(api.request("DELETE", f"/users/{user['id']}/totp"))  # a lost phone
    ok(login(api))
    events = user_events(api, user["id"])
    assert events.count("TotpEnabled") == events.count("TotpDisabled") == 1
    problem(api.post("/auth/totp"), 422, "invalid_command")  # an API key has no account


def test_reset_and_disable_end_sessions(api: Api) -> None:
    user = ok(create(api), 201)
    store = api.client.app.state.user_store  # type: ignore[attr-defined]
    token = ok(login(api))["token"]
    assert principal_of(api.crm, store, token) is not None
    ok(api.post(f"/users/{user['id']}/password", json={"password": "another long passphrase"}))
    assert principal_of(api.crm, store, token) is None
    problem(login(api), 401, "login_failed")
    token = ok(login(api, password="another long passphrase"))["token"]
    ok(api.post(f"/users/{user['id']}/disable"))
    assert principal_of(api.crm, store, token) is None
    problem(login(api, password="another long passphrase"), 401, "login_failed")
    ok(api.post(f"/users/{user['id']}/enable"))
    ok(login(api, password="another long passphrase"))

    listed = ok(api.get("/users"))["items"]
    assert [u["username"] for u in listed] == ["ana"]
    auditor, sales = as_role(api, "auditor"), as_role(api, "sales")
    ok(auditor.get(f"/users/{user['id']}"))
    problem(auditor.post(f"/users/{user['id']}/disable"), 403, "forbidden_for_role")
    seen = [c["event"] for c in feed(auditor) if c["type"] == "user"]
    assert seen[:3] == ["Registered", "PasswordSet", "LoginSucceeded"]
    assert [c for c in feed(sales) if c["type"] == "user"] == []


def test_codes_follow_rfc_6238() -> None:
    """RFC 6238 appendix B, SHA-1 secret "12345678901234567890": at T = 59 s the 8-digit
    code is 94287082, so the 6-digit one is 287082; 30 s later it is no longer valid."""
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    at = datetime.fromtimestamp(59, UTC)
    assert verify_code(secret, "287082", at)
    assert verify_code(secret, "287082", datetime.fromtimestamp(59 + 30, UTC))  # drift
    assert not verify_code(secret, "287082", datetime.fromtimestamp(59 + 90, UTC))
    assert not verify_code(secret, "28708", at)
    assert not verify_code(secret, 287082, at)


def test_people_change_their_own_password_and_second_factor(api: Api) -> None:
    user = ok(create(api), 201)
    store = api.client.app.state.user_store  # type: ignore[attr-defined]
    this, other = ok(login(api))["token"], ok(login(api))["token"]
    ana = as_session(api, this)
    new = "a brand new passphrase"

    def change(current: str, to: str = new) -> Any:
        return ana.post("/auth/password", json={"current_password": current, "new_password": to})

    wrong = change("not my password")
    problem(wrong, 403, "confirmation_failed")
    assert wrong.json()["detail"] == "wrong current password"
    problem(change(PASSWORD, "short"), 422, "validation_failed")
    by_key = api.post("/auth/password", json={"current_password": "x", "new_password": new})
    problem(by_key, 422, "invalid_command")  # an API key has no account
    changed = ok(change(PASSWORD))
    assert changed["id"] == user["id"]
    assert principal_of(api.crm, store, this) is not None  # the session that changed it
    assert principal_of(api.crm, store, other) is None  # every other one ends
    problem(login(api), 401, "login_failed")
    ok(login(api, password=new))
    history = list(api.crm.history(UUID(user["id"])))
    failed = [e for e in history if type(e).__name__ == "LoginFailed"]
    reasons = [e.reason for e in failed]  # type: ignore[attr-defined]
    assert reasons == ["password (confirming a change)", "password"]  # then the old one
    set_by = [e.actor for e in history if type(e).__name__ == "PasswordSet"]  # type: ignore[attr-defined]
    assert set_by == [api_actor(api), f"user:{user['id']}"]

    secret = ok(ana.post("/auth/totp"))["secret"]
    ok(ana.post("/auth/totp/confirm", json={"code": pyotp.TOTP(secret).now()}))
    code = pyotp.TOTP(secret).now()
    other_code = "123456" if code != "123456" else "654321"
    off = "/auth/totp/disable"
    problem(ana.post(off, json={"password": new, "code": other_code}), 403, "confirmation_failed")
    problem(ana.post(off, json={"password": PASSWORD, "code": code}), 403, "confirmation_failed")
    assert ok(ana.post(off, json={"password": new, "code": code}))["totp"] is False
    problem(ana.post(off, json={"password": new, "code": code}), 409, "user_conflict")
    ok(login(api, password=new))  # the password alone is enough again


def test_guessing_the_current_password_locks_the_account(api: Api) -> None:
    user = ok(create(api), 201)
    ana = as_session(api, ok(login(api))["token"])
    body = {"current_password": "guess", "new_password": "a brand new passphrase"}
    for _ in range(5):
        problem(ana.post("/auth/password", json=body), 403, "confirmation_failed")
    locked = ana.post("/auth/password", json={**body, "current_password": PASSWORD})
    problem(locked, 429, "account_locked")
    assert locked.headers["Retry-After"] == "900"
    problem(login(api), 429, "account_locked")
    assert user_events(api, user["id"])[-7:] == ["LoginFailed"] * 5 + [
        "Locked",
        "LoginRefusedWhileLocked",
    ]
