"""``/consent-purposes``: the purposes consent is asked for, and the exact wording of
each, version by version (GDPR art. 7: show what a person agreed to). Defined and
reworded by admins; read by whoever reads contacts. A consent statement names the
version the person was shown (``wording_version`` at ``POST /contacts/{id}/consents``)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Response

from crm_ledger import consent_purposes
from crm_ledger.api.deps import CrmDep, PrincipalDep
from crm_ledger.api.responses import position_headers
from crm_ledger.api.schemas.consent_purposes import (
    PurposeCreate,
    PurposeList,
    PurposePublic,
    WordingIn,
    WordingPublic,
)
from crm_ledger.api.schemas.consents import Purpose
from crm_ledger.domain.consent_purpose import ConsentCatalogue

router = APIRouter(prefix="/consent-purposes", tags=["consents"])
PREFIX = router.prefix
PurposePath = Annotated[str, Path(max_length=64)]


def _created(body: dict[str, Any], position: int | None, location: str) -> Response:
    headers = position_headers(position, location)
    return Response(orjson.dumps(body), 201, headers, media_type="application/json")


@router.post(
    "",
    status_code=201,
    response_model=PurposePublic,
    summary="Define a purpose with its first wording (version 1)",
    description="409 `purpose_defined` when the purpose is in the catalogue already "
    "(publish a new wording instead).",
)
def define(body: PurposeCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    written = consent_purposes.define_purpose(
        crm,
        purpose=body.purpose,
        title=body.title,
        description=body.description,
        wording=body.wording,
        actor=principal.actor,
    )
    assert isinstance(written.aggregate, ConsentCatalogue)
    entry = written.aggregate.purpose(body.purpose)
    return _created(entry, written.position, f"{PREFIX}/{body.purpose}")


@router.get("", summary="The catalogue: every purpose with its wordings, by purpose")
def list_purposes(crm: CrmDep, principal: PrincipalDep) -> PurposeList:
    return PurposeList.model_validate({"items": consent_purposes.purposes(crm)})


@router.get("/{purpose}", summary="One purpose with every version of its wording")
def get_purpose(purpose: PurposePath, crm: CrmDep, principal: PrincipalDep) -> PurposePublic:
    return PurposePublic.model_validate(consent_purposes.get_purpose(crm, purpose))


@router.post(
    "/{purpose}/wordings",
    status_code=201,
    response_model=WordingPublic,
    summary="Publish a new version of the purpose's wording",
    description="Earlier versions stay as they are (statements name them); the same text "
    "as the current version is 422.",
)
def publish(purpose: Purpose, body: WordingIn, crm: CrmDep, principal: PrincipalDep) -> Response:
    written = consent_purposes.publish_wording(
        crm, purpose, wording=body.wording, actor=principal.actor
    )
    assert isinstance(written.aggregate, ConsentCatalogue)
    wording = written.aggregate.purpose(purpose)["wordings"][-1]
    location = f"{PREFIX}/{purpose}/wordings/{wording['version']}"
    return _created(wording, written.position, location)


@router.get("/{purpose}/wordings/{version}", summary="One version of the purpose's wording")
def get_wording(
    purpose: PurposePath, version: int, crm: CrmDep, principal: PrincipalDep
) -> WordingPublic:
    return WordingPublic.model_validate(consent_purposes.published_wording(crm, purpose, version))
