"""``/contacts``: people and organisations."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from crm_ledger.api.contact_export import CSV_FILE, MAX_EXPORT, export_response
from crm_ledger.api.contact_pages import (
    ContactSort,
    contact_page,
    custom_field_filters,
)
from crm_ledger.api.deps import (
    READ_WAIT_SECONDS,
    ConsentsRunnerDep,
    ContactsRunnerDep,
    CrmDep,
    ExpectedVersionDep,
    PrincipalDep,
    wait_for_read_model,
)
from crm_ledger.api.problems import ProblemError
from crm_ledger.api.responses import (
    POSITION_HEADER,
    payload_response,
    position_headers,
    resource_response,
)
from crm_ledger.api.routers.activities import MinPosition
from crm_ledger.api.routers.payments import PaymentsRunnerDep
from crm_ledger.api.schemas.consents import Purpose
from crm_ledger.api.schemas.contacts import (
    ContactBatchCreate,
    ContactBatchCreated,
    ContactCreate,
    ContactMerge,
    ContactMergeResult,
    ContactPage,
    ContactPublic,
    ContactUpdate,
    HistoryItem,
    HistoryPage,
    LikelyDuplicates,
    NoteCreate,
    Tag,
)
from crm_ledger.api.schemas.payments import CustomerCredit
from crm_ledger.application import CrmApplication, Written
from crm_ledger.contact_batch import prepare_contacts
from crm_ledger.domain.contact import contact_snapshot
from crm_ledger.domain.segment import MAX_CONSENTS
from crm_ledger.ledger.envelope import format_timestamp
from crm_ledger.merge import merge_contacts
from crm_ledger.projections.activities import linked_activities
from crm_ledger.projections.campaigns import list_responses
from crm_ledger.projections.cases import cases_of
from crm_ledger.projections.contact_duplicates import likely_duplicates
from crm_ledger.projections.contact_search import ContactFilter, stamp
from crm_ledger.projections.contacts import organisation_members
from crm_ledger.projections.payments import customer_credit
from crm_ledger.projections.runner import ProjectionRunner
from crm_ledger.projections.surveys import answers_of

router = APIRouter(prefix="/contacts", tags=["contacts"])


def _answer(written: Written, status: int = 200) -> Response:
    """The contact as JSON with its ETag and log position (serialised once, no re-validation:
    the snapshot already has the ContactPublic shape, which a test checks)."""
    return resource_response(written, contact_snapshot, "/contacts", status)


@router.post(
    "", status_code=201, response_model=ContactPublic, summary="Register a person or organisation"
)
async def create_contact(body: ContactCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    # On the event loop, not the thread pool: the busiest write path saves without a
    # thread per request (`CrmApplication.register_contact_async`).
    written = await crm.register_contact_async(actor=principal.actor, **body.fields())
    return _answer(written, 201)


@router.post(
    ":batch",
    status_code=201,
    response_model=ContactBatchCreated,
    summary="Register up to 1,000 contacts at once: all of them or none",
    description="Every item is checked first (same rules as `POST /contacts`). If any "
    "fails, one 422 problem lists every item's errors with JSON pointers such as "
    "`/contacts/17/emails/0` and nothing is stored; otherwise all are stored in one "
    "transaction and the answer lists the new ids and versions in the order sent. More "
    "than 1,000 items is a 422 on `/contacts`; a body larger than `CRM_MAX_BODY_BYTES` "
    "is a 413.",
)
def create_contacts(body: ContactBatchCreate, crm: CrmDep, principal: PrincipalDep) -> Response:
    errors: list[dict[str, Any]] = []
    valid: list[int] = []
    items: list[dict[str, Any]] = []
    for index, raw in enumerate(body.contacts):
        try:
            items.append(ContactCreate.model_validate(raw).fields())
            valid.append(index)
        except ValidationError as exc:
            errors.extend(
                {**err, "loc": ("body", "contacts", index, *err["loc"])}
                for err in exc.errors(include_url=False, include_context=False)
            )
    prepared = prepare_contacts(crm, items, actor=principal.actor)
    for problem in prepared.problems:
        where = ("body", "contacts", valid[problem.index])
        loc = (*where, problem.field) if problem.field else where
        errors.append({"loc": loc, "msg": problem.detail, "type": "domain_rule"})
    if errors:
        errors.sort(key=lambda err: err["loc"][2])
        raise RequestValidationError(errors)
    position = crm.store(*prepared.contacts, actor=principal.actor)
    headers = position_headers(position)
    created = {"items": [{"id": str(c.id), "version": c.version} for c in prepared.contacts]}
    return Response(orjson.dumps(created), 201, headers, media_type="application/json")


LIST_DESCRIPTION = """
Served by the contacts read model. Filters combine with AND:

