"""C2SP signed notes and tlog checkpoints (crm_ledger.ledger.note)."""

from __future__ import annotations

import base64
from hashlib import sha256

import pytest

from crm_ledger.ledger.errors import NoteError
from crm_ledger.ledger.note import (
    SIGNATURE_PREFIX,
    Checkpoint,
    checkpoint_body,
    key_id,
    parse_checkpoint_body,
    parse_note,
    sign_note,
    verify_note_signature,
)
from tests.unit.ledger_builder import ORIGIN, make_signer

ROOT = sha256(b"root").digest()
BODY = checkpoint_body(ORIGIN, 42, ROOT)
URLSAFE_ROOT = base64.urlsafe_b64encode(bytes([0xFF] * 32)).decode()

# golang.org/x/mod/sumdb/note/note_test.go (TestNewVerifier, TestNewSigner, TestSign)
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIGNED = (
    PETER_TEXT
    + "\n"
    + "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSN"
    + "XgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def _peter() -> tuple[bytes, bytes]:
    """(public key, private seed) of the Go test vector, algorithm byte stripped."""
    public = base64.b64decode(PETER_VKEY.split("+", 2)[2])
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert public[:1] == b"\x01"
    assert seed[:1] == b"\x01"
    return public[1:], seed[1:]


def test_go_sumdb_vector_key_id() -> None:
    """key_id reproduces the Go sumdb key hash c74f20a3 of PeterNeumann's public key."""
    public, _ = _peter()
    assert key_id("PeterNeumann", public).hex() == "c74f20a3"


def test_go_sumdb_vector_signing_is_byte_identical() -> None:
    """Signing the Go test text with the Go test seed yields exactly Go's signed note."""
    _, seed = _peter()
    signer = make_signer("PeterNeumann", seed)
    assert sign_note(PETER_TEXT, [(signer.name, signer.private)]) == PETER_SIGNED


def test_go_sumdb_vector_verifies() -> None:
    """The Go-signed note parses and verifies with the published public key."""
    public, _ = _peter()
    body, signatures = parse_note(PETER_SIGNED)
    assert body == PETER_TEXT
    assert [s.name for s in signatures] == ["PeterNeumann"]
    assert bytes.fromhex("c74f20a3") == signatures[0].key_id
    assert True is verify_note_signature(body, signatures[0], public)


def test_sign_parse_verify_round_trip() -> None:
    """A signed checkpoint note parses back to its body and verifies with the key."""
    signer = make_signer("test.local-a")
    note = sign_note(BODY, [(signer.name, signer.private)])
    body, signatures = parse_note(note)
    assert body == BODY
    assert len(signatures) == 1
    assert signer.key_id == signatures[0].key_id
    assert True is verify_note_signature(body, signatures[0], signer.public)
    assert Checkpoint(ORIGIN, 42, ROOT) == parse_checkpoint_body(body)


def test_two_signatures_rotation_overlap() -> None:
    """A note signed by two keys carries both lines, in order, each verifying."""
    old, new = make_signer("test.local-old"), make_signer("test.local-new")
    note = sign_note(BODY, [(old.name, old.private), (new.name, new.private)])
    body, signatures = parse_note(note)
    assert [old.name, new.name] == [s.name for s in signatures]
    assert [
        verify_note_signature(body, s, k.public)
        for s, k in zip(signatures, (old, new), strict=True)
    ] == [True, True]
    assert False is verify_note_signature(body, signatures[0], new.public)


def test_tampered_body_fails_verification() -> None:
    """Changing the root line of a signed checkpoint breaks its signature."""
    signer = make_signer("test.local-a")
    note = sign_note(BODY, [(signer.name, signer.private)])
    forged_root = base64.b64encode(sha256(b"other").digest()).decode()
    tampered = note.replace(base64.b64encode(ROOT).decode(), forged_root)
    body, signatures = parse_note(tampered)
    assert Checkpoint(ORIGIN, 42, sha256(b"other").digest()) == parse_checkpoint_body(body)
    assert False is verify_note_signature(body, signatures[0], signer.public)


def test_tampered_signature_byte_fails_verification() -> None:
    """Flipping one byte of the Ed25519 signature makes verification fail."""
    signer = make_signer("test.local-a")
    body, signatures = parse_note(sign_note(BODY, [(signer.name, signer.private)]))
    sig = signatures[0]
    for offset in (0, 31, 63):
        bad = bytearray(sig.signature)
        bad[offset] ^= 0x80
        forged = type(sig)(sig.name, sig.key_id, bytes(bad))
        assert False is verify_note_signature(body, forged, signer.public)


def test_wrong_key_and_wrong_name_fail() -> None:
    """Another key (or the right key under another name) does not verify."""
    signer, other = make_signer("test.local-a"), make_signer("test.local-a")
    body, signatures = parse_note(sign_note(BODY, [(signer.name, signer.private)]))
    assert False is verify_note_signature(body, signatures[0], other.public)
    renamed = type(signatures[0])("test.local-b", signatures[0].key_id, signatures[0].signature)
    assert False is verify_note_signature(body, renamed, signer.public)


def test_invalid_public_key_bytes_is_false() -> None:
    """A public key of the wrong length verifies False rather than raising."""
    signer = make_signer("x")
    body, signatures = parse_note(sign_note(BODY, [(signer.name, signer.private)]))
    short = signer.public[:31]
    forged = type(signatures[0])("x", key_id("x", short), signatures[0].signature)
    assert False is verify_note_signature(body, forged, short)


def _good_note() -> str:
    signer = make_signer("test.local-a")
    return sign_note(BODY, [(signer.name, signer.private)])


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda n: n.replace("\n\n", "\n"), id="no-blank-line"),
        pytest.param(lambda n: n[:-1], id="no-final-newline"),
        pytest.param(lambda n: BODY + "\n", id="no-signature"),
        pytest.param(lambda n: n.replace("test.local-a ", "test local-a "), id="name-with-space"),
        pytest.param(lambda n: n.replace("test.local-a ", "test+local-a "), id="name-with-plus"),
        pytest.param(lambda n: n.replace("\u2014 ", "- "), id="hyphen-not-em-dash"),
        pytest.param(lambda n: n[:-3] + "!!\n", id="bad-base64"),
        pytest.param(lambda n: n[:-6] + "\n", id="truncated-base64"),
        pytest.param(
            lambda n: n[: n.rindex(" ") + 1] + base64.b64encode(b"\x00" * 67).decode() + "\n",
            id="blob-67-bytes",
        ),
        pytest.param(
            lambda n: n[: n.rindex(" ") + 1] + base64.b64encode(b"\x00" * 69).decode() + "\n",
            id="blob-69-bytes",
        ),
        pytest.param(lambda n: n + "trailing line\n", id="extra-non-signature-line"),
    ],
)
def test_malformed_notes_raise(mangle) -> None:  # type: ignore[no-untyped-def]
    """Malformed signed notes raise NoteError."""
    with pytest.raises(NoteError):
        parse_note(mangle(_good_note()))


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb"])
def test_sign_rejects_bad_names(name: str) -> None:
    """sign_note refuses key names that are empty or have whitespace or '+'."""
    signer = make_signer("ok")
    with pytest.raises(NoteError):
        sign_note(BODY, [(name, signer.private)])


