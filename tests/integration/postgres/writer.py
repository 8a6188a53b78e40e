"""A writer process for the concurrency and crash tests.

``python -m tests.integration.postgres.writer URL DATA_DIR COUNT OUT`` registers COUNT
contacts (forever when COUNT is 0), cuts checkpoints as the server would, and appends the
id of every acknowledged write to OUT (flushed), so a test knows what was acknowledged.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from crm_ledger.application import CrmApplication
from crm_ledger.settings import Settings
from crm_ledger.storage.checkpoints import CheckpointWriter
from crm_ledger.storage.keystore import KeyStore


def main() -> None:
    url, data_dir, count, out = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    crm = CrmApplication(Settings(database_url=url, data_dir=data_dir, pool_size=2))
    writer = CheckpointWriter(
        crm.ledger_store(), KeyStore(data_dir / "keys"), crm.origin, data_dir / "anchors"
    )
    with open(out, "a", buffering=1) as acked:
        i = 0
        while count == 0 or i < count:
            written = crm.register_contact(
                actor=f"system:writer-{os.getpid()}", kind="person", name=f"W{os.getpid()}-{i}"
            )
            acked.write(f"{written.aggregate.id}\n")
            if i % 5 == 0:
                writer.cut(interval=0.05, max_events=20)
            i += 1
    writer.cut(force=True)
    crm.close()


if __name__ == "__main__":
    main()
