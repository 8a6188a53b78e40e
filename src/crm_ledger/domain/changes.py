"""Partial updates of an aggregate: which fields a command may change, and which of the
changes asked for really differ (only those are recorded in the event)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from crm_ledger.domain.errors import InvalidCommandError


def check_known(changes: Mapping[str, Any], known: Collection[str], what: str = "fields") -> None:
    """InvalidCommandError (naming the first, sorted) when `changes` has a field not in
    `known`."""
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise InvalidCommandError(f"unknown {what} {unknown}", field=unknown[0])


def changed_fields(
    changes: Mapping[str, Any],
    normalise: Callable[[str, Any], Any],
    current: Callable[[str], Any],
) -> dict[str, Any]:
    """The `changes` (each normalised, in their order) whose new value is not the
    `current` one."""
    found: dict[str, Any] = {}
    for field, value in changes.items():
        new = normalise(field, value)
        if new != current(field):
            found[field] = new
    return found


def text_field(value: object, field: str, most: int, *, required: bool = False) -> str | None:
    """`value` stripped, as a field of at most `most` characters (None when absent or
    blank, unless `required`: then InvalidCommandError, as for a non-text value)."""
    if value is None and not required:
        return None
    text = value.strip() if isinstance(value, str) else None
    if text is None or (required and not text) or len(text) > most:
        raise InvalidCommandError(f"{field} must be text of 1 to {most} characters", field=field)
    return text or None
