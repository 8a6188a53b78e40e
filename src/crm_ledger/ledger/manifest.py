"""The public key manifest: which keys may sign checkpoints, and when.

JSON: ``{"version": 1, "keys": [{"name", "key_id" (hex of the 4-byte C2SP key id),
"algorithm": "ed25519", "public_key" (base64 of 32 raw bytes), "valid_from",
"valid_to" (RFC 3339 UTC or null), "status": "active" | "retired" | "compromised"}]}``.
A key is valid at moment t when ``valid_from <= t < valid_to`` (no ``valid_to``: open).
Retired and compromised keys stay listed forever so old checkpoints remain verifiable.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import orjson

from crm_ledger.ledger.errors import ManifestError
from crm_ledger.ledger.note import key_id

STATUSES = frozenset({"active", "retired", "compromised"})


@dataclass(frozen=True)
class PublicKey:
    """One manifest entry."""

    name: str
    key_id: bytes
    public_key: bytes
    valid_from: str
    valid_to: str | None
    status: str

    def valid_at(self, moment: str) -> bool:
        """True when `moment` (RFC 3339 UTC, same format) lies in the validity window."""
        if moment < self.valid_from:
            return False
        return self.valid_to is None or moment < self.valid_to


@dataclass(frozen=True)
class Manifest:
    """The set of public keys."""

    keys: tuple[PublicKey, ...]

    @classmethod
    def load(cls, data: bytes) -> Manifest:
        """Parse manifest bytes (ManifestError when malformed)."""
        try:
            raw = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ManifestError(f"key manifest is not JSON: {exc}") from None
        if (
            not isinstance(raw, dict)
            or raw.get("version") != 1
            or not isinstance(raw.get("keys"), list)
        ):
            raise ManifestError("key manifest needs version 1 and a list of keys")
        keys = []
        for number, item in enumerate(raw["keys"]):
            try:
                name = str(item["name"])
                public = base64.b64decode(item["public_key"], validate=True)
                declared = bytes.fromhex(item["key_id"])
                status = str(item["status"])
                valid_to = item.get("valid_to")
                entry = PublicKey(
                    name,
                    declared,
                    public,
                    str(item["valid_from"]),
                    None if valid_to is None else str(valid_to),
                    status,
                )
            except (KeyError, TypeError, ValueError, binascii.Error) as exc:
                raise ManifestError(f"key #{number}: malformed ({exc})") from None
            if item.get("algorithm") != "ed25519" or len(public) != 32:
                raise ManifestError(f"key #{number}: only 32-byte ed25519 keys are supported")
            if status not in STATUSES:
                raise ManifestError(f"key #{number}: unknown status {status!r}")
            if key_id(name, public) != declared:
                raise ManifestError(f"key #{number}: key_id does not match name and key")
            keys.append(entry)
        return cls(tuple(keys))

    def find(self, name: str, key_id_bytes: bytes) -> PublicKey | None:
        """The key with that name and key id, if listed."""
        for key in self.keys:
            if key.name == name and key.key_id == key_id_bytes:
                return key
        return None
