"""What a projection is: named tables kept in step with the log, with tracking."""

from __future__ import annotations

from typing import Any, Protocol

from crm_ledger.storage.sql import Dialect, Tx


class Projection(Protocol):
    """A read model built only from events, so it can be rebuilt at any time."""

    name: str
    """Also the key of its row in ``projection_tracking``."""

    topics: tuple[str, ...]
    """Only notifications with these topics are given to `apply` (empty: all)."""

    def ddl(self, dialect: Dialect) -> list[str]:
        """Idempotent ``CREATE ... IF NOT EXISTS`` statements for its tables."""
        ...

    def apply(self, tx: Tx, event: Any, position: int) -> None:
        """Apply one domain event at log `position`, inside the batch's transaction."""
        ...
