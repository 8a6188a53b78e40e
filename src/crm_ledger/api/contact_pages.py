"""Pages of the contacts read model, shared by ``GET /contacts`` and segments."""

from __future__ import annotations

from typing import Literal

from fastapi.exceptions import RequestValidationError
from starlette.datastructures import QueryParams

from crm_ledger.api.deps import READ_WAIT_SECONDS
from crm_ledger.api.problems import ProblemError
from crm_ledger.api.schemas.contacts import ContactPage, ContactPublic
from crm_ledger.application import CrmApplication
from crm_ledger.projections.contact_search import ContactFilter, CursorError, list_contacts
from crm_ledger.projections.runner import ProjectionRunner

ContactSort = Literal["relevance", "name", "-name", "created", "-created", "updated", "-updated"]
POSITION_HEADER = "X-Log-Position"
CUSTOM_PREFIX = "cf."
MAX_CUSTOM_KEY = 64
MAX_CUSTOM_VALUE = 200


def custom_field_filters(query: QueryParams) -> tuple[tuple[str, str], ...]:
    """The ``cf.<key>=<value>`` query parameters as (key, value) pairs, sorted; a
    repeated key keeps every value (all must hold). 422 for an empty or long key/value."""
    found: list[tuple[str, str]] = []
    errors = []
    for name, value in query.multi_items():
        if not name.startswith(CUSTOM_PREFIX):
            continue
        key = name.removeprefix(CUSTOM_PREFIX)
        if not 0 < len(key) <= MAX_CUSTOM_KEY or len(value) > MAX_CUSTOM_VALUE:
            errors.append(
                {
                    "loc": ("query", name),
                    "msg": f"custom field filters are cf.<key>=<value>, key 1 to"
                    f" {MAX_CUSTOM_KEY} characters, value up to {MAX_CUSTOM_VALUE}",
                    "type": "value_error",
                }
            )
            continue
        found.append((key, value))
    if errors:
        raise RequestValidationError(errors)
    return tuple(sorted(found))


def wait_for_lists(
    crm: CrmApplication,
    runner: ProjectionRunner,
    consents_runner: ProjectionRunner,
    filters: ContactFilter,
    min_position: int | None,
) -> None:
    """Wait until the contacts read model reflects `min_position` (default: the head
    now), and the consents read model too when `filters` name consents; 503 if they do
    not within a few seconds."""
    wanted = crm.head_position() if min_position is None else min_position
    waits = [("contacts list", runner)]
    if filters.consents:
        waits.append(("consents read model", consents_runner))
    for name, waited in waits:
        if not waited.wait_for(wanted, READ_WAIT_SECONDS):
            raise ProblemError(
                503,
                "read_model_behind",
                "Read model not caught up",
                f"the {name} has not reached position {wanted} yet",
                {"Retry-After": "1"},
            )


def contact_page(
    crm: CrmApplication,
    runner: ProjectionRunner,
    filters: ContactFilter,
    *,
    sort: str | None,
    limit: int,
    cursor: str | None,
    min_position: int | None,
    consents_runner: ProjectionRunner,
) -> ContactPage:
    """One page, once the read model reflects `min_position` (default: the head now),
    and so does the consents read model when the filter names consents; 503 if they do
    not within a few seconds, 400 for a cursor this sort did not make."""
    wait_for_lists(crm, runner, consents_runner, filters, min_position)
    try:
        with crm.db.transaction(write=False) as tx:
            items, next_cursor = list_contacts(tx, filters, limit=limit, cursor=cursor, sort=sort)
    except CursorError as exc:
        raise ProblemError(
            400,
            "malformed_cursor",
            "Malformed cursor",
            f"the cursor is not one this API returned for this sort ({exc})",
        ) from None
    return ContactPage(
        items=[ContactPublic.model_validate(i) for i in items], next_cursor=next_cursor
    )