* `q` searches names, emails, phones (digits only: `600 000 000` finds `+34 600-000-000`),
  tax ids (letters and digits only, any case), tags and custom field values, without
  accents or case. A contact matches when the query's words, digits, or letters and
  digits (3 characters or more) appear anywhere in that text, or when every query word
  starts one of its words (`ana gar` finds "García, Ana").
* `tag` may repeat: contacts with every tag given.
* `created_after` is inclusive, `created_before` exclusive.
* `cf.<key>=<value>` (repeatable, any key): the custom field equals the value, compared as
  text (`cf.vip=true`, `cf.employees=12`, `cf.region=north`).

`sort`: `name` (default without `q`), `-name`, `created`, `-created`, `updated`,
`-updated`, or `relevance` (default with `q`: names starting with `q` first, then
contacts having every query word, then the other matches, each group by name). The
`next_cursor` continues the same query and sort; a cursor of another sort is a 400.
"""


def contact_filters(
    request: Request,
    kind: Annotated[str | None, Query(pattern="^(person|organisation)$")] = None,
    tag: Annotated[
        list[Tag] | None, Query(max_length=20, description="repeat for several: all must be set")
    ] = None,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    archived: bool = False,
    merged: Annotated[
        bool, Query(description="list only contacts merged into others (then frozen)")
    ] = False,
    erased: Annotated[
        bool, Query(description="list only contacts whose personal data was erased")
    ] = False,
    has_email: Annotated[bool | None, Query(description="with at least one email, or none")] = None,
    consent: Annotated[
        list[Purpose] | None,
        Query(
            max_length=MAX_CONSENTS,
            description="only contacts whose person consents to this purpose now (its latest "
            "statement gave consent); repeat for several: all must hold",
        ),
    ] = None,
    created_after: Annotated[datetime | None, Query(description="inclusive (RFC 3339)")] = None,
    created_before: Annotated[datetime | None, Query(description="exclusive (RFC 3339)")] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="name, email, phone, tax id, tag text"),
    ] = None,
) -> ContactFilter:
    """The filters of a contacts list (``GET /contacts`` and ``GET /contacts:export``)."""
    return ContactFilter(
        kind=kind,
        tags=tuple(tag or ()),
        owner=owner,
        archived=archived,
        merged=merged,
        erased=erased,
        q=q,
        has_email=has_email,
        created_after=None if created_after is None else stamp(created_after),
        created_before=None if created_before is None else stamp(created_before),
        custom_fields=custom_field_filters(request.query_params),
        consents=tuple(sorted(set(consent or ()))),
    )


FiltersDep = Annotated[ContactFilter, Depends(contact_filters)]
EXPORT_DESCRIPTION = f"""
The contacts `GET /contacts` lists with the same filters, in name order, as one CSV file
(at most {MAX_EXPORT:,} contacts: beyond that narrow the filters, else 422
`export_too_large`).

Columns: `id`, then those `crm-ledger import contacts` reads (`kind`, `name`, `emails`,
`phones`, `tax_id`, `tags`, `owner`, `organisation_id`, the first address as `address.*`,
custom fields as `custom.<key>`); lists are joined with `;`. An import ignores `id`, so
the file imports as it is (as new contacts). Text that a spreadsheet would run as a
formula starts with `'` (phones excepted: they hold only digits, spaces and `+().-/`).

