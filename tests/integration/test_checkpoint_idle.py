"""An idle log is checked for unsealed entries without the checkpoint locks: the server's
checkpoint thread looks every second, and on SQLite the lock `cut` takes is the
database's single write lock (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg

from crm_ledger.settings import Settings
from crm_ledger.storage.checkpoints import CheckpointWriter
from tests.integration.ledger_fixture import build_log


def hold_checkpoint_lock(database_url: str) -> Any:
    """A connection holding what `cut` locks (the caller rolls it back and closes it)."""
    if database_url.startswith("sqlite"):
        holder: Any = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        holder.execute("BEGIN IMMEDIATE")
    else:
        holder = psycopg.connect(database_url)
        holder.execute("LOCK TABLE ledger_checkpoints IN EXCLUSIVE MODE")
    return holder


def test_an_idle_cut_takes_no_lock(database_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data")
    log = build_log(settings, contacts=3)  # sealed by its last checkpoint
    writer = CheckpointWriter(log.crm.ledger_store(), log.keystore, log.crm.origin, log.anchors)
    holder = hold_checkpoint_lock(database_url)
    done: list[object] = []
    try:
        thread = threading.Thread(target=lambda: done.append(writer.cut()), daemon=True)
        thread.start()
        thread.join(timeout=3)
    finally:
        holder.rollback()
        holder.close()
    try:
        assert [None] == done  # answered at once: nothing to seal, no lock waited for
        log.crm.register_contact(actor="system:tests", kind="person", name="Late")
        row = writer.cut(force=True)  # something to seal: cut as before
        assert row is not None
        assert log.size + 1 == row.size
    finally:
        thread.join(timeout=10)
        log.crm.close()
