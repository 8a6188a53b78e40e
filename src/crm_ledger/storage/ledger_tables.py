"""DDL of the ledger tables, kept beside the events table in the same database."""

from __future__ import annotations

from crm_ledger.storage.sql import Dialect, ddl

_STATEMENTS = (
    "CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger_entries ("
    " leaf_index {bigint} PRIMARY KEY,"
    " seq {bigint} NOT NULL UNIQUE,"
    " recorded_at TEXT NOT NULL,"
    " envelope {blob} NOT NULL,"
    " leaf_hash {blob} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger_checkpoints ("
    " size {bigint} PRIMARY KEY,"
    " root_hash {blob} NOT NULL,"
    " note TEXT NOT NULL,"
    " created_at TEXT NOT NULL)",
)


def ledger_ddl(dialect: Dialect, *, entries: bool = True) -> list[str]:
    """Return the ``CREATE TABLE IF NOT EXISTS`` statements for `dialect`; without
    ``ledger_entries`` if not `entries` (SQLite keeps them in the event rows)."""
    return [ddl(dialect, s) for s in _STATEMENTS if entries or "ledger_entries" not in s]
