"""What ``app_from_env`` (each server process's factory) does besides building the app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import gc
from crm_ledger.api.app import app_from_env
before = gc.get_freeze_count()
app_from_env()
print(before, gc.get_freeze_count(), len(gc.get_objects()))
"""


def test_the_built_app_is_left_out_of_the_collectors_passes(tmp_path: Path) -> None:
    """After the factory, what it built is frozen (`gc.freeze`): the collector's passes
    walk only what the requests create after it."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={
            "PATH": "/usr/bin:/bin",
            "CRM_DATABASE_URL": f"sqlite:///{tmp_path}/crm.db",
            "CRM_DATA_DIR": str(tmp_path),
        },
    )
    before, frozen, tracked = (int(n) for n in result.stdout.split())
    assert 0 == before
    assert frozen > 10 * tracked  # nearly all of it: the app's objects are frozen
