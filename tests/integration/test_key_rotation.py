"""Key rotation by overlap: old checkpoints stay verifiable after the old key retires."""

from __future__ import annotations

from pathlib import Path

from crm_ledger.settings import Settings
from tests.integration.ledger_fixture import build_log


def test_rotate_then_retire_keeps_history_verifiable(database_url: str, tmp_path: Path) -> None:
    """Checkpoints by the old key, by both (overlap) and by the new key all verify after
    the old key is retired and its private file deleted. (A signature by a retired key
    made after its retirement is rejected: see tests/unit/test_verify_engine.py.)"""
    log = build_log(Settings(database_url=database_url, data_dir=tmp_path / "data"), 5)
    old = log.keystore.signers()[0].name
    new = log.keystore.rotate()
    assert {old, new} == {s.name for s in log.keystore.signers()}
    from crm_ledger.storage.checkpoints import CheckpointWriter

    writer = CheckpointWriter(log.crm.ledger_store(), log.keystore, log.crm.origin, log.anchors)
    log.crm.register_contact(actor="system:tests", kind="person", name="During overlap")
    overlap = writer.cut(force=True)
    assert overlap is not None
    assert 2 == overlap.note.count("\u2014 ")
    log.keystore.retire(old)
    assert [new] == [s.name for s in log.keystore.signers()]
    assert not (log.keystore.directory / f"{old}.pem").exists()
    log.crm.register_contact(actor="system:tests", kind="person", name="After retirement")
    writer.cut(force=True)
    report = log.verify()
    assert [] == report.findings
    assert {old, new} == set(report.key_names)
    log.crm.close()
