"""Validators and JSON schemas the request models share.

Decimals (money, quantities, percentages) and dates come as JSON strings: a JSON number
is refused, so no figure ever passes through a binary float, and no date is a timestamp.
Each resource keeps its own types (names, examples and messages stay as they are); only
the checks behind them are here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from pydantic import WithJsonSchema

ISO_DAY = r"\d{4}-\d{2}-\d{2}"


def decimal_text(pattern: str, example: str) -> Callable[[object], object]:
    """A validator: only a JSON string that matches `pattern` may become a Decimal."""

    def check(value: object) -> object:
        if isinstance(value, Decimal):  # already parsed (model built in Python)
            return value
        if not isinstance(value, str):
            raise ValueError(f'must be a JSON string such as "{example}", not a number')
        if not re.fullmatch(pattern, value):
            raise ValueError(f'must look like "{example}" (pattern {pattern})')
        return value

    return check


def date_text(example: str, *, field: str | None = None) -> Callable[[object], object]:
    """A validator: a date comes as a JSON string ``YYYY-MM-DD`` (no timestamps as
    numbers); the error names `field` when given."""
    message = f'must be an ISO date string such as "{example}"'
    if field is not None:
        message = f"{field} {message}"

    def check(value: object) -> object:
        if isinstance(value, date):  # already parsed (model built in Python)
            return value
        if not isinstance(value, str) or not re.fullmatch(ISO_DAY, value):
            raise ValueError(message)
        return value

    return check


def decimal_schema(pattern: str, example: str, description: str) -> WithJsonSchema:
    """The JSON schema of a decimal sent as a string that matches `pattern`."""
    return WithJsonSchema(
        {"type": "string", "pattern": pattern, "examples": [example], "description": description}
    )