def test_sign_rejects_body_without_newline_and_no_signers() -> None:
    """sign_note needs a newline-terminated body and at least one signer."""
    signer = make_signer("ok")
    with pytest.raises(NoteError):
        sign_note(BODY[:-1], [(signer.name, signer.private)])
    with pytest.raises(NoteError):
        sign_note(BODY, [])


def test_signature_prefix_is_em_dash() -> None:
    """Signature lines start with U+2014 EM DASH and a space (C2SP signed-note)."""
    assert SIGNATURE_PREFIX == "\u2014 "
    assert _good_note().split("\n\n")[1].startswith("\u2014 test.local-a ")


def test_checkpoint_body_format() -> None:
    """The checkpoint text is origin, decimal size, standard base64 root, each + newline."""
    root_b64 = base64.b64encode(ROOT).decode()
    assert f"{ORIGIN}\n42\n{root_b64}\n" == BODY
    assert Checkpoint(ORIGIN, 0, ROOT) == parse_checkpoint_body(checkpoint_body(ORIGIN, 0, ROOT))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(f"{ORIGIN}\n042\n{base64.b64encode(ROOT).decode()}\n", id="leading-zero"),
        pytest.param(f"{ORIGIN}\n00\n{base64.b64encode(ROOT).decode()}\n", id="double-zero"),
        pytest.param(f"{ORIGIN}\n-1\n{base64.b64encode(ROOT).decode()}\n", id="negative"),
        pytest.param(f"{ORIGIN}\n+1\n{base64.b64encode(ROOT).decode()}\n", id="plus-sign"),
        pytest.param(f"{ORIGIN}\n\n{base64.b64encode(ROOT).decode()}\n", id="empty-size"),
        pytest.param(f"{ORIGIN}\n42\n{'!' * 44}\n", id="non-base64"),
        pytest.param(f"{ORIGIN}\n42\n{base64.b64encode(ROOT[:31]).decode()}\n", id="root-31"),
        pytest.param(f"{ORIGIN}\n42\n{base64.b64encode(ROOT + b'x').decode()}\n", id="root-33"),
        pytest.param(f"{ORIGIN}\n42\n{URLSAFE_ROOT}\n", id="urlsafe"),
        pytest.param(
            f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode().rstrip('=')}\n", id="no-padding"
        ),
        pytest.param(f"\n42\n{base64.b64encode(ROOT).decode()}\n", id="empty-origin"),
        pytest.param(f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}", id="no-final-newline"),
        pytest.param(f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\next\n", id="extension"),
    ],
)
def test_checkpoint_body_rejects(body: str) -> None:
    """Non-canonical or malformed checkpoint texts raise NoteError."""
    with pytest.raises(NoteError):
        parse_checkpoint_body(body)


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [("", 1, ROOT), ("a\nb", 1, ROOT), (ORIGIN, -1, ROOT), (ORIGIN, 1, ROOT[:31])],
)
def test_checkpoint_body_builder_rejects(origin: str, size: int, root: bytes) -> None:
    """checkpoint_body refuses an empty/multi-line origin, negative size, short root."""
    with pytest.raises(NoteError):
        checkpoint_body(origin, size, root)


def test_checkpoint_body_rejects_non_ascii_digits() -> None:
    """A size written with ARABIC-INDIC DIGIT ONE is not a C2SP decimal size (parsed as 11)."""
    body = f"{ORIGIN}\n1\u0661\n{base64.b64encode(ROOT).decode()}\n"
    raised = False
    try:
        parse_checkpoint_body(body)
    except NoteError:
        raised = True
    assert True is raised


def test_checkpoint_body_superscript_size_raises_note_error() -> None:
    """A size of SUPERSCRIPT TWO passes isdigit() but int() fails: a bare ValueError escapes."""
    body = f"{ORIGIN}\n\u00b2\n{base64.b64encode(ROOT).decode()}\n"
    with pytest.raises(NoteError):
        parse_checkpoint_body(body)
