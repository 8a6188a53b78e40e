"""Every read model by name: the API, ``crm-ledger projections`` and ``rebuild`` use this.

Adding a projection is one line in `PROJECTIONS`: its name (also its key in
``projection_tracking``) and the class, built from the application's mapper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import Mapper

from crm_ledger.projections.activities import ActivitiesProjection
from crm_ledger.projections.base import Projection
from crm_ledger.projections.campaigns import CampaignResponsesProjection, CampaignsProjection
from crm_ledger.projections.cases import CasesProjection
from crm_ledger.projections.consents import ConsentsProjection
from crm_ledger.projections.contacts import ContactsProjection
from crm_ledger.projections.deals import DealsProjection
from crm_ledger.projections.delivery_notes import DeliveryNotesProjection
from crm_ledger.projections.issuers import IssuersProjection
from crm_ledger.projections.launch_audiences import LaunchAudiencesProjection
from crm_ledger.projections.leads import LeadsProjection
from crm_ledger.projections.payments import PaymentsProjection
from crm_ledger.projections.pipeline import PipelineProjection
from crm_ledger.projections.reporting import ReportingProjection
from crm_ledger.projections.sales_documents import (
    OrdersProjection,
    PipelinesProjection,
    QuotesProjection,
)
from crm_ledger.projections.surveys import SurveysProjection
from crm_ledger.projections.trigram import enable as enable_trigram

ProjectionFactory = Callable[[Mapper[Any]], Projection]

PROJECTIONS: dict[str, ProjectionFactory] = {
    "contacts": ContactsProjection,
    "activities": ActivitiesProjection,
    "leads": LeadsProjection,
    "pipeline": lambda _mapper: PipelineProjection(),
    "reporting": lambda _mapper: ReportingProjection(),
    "payments": PaymentsProjection,
    "quotes": QuotesProjection,
    "orders": OrdersProjection,
    "pipelines": PipelinesProjection,
    "deals": DealsProjection,
    "delivery_notes": DeliveryNotesProjection,
    "issuers": IssuersProjection,
    "consents": lambda _mapper: ConsentsProjection(),
    "cases": CasesProjection,
    "surveys": SurveysProjection,
    "campaigns": CampaignsProjection,
    "campaign_responses": CampaignResponsesProjection,
    "launch_audiences": lambda _mapper: LaunchAudiencesProjection(),
}


def prepare(app: Any) -> None:
    """What the database must offer before projections are built for `app` (its
    ``db`` and ``mapper``): ``pg_trgm`` where allowed, so the contacts projection's DDL
    (live or shadow tables) declares its trigram index whichever process builds it."""
    enable_trigram(app.db, app.mapper)


class UnknownProjectionError(LookupError):
    """No projection has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown projection {name!r} (known: {', '.join(names())})")
        self.name = name


def names() -> list[str]:
    """The registered projection names, in registration order."""
    return list(PROJECTIONS)


def build(name: str, mapper: Mapper[Any]) -> Projection:
    """The projection called `name`, or UnknownProjectionError."""
    try:
        factory = PROJECTIONS[name]
    except KeyError:
        raise UnknownProjectionError(name) from None
    return factory(mapper)


def build_all(mapper: Mapper[Any], selected: list[str] | None = None) -> dict[str, Projection]:
    """The projections named in `selected` (all when None or empty), by name."""
    wanted = selected or names()
    return {name: build(name, mapper) for name in wanted}
