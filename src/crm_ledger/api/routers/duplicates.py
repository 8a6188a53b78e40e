"""``GET /contacts:duplicates``: the duplicates report, every pair of contacts a list
shows that look like one person or company (a shared email, phone, tax id, or name of
the same kind), to review and merge. JSON, or CSV for a spreadsheet."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from crm_ledger.api.contact_export import MAX_EXPORT, listed
from crm_ledger.api.contact_pages import wait_for_lists
from crm_ledger.api.deps import ConsentsRunnerDep, ContactsRunnerDep, CrmDep, PrincipalDep
from crm_ledger.api.reports_common import (
    CSV_RESPONSE,
    AcceptHeader,
    Format,
    csv_response,
    wants_csv,
)
from crm_ledger.api.routers.contacts import FiltersDep, ListPosition
from crm_ledger.api.schemas.contacts import DuplicatesReport
from crm_ledger.projections.contact_duplicates import MAX_GROUP, duplicate_pairs

router = APIRouter(prefix="/contacts", tags=["contacts"])
MAX_PAIRS = 10_000
CSV_COLUMNS = ("contact_id", "contact_name", "other_id", "other_name", "reasons")


@router.get(
    ":duplicates",
    response_model=DuplicatesReport,
    responses=CSV_RESPONSE,
    summary="The duplicates report: every pair of listed contacts that look like one",
    description="Compares the contacts `GET /contacts` lists with the same filters (at most "
    f"{MAX_EXPORT:,}, else 422 `report_too_large`) as `GET /contacts/{{id}}/duplicates` "
    "does: a shared email (any case), phone digits (6 or more), tax id (letters and "
    "digits), or name words for contacts of the same kind. Pairs come most reasons first; "
    f"a value shared by more than {MAX_GROUP} contacts pairs none of them (counted in "
    "`too_common`). CSV with `?format=csv` or `Accept: text/csv` (every pair), JSON "
    "otherwise (the first `limit`).",
)
def duplicates_report(
    crm: CrmDep,
    runner: ContactsRunnerDep,
    consents_runner: ConsentsRunnerDep,
    principal: PrincipalDep,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAIRS)] = 1000,
    min_position: ListPosition = None,
    format: Format = None,
    accept: AcceptHeader = None,
) -> Any:
    position = crm.head_position() if min_position is None else min_position
    wait_for_lists(crm, runner, consents_runner, filters, position)
    contacts = listed(
        crm,
        filters,
        lambda c: {"id": c["id"], "kind": c["kind"], "name": c["name"], **_compared(c)},
        MAX_EXPORT,
        "report_too_large",
        "Report",
    )
    pairs, too_common = duplicate_pairs(contacts)
    by_id = {c["id"]: c for c in contacts}
    if wants_csv(format, accept):
        rows = (
            (a, by_id[a]["name"], b, by_id[b]["name"], " ".join(reasons)) for a, b, reasons in pairs
        )
        return csv_response("contact-duplicates", CSV_COLUMNS, rows, plain=_PLAIN)
    shown = [
        {"contact": _paired(by_id[a]), "other": _paired(by_id[b]), "reasons": reasons}
        for a, b, reasons in pairs[:limit]
    ]
    return DuplicatesReport.model_validate(
        {
            "log_position": position,
            "contacts": len(contacts),
            "pair_count": len(pairs),
            "pairs": shown,
            "too_common": too_common,
        }
    )


_PLAIN = frozenset({"contact_id", "other_id", "reasons"})


def _compared(contact: dict[str, Any]) -> dict[str, Any]:
    return {key: contact.get(key) for key in ("emails", "phones", "tax_id")}


def _paired(contact: dict[str, Any]) -> dict[str, Any]:
    return {key: contact[key] for key in ("id", "kind", "name")}
