"""Ed25519 signing keys on disk, outside the database, and the public key manifest.

Layout under ``<data dir>/keys/``: one ``<name>.pem`` private key per signing key (PKCS#8,
mode 0600) and ``manifest.json``, the public key manifest auditors receive. Rotation is
by overlap: a new key becomes active while the old one still signs; retiring a key sets
its ``valid_to``, deletes its private file and keeps its public key forever.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crm_ledger.ledger.envelope import format_timestamp
from crm_ledger.ledger.note import key_id

MANIFEST_NAME = "manifest.json"


class KeyStoreError(Exception):
    """A key operation cannot be done (unknown key, no active key, bad file)."""


@dataclass(frozen=True)
class SigningKey:
    """A private key that may sign checkpoints now."""

    name: str
    private_key: Ed25519PrivateKey


def _now() -> str:
    return format_timestamp(datetime.now(UTC))


class KeyStore:
    """Private key files and the public key manifest in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.manifest_path = directory / MANIFEST_NAME

    def manifest(self) -> dict[str, object]:
        """The manifest as JSON data (empty when no key was ever generated)."""
        if not self.manifest_path.exists():
            return {"version": 1, "keys": []}
        try:
            data = orjson.loads(self.manifest_path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise KeyStoreError(f"{self.manifest_path}: not valid JSON ({exc})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise KeyStoreError(f"{self.manifest_path}: not a key manifest")
        return data

    def manifest_bytes(self) -> bytes:
        """The manifest file's bytes (what an auditor is given)."""
        return orjson.dumps(self.manifest(), option=orjson.OPT_INDENT_2) + b"\n"

    def keys(self) -> list[dict[str, object]]:
        """Every key ever generated, oldest first."""
        keys = self.manifest()["keys"]
        assert isinstance(keys, list)
        return keys

    def _write_manifest(self, keys: list[dict[str, object]]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({"version": 1, "keys": keys}, option=orjson.OPT_INDENT_2))
        os.replace(tmp, self.manifest_path)

    def generate(self, name: str | None = None) -> str:
        """Create a new active key; return its name. Other active keys stay active."""
        name = name or f"crm-ledger-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"
        if any(k["name"] == name for k in self.keys()):
            raise KeyStoreError(f"a key named {name!r} already exists")
        private = Ed25519PrivateKey.generate()
        public_raw = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = self.directory / f"{name}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        entry: dict[str, object] = {
            "name": name,
            "key_id": key_id(name, public_raw).hex(),
            "algorithm": "ed25519",
            "public_key": base64.b64encode(public_raw).decode(),
            "valid_from": _now(),
            "valid_to": None,
            "status": "active",
        }
        self._write_manifest([*self.keys(), entry])
        return name

    def ensure_key(self) -> str | None:
        """Generate a first key when none is active; return its name (or None)."""
        if any(k["status"] == "active" for k in self.keys()):
            return None
        return self.generate()

    def _end(self, name: str, status: str, at: str | None) -> None:
        keys = self.keys()
        match = [k for k in keys if k["name"] == name]
        if not match:
            raise KeyStoreError(f"no key named {name!r}")
        key = match[0]
        if key["status"] != "active":
            raise KeyStoreError(f"key {name!r} is already {key['status']}")
        if status == "retired" and not any(
            k["status"] == "active" and k["name"] != name for k in keys
        ):
            raise KeyStoreError("cannot retire the only active key; rotate first")
        key["status"] = status
        key["valid_to"] = at or _now()
        self._write_manifest(keys)
        (self.directory / f"{name}.pem").unlink(missing_ok=True)

    def retire(self, name: str) -> None:
        """Stop signing with `name` from now on; its public key stays in the manifest."""
        self._end(name, "retired", None)

    def compromised(self, name: str, at: str) -> None:
        """Mark `name` compromised since `at`: its signatures after `at` are rejected."""
        self._end(name, "compromised", at)

    def rotate(self) -> str:
        """Start the overlap: a new active key signs alongside the current ones."""
        return self.generate()

    def signers(self) -> list[SigningKey]:
        """Active keys whose private file is present (all of them sign each checkpoint)."""
        found = []
        for key in self.keys():
            if key["status"] != "active":
                continue
            path = self.directory / f"{key['name']}.pem"
            if not path.exists():
                continue
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise KeyStoreError(f"{path}: not an Ed25519 key")
            found.append(SigningKey(str(key["name"]), private))
        return found
