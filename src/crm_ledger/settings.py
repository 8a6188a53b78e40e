"""Configuration from ``CRM_``-prefixed environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(Exception):
    """The configuration is invalid; the message is one clear line."""


class Settings(BaseSettings):
    """Every setting the service reads, with its ``CRM_`` environment variable."""

    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore", frozen=True)

    database_url: str = Field(
        default="sqlite:///./var/crm.db",
        description="sqlite:///path/to/file.db or postgresql://user:pass@host:port/db",
    )
    data_dir: Path = Field(default=Path("./var"), description="signing keys and anchors")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    checkpoint_interval_seconds: float = Field(default=1.0, gt=0)
    checkpoint_max_events: int = Field(default=1000, ge=1)
    pool_size: int = Field(default=10, ge=1)
    pool_max_overflow: int = Field(default=10, ge=0)
    projection_poll_seconds: float = Field(default=0.2, gt=0)
    api_key_cache_seconds: float = Field(default=5.0, ge=0)
    group_commit: bool = Field(
        default=True, description="write concurrent saves of one process in one transaction"
    )
    webhook_allow_local: bool = Field(
        default=False,
        description="let webhooks use http:// URLs and reach loopback, private and "
        "link-local addresses (for development and tests only)",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="how long a webhook receiver may take to answer"
    )
    verifactu_production: bool = Field(
        default=False,
        description="QR codes point to the AEAT production service (false: its test service)",
    )
    verifactu_producer_name: str | None = Field(
        default=None,
        max_length=120,
        description="SistemaInformatico.NombreRazon of the records (default: the issuer's)",
    )
    verifactu_producer_tax_id: str | None = Field(
        default=None,
        pattern=r"^[0-9A-Z]{9}$",
        description="SistemaInformatico.NIF of the records (default: the issuer's)",
    )
    verifactu_installation: str = Field(
        default="1",
        min_length=1,
        max_length=100,
        description="SistemaInformatico.NumeroInstalacion: this installation's number",
    )
    verifactu_multiple_issuers: bool = Field(
        default=False,
        description="SistemaInformatico.IndicadorMultiplesOT: this install invoices for "
        "more than one issuer",
    )

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not (
            value.startswith("sqlite:///") or value.startswith(("postgresql://", "postgres://"))
        ):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise ConfigurationError with one line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "CRM_" + str(first["loc"][0]).upper() if first["loc"] else "CRM_*"
        raise ConfigurationError(
            f"invalid configuration: {name}: {first['msg']} (got {first.get('input')!r})"
        ) from None
