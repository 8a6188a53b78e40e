"""The public key manifest (crm_ledger.ledger.manifest)."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from crm_ledger.ledger.errors import ManifestError
from crm_ledger.ledger.manifest import Manifest, PublicKey
from tests.unit.ledger_builder import make_signer, manifest_bytes, manifest_item

OLD = make_signer("test.local-2025", bytes(range(32)))
NEW = make_signer("test.local-2026", bytes(range(1, 33)))


def test_load_valid_manifest() -> None:
    """A well-formed manifest loads every key with its fields."""
    manifest = Manifest.load(
        manifest_bytes(
            [
                manifest_item(OLD, valid_to="2026-01-01T00:00:00.000000Z", status="retired"),
                manifest_item(NEW, valid_from="2026-01-01T00:00:00.000000Z"),
            ]
        )
    )
    assert (
        PublicKey(
            OLD.name,
            OLD.key_id,
            OLD.public,
            "2025-01-01T00:00:00.000000Z",
            "2026-01-01T00:00:00.000000Z",
            "retired",
        ),
        PublicKey(NEW.name, NEW.key_id, NEW.public, "2026-01-01T00:00:00.000000Z", None, "active"),
    ) == manifest.keys


def test_load_empty_key_list() -> None:
    """A manifest with no keys is valid (and finds nothing)."""
    manifest = Manifest.load(manifest_bytes([]))
    assert () == manifest.keys
    assert None is manifest.find(OLD.name, OLD.key_id)


def test_find_needs_name_and_key_id() -> None:
    """find matches on both the name and the key id."""
    manifest = Manifest.load(manifest_bytes([manifest_item(OLD), manifest_item(NEW)]))
    assert NEW.public == manifest.find(NEW.name, NEW.key_id).public_key  # type: ignore[union-attr]
    assert None is manifest.find(NEW.name, OLD.key_id)
    assert None is manifest.find(OLD.name, NEW.key_id)


@pytest.mark.parametrize("status", ["active", "retired", "compromised"])
def test_known_statuses(status: str) -> None:
    """The three documented statuses load."""
    assert (
        status == Manifest.load(manifest_bytes([manifest_item(OLD, status=status)])).keys[0].status
    )


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[]", id="array"),
        pytest.param(orjson.dumps({"keys": []}), id="no-version"),
        pytest.param(manifest_bytes([], version=2), id="version-2"),
        pytest.param(manifest_bytes([], version="1"), id="version-string"),
        pytest.param(orjson.dumps({"version": 1, "keys": {}}), id="keys-not-list"),
        pytest.param(orjson.dumps({"version": 1}), id="keys-missing"),
    ],
)
def test_reject_bad_document(data: bytes) -> None:
    """Non-JSON, wrong version or a missing key list is a ManifestError."""
    with pytest.raises(ManifestError):
        Manifest.load(data)


def _without(item: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != name}


@pytest.mark.parametrize(
    "item",
    [
        pytest.param(manifest_item(OLD, public_key="***"), id="bad-base64"),
        pytest.param(
            manifest_item(OLD, public_key=base64.b64encode(OLD.public).decode().rstrip("=")),
            id="base64-no-padding",
        ),
        pytest.param(
            manifest_item(OLD, public_key=base64.b64encode(OLD.public[:31]).decode()),
            id="short-key",
        ),
        pytest.param(
            manifest_item(OLD, public_key=base64.b64encode(OLD.public + b"\x00").decode()),
            id="long-key",
        ),
        pytest.param(manifest_item(OLD, key_id=NEW.key_id.hex()), id="mismatched-key-id"),
        pytest.param(manifest_item(OLD, key_id="zzzzzzzz"), id="key-id-not-hex"),
        pytest.param(manifest_item(OLD, name=NEW.name), id="key-id-of-other-name"),
        pytest.param(manifest_item(OLD, status="revoked"), id="unknown-status"),
        pytest.param(manifest_item(OLD, status="ACTIVE"), id="status-case"),
        pytest.param(manifest_item(OLD, algorithm="ecdsa-p256"), id="non-ed25519"),
        pytest.param(manifest_item(OLD, algorithm="Ed25519"), id="algorithm-case"),
        pytest.param(_without(manifest_item(OLD), "algorithm"), id="no-algorithm"),
        pytest.param(_without(manifest_item(OLD), "name"), id="no-name"),
        pytest.param(_without(manifest_item(OLD), "public_key"), id="no-public-key"),
        pytest.param(_without(manifest_item(OLD), "key_id"), id="no-key-id"),
        pytest.param(_without(manifest_item(OLD), "status"), id="no-status"),
        pytest.param(_without(manifest_item(OLD), "valid_from"), id="no-valid-from"),
        pytest.param(manifest_item(OLD, public_key=None), id="public-key-null"),
    ],
)
def test_reject_bad_key(item: dict[str, Any]) -> None:
    """Malformed key entries are a ManifestError (never a bare exception)."""
    with pytest.raises(ManifestError):
        Manifest.load(manifest_bytes([manifest_item(NEW), item]))


def test_reject_key_that_is_not_an_object() -> None:
    """A key entry that is a string, not an object, is a ManifestError."""
    with pytest.raises(ManifestError):
        Manifest.load(manifest_bytes(["test.local-2025"]))  # type: ignore[list-item]


def test_valid_at_window_is_half_open() -> None:
    """valid_from <= t < valid_to: inclusive start, exclusive end."""
    key = Manifest.load(
        manifest_bytes(
            [
                manifest_item(
                    OLD,
                    valid_from="2025-06-01T00:00:00.000000Z",
                    valid_to="2026-01-01T00:00:00.000000Z",
                    status="retired",
                )
            ]
        )
    ).keys[0]
    moments = {
        "2025-05-31T23:59:59.999999Z": False,
        "2025-06-01T00:00:00.000000Z": True,
        "2025-09-15T12:00:00.000000Z": True,
        "2025-12-31T23:59:59.999999Z": True,
        "2026-01-01T00:00:00.000000Z": False,
        "2027-01-01T00:00:00.000000Z": False,
    }
    assert moments == {moment: key.valid_at(moment) for moment in moments}


def test_valid_at_open_ended() -> None:
    """Without valid_to a key stays valid from valid_from on."""
    key = Manifest.load(
        manifest_bytes([manifest_item(NEW, valid_from="2026-01-01T00:00:00.000000Z")])
    ).keys[0]
    assert None is key.valid_to
    assert [False, True, True] == [
        key.valid_at("2025-12-31T23:59:59.999999Z"),
        key.valid_at("2026-01-01T00:00:00.000000Z"),
        key.valid_at("2999-01-01T00:00:00.000000Z"),
    ]