Every export is recorded first, as a `ContactsExport` event (the filters, how many
contacts, the log position, who): a list of people never leaves unrecorded.
"""
ListPosition = Annotated[
    int | None,
    Query(
        ge=0,
        description=f"wait until the list reflects this {POSITION_HEADER} "
        "(default: every write acknowledged before this request)",
    ),
]


@router.get("", summary="List and search contacts", description=LIST_DESCRIPTION)
def list_all(
    crm: CrmDep,
    runner: ContactsRunnerDep,
    consents_runner: ConsentsRunnerDep,
    principal: PrincipalDep,
    filters: FiltersDep,
    sort: Annotated[
        ContactSort | None, Query(description="default: relevance with q, else name")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    min_position: ListPosition = None,
) -> ContactPage:
    return contact_page(
        crm,
        runner,
        filters,
        sort=sort,
        limit=limit,
        cursor=cursor,
        min_position=min_position,
        consents_runner=consents_runner,
    )


@router.get(
    ":export",
    summary="Download the contacts a list shows, as CSV (recorded in the ledger)",
    description=EXPORT_DESCRIPTION,
    response_class=Response,
    responses=CSV_FILE,
)
def export_contacts(
    crm: CrmDep,
    runner: ContactsRunnerDep,
    consents_runner: ConsentsRunnerDep,
    principal: PrincipalDep,
    filters: FiltersDep,
    min_position: ListPosition = None,
) -> Response:
    return export_response(
        crm,
        (runner, consents_runner),
        filters,
        min_position,
        name="contacts",
        recorded=filters.described(),
        actor=principal.actor,
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


class ReadModelReferences:
    """Finds what refers to a contact in the contacts and activities read models, each
    first caught up with the log head (503 when it cannot catch up in time)."""

    PAGE = 500

    def __init__(self, crm: CrmApplication, runners: Mapping[str, ProjectionRunner]) -> None:
        self.crm = crm
        self.runners = runners

    def _caught_up(self, name: str) -> None:
        wanted = self.crm.head_position()
        if not self.runners[name].wait_for(wanted, READ_WAIT_SECONDS):
            raise ProblemError(
                503,
                "read_model_behind",
                "Read model not caught up",
                f"the {name} read model has not reached position {wanted} yet",
                {"Retry-After": "1"},
            )

    def members(self, organisation_id: UUID) -> list[UUID]:
        self._caught_up("contacts")
        with self.crm.db.transaction(write=False) as tx:
            return [UUID(i) for i in organisation_members(tx, organisation_id)]

    def activities(self, contact_id: UUID) -> list[UUID]:
        return self._linked("contact", contact_id)

    def lead_activities(self, lead_id: UUID) -> list[UUID]:
        return self._linked("lead", lead_id)

    def _linked(self, kind: str, record_id: UUID) -> list[UUID]:
        self._caught_up("activities")
        found: list[UUID] = []
        before: str | None = None
        with self.crm.db.transaction(write=False) as tx:
            while True:
                page = linked_activities(tx, kind, str(record_id), limit=self.PAGE, before=before)
                found += [UUID(activity["id"]) for _, activity in page]
                if len(page) < self.PAGE:
                    return found
                before = page[-1][0]

    def cases(self, contact_id: UUID) -> list[UUID]:
        self._caught_up("cases")
        with self.crm.db.transaction(write=False) as tx:
            return [UUID(case["id"]) for case in cases_of(tx, [str(contact_id)])]

    def answers(self, contact_id: UUID) -> list[UUID]:
        self._caught_up("surveys")
        with self.crm.db.transaction(write=False) as tx:
            return [UUID(answer["id"]) for answer in answers_of(tx, str(contact_id))]

    def responses(self, contact_id: UUID) -> list[UUID]:
        self._caught_up("campaign_responses")
        found: list[UUID] = []
        after: str | None = None
        with self.crm.db.transaction(write=False) as tx:
            while True:
                page, after = list_responses(
                    tx, contact_id=str(contact_id), limit=self.PAGE, after=after
                )
                found += [UUID(response["id"]) for response in page]
                if after is None:
                    return found


@router.post(
    "/{contact_id}/merge",
    response_model=ContactMergeResult,
    summary="Merge a duplicate into this contact (If-Match: this contact's version)",
    description="The duplicate is frozen (it refuses every change and shows `merged_into`);"
    " this contact absorbs the emails, phones, addresses, tags and custom fields it lacks,"
    " and the duplicate's tax_id, owner and organisation_id where its own are empty. Deals,"
    " people, activities, cases, NPS answers and campaign responses of the duplicate move here."
    " All in one transaction, recorded as events on every record touched; both histories are kept."
    " Refused (422) for the contact itself or across kinds, (409) while either contact is"
    " archived or already merged, (412) when anything touched changed meanwhile.",
)
def merge_contact(
    contact_id: UUID,
    body: ContactMerge,
    request: Request,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    result = merge_contacts(
        crm,
        contact_id,
        duplicate_id=body.duplicate_id,
        expected_version=version,
        actor=principal.actor,
        references=ReadModelReferences(crm, request.app.state.runners),
    )
    payload = {
        "survivor": contact_snapshot(result.survivor),
        "duplicate": contact_snapshot(result.duplicate),
        "relinked": {
            "deals": [str(d.id) for d in result.deals],
            "people": [str(p.id) for p in result.people],
            "activities": [str(a.id) for a in result.activities],
            "cases": [str(c.id) for c in result.cases],
            "nps": [str(a.id) for a in result.answers],
            "campaign_responses": [str(r.id) for r in result.responses],
        },
    }
    return payload_response(payload, result.survivor, result.position)


def _event_data(event: Any) -> dict[str, Any]:
    skip = {"originator_id", "originator_version", "timestamp", "actor", "originator_topic"}
    data = {k: v for k, v in vars(event).items() if k not in skip}
    return {k: (str(v) if isinstance(v, UUID) else v) for k, v in data.items()}


@router.get(
    "/{contact_id}/duplicates",
    summary="Likely duplicates: active contacts sharing an email, phone, tax id or name",
    description="Other active contacts that share an email (any letter case), a phone "
    "number's digits (6 or more), the tax id (letters and digits) or, for the same kind, the "
    "name's words (any case or accents), each with what it shares; most reasons first, then "
    "by name. From the contacts read model after it caught up with every write acknowledged "
    "before the request (or `min_position`). Merge one with `POST /contacts/{id}/merge`.",
)
def contact_duplicates(
    contact_id: UUID,
    crm: CrmDep,
    runner: ContactsRunnerDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    min_position: MinPosition = None,
) -> LikelyDuplicates:
    public = contact_snapshot(crm.get_contact(contact_id))
    wait_for_read_model(crm, runner, min_position, name="contacts", timeout=READ_WAIT_SECONDS)
    with crm.db.transaction(write=False) as tx:
        found = likely_duplicates(tx, public, limit=limit)
    return LikelyDuplicates.model_validate({"items": found})


@router.get(
    "/{contact_id}/credit",
    summary="The customer's credit: what its payments still hold, per currency",
    description="Per currency, the part of the contact's recorded (not voided) payments "
    "neither allocated to invoices nor refunded, from the payments read model after it "
    "caught up with every write acknowledged before the request (or `min_position`). "
    "`GET /payments?customer_id=...&with_credit=true` lists those payments.",
)
def contact_credit(
    contact_id: UUID,
    crm: CrmDep,
    runner: PaymentsRunnerDep,
    principal: PrincipalDep,
    min_position: MinPosition = None,
) -> CustomerCredit:
    crm.get_contact(contact_id)
    wait_for_read_model(crm, runner, min_position, name="payments", timeout=READ_WAIT_SECONDS)
    with crm.db.transaction(write=False) as tx:
        credit = customer_credit(tx, str(contact_id))
    return CustomerCredit.model_validate({"customer_id": contact_id, "credit": credit})


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
