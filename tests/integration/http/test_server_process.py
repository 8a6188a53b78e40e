"""What ``app_from_env`` (each server process's factory) does besides building the app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from crm_ledger.api.app import SWITCH_INTERVAL_SECONDS

SCRIPT = """
import gc, sys
from crm_ledger.api.app import app_from_env
before = gc.get_freeze_count()
app_from_env()
print(before, gc.get_freeze_count(), len(gc.get_objects()), sys.getswitchinterval())
"""


def test_the_factory_tunes_its_process(tmp_path: Path) -> None:
    """After the factory, what it built is frozen (`gc.freeze`): the collector's passes
    walk only what the requests create after it. And the interpreter lock changes hands
    every `SWITCH_INTERVAL_SECONDS`, not every 5 ms."""
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
    before, frozen, tracked, switch = result.stdout.split()
    assert 0 == int(before)
    assert int(frozen) > 10 * int(tracked)  # nearly all of it: the app's objects are frozen
    assert SWITCH_INTERVAL_SECONDS == float(switch) < 0.005
