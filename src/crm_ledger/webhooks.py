"""Webhook endpoint use cases, called by the API: one function per use case.

An endpoint's configuration is an aggregate (`crm_ledger.domain.webhook`), so every
change to where data is sent is a ledger event; its signing secrets live in
``webhook_secrets`` (`crm_ledger.storage.webhook_store`), never in the log. A new
secret is stored before the event that needs it, so a failed save leaves at most an
unused secret, never an endpoint without one.

An endpoint belongs to the API key that registered it: revoking that key
(`revoke_api_key`) disables it in the same transaction, so a leaked or retired key does
not leave an endpoint receiving data; an admin may enable it again.

Delivery itself is `crm_ledger.api.webhook_delivery`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from uuid import UUID

from crm_ledger.application import CrmApplication, Principal, Written
from crm_ledger.domain.api_key import ApiKey
from crm_ledger.domain.webhook import WebhookDeletedError, WebhookEndpoint
from crm_ledger.kinds import Kind
from crm_ledger.listing import created, page_of, topic_of
from crm_ledger.retry import store_retrying
from crm_ledger.security.webhook_signing import new_secret
from crm_ledger.storage.webhook_store import WebhookStore

#: how long a replaced secret still signs messages beside the new one
ROTATION_GRACE_SECONDS = 24 * 3600
REGISTERED_TOPIC = topic_of(WebhookEndpoint, "Registered")
ENDPOINT = Kind(WebhookEndpoint, "webhook endpoint")
#: the reason of an endpoint disabled by `revoke_api_key`
KEY_REVOKED = "the API key that registered it was revoked"


def now_ms() -> int:
    """Milliseconds since the Unix epoch."""
    return int(time.time() * 1000)


def register_webhook(
    crm: CrmApplication,
    store: WebhookStore,
    *,
    url: str,
    role: str,
    actor: str,
    types: Iterable[str] = (),
    description: str = "",
) -> tuple[Written, str]:
    """Register an endpoint for the changes written from now on; return it and its
    signing secret (shown once)."""
    endpoint = WebhookEndpoint.register(
        url=url,
        role=role,
        types=types,
        description=description,
        start_after=crm.head_position(),
        actor=actor,
        allow_http=crm.settings.webhook_allow_local,
    )
    secret = new_secret()
    store.add_secret(endpoint.id, secret, now_ms())
    return Written(endpoint, crm.store(endpoint, actor=actor)), secret


def get_webhook(crm: CrmApplication, endpoint_id: UUID) -> WebhookEndpoint:
    """The endpoint; NotFoundError if unknown, WebhookDeletedError if deleted."""
    endpoint = ENDPOINT.load(crm, endpoint_id)
    if endpoint.deleted:
        raise WebhookDeletedError(f"webhook endpoint {endpoint_id} was deleted")
    return endpoint


def update_webhook(
    crm: CrmApplication,
    endpoint_id: UUID,
    *,
    expected_version: int,
    actor: str,
    changes: dict[str, object],
) -> Written:
    """Change an endpoint's URL, types or description."""
    allow_http = crm.settings.webhook_allow_local
    return ENDPOINT.change(
        crm,
        endpoint_id,
        expected_version,
        actor,
        lambda e: e.update(actor=actor, allow_http=allow_http, **changes),
    )


def disable_webhook(
    crm: CrmApplication, endpoint_id: UUID, *, expected_version: int, actor: str, reason: str
) -> Written:
    """Stop delivering to an endpoint."""
    return ENDPOINT.change(
        crm, endpoint_id, expected_version, actor, lambda e: e.disable(actor=actor, reason=reason)
    )


def enable_webhook(
    crm: CrmApplication, endpoint_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Deliver to an endpoint again, from its first undelivered change."""
    return ENDPOINT.change(
        crm, endpoint_id, expected_version, actor, lambda e: e.enable(actor=actor)
    )


def delete_webhook(
    crm: CrmApplication,
    store: WebhookStore,
    endpoint_id: UUID,
    *,
    expected_version: int,
    actor: str,
) -> Written:
    """Delete an endpoint (its history stays in the log) and destroy its secrets."""
    written = ENDPOINT.change(
        crm, endpoint_id, expected_version, actor, lambda e: e.delete(actor=actor)
    )
    store.drop_secrets(endpoint_id)
    return written


def rotate_webhook_secret(
    crm: CrmApplication,
    store: WebhookStore,
    endpoint_id: UUID,
    *,
    expected_version: int,
    actor: str,
) -> tuple[Written, str]:
    """Give an endpoint a new secret; the old one keeps signing beside it for
    `ROTATION_GRACE_SECONDS`. Returns the endpoint and the new secret (shown once)."""
    endpoint = ENDPOINT.load_at(crm, endpoint_id, expected_version)
    endpoint.rotate_secret(actor=actor)
    secret = new_secret()
    store.rotate_secret(endpoint.id, secret, now_ms(), ROTATION_GRACE_SECONDS * 1000)
    return Written(endpoint, crm.store(endpoint, actor=actor)), secret


def _endpoints(crm: CrmApplication, after: int = 0) -> Iterator[tuple[int, WebhookEndpoint]]:
    for position, endpoint_id in created(crm, REGISTERED_TOPIC, after):
        yield position, ENDPOINT.load(crm, endpoint_id)


def list_webhooks(
    crm: CrmApplication, *, limit: int, after: int = 0
) -> tuple[list[WebhookEndpoint], int | None]:
    """Up to `limit` endpoints not deleted, registered after log position `after`,
    oldest first, and the cursor of the next page (None at the end)."""
    return page_of(_endpoints(crm, after), lambda e: not e.deleted, limit=limit, after=after)


def enabled_webhooks(crm: CrmApplication) -> list[WebhookEndpoint]:
    """Every endpoint to deliver to now, oldest first."""
    return [endpoint for _, endpoint in _endpoints(crm) if endpoint.enabled]


def revoke_api_key(
    crm: CrmApplication, key_id: UUID, *, actor: str
) -> tuple[ApiKey, list[WebhookEndpoint]]:
    """Revoke an API key and, in the same transaction, disable every enabled endpoint it
    registered (with the reason, by `actor`). Returns the key and those endpoints.
    NotFoundError for an unknown key, ApiKeyRevokedError when already revoked."""
    registrant = Principal(key_id, "", "").actor
    disabled: list[WebhookEndpoint] = []

    def build() -> list[ApiKey | WebhookEndpoint]:
        key = crm.load(ApiKey, key_id, "api key")
        key.revoke(actor=actor)
        disabled[:] = [
            endpoint
            for _, endpoint in _endpoints(crm)
            if endpoint.enabled and endpoint.created_by == registrant
        ]
        for endpoint in disabled:
            endpoint.disable(actor=actor, reason=KEY_REVOKED)
        return [key, *disabled]

    written = store_retrying(
        crm, build, actor=actor, exhausted=f"the webhooks of API key {key_id} kept changing"
    )
    assert isinstance(written.aggregate, ApiKey)
    return written.aggregate, disabled
