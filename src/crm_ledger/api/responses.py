"""Responses every resource router builds the same way.

A write answers the aggregate's snapshot as JSON with its ``ETag`` (the version), the
``X-Log-Position`` of the write when known, and on 201 a ``Location``. A read answers
the same ``ETag``. ``/{id}/history`` pages through an aggregate's events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID

import orjson
from fastapi import Response

from crm_ledger.api.problems import problem_body
from crm_ledger.api.schemas.contacts import HistoryItem, HistoryPage
from crm_ledger.application import Written
from crm_ledger.ledger.envelope import format_timestamp

POSITION_HEADER = "X-Log-Position"

_NOT_DATA = {"originator_id", "originator_version", "timestamp", "actor", "originator_topic"}


def etag(aggregate: Any) -> str:
    """The ETag of `aggregate`'s version, e.g. ``"3"``."""
    return f'"{aggregate.version}"'


def position_headers(position: int | None, location: str | None = None) -> dict[str, str]:
    """``X-Log-Position`` (when `position` is known) and ``Location`` (when given) of a
    write."""
    headers = {}
    if position is not None:
        headers[POSITION_HEADER] = str(position)
    if location is not None:
        headers["Location"] = location
    return headers


def write_headers(
    aggregate: Any, position: int | None, location: str | None = None
) -> dict[str, str]:
    """``ETag``, ``X-Log-Position`` (when `position` is known) and ``Location`` (when
    given) of a write."""
    return {"ETag": etag(aggregate), **position_headers(position, location)}


def payload_response(payload: dict[str, Any], aggregate: Any, position: int | None) -> Response:
    """`payload` as JSON (200) with the ``ETag`` of `aggregate` and the log position of the
    write that made it (a command whose answer says more than the aggregate itself)."""
    headers = write_headers(aggregate, position)
    return Response(orjson.dumps(payload), 200, headers, media_type="application/json")


def redact_answers(request: Any, ids: Iterable[Any]) -> None:
    """Replace the stored ``Idempotency-Key`` answers that name any of `ids` (records
    whose personal data was just erased) by a 410 ``answer_erased`` problem."""
    body = problem_body(
        410,
        "answer_erased",
        "Answer erased",
        "this request was carried out, but its answer named personal data erased since",
    )
    request.app.state.idempotency.redact([str(i) for i in ids], body)


def written_response(
    written: Written,
    snapshot: Callable[[Any], dict[str, Any]],
    status: int = 200,
    *,
    location: str | None = None,
) -> Response:
    """`written`'s aggregate as JSON (`snapshot` of it, serialised once) with its ETag,
    log position and, when given, ``Location``."""
    aggregate = written.aggregate
    headers = write_headers(aggregate, written.position, location)
    return Response(
        orjson.dumps(snapshot(aggregate)), status, headers, media_type="application/json"
    )


def resource_response(
    written: Written,
    snapshot: Callable[[Any], dict[str, Any]],
    collection: str,
    status: int = 200,
) -> Response:
    """`written_response`, located at ``{collection}/{id}`` when `status` is 201."""
    location = f"{collection}/{written.aggregate.id}" if status == 201 else None
    return written_response(written, snapshot, status, location=location)


def event_data(event: Any) -> dict[str, Any]:
    """What an event records besides its envelope (ids as text)."""
    data = {k: v for k, v in vars(event).items() if k not in _NOT_DATA}
    return {k: (str(v) if isinstance(v, UUID) else v) for k, v in data.items()}


def history_page(events: Iterable[Any], limit: int, cursor: str | None) -> HistoryPage:
    """The events after version `cursor` (all when None), at most `limit` of them."""
    after = int(cursor) if cursor else 0
    later = [e for e in events if e.originator_version > after]
    page = later[:limit]
    items = [
        HistoryItem(
            version=e.originator_version,
            event=type(e).__name__,
            at=format_timestamp(e.timestamp),
            actor=getattr(e, "actor", None),
            data=event_data(e),
        )
        for e in page
    ]
    next_cursor = str(page[-1].originator_version) if len(later) > limit else None
    return HistoryPage(items=items, next_cursor=next_cursor)
