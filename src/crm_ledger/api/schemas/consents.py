"""Request and response models of a contact's consents (GDPR art. 7 evidence)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from crm_ledger.domain import consent as rules

Purpose = Annotated[
    str, Field(pattern=rules.PURPOSE.pattern, max_length=64, examples=["marketing_email"])
]
EXAMPLE: dict[str, Any] = {
    "purpose": "marketing_email",
    "granted": True,
    "source": "web_form",
    "wording": "privacy-notice-2026-03: I agree to receive offers by e-mail",
    "at": "2026-11-20T10:15:00Z",
}


class ConsentStatement(BaseModel):
    """The person gave (``granted: true``) or withdrew consent for one purpose."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                EXAMPLE,
                {"purpose": "marketing_email", "granted": False, "source": "unsubscribe_link"},
            ]
        },
    )

    purpose: Purpose
    granted: StrictBool
    source: str = Field(
        min_length=1, max_length=rules.MAX_SOURCE, description="how: web_form, phone, paper..."
    )
    wording: str | None = Field(
        default=None,
        min_length=1,
        max_length=rules.MAX_WORDING,
        description="the text agreed to, or a reference to its version",
    )
    wording_version: int | None = Field(
        default=None,
        ge=1,
        description="instead of `wording`: the version of the purpose's wording in the "
        "catalogue (`GET /consent-purposes/{purpose}`) the person was shown",
    )
    at: AwareDatetime | None = Field(
        default=None, description="when the person said it (default: now; not in the future)"
    )


class ConsentPublic(BaseModel):
    """One statement, and the contact it was recorded for."""

    purpose: str
    granted: bool
    at: str
    source: str
    wording: str | None
    wording_version: int | None = Field(
        default=None, description="the catalogue's wording the person was shown, if named"
    )
    wording_sha256: str | None = Field(
        default=None, description="SHA-256 (hex) of that wording's text, as recorded"
    )
    actor: str = Field(description="who recorded it")
    recorded_at: str = Field(description="when it was recorded (RFC 3339 UTC)")
    contact_id: UUID


class ConsentsPublic(BaseModel):
    """A contact's consents: the state of each purpose and every statement, its own and
    those of contacts merged into it, oldest first. A purpose's state is its latest
    statement by `at` (when the person said it); of equal `at`, the one recorded last."""

    contact_id: UUID
    version: int = Field(description="of the contact's own statements (0: none)")
    purposes: dict[str, ConsentPublic]
    statements: list[ConsentPublic]
