"""The ConsentCatalogue aggregate: the purposes a company asks consent for, and the exact
wording of each, version by version.

GDPR (art. 7) asks a controller to show *what* a person agreed to. A statement can carry
its own ``wording`` (a text or a reference); with the catalogue it can instead name a
published version of its purpose's wording (``wording_version``), and the statement then
records that version and the SHA-256 of its text, so the text agreed to is fixed by the
log. A wording, once published, is never changed: a new text is a new version (numbered
from 1, per purpose), and statements given under an older one keep naming it.

One catalogue per deployment (a fixed id): the first purpose defined creates it, and two
changes at once meet as a version conflict (the service retries).

::

    DomainError
    ├── InvalidCommandError           a bad value (purpose, title, description, wording)
    ├── PurposeDefinedError           the purpose is in the catalogue already
    └── NotFoundError                 no such purpose, or no such version of its wording
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.consent import MAX_WORDING, check_purpose, checked_text
from crm_ledger.domain.errors import DomainError, InvalidCommandError, NotFoundError
from crm_ledger.ledger.envelope import format_timestamp

CATALOGUE_ID = uuid5(NAMESPACE_URL, "tag:crm-ledger,2026:consent-catalogue")
MAX_TITLE = 200
MAX_DESCRIPTION = 2000


class PurposeDefinedError(DomainError):
    """The purpose is in the catalogue already (a new text is a new wording version)."""

    title = "Purpose already defined"
    code = "purpose_defined"

    def __init__(self, purpose: str) -> None:
        self.purpose = purpose
        super().__init__(
            f"the purpose {purpose!r} is in the catalogue already; publish a new wording "
            "version instead"
        )


def wording_digest(text: str) -> str:
    """SHA-256 (hex) of the wording's UTF-8 text, as published."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ConsentCatalogue(Aggregate):
    """Every purpose and the versions of its wording (see the module docstring)."""

    @staticmethod
    def create_id() -> UUID:
        return CATALOGUE_ID

    @event("Started")
    def __init__(self, *, actor: str) -> None:
        self.purposes: dict[str, dict[str, Any]] = {}

    @classmethod
    def start(cls, *, actor: str) -> ConsentCatalogue:
        return cls(actor=actor)

    def define(
        self,
        *,
        purpose: str,
        title: str,
        description: str | None,
        wording: str,
        actor: str,
        now: datetime | None = None,
    ) -> None:
        """Add `purpose` with its first wording (version 1)."""
        purpose = check_purpose(purpose)
        if purpose in self.purposes:
            raise PurposeDefinedError(purpose)
        self._defined(
            purpose=purpose,
            title=checked_text(title, "title", MAX_TITLE),
            description=None
            if description is None
            else checked_text(description, "description", MAX_DESCRIPTION),
            actor=actor,
        )
        self.publish(purpose=purpose, wording=wording, actor=actor, now=now)

    def publish(
        self, *, purpose: str, wording: str, actor: str, now: datetime | None = None
    ) -> int:
        """Publish a new wording of `purpose`; its version number. The same text as the
        current version is refused (nothing would change)."""
        entry = self.purpose(purpose)
        text = checked_text(wording, "wording", MAX_WORDING)
        wordings = entry["wordings"]
        if wordings and wordings[-1]["sha256"] == wording_digest(text):
            raise InvalidCommandError(
                f"this is the wording of version {wordings[-1]['version']} already",
                field="wording",
            )
        version = len(wordings) + 1
        self._published(
            purpose=purpose,
            version=version,
            text=text,
            published_at=format_timestamp(now or datetime.now(UTC)),
            actor=actor,
        )
        return version

    def purpose(self, purpose: str) -> dict[str, Any]:
        """The catalogue's entry of `purpose`, or NotFoundError."""
        try:
            return self.purposes[purpose]
        except KeyError:
            raise NotFoundError(kind="consent purpose", id=purpose) from None

    def wording(self, purpose: str, version: int) -> dict[str, Any]:
        """Version `version` of `purpose`'s wording, or NotFoundError."""
        wordings = self.purpose(purpose)["wordings"]
        if not 1 <= version <= len(wordings):
            raise NotFoundError(kind=f"wording of {purpose}", id=f"version {version}")
        found: dict[str, Any] = wordings[version - 1]
        return found

    @event("Defined")
    def _defined(self, *, purpose: str, title: str, description: str | None, actor: str) -> None:
        self.purposes = {
            **self.purposes,
            purpose: {
                "purpose": purpose,
                "title": title,
                "description": description,
                "defined_by": actor,
                "wordings": [],
            },
        }

    @event("Published")
    def _published(
        self, *, purpose: str, version: int, text: str, published_at: str, actor: str
    ) -> None:
        entry = self.purposes[purpose]
        wording = {
            "version": version,
            "text": text,
            "sha256": wording_digest(text),
            "published_at": published_at,
            "published_by": actor,
        }
        entry = {**entry, "wordings": [*entry["wordings"], wording]}
        self.purposes = {**self.purposes, purpose: entry}
