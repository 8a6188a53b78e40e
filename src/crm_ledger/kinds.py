"""An aggregate class together with the name errors give it ("purchase invoice").

The use-case modules declare one ``Kind`` per aggregate they serve and load and change
through it, so the class and its name are written once, not at every call of
``crm.load`` / ``crm.change``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic
from uuid import UUID

from crm_ledger.application import A, CrmApplication, Written


@dataclass(frozen=True)
class Kind(Generic[A]):
    """`cls`, named `name` in NotFoundError ("sales order")."""

    cls: type[A]
    name: str

    def load(self, crm: CrmApplication, aggregate_id: UUID) -> A:
        """The aggregate, or NotFoundError."""
        return crm.load(self.cls, aggregate_id, self.name)

    def load_at(self, crm: CrmApplication, aggregate_id: UUID, expected_version: int) -> A:
        """The aggregate still at the version the caller saw, or VersionConflictError."""
        return crm.load_at(self.cls, aggregate_id, self.name, expected_version)

    def change(
        self,
        crm: CrmApplication,
        aggregate_id: UUID,
        expected_version: int,
        actor: str,
        command: Callable[[A], None],
    ) -> Written:
        """Load at the version the caller saw, run `command`, save."""
        return crm.change(self.cls, aggregate_id, self.name, expected_version, actor, command)
