"""Passwords of people who log in: Argon2id hashes (argon2-cffi, RFC 9106 parameters).

Hashes never enter the log; they live in ``user_credentials``
(`crm_ledger.storage.user_store`). A password has 12 to 1,024 characters.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from crm_ledger.domain.errors import InvalidCommandError

MIN_LENGTH = 12
MAX_LENGTH = 1024
_HASHER = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4 (RFC 9106, low memory)
#: verified against when the user is unknown, so both cases take the same time
DECOY = _HASHER.hash("not a password of anyone")


def check_password(password: object) -> str:
    """`password` when acceptable, else InvalidCommandError."""
    if not isinstance(password, str) or not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidCommandError(
            f"a password has {MIN_LENGTH} to {MAX_LENGTH} characters", field="password"
        )
    return password


def hash_password(password: str) -> str:
    """The Argon2id hash (PHC string) of an acceptable password."""
    return _HASHER.hash(check_password(password))


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches the `stored` hash (None: an unknown user, checked
    against a decoy so the answer takes as long)."""
    try:
        return bool(_HASHER.verify(stored or DECOY, password)) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
