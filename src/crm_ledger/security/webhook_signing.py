"""Webhook message signatures as the Standard Webhooks specification defines them.

A secret is ``whsec_`` followed by the base64 of 32 random bytes. A message carries three
headers: ``webhook-id`` (the same on every retry of one message), ``webhook-timestamp``
(Unix seconds when this attempt was sent) and ``webhook-signature``: space-separated
``v1,<base64 of HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``, one per secret in use
(two while a rotated secret is still accepted). A receiver verifies with any Standard
Webhooks library, or with these few lines.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret (``whsec_`` + base64 of 32 random bytes)."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret[len(PREFIX) :], validate=True)


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of `body` sent as `message_id` at `timestamp`."""
    signed = b"%s.%d.%s" % (message_id.encode(), timestamp, body)
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(
    secrets_in_use: Iterable[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt, signed with every secret."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(s, message_id, timestamp, body) for s in secrets_in_use
        ),
    }
