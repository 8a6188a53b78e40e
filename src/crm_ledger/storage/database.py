"""Turn ``CRM_DATABASE_URL`` into the event store library's environment."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from crm_ledger.settings import ConfigurationError, Settings

RECORDER_TOPICS = {
    "sqlite": "crm_ledger.storage.sqlite_recorder:LedgerSQLiteRecorder",
    "postgres": "crm_ledger.storage.postgres_recorder:LedgerPostgresRecorder",
}


def sqlite_path(url: str) -> str:
    """Return the file path of a ``sqlite:///path`` URL (``:memory:`` kept as is)."""
    return url.removeprefix("sqlite:///")


def event_store_env(settings: Settings) -> dict[str, str]:
    """Return the eventsourcing environment for `settings.database_url`."""
    url = settings.database_url
    if url.startswith("sqlite:///"):
        path = sqlite_path(url)
        if not path:
            raise ConfigurationError("invalid configuration: CRM_DATABASE_URL has no file path")
        if ":memory:" not in path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": RECORDER_TOPICS["sqlite"],
        }
    parts = urlsplit(url)
    if not parts.hostname or not parts.path.strip("/"):
        raise ConfigurationError(
            "invalid configuration: CRM_DATABASE_URL needs postgresql://user@host:port/dbname"
        )
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parts.path.strip("/")),
        "POSTGRES_HOST": parts.hostname,
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_POOL_SIZE": str(settings.pool_size),
        "POSTGRES_MAX_OVERFLOW": str(settings.pool_max_overflow),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",  # never: it skips the table lock and our hooks
        "APPLICATION_RECORDER_TOPIC": RECORDER_TOPICS["postgres"],
    }
