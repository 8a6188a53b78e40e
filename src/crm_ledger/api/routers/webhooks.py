"""``/webhooks``: endpoints that receive the change feed as signed messages (Standard
Webhooks), and their delivery attempts. Delivery is `crm_ledger.api.webhook_delivery`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from crm_ledger import webhooks
from crm_ledger.api.deps import CrmDep, ExpectedVersionDep, PrincipalDep, malformed_cursor
from crm_ledger.api.responses import etag, resource_response, write_headers
from crm_ledger.api.schemas.webhooks import (
    AttemptPage,
    AttemptPublic,
    Delivery,
    WebhookCreate,
    WebhookCreated,
    WebhookDisable,
    WebhookPage,
    WebhookPublic,
    WebhookUpdate,
)
from crm_ledger.api.webhook_delivery import ping
from crm_ledger.application import Written
from crm_ledger.domain.webhook import webhook_snapshot
from crm_ledger.ledger.envelope import format_timestamp
from crm_ledger.storage.webhook_store import Attempt, WebhookStore

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


async def get_store(request: Request) -> WebhookStore:
    """The webhook tables built by ``create_app``."""
    store: WebhookStore = request.app.state.webhook_store
    return store


StoreDep = Annotated[WebhookStore, Depends(get_store)]


def _moment(ms: int) -> str:
    return format_timestamp(datetime.fromtimestamp(ms / 1000, UTC))


def _attempt(attempt: Attempt) -> AttemptPublic:
    return AttemptPublic(
        message_id=attempt.message_id,
        position=attempt.position,
        event_type=attempt.event_type,
        attempt=attempt.attempt,
        at=_moment(attempt.at),
        status=attempt.status,
        error=attempt.error,
        duration_ms=attempt.duration_ms,
    )


def _answer(written: Written, status: int = 200, **extra: Any) -> Response:
    """The endpoint as JSON (plus `extra` members) with its ETag and log position."""
    return resource_response(
        written, lambda endpoint: {**webhook_snapshot(endpoint), **extra}, "/webhooks", status
    )


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    summary="Register an endpoint (its signing secret is shown once, here)",
    description="The endpoint receives, one signed message per change, every change "
    "written from now on that `role` may read (as `GET /changes` shows it), of `types` "
    "only when given. `https://` URLs only, unless the server allows local targets.",
)
def create_webhook(
    body: WebhookCreate, crm: CrmDep, store: StoreDep, principal: PrincipalDep
) -> Response:
    written, secret = webhooks.register_webhook(
        crm,
        store,
        url=body.url,
        role=body.role,
        types=body.types,
        description=body.description,
        actor=principal.actor,
    )
    return _answer(written, 201, secret=secret)


@router.get("", summary="List endpoints, oldest first")
def list_webhooks(
    crm: CrmDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> WebhookPage:
    if cursor is not None and not cursor.isdigit():
        raise malformed_cursor()
    found, next_position = webhooks.list_webhooks(
        crm, limit=limit, after=0 if cursor is None else int(cursor)
    )
    return WebhookPage(
        items=[WebhookPublic.model_validate(webhook_snapshot(e)) for e in found],
        next_cursor=None if next_position is None else str(next_position),
    )


@router.get("/{endpoint_id}", summary="Read an endpoint and where its delivery is")
def get_webhook(
    endpoint_id: UUID, crm: CrmDep, store: StoreDep, principal: PrincipalDep, response: Response
) -> WebhookPublic:
    endpoint = webhooks.get_webhook(crm, endpoint_id)
    cursor = store.cursor(endpoint.id, endpoint.start_after)
    response.headers["ETag"] = etag(endpoint)
    return WebhookPublic.model_validate(
        {
            **webhook_snapshot(endpoint),
            "delivery": Delivery(
                position=cursor.position,
                failures=cursor.failures,
                next_attempt_at=_moment(cursor.next_attempt) if cursor.failures else None,
                last_error=cursor.last_error,
            ),
        }
    )


@router.patch(
    "/{endpoint_id}",
    response_model=WebhookPublic,
    summary="Change an endpoint's URL, types or description (If-Match required)",
)
def update_webhook(
    endpoint_id: UUID,
    body: WebhookUpdate,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = webhooks.update_webhook(
        crm, endpoint_id, expected_version=version, actor=principal.actor, changes=body.changes()
    )
    return _answer(written)


@router.post(
    "/{endpoint_id}/disable",
    response_model=WebhookPublic,
    summary="Stop delivering to an endpoint (If-Match required)",
)
def disable_webhook(
    endpoint_id: UUID,
    crm: CrmDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
    body: WebhookDisable | None = None,
) -> Response:
    written = webhooks.disable_webhook(
        crm,
        endpoint_id,
        expected_version=version,
        actor=principal.actor,
        reason=(body or WebhookDisable()).reason,
    )
    return _answer(written)


@router.post(
    "/{endpoint_id}/enable",
    response_model=WebhookPublic,
    summary="Deliver again, from the first change not yet delivered (If-Match required)",
)
def enable_webhook(
    endpoint_id: UUID, crm: CrmDep, principal: PrincipalDep, version: ExpectedVersionDep
) -> Response:
    written = webhooks.enable_webhook(
        crm, endpoint_id, expected_version=version, actor=principal.actor
    )
    return _answer(written)


@router.post(
    "/{endpoint_id}/secret:rotate",
    response_model=WebhookCreated,
    summary="Give an endpoint a new signing secret (If-Match required; shown once)",
    description=f"For {webhooks.ROTATION_GRACE_SECONDS // 3600} hours messages carry a "
    "signature by the old secret as well as by the new one, so the receiver can switch.",
)
def rotate_webhook_secret(
    endpoint_id: UUID,
    crm: CrmDep,
    store: StoreDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written, secret = webhooks.rotate_webhook_secret(
        crm, store, endpoint_id, expected_version=version, actor=principal.actor
    )
    return _answer(written, secret=secret)


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    summary="Delete an endpoint (If-Match required; its history is kept)",
)
def delete_webhook(
    endpoint_id: UUID,
    crm: CrmDep,
    store: StoreDep,
    principal: PrincipalDep,
    version: ExpectedVersionDep,
) -> Response:
    written = webhooks.delete_webhook(
        crm, store, endpoint_id, expected_version=version, actor=principal.actor
    )
    return Response(status_code=204, headers=write_headers(written.aggregate, written.position))


@router.post(
    "/{endpoint_id}/test",
    summary="Send the endpoint a signed webhook.test message now, and see the answer",
    description='The message (`{"type": "webhook.test", "timestamp": ..., '
    '"data": {"endpoint_id": ..., "at": ...}}`) is signed like every other; it '
    "moves nothing (the endpoint's position and failures stay) and works while the "
    "endpoint is disabled. The attempt is kept with the others (position 0).",
)
def test_webhook(
    endpoint_id: UUID, crm: CrmDep, store: StoreDep, principal: PrincipalDep
) -> AttemptPublic:
    endpoint = webhooks.get_webhook(crm, endpoint_id)
    settings = crm.settings
    return _attempt(
        ping(
            store,
            endpoint,
            timeout=settings.webhook_timeout_seconds,
            allow_local=settings.webhook_allow_local,
        )
    )


@router.get("/{endpoint_id}/attempts", summary="An endpoint's delivery attempts, newest first")
def list_attempts(
    endpoint_id: UUID,
    crm: CrmDep,
    store: StoreDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=60)] = None,
) -> AttemptPage:
    webhooks.ENDPOINT.load(crm, endpoint_id)  # 404 when unknown
    before = None
    if cursor is not None:
        at, _, attempt_id = cursor.partition(".")
        if not (at.isdigit() and attempt_id.isalnum()):
            raise malformed_cursor()
        before = (int(at), attempt_id)
    found = store.attempts(endpoint_id, limit + 1, before)
    page = found[:limit]
    return AttemptPage(
        items=[_attempt(a) for a in page],
        next_cursor=f"{page[-1].at}.{page[-1].attempt_id}" if len(found) > limit else None,
    )
