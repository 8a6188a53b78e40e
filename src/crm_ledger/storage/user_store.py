"""What logging in keeps outside the log: password hashes, TOTP secrets, sessions.

* ``user_credentials``: per account, its Argon2id password hash, its TOTP secret (once
  enabled) and a secret being set up (until confirmed). Secrets and hashes must never
  reach the log, which is exported to auditors.
* ``user_sessions``: one row per login: the SHA-256 of the session token's secret (the
  token itself is shown once), the account, its role when it logged in, when the session
  expires and when it was ended (logout, password change, disable).

Times are milliseconds since the Unix epoch.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from uuid import UUID

from crm_ledger.storage.sql import Database, ddl

SESSION_PREFIX = "crms"
_DDL = (
    "CREATE TABLE IF NOT EXISTS user_credentials ("
    " user_id TEXT PRIMARY KEY,"
    " password_hash TEXT NOT NULL,"
    " totp_secret TEXT,"
    " totp_pending TEXT)",
    "CREATE TABLE IF NOT EXISTS user_sessions ("
    " session_id TEXT PRIMARY KEY,"
    " secret_sha256 TEXT NOT NULL,"
    " user_id TEXT NOT NULL,"
    " role TEXT NOT NULL,"
    " created {bigint} NOT NULL,"
    " expires {bigint} NOT NULL,"
    " ended {bigint})",
    "CREATE INDEX IF NOT EXISTS user_sessions_user ON user_sessions (user_id)",
)


@dataclass(frozen=True)
class Session:
    session_id: UUID
    user_id: UUID
    role: str
    expires: int


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def split_session_token(token: str) -> tuple[UUID, str] | None:
    """(session id, secret) of a ``crms_<id hex>_<secret>`` token, or None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != SESSION_PREFIX:
        return None
    try:
        return UUID(hex=parts[1]), parts[2]
    except ValueError:
        return None


class UserStore:
    """The login tables of one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.create([ddl(db.dialect, statement) for statement in _DDL])

    # -- credentials ------------------------------------------------------------------

    def password_hash(self, user_id: UUID) -> str | None:
        with self.db.transaction(write=False) as tx:
            found = tx.scalar(
                "SELECT password_hash FROM user_credentials WHERE user_id = ?", (str(user_id),)
            )
        return None if found is None else str(found)

    def set_password(self, user_id: UUID, password_hash: str) -> None:
        """Store the account's password hash (replacing any)."""
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO user_credentials (user_id, password_hash) VALUES (?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash",
                (str(user_id), password_hash),
            )

    def totp(self, user_id: UUID) -> tuple[str | None, str | None]:
        """(the enabled TOTP secret, the one being set up)."""
        with self.db.transaction(write=False) as tx:
            row = tx.one(
                "SELECT totp_secret, totp_pending FROM user_credentials WHERE user_id = ?",
                (str(user_id),),
            )
        if row is None:
            return None, None
        return (None if row[0] is None else str(row[0]), None if row[1] is None else str(row[1]))

    def set_totp_pending(self, user_id: UUID, secret: str | None) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE user_credentials SET totp_pending = ? WHERE user_id = ?",
                (secret, str(user_id)),
            )

    def set_totp(self, user_id: UUID, secret: str | None) -> None:
        """Make `secret` the enabled one (None: none) and drop any pending one."""
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE user_credentials SET totp_secret = ?, totp_pending = NULL"
                " WHERE user_id = ?",
                (secret, str(user_id)),
            )

    # -- sessions ---------------------------------------------------------------------

    def open_session(
        self, user_id: UUID, role: str, now: int, lifetime_ms: int
    ) -> tuple[str, Session]:
        """A new session: its token (shown once) and what is stored of it."""
        session_id, secret = uuid.uuid4(), secrets.token_urlsafe(32)
        session = Session(session_id, user_id, role, now + lifetime_ms)
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO user_sessions (session_id, secret_sha256, user_id, role, created,"
                " expires) VALUES (?, ?, ?, ?, ?, ?)",
                (str(session_id), _sha256(secret), str(user_id), role, now, session.expires),
            )
        return f"{SESSION_PREFIX}_{session_id.hex}_{secret}", session

    def session(self, token: str, now: int) -> Session | None:
        """The live session of `token` (not ended, not expired), or None."""
        parts = split_session_token(token)
        if parts is None:
            return None
        session_id, secret = parts
        with self.db.transaction(write=False) as tx:
            row = tx.one(
                "SELECT secret_sha256, user_id, role, expires, ended FROM user_sessions"
                " WHERE session_id = ?",
                (str(session_id),),
            )
        if row is None or row[4] is not None or int(row[3]) <= now:
            return None
        if not secrets.compare_digest(str(row[0]), _sha256(secret)):
            return None
        return Session(session_id, UUID(str(row[1])), str(row[2]), int(row[3]))

    def end_session(self, session_id: UUID, now: int) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE user_sessions SET ended = ? WHERE session_id = ? AND ended IS NULL",
                (now, str(session_id)),
            )

    def end_sessions_of(self, user_id: UUID, now: int, *, keep: UUID | None = None) -> int:
        """End every live session of the account but `keep`; how many there were."""
        live = "user_id = ? AND ended IS NULL AND session_id <> ?"
        params = (str(user_id), "" if keep is None else str(keep))
        with self.db.transaction() as tx:
            count = tx.scalar(f"SELECT COUNT(*) FROM user_sessions WHERE {live}", params)
            tx.execute(f"UPDATE user_sessions SET ended = ? WHERE {live}", (now, *params))
        return int(count or 0)
