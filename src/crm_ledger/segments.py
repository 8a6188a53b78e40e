"""Segment use cases (saved contact filters), called by the API: one function per use case.

Segments are few, so listing them replays each one found by a scan of the log for
``Segment.Created``; evaluating one is a contacts-list query (``contact_search``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from crm_ledger.application import CrmApplication, Written
from crm_ledger.domain.segment import Segment, SegmentDeletedError

CREATED_TOPIC = f"{Segment.__module__}:{Segment.__qualname__}.Created"
SCAN = 500


def create_segment(
    crm: CrmApplication,
    *,
    name: str,
    definition: Mapping[str, Any],
    actor: str,
    owner: str | None = None,
) -> Written:
    """Save a new segment."""
    segment = Segment.create(name=name, definition=definition, owner=owner, actor=actor)
    return Written(segment, crm.store(segment, actor=actor))


def get_segment(crm: CrmApplication, segment_id: UUID) -> Segment:
    """The segment; NotFoundError if unknown, SegmentDeletedError if deleted."""
    segment = crm.load(Segment, segment_id, "segment")
    if segment.deleted:
        raise SegmentDeletedError(f"segment {segment_id} was deleted")
    return segment


def update_segment(
    crm: CrmApplication,
    segment_id: UUID,
    *,
    expected_version: int,
    actor: str,
    changes: dict[str, Any],
) -> Written:
    """Change a segment's name, definition or owner."""
    return crm.change(
        Segment,
        segment_id,
        "segment",
        expected_version,
        actor,
        lambda s: s.update(actor=actor, **changes),
    )


def delete_segment(
    crm: CrmApplication, segment_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Delete a segment (its history stays in the log)."""
    return crm.change(
        Segment, segment_id, "segment", expected_version, actor, lambda s: s.delete(actor=actor)
    )


def list_segments(
    crm: CrmApplication, *, limit: int, after: int = 0
) -> tuple[list[Segment], int | None]:
    """Up to `limit` live segments created after log position `after`, oldest first, and
    the position to continue from (None at the end)."""
    found: list[Segment] = []
    start = after
    while True:
        batch = crm.recorder.select_notifications(
            start, SCAN, topics=[CREATED_TOPIC], inclusive_of_start=False
        )
        for notification in batch:
            segment = crm.load(Segment, UUID(str(notification.originator_id)), "segment")
            if segment.deleted:
                continue
            if len(found) == limit:
                return found, start
            found.append(segment)
            start = notification.id
        if len(batch) < SCAN:
            return found, None
        start = batch[-1].id
