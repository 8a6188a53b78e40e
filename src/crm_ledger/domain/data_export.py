"""Records that personal data left the system: PersonalDataExport and ContactsExport.

GDPR's accountability principle asks a controller to show who took personal data out,
when and why; every ``GET /contacts/{id}/personal-data`` records one ``Made`` event (the
contact, the log position the document was complete up to, how many records of each
kind it held, and the actor) before the document is sent, so an answer is never sent
unrecorded. Every ``GET /contacts:export`` (a list of contacts as CSV) likewise records a
``ContactsExport`` (the list's filters, how many contacts, the log position, the actor).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event


class PersonalDataExport(Aggregate):
    """One export of a contact's data (see the module docstring)."""

    @event("Made")
    def __init__(
        self, *, contact_id: UUID, log_position: int, counts: dict[str, int], actor: str
    ) -> None:
        self.contact_id = contact_id
        self.log_position = log_position
        self.counts = counts
        self.made_by = actor

    @classmethod
    def make(
        cls, *, contact_id: UUID, log_position: int, counts: Mapping[str, int], actor: str
    ) -> PersonalDataExport:
        """Record an export of `contact_id`'s data, complete up to `log_position`."""
        return cls(
            contact_id=contact_id,
            log_position=log_position,
            counts=dict(sorted(counts.items())),
            actor=actor,
        )


class ContactsExport(Aggregate):
    """One download of a list of contacts (see the module docstring)."""

    @event("Made")
    def __init__(
        self, *, filters: dict[str, Any], count: int, log_position: int, actor: str
    ) -> None:
        self.filters = filters
        self.count = count
        self.log_position = log_position
        self.made_by = actor
