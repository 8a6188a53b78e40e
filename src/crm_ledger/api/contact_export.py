"""The rows and columns of ``GET /contacts:export``: the contacts a list shows, as CSV
in the columns ``crm-ledger import contacts`` reads (see `crm_ledger.imports`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from fastapi import Response

from crm_ledger.api.contact_pages import wait_for_lists
from crm_ledger.api.problems import ProblemError
from crm_ledger.api.reports_common import csv_response
from crm_ledger.application import CrmApplication
from crm_ledger.contact_export import record_export
from crm_ledger.imports import ADDRESS_PARTS, ADDRESS_PREFIX, CUSTOM_PREFIX, LIST_SEPARATOR
from crm_ledger.projections.contact_search import ContactFilter, list_contacts
from crm_ledger.projections.runner import ProjectionRunner

MAX_EXPORT = 100_000
#: the OpenAPI ``responses`` of a route answering a CSV download
CSV_FILE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "the CSV file"}
}
T = TypeVar("T")
PAGE = 1_000
LEADING = ("id",)  # an import ignores it (see crm_ledger.contact_rows.IGNORED_COLUMNS)
COLUMNS = ("kind", "name", "emails", "phones", "tax_id", "tags", "owner", "organisation_id")


def export_response(
    crm: CrmApplication,
    runners: tuple[ProjectionRunner, ProjectionRunner],
    filters: ContactFilter,
    min_position: int | None,
    *,
    name: str,
    recorded: dict[str, Any],
    actor: str,
) -> Response:
    """The CSV download ``name.csv`` of the list `filters` select, once the contacts
    (and consents) read models reflect `min_position` (default: the head now); recorded
    first as a ``ContactsExport`` whose filters are `recorded`."""
    position = crm.head_position() if min_position is None else min_position
    wait_for_lists(crm, *runners, filters, position)
    return recorded_csv(crm, export_rows(crm, filters), position, name, recorded, actor)


def recorded_csv(
    crm: CrmApplication,
    contacts: Sequence[dict[str, Any]],
    position: int,
    name: str,
    recorded: dict[str, Any],
    actor: str,
) -> Response:
    """`contacts` as the CSV download ``name.csv``, recorded first as a
    ``ContactsExport`` (filters `recorded`, complete up to `position`)."""
    record_export(crm, recorded, len(contacts), position, actor=actor)
    header, rows = contacts_csv(contacts)
    return csv_response(name, header, rows, plain=frozenset({"phones"}))


def export_rows(crm: CrmApplication, filters: ContactFilter) -> list[dict[str, Any]]:
    """Every contact (public state) the list with `filters` shows, in name order; 422
    ``export_too_large`` beyond `MAX_EXPORT`."""
    return listed(crm, filters, lambda item: item, MAX_EXPORT, "export_too_large", "Export")


def listed(
    crm: CrmApplication,
    filters: ContactFilter,
    keep: Callable[[dict[str, Any]], T],
    most: int,
    code: str,
    what: str,
) -> list[T]:
    """`keep` of every contact the list with `filters` shows, in name order; 422 `code`
    ("`what` too large") beyond `most`."""
    found: list[T] = []
    cursor = None
    with crm.db.transaction(write=False, snapshot=True) as tx:  # pages of one state
        while True:
            items, cursor = list_contacts(tx, filters, limit=PAGE, cursor=cursor, sort="name")
            found += map(keep, items)
            if len(found) > most:
                raise ProblemError(
                    422,
                    code,
                    f"{what} too large",
                    f"more than {most:,} contacts match: narrow the filters "
                    "(tag, owner, kind, created_after, ...)",
                )
            if cursor is None:
                return found


def contacts_csv(contacts: Sequence[dict[str, Any]]) -> tuple[list[str], Iterator[list[Any]]]:
    """The header and rows of `contacts`: `LEADING`, `COLUMNS`, the first address's
    parts and every custom field key any of them has (sorted)."""
    keys = sorted({key for c in contacts for key in c["custom_fields"]})
    header = [
        *LEADING,
        *COLUMNS,
        *(ADDRESS_PREFIX + part for part in ADDRESS_PARTS),
        *(CUSTOM_PREFIX + key for key in keys),
    ]

    def row(contact: dict[str, Any]) -> list[Any]:
        values = [contact[name] for name in LEADING]
        for name in COLUMNS:
            value = contact.get(name)
            values.append(LIST_SEPARATOR.join(value) if isinstance(value, list) else value)
        address = contact["addresses"][0] if contact["addresses"] else {}
        values += [address.get(part) for part in ADDRESS_PARTS]
        values += [contact["custom_fields"].get(key) for key in keys]
        return values

    return header, (row(c) for c in contacts)
