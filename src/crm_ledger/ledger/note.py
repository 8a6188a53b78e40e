"""C2SP signed notes (c2sp.org/signed-note) carrying tlog checkpoints
(c2sp.org/tlog-checkpoint), signed with Ed25519.

A note is its text (UTF-8, every line ending in ``\\n``), a blank line, then one line per
signature: ``— <name> <base64(key id || signature)>``. The signature is over the text.
For Ed25519 the 4-byte key id is ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``.
A checkpoint's text is ``<origin>\\n<size>\\n<base64 root>\\n``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import sha256

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from crm_ledger.ledger.errors import NoteError

ALGORITHM_ED25519 = b"\x01"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")  # ASCII digits only: str.isdigit accepts "²"
SIGNATURE_PREFIX = "\u2014 "  # em dash and space


@dataclass(frozen=True)
class Checkpoint:
    """The parsed text of a checkpoint."""

    origin: str
    size: int
    root: bytes


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note."""

    name: str
    key_id: bytes
    signature: bytes


def key_id(name: str, public_key: bytes) -> bytes:
    """The C2SP key id of an Ed25519 key called `name`."""
    return sha256(name.encode() + b"\n" + ALGORITHM_ED25519 + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"key name {name!r} is empty or has whitespace or '+'")


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    """The checkpoint text ``origin\\nsize\\nbase64(root)\\n``."""
    if not origin or "\n" in origin:
        raise NoteError("origin must be one non-empty line")
    if size < 0 or len(root) != 32:
        raise NoteError("size must be >= 0 and root 32 bytes")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def parse_checkpoint_body(body: str) -> Checkpoint:
    """Parse a checkpoint text (extension lines after the root are not allowed here)."""
    lines = body.split("\n")
    if len(lines) != 4 or lines[3] != "":
        raise NoteError("a checkpoint has exactly three lines: origin, size, root")
    origin, size_text, root_text = lines[:3]
    if not origin:
        raise NoteError("empty origin")
    if not _DECIMAL.fullmatch(size_text):
        raise NoteError(f"bad tree size {size_text!r}")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise NoteError("root hash is not base64") from None
    if len(root) != 32 or base64.b64encode(root).decode() != root_text:
        raise NoteError("root hash must be 32 bytes in standard base64")
    return Checkpoint(origin, int(size_text), root)


def _raw_public(private_key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def sign_note(body: str, signers: Sequence[tuple[str, Ed25519PrivateKey]]) -> str:
    """The note text of `body` signed by every (name, key) in `signers`."""
    if not body.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if not signers:
        raise NoteError("at least one signer is needed")
    lines = []
    for name, private_key in signers:
        _check_name(name)
        signature = private_key.sign(body.encode())
        blob = key_id(name, _raw_public(private_key)) + signature
        lines.append(f"{SIGNATURE_PREFIX}{name} {base64.b64encode(blob).decode()}\n")
    return body + "\n" + "".join(lines)


def parse_note(text: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and its signatures (NoteError if malformed)."""
    split = text.rfind("\n\n")
    if split < 0 or not text.endswith("\n"):
        raise NoteError("no blank line before the signatures, or no final newline")
    body, block = text[: split + 1], text[split + 2 :]
    signatures = []
    for line in block.split("\n")[:-1]:
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"not a signature line: {line[:60]!r}")
        parts = line[len(SIGNATURE_PREFIX) :].split(" ")
        if len(parts) != 2:
            raise NoteError("a signature line is '— name base64'")
        name, blob_text = parts
        _check_name(name)
        try:
            blob = base64.b64decode(blob_text, validate=True)
        except binascii.Error:
            raise NoteError("signature is not base64") from None
        if len(blob) != 4 + 64:
            raise NoteError("an Ed25519 signature blob has 4 + 64 bytes")
        signatures.append(NoteSignature(name, blob[:4], blob[4:]))
    if not signatures:
        raise NoteError("the note has no signature")
    return body, signatures


def verify_note_signature(body: str, signature: NoteSignature, public_key: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `body` by `public_key`."""
    if key_id(signature.name, public_key) != signature.key_id:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature.signature, body.encode())
    except (InvalidSignature, ValueError):
        return False
    return True
