"""The WebhookEndpoint aggregate: a URL that receives the change feed as signed messages.

An endpoint sees the changes a role may read (``role``, fixed when it is registered),
optionally only some record types (``types``), from the log position after which it was
registered (``start_after``). Who registered, changed, paused or deleted an endpoint is in
the log like every other change: an auditor can tell where customer data was sent and
on whose authority. The signing secret is never in an event (see `crm_ledger.webhooks`).

Disabling stops delivery where it is; enabling resumes at the first undelivered change,
so nothing is skipped. The delivery worker disables an endpoint itself (actor
``system:webhooks``) when a message keeps failing or the receiver answers 410 Gone.

::

    DomainError
    ├── InvalidCommandError
    │   └── WebhookUrlError       not an absolute http(s) URL, or one with credentials
    └── WebhookError              a command the endpoint's state does not allow
        └── WebhookDeletedError   the endpoint was deleted
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.api_key import Role
from crm_ledger.domain.errors import DomainError, InvalidCommandError
from crm_ledger.ledger.envelope import format_timestamp

MAX_URL = 2000
MAX_DESCRIPTION = 200
MAX_TYPES = 50
MAX_REASON = 300
UPDATABLE = frozenset({"url", "types", "description"})


class WebhookUrlError(InvalidCommandError):
    """The URL is not one a webhook can be delivered to."""

    title = "Invalid webhook URL"
    code = "invalid_webhook_url"


class WebhookError(DomainError):
    """A command the endpoint's current state does not allow."""

    title = "Webhook endpoint state conflict"
    code = "webhook_conflict"


class WebhookDeletedError(WebhookError):
    """The endpoint was deleted; it is kept in the log only."""

    title = "Webhook endpoint deleted"
    code = "webhook_deleted"


def check_url(value: object, *, allow_http: bool) -> str:
    """`value` as a webhook URL: absolute, ``https`` (or ``http`` when `allow_http`), with
    a host and no user name or password (credentials would be stored in the log)."""
    url = value.strip() if isinstance(value, str) else ""
    if not url or len(url) > MAX_URL:
        raise WebhookUrlError(f"url must have 1 to {MAX_URL} characters", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when out of range
    except ValueError:
        raise WebhookUrlError("url is not a valid URL", field="url") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        allowed = " or ".join(schemes)
        raise WebhookUrlError(f"url must start with {allowed}://", field="url")
    if not parts.hostname or port == 0:
        raise WebhookUrlError("url must name a host", field="url")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlError(
            "url must not carry a user name or password; authenticate the messages by "
            "their signature",
            field="url",
        )
    if parts.fragment or any(c.isspace() for c in url):
        raise WebhookUrlError("url must have no fragment and no spaces", field="url")
    return url


def _types(value: object) -> list[str]:
    if not isinstance(value, list | tuple) or len(value) > MAX_TYPES:
        raise InvalidCommandError(f"types must be a list of at most {MAX_TYPES}", field="types")
    if not all(isinstance(t, str) and t for t in value):
        raise InvalidCommandError("types must be record type names", field="types")
    return sorted(set(value))


def _description(value: object) -> str:
    if not isinstance(value, str) or len(value.strip()) > MAX_DESCRIPTION:
        raise InvalidCommandError(
            f"description must be text of at most {MAX_DESCRIPTION} characters",
            field="description",
        )
    return value.strip()


def _role(value: str) -> str:
    try:
        return Role(value).value
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise InvalidCommandError(f"role must be one of {roles}", field="role") from None


class WebhookEndpoint(Aggregate):
    """A receiver of the change feed (see the module docstring)."""

    @event("Registered")
    def __init__(
        self,
        *,
        url: str,
        role: str,
        types: list[str],
        description: str,
        start_after: int,
        actor: str,
    ) -> None:
        self.url = url
        self.role = role
        self.types = types
        self.description = description
        self.start_after = start_after
        self.enabled = True
        self.disabled_reason: str | None = None
        self.deleted = False
        self.created_by = actor

    @classmethod
    def register(
        cls,
        *,
        url: str,
        role: str,
        start_after: int,
        actor: str,
        allow_http: bool,
        types: Iterable[str] = (),
        description: str = "",
    ) -> WebhookEndpoint:
        """A new endpoint receiving, as `role` sees them, the changes after log position
        `start_after` (of `types` only, when any are given)."""
        if type(start_after) is not int or start_after < 0:
            raise InvalidCommandError("start_after must be a log position", field="start_after")
        return cls(
            url=check_url(url, allow_http=allow_http),
            role=_role(role),
            types=_types(list(types)),
            description=_description(description),
            start_after=start_after,
            actor=actor,
        )

    def _check_live(self) -> None:
        if self.deleted:
            raise WebhookDeletedError(f"webhook endpoint {self.id} was deleted")

    def update(self, *, actor: str, allow_http: bool, **changes: Any) -> None:
        """Change the URL, the types and/or the description; only real differences are
        recorded (else no event)."""
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise InvalidCommandError(f"unknown fields {sorted(unknown)}", field=sorted(unknown)[0])
        self._check_live()
        normal = {
            "url": lambda v: check_url(v, allow_http=allow_http),
            "types": _types,
            "description": _description,
        }
        differing = {}
        for field, value in changes.items():
            new = normal[field](value)
            if new != getattr(self, field):
                differing[field] = new
        if differing:
            self._updated(changes=differing, actor=actor)

    @event("Updated")
    def _updated(self, *, changes: dict[str, Any], actor: str) -> None:
        for field, value in changes.items():
            setattr(self, field, value)

    def disable(self, *, actor: str, reason: str) -> None:
        """Stop delivering (where delivery is now; refused when already disabled)."""
        self._check_live()
        if not self.enabled:
            raise WebhookError(f"webhook endpoint {self.id} is already disabled")
        text = reason.strip()[:MAX_REASON]
        self._disabled(reason=text or "disabled", actor=actor)

    @event("Disabled")
    def _disabled(self, *, reason: str, actor: str) -> None:
        self.enabled = False
        self.disabled_reason = reason

    def enable(self, *, actor: str) -> None:
        """Deliver again, from the first change not yet delivered."""
        self._check_live()
        if self.enabled:
            raise WebhookError(f"webhook endpoint {self.id} is already enabled")
        self._enabled(actor=actor)

    @event("Enabled")
    def _enabled(self, *, actor: str) -> None:
        self.enabled = True
        self.disabled_reason = None

    def rotate_secret(self, *, actor: str) -> None:
        """Record that the signing secret was replaced (the secret itself is not here)."""
        self._check_live()
        self._secret_rotated(actor=actor)

    @event("SecretRotated")
    def _secret_rotated(self, *, actor: str) -> None:
        pass

    def delete(self, *, actor: str) -> None:
        """Delete the endpoint: delivery stops for good; its history stays in the log."""
        self._check_live()
        self._deleted(actor=actor)

    @event("Deleted")
    def _deleted(self, *, actor: str) -> None:
        self.deleted = True
        self.enabled = False


def webhook_snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """The endpoint's public, JSON-ready state."""
    return {
        "id": str(endpoint.id),
        "version": endpoint.version,
        "url": endpoint.url,
        "role": endpoint.role,
        "types": list(endpoint.types),
        "description": endpoint.description,
        "start_after": endpoint.start_after,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "created_by": endpoint.created_by,
        "created_at": format_timestamp(endpoint.created_on),
        "modified_at": format_timestamp(endpoint.modified_on),
    }
