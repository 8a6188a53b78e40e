"""The proof endpoints: a client checks what it is shown with the public key alone."""

from __future__ import annotations

import base64

from crm_ledger.ledger.manifest import Manifest
from crm_ledger.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from crm_ledger.ledger.note import parse_checkpoint_body, parse_note, verify_note_signature
from tests.integration.http.conftest import Api


def seal(api: Api) -> None:
    api.client.app.state.checkpoints.cut(force=True)  # type: ignore[attr-defined]


def test_inclusion_and_consistency_proofs_verify(api: Api) -> None:
    """Checkpoint signature, inclusion proofs and a consistency proof all check out."""
    for i in range(5):
        api.post("/contacts", json={"kind": "person", "name": f"P{i}"})
    seal(api)
    first = api.get("/ledger/checkpoints/latest").json()
    for i in range(6):
        api.post("/contacts", json={"kind": "organisation", "name": f"O{i}"})
    seal(api)
    latest = api.get("/ledger/checkpoints/latest").json()
    assert latest["size"] > first["size"]

    manifest = Manifest.load(api.get("/ledger/keys").content)
    body, signatures = parse_note(latest["note"])
    key = manifest.find(signatures[0].name, signatures[0].key_id)
    assert key is not None
    assert verify_note_signature(body, signatures[0], key.public_key)
    parsed = parse_checkpoint_body(body)
    assert latest["root_hash"] == parsed.root.hex()

    for index in (0, latest["size"] // 2, latest["size"] - 1):
        entry = api.get(f"/ledger/entries/{index}").json()
        canonical = base64.b64decode(entry["canonical"])
        assert entry["leaf_hash"] == leaf_hash(canonical).hex()
        verify_inclusion(
            leaf_hash(canonical),
            index,
            entry["tree_size"],
            [bytes.fromhex(p) for p in entry["inclusion_proof"]],
            parsed.root,
        )

    proof = api.get(
        "/ledger/consistency", params={"first": first["size"], "second": latest["size"]}
    ).json()
    verify_consistency(
        first["size"],
        latest["size"],
        bytes.fromhex(first["root_hash"]),
        parsed.root,
        [bytes.fromhex(p) for p in proof["proof"]],
    )

    listed = api.get("/ledger/checkpoints", params={"after_size": 0}).json()["items"]
    assert [first["size"], latest["size"]] == [c["size"] for c in listed][-2:]


def test_bad_proof_requests_are_problems(api: Api) -> None:
    """Out-of-range sizes and indexes are RFC 9457 problems, not 500s."""
    api.post("/contacts", json={"kind": "person", "name": "P"})
    seal(api)
    size = api.get("/ledger/checkpoints/latest").json()["size"]
    assert 404 == api.get(f"/ledger/entries/{size}").status_code
    assert 422 == api.get("/ledger/entries/0", params={"tree_size": size + 100}).status_code
    assert 422 == api.get("/ledger/consistency", params={"first": 2, "second": 1}).status_code
    bad = api.get("/ledger/consistency", params={"first": 1, "second": size + 5})
    assert 422 == bad.status_code
    assert "application/problem+json" == bad.headers["content-type"]
    assert 401 == api.client.get("/ledger/checkpoints/latest").status_code


def test_an_event_of_the_feed_is_proved_by_its_position(api: Api) -> None:
    """A consent statement found in the change feed, its entry found by position, checked
    against the signed root: what an auditor does to prove one record."""
    contact = api.post("/contacts", json={"kind": "person", "name": "Ana"}).json()["id"]
    body = {"purpose": "marketing_email", "granted": True, "source": "web_form"}
    written = api.post(f"/contacts/{contact}/consents", json=body)
    seal(api)
    (given,) = [
        c
        for c in api.get("/changes", params={"types": "consent"}).json()["items"]
        if c["event"] == "Given"
    ]
    assert str(given["position"]) == written.headers["X-Log-Position"]
    entry = api.get("/ledger/entries", params={"seq": given["position"]}).json()
    assert entry == api.get(f"/ledger/entries/{entry['leaf_index']}").json()
    envelope = entry["envelope"]
    assert (envelope["seq"], envelope["aggregate_id"], envelope["aggregate_version"]) == (
        given["position"],
        given["id"],
        given["version"],
    )
    assert envelope["topic"].endswith("ContactConsents.Given")
    latest = api.get("/ledger/checkpoints/latest").json()
    verify_inclusion(
        bytes.fromhex(entry["leaf_hash"]),
        entry["leaf_index"],
        latest["size"],
        [bytes.fromhex(p) for p in entry["inclusion_proof"]],
        bytes.fromhex(latest["root_hash"]),
    )
    missing = api.get("/ledger/entries", params={"seq": 10**9})
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
