"""Time-based one-time passwords (RFC 6238: 6 digits, 30 s, HMAC-SHA1) with pyotp, the
second factor of a login. Secrets never enter the log (see `user_store`)."""

from __future__ import annotations

from datetime import datetime

import pyotp

ISSUER = "crm-ledger"


def new_secret() -> str:
    """A new base32 secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (usually as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def verify_code(secret: str, code: object, at: datetime) -> bool:
    """Whether `code` is the code at `at` (or of the 30 s step before or after, for
    clock drift)."""
    if not isinstance(code, str) or not code.isdigit() or len(code) != 6:
        return False
    return bool(pyotp.TOTP(secret).verify(code, for_time=at, valid_window=1))
