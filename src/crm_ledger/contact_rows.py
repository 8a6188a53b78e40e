"""CSV rows of a contacts file turned into ``Contact.register`` arguments, fast.

``ContactCreate.model_validate(row_fields(header, values)).fields()`` (the rules of
``POST /contacts``) costs ~25 us a row. A `RowReader`, compiled once for a header, does
the same for the rows it is *sure* about in a few microseconds, and answers None for any
other row; the caller then asks pydantic, which accepts it or words the rejection. It is
conservative by construction: pattern checks only run on ASCII cells (where Python's
``\\s`` / ``\\w`` classes are at least as strict as the Rust regex engine pydantic uses),
an organisation id must be in the canonical 36-character form, and every length limit is
the schema's. ``tests/property/test_contact_rows.py`` proves on generated rows that an
answer is exactly pydantic's, and that no row pydantic rejects gets one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, get_args
from uuid import UUID

from pydantic import BaseModel

from crm_ledger.api.schemas.contacts import Address, ContactCreate

LIST_SEPARATOR = ";"
ADDRESS_PREFIX = "address."
CUSTOM_PREFIX = "custom."
#: columns a file may have and an import ignores: a contact's ``id``, as
#: ``GET /contacts:export`` writes it (an import always creates new contacts)
IGNORED_COLUMNS = ("id",)

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _constraint(metadata: Sequence[Any], name: str) -> Any:
    """The value of constraint `name` (``max_length``, ``pattern``) in pydantic metadata."""
    for item in metadata:
        value = getattr(item, name, None)
        if value is not None:
            return value
    raise LookupError(f"no {name} constraint")


def _item_metadata(model: type[BaseModel], field: str) -> list[Any]:
    """The metadata of the item type of list (or dict key) field `field`."""
    annotated = get_args(model.model_fields[field].annotation)[0]
    return list(get_args(annotated)[1].metadata)


def _limit(model: type[BaseModel], field: str) -> int:
    return int(_constraint(model.model_fields[field].metadata, "max_length"))


def _pattern(metadata: Sequence[Any]) -> re.Pattern[str]:
    return re.compile(_constraint(metadata, "pattern"))


# Read from the schema, not copied, so that the two cannot drift apart.
_EMAIL = _pattern(_item_metadata(ContactCreate, "emails"))
_PHONE = _pattern(_item_metadata(ContactCreate, "phones"))
_TAG = _pattern(_item_metadata(ContactCreate, "tags"))
_COUNTRY = _pattern(Address.model_fields["country"].metadata)
MAX_EMAIL = int(_constraint(_item_metadata(ContactCreate, "emails"), "max_length"))
MAX_CUSTOM_KEY = int(_constraint(_item_metadata(ContactCreate, "custom_fields"), "max_length"))
MAX_NAME = _limit(ContactCreate, "name")
MAX_EMAILS = _limit(ContactCreate, "emails")
MAX_PHONES = _limit(ContactCreate, "phones")
MAX_TAGS = _limit(ContactCreate, "tags")
MAX_TAX_ID = _limit(ContactCreate, "tax_id")
MAX_OWNER = _limit(ContactCreate, "owner")
MAX_CUSTOM = _limit(ContactCreate, "custom_fields")
ADDRESS_PARTS = tuple(Address.model_fields)  # declared order: the order fields() keeps
ADDRESS_LIMITS = {p: _limit(Address, p) for p in ADDRESS_PARTS if p != "country"}


class _UnsureError(Exception):
    """The fast reader cannot vouch for this row: let pydantic decide."""


def _items(cell: str) -> list[str]:
    return [p.strip() for p in cell.split(LIST_SEPARATOR) if p.strip()]


def _checked_list(
    cell: str, pattern: re.Pattern[str], limit: int, item_limit: int = 0
) -> list[str]:
    items = _items(cell)
    if len(items) > limit or not cell.isascii():
        raise _UnsureError
    for item in items:
        if (item_limit and len(item) > item_limit) or pattern.fullmatch(item) is None:
            raise _UnsureError
    return items


def _emails(cell: str) -> list[str]:
    return _checked_list(cell, _EMAIL, MAX_EMAILS, MAX_EMAIL)


def _phones(cell: str) -> list[str]:
    return _checked_list(cell, _PHONE, MAX_PHONES)


def _tags(cell: str) -> list[str]:
    return _checked_list(cell, _TAG, MAX_TAGS)


def _text(limit: int) -> Callable[[str], str]:
    def check(cell: str) -> str:
        if len(cell) > limit:
            raise _UnsureError
        return cell

    return check


def _kind(cell: str) -> str:
    if cell not in ("person", "organisation"):
        raise _UnsureError
    return cell


def _organisation_id(cell: str) -> UUID:
    if _UUID.fullmatch(cell) is None:
        raise _UnsureError
    return UUID(cell)


_SCALARS: dict[str, Callable[[str], Any]] = {
    "kind": _kind,
    "name": _text(MAX_NAME),
    "tax_id": _text(MAX_TAX_ID),
    "owner": _text(MAX_OWNER),
    "organisation_id": _organisation_id,
}
_LISTS: dict[str, Callable[[str], list[str]]] = {
    "emails": _emails,
    "phones": _phones,
    "tags": _tags,
}


class RowReader:
    """Reads rows of a file with `header` (already checked by ``check_header``)."""

    def __init__(self, header: Sequence[str]) -> None:
        self.width = len(header)
        self.scalars: list[tuple[int, str, Callable[[str], Any]]] = []
        self.lists: list[tuple[int, str, Callable[[str], list[str]]]] = []
        self.address: list[tuple[int, str]] = []
        self.custom: list[tuple[int, str]] = []
        self.usable = True  # False: some column makes every filled row unsure
        for index, column in enumerate(header):
            if column in IGNORED_COLUMNS:
                continue
            if column in _SCALARS:
                self.scalars.append((index, column, _SCALARS[column]))
            elif column in _LISTS:
                self.lists.append((index, column, _LISTS[column]))
            elif column.startswith(ADDRESS_PREFIX):
                self.address.append((index, column.removeprefix(ADDRESS_PREFIX)))
            else:
                key = column.removeprefix(CUSTOM_PREFIX)
                self.custom.append((index, key))
                if len(key) > MAX_CUSTOM_KEY:
                    self.usable = False
        if len(self.custom) > MAX_CUSTOM:
            self.usable = False
        self.address.sort(key=lambda item: ADDRESS_PARTS.index(item[1]))
        self.has_kind_and_name = {"kind", "name"} <= {c for _, c, _ in self.scalars}

    def fields(self, values: Sequence[str]) -> dict[str, Any] | None:
        """``ContactCreate.model_validate(row_fields(...)).fields()`` of the row, or None
        when the row is not surely valid (then pydantic must decide)."""
        if len(values) != self.width or not self.usable or not self.has_kind_and_name:
            return None
        try:
            return self._fields(values)
        except _UnsureError:
            return None

    def _fields(self, values: Sequence[str]) -> dict[str, Any]:
        result: dict[str, Any] = {
            "kind": None,
            "name": None,
            "emails": [],
            "phones": [],
            "addresses": [],
            "tax_id": None,
            "tags": [],
            "owner": None,
            "organisation_id": None,
            "custom_fields": {},
        }
        for index, column, check in self.scalars:
            cell = values[index].strip()
            if cell:
                result[column] = check(cell)
            elif column in ("kind", "name"):
                raise _UnsureError  # required: pydantic words the rejection
        for index, column, split in self.lists:
            result[column] = split(values[index].strip())
        if self.address:
            address = self._address(values)
            if address:
                result["addresses"] = [address]
        if self.custom:
            custom = {}
            for index, key in self.custom:
                cell = values[index].strip()
                if cell:
                    custom[key] = cell
            result["custom_fields"] = custom
        return result

    def _address(self, values: Sequence[str]) -> dict[str, str]:
        address = {}
        for index, part in self.address:
            cell = values[index].strip()
            if not cell:
                continue
            if part == "country":
                if _COUNTRY.fullmatch(cell) is None:
                    raise _UnsureError
            elif len(cell) > ADDRESS_LIMITS[part]:
                raise _UnsureError
            address[part] = cell
        if address and ("line1" not in address or "country" not in address):
            raise _UnsureError
        return address


def registered(fields: dict[str, Any], actor: str) -> dict[str, Any] | None:
    """``registration(actor=actor, **fields)`` for `fields` answered by a `RowReader`, or
    None when that would be refused (a linked organisation that is not a person).

    A reader's cells are stripped, non-empty and within the schema's limits, so the
    domain's normalisation reduces to: lower-case and de-duplicate the emails,
    de-duplicate the phones, sort the distinct tags, sort the custom fields by key.
    ``tests/property/test_contact_rows.py`` checks it against `registration`.
    """
    if fields["organisation_id"] is not None and fields["kind"] != "person":
        return None
    return {
        "kind": fields["kind"],
        "name": fields["name"],
        "emails": list(dict.fromkeys([e.lower() for e in fields["emails"]])),
        "phones": list(dict.fromkeys(fields["phones"])),
        "addresses": fields["addresses"],
        "tax_id": fields["tax_id"],
        "tags": sorted(set(fields["tags"])),
        "owner": fields["owner"],
        "organisation_id": fields["organisation_id"],
        "custom_fields": dict(sorted(fields["custom_fields"].items())),
        "actor": actor,
    }
