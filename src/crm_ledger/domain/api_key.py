"""API keys for integrations: issued and revoked as events, secret kept only as a hash."""

from __future__ import annotations

from enum import StrEnum

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.errors import InvalidCommandError


class Role(StrEnum):
    """What a principal may do (enforced by the API layer)."""

    ADMIN = "admin"
    SALES = "sales"
    ACCOUNTANT = "accountant"
    AUDITOR = "auditor"


class ApiKeyRevokedError(InvalidCommandError):
    """The API key is already revoked."""

    title = "API key already revoked"
    code = "api_key_revoked"


class ApiKey(Aggregate):
    """An API key; the token's secret part is stored as its SHA-256 only."""

    @event("Issued")
    def __init__(self, *, name: str, role: str, secret_sha256: str, actor: str) -> None:
        self.name = name
        self.role = role
        self.secret_sha256 = secret_sha256
        self.created_by = actor
        self.revoked = False

    @classmethod
    def issue(cls, *, name: str, role: str, secret_sha256: str, actor: str) -> ApiKey:
        """Issue a key named `name` with `role`."""
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidCommandError("an API key name must have 1 to 100 characters", field="name")
        try:
            Role(role)
        except ValueError:
            roles = ", ".join(r.value for r in Role)
            raise InvalidCommandError(f"role must be one of {roles}", field="role") from None
        return cls(name=name, role=role, secret_sha256=secret_sha256, actor=actor)

    def revoke(self, *, actor: str) -> None:
        """Revoke the key; later requests with it are refused."""
        if self.revoked:
            raise ApiKeyRevokedError(f"API key {self.id} is already revoked")
        self._revoked(actor=actor)

    @event("Revoked")
    def _revoked(self, *, actor: str) -> None:
        self.revoked = True
        self.revoked_by = actor
