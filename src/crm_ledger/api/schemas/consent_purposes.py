"""Request and response models of the consent purpose catalogue."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from crm_ledger.api.schemas.consents import Purpose
from crm_ledger.domain import consent as statement_rules
from crm_ledger.domain import consent_purpose as rules

WORDING_EXAMPLE = (
    "I agree that Example S.L. may send me offers about its products by e-mail. I can "
    "withdraw this consent at any time with the link in each message."
)


class WordingIn(BaseModel):
    """A new version of a purpose's wording: the exact text shown to people."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"wording": WORDING_EXAMPLE}]}
    )

    wording: str = Field(
        min_length=1, max_length=statement_rules.MAX_WORDING, examples=[WORDING_EXAMPLE]
    )


class PurposeCreate(WordingIn):
    """A purpose to ask consent for, with its first wording (version 1)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "purpose": "marketing_email",
                    "title": "Offers by e-mail",
                    "wording": WORDING_EXAMPLE,
                }
            ]
        },
    )

    purpose: Purpose
    title: str = Field(min_length=1, max_length=rules.MAX_TITLE, examples=["Offers by e-mail"])
    description: str | None = Field(
        default=None, min_length=1, max_length=rules.MAX_DESCRIPTION, description="internal note"
    )


class WordingPublic(BaseModel):
    version: int = Field(description="1, 2, ... per purpose")
    text: str
    sha256: str = Field(description="SHA-256 (hex) of the text's UTF-8 bytes")
    published_at: str
    published_by: str


class PurposePublic(BaseModel):
    purpose: str
    title: str
    description: str | None
    defined_by: str
    wordings: list[WordingPublic] = Field(description="oldest first; the last one is current")


class PurposeList(BaseModel):
    items: list[PurposePublic]
