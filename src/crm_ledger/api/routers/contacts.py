"""``/contacts``: people and organisations."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Response

from crm_ledger.api.deps import (
    ContactsRunnerDep,
    CrmDep,
    ExpectedVersionDep,
    PrincipalDep,
)
from crm_ledger.api.problems import ProblemError
from crm_ledger.api.schemas.contacts import (
    ContactCreate,
    ContactPage,
    ContactPublic,
    ContactUpdate,
    HistoryItem,
    HistoryPage,
    NoteCreate,
)
from crm_ledger.application import Written
from crm_ledger.domain.contact import contact_snapshot
from crm_ledger.ledger.envelope import format_timestamp
from crm_ledger.projections.contacts import ContactFilter, decode_cursor, list_contacts

router = APIRouter(prefix="/contacts", tags=["contacts"])
POSITION_HEADER = "X-Log-Position"
READ_WAIT_SECONDS = 5.0


def _answer(written: Written, status: int = 200) -> Response:
    """The contact as JSON with its ETag and log position (serialised once, no re-validation:
    the snapshot already has the ContactPublic shape, which a test checks)."""
    contact = written.aggregate
    headers = {"ETag": f'"{contact.version}"'}
    if written.position is not None:
        headers[POSITION_HEADER] = str(written.position)
    if status == 201:
        headers["Location"] = f"/contacts/{contact.id}"
    return Response(
        orjson.dumps(contact_snapshot(contact)), status, headers, media_type="application/json"
    )


@router.post(
    "", status_code=201, response_model=ContactPublic, summary="Register a person or organisation"
)
def create_contact(body: ContactCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    fields = body.model_dump()
    fields["addresses"] = [
        {k: v for k, v in a.items() if v is not None} for a in fields["addresses"]
    ]
    written = crm.register_contact(actor=principal.actor, **fields)
    return _answer(written, 201)


@router.get("", summary="List and search contacts")
def list_all(
    crm: CrmDep,
    runner: ContactsRunnerDep,
    principal: PrincipalDep,
    kind: Annotated[str | None, Query(pattern="^(person|organisation)$")] = None,
    tag: Annotated[str | None, Query(max_length=40)] = None,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    archived: bool = False,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="name/email text")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    min_position: Annotated[
        int | None,
        Query(
            ge=0,
            description=f"wait until the list reflects this {POSITION_HEADER} "
            "(default: every write acknowledged before this request)",
        ),
    ] = None,
) -> ContactPage:
    wanted = crm.head_position() if min_position is None else min_position
    if not runner.wait_for(wanted, READ_WAIT_SECONDS):
        raise ProblemError(
            503,
            "read_model_behind",
            "Read model not caught up",
            f"the contacts list has not reached position {wanted} yet",
            {"Retry-After": "1"},
        )
    try:
        after = decode_cursor(cursor) if cursor else None
    except ValueError:
        raise ProblemError(
            400, "malformed_cursor", "Malformed cursor", "the cursor is not one this API returned"
        ) from None
    filters = ContactFilter(kind=kind, tag=tag, owner=owner, archived=archived, q=q)
    with crm.db.transaction(write=False) as tx:
        items, next_cursor = list_contacts(tx, filters, limit=limit, after=after)
    return ContactPage(
        items=[ContactPublic.model_validate(i) for i in items], next_cursor=next_cursor
    )


@router.get("/{contact_id}", summary="Read one contact")
def get_contact(
    contact_id: UUID, crm: CrmDep, principal: PrincipalDep, response: Response
) -> ContactPublic:
    contact = crm.get_contact(contact_id)
    response.headers["ETag"] = f'"{contact.version}"'
    return ContactPublic.model_validate(contact_snapshot(contact))


@router.patch(
    "/{contact_id}", response_model=ContactPublic, summary="Change some fields (If-Match required)"
)
def update_contact(
    contact_id: UUID,
    body: ContactUpdate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = crm.update_contact(
        contact_id, expected_version=version, actor=principal.actor, changes=body.changes()
    )
    return _answer(written)


@router.post(
    "/{contact_id}/archive", response_model=ContactPublic, summary="Archive (If-Match required)"
)
def archive_contact(
    contact_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = crm.archive_contact(contact_id, expected_version=version, actor=principal.actor)
    return _answer(written)


@router.post(
    "/{contact_id}/restore",
    response_model=ContactPublic,
    summary="Restore an archived contact (If-Match required)",
)
def restore_contact(
    contact_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = crm.restore_contact(contact_id, expected_version=version, actor=principal.actor)
    return _answer(written)


@router.post(
    "/{contact_id}/notes", response_model=ContactPublic, summary="Add a note (If-Match required)"
)
def add_note(
    contact_id: UUID,
    body: NoteCreate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = crm.add_contact_note(
        contact_id, expected_version=version, actor=principal.actor, text=body.text
    )
    return _answer(written)


def _event_data(event: Any) -> dict[str, Any]:
    skip = {"originator_id", "originator_version", "timestamp", "actor", "originator_topic"}
    data = {k: v for k, v in vars(event).items() if k not in skip}
    return {k: (str(v) if isinstance(v, UUID) else v) for k, v in data.items()}


@router.get("/{contact_id}/history", summary="Every change, with actor and time")
def contact_history(
    contact_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> HistoryPage:
    crm.get_contact(contact_id)
    after = int(cursor) if cursor else 0
    events = [e for e in crm.history(contact_id) if e.originator_version > after]
    page = events[:limit]
    items = [
        HistoryItem(
            version=e.originator_version,
            event=type(e).__name__,
            at=format_timestamp(e.timestamp),
            actor=getattr(e, "actor", None),
            data=_event_data(e),
        )
        for e in page
    ]
    next_cursor = str(page[-1].originator_version) if len(events) > limit else None
    return HistoryPage(items=items, next_cursor=next_cursor)
