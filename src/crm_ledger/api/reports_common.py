"""What every report router shares: CSV downloads and paging through a read model.

Every report first waits (up to a few seconds; `crm_ledger.api.deps.wait_for_read_model`)
until its read model reached ``min_position`` (the ``X-Log-Position`` of a write;
default: every write acknowledged before the request), else answers 503
``read_model_behind`` with ``Retry-After``.

CSV: ``?format=csv``, or ``Accept: text/csv`` preferred over JSON. Text cells that a
spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or
carriage return) get a leading ``'``, unless the whole cell is a plain decimal number
(``-12.50``: a credit note's amount is a figure, not a formula).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, Literal

from fastapi import Header, Query, Response
from pydantic import BaseModel

from crm_ledger.projections.contacts import encode_cursor
from crm_ledger.storage.sql import Tx

CSV_MEDIA = "text/csv"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}

Format = Annotated[
    Literal["json", "csv"] | None,
    Query(description="csv for a CSV download (default: by Accept, else JSON)"),
]
AcceptHeader = Annotated[str | None, Header(include_in_schema=False)]
CSV_PAGE = 1000
Rows = list[dict[str, Any]]


def _quality(accept: str, media: str) -> float:
    """The q of `media` in an Accept header (0 when absent; wildcards do not count)."""
    best = 0.0
    for part in accept.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        if name.lower() != media:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


def wants_csv(format: str | None, accept: str | None) -> bool:
    """CSV when asked by ``format``, else when Accept prefers text/csv to JSON."""
    if format is not None:
        return format == "csv"
    if not accept:
        return False
    return _quality(accept, CSV_MEDIA) > _quality(accept, "application/json")


def cell(value: Any) -> str:
    """One CSV cell: empty for None, true/false, text guarded against formulas (a plain
    decimal number such as ``-12.50`` is left as it is)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if (
        isinstance(value, str)
        and text.startswith(FORMULA_STARTS)
        and not PLAIN_NUMBER.fullmatch(text)
    ):
        return "'" + text
    return text


def csv_response(
    name: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    plain: frozenset[str] = frozenset(),
) -> Response:
    """A CSV download (RFC 4180: CRLF line ends, quoted where needed); the columns named
    in `plain` hold text that cannot be a formula and are not guarded (see `cell`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    unguarded = [column in plain for column in header]
    writer.writerows(
        [
            ("" if v is None else str(v)) if raw else cell(v)
            for v, raw in zip(row, unguarded, strict=True)
        ]
        for row in rows
    )
    headers = {"Content-Disposition": f'attachment; filename="{name}.csv"', "Vary": "Accept"}
    return Response(out.getvalue(), 200, headers, media_type=f"{CSV_MEDIA}; charset=utf-8")


def records_csv(name: str, model: type[BaseModel], records: Iterable[dict[str, Any]]) -> Response:
    """A CSV download of `records`, one column per field of `model` (in its order)."""
    header = list(model.model_fields)
    return csv_response(name, header, ([r[k] for k in header] for r in records))


def next_cursor(key: str | None) -> str | None:
    """The cursor of the page after the one that ended at sort key `key` (None: last)."""
    return None if key is None else encode_cursor(key)


def every_page(
    tx: Tx, after: str | None, page: Callable[[Tx, str | None], tuple[Rows, str | None]]
) -> Rows:
    """Every row from `after` on: `page` (one page of rows and the key after it) called
    until it returns no next key."""
    rows: Rows = []
    while True:
        found, after = page(tx, after)
        rows.extend(found)
        if after is None:
            return rows
