"""Consent purpose catalogue use cases, called by the API: define a purpose with its
first wording, publish a new wording version, read the catalogue (see
``crm_ledger.domain.consent_purpose``). The catalogue is one aggregate; two changes at
once are retried, so callers never see each other's conflict."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm_ledger.application import CrmApplication, Written
from crm_ledger.domain.consent_purpose import CATALOGUE_ID, ConsentCatalogue
from crm_ledger.domain.errors import NotFoundError
from crm_ledger.retry import store_retrying


def catalogue(crm: CrmApplication) -> ConsentCatalogue | None:
    """The catalogue, or None before the first purpose is defined."""
    try:
        return crm.load(ConsentCatalogue, CATALOGUE_ID, "consent catalogue")
    except NotFoundError:
        return None


def purposes(crm: CrmApplication) -> list[dict[str, Any]]:
    """Every purpose of the catalogue with its wordings, by purpose."""
    found = catalogue(crm)
    return [] if found is None else [found.purposes[p] for p in sorted(found.purposes)]


def _found(crm: CrmApplication, purpose: str) -> ConsentCatalogue:
    """The catalogue, or NotFoundError (for `purpose`) before the first definition."""
    found = catalogue(crm)
    if found is None:
        raise NotFoundError(kind="consent purpose", id=purpose)
    return found


def get_purpose(crm: CrmApplication, purpose: str) -> dict[str, Any]:
    """The purpose with its wordings, or NotFoundError."""
    return _found(crm, purpose).purpose(purpose)


def published_wording(crm: CrmApplication, purpose: str, version: int) -> dict[str, Any]:
    """Version `version` of `purpose`'s wording, or NotFoundError."""
    return _found(crm, purpose).wording(purpose, version)


def define_purpose(
    crm: CrmApplication,
    *,
    purpose: str,
    title: str,
    description: str | None,
    wording: str,
    actor: str,
) -> Written:
    """Add `purpose` to the catalogue with its first wording (PurposeDefinedError when
    it is there already)."""
    return _change(
        crm,
        lambda c: c.define(
            purpose=purpose, title=title, description=description, wording=wording, actor=actor
        ),
        actor,
    )


def publish_wording(crm: CrmApplication, purpose: str, *, wording: str, actor: str) -> Written:
    """Publish a new version of `purpose`'s wording (NotFoundError for an unknown purpose,
    raised while building: nothing is stored)."""
    return _change(crm, lambda c: c.publish(purpose=purpose, wording=wording, actor=actor), actor)


def _change(
    crm: CrmApplication, command: Callable[[ConsentCatalogue], object], actor: str
) -> Written:
    def build() -> list[ConsentCatalogue]:
        found = catalogue(crm) or ConsentCatalogue.start(actor=actor)
        command(found)
        return [found]

    return store_retrying(crm, build, actor=actor, exhausted="the consent catalogue kept changing")
