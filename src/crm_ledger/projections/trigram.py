"""PostgreSQL's ``pg_trgm``: substring search through an index, when the database allows it.

`enable` creates the extension (``CREATE EXTENSION IF NOT EXISTS pg_trgm``) if it is
missing and the role may create it, and remembers the answer for the application whose
mapper it is given: projection factories receive only that mapper (see ``registry``), so
the contacts projection asks `available(mapper)` whether its DDL may declare a trigram
index. Without the extension (SQLite, a role without the right, a server without the
contrib package) nothing breaks: the same ``LIKE`` conditions run without that index.
"""

from __future__ import annotations

import logging
from typing import Any
from weakref import WeakKeyDictionary

from eventsourcing.persistence import Mapper, PersistenceError

from crm_ledger.storage.sql import Database, schema_lock

log = logging.getLogger(__name__)
_AVAILABLE: WeakKeyDictionary[Mapper[Any], bool] = WeakKeyDictionary()


def installed(db: Database) -> bool:
    """Is ``pg_trgm`` installed in this database (always False on SQLite)?"""
    if db.dialect != "postgres":
        return False
    with db.transaction(write=False) as tx:
        return bool(tx.scalar("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'"))


def enable(db: Database, mapper: Mapper[Any]) -> bool:
    """Create ``pg_trgm`` if missing and allowed; remember and return whether it is there."""
    found = installed(db)
    if not found and db.dialect == "postgres":
        try:
            with schema_lock(db.datastore), db.transaction() as tx:
                tx.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except PersistenceError as exc:
            log.warning("pg_trgm unavailable, contact search runs without it: %s", exc)
        found = installed(db)
    _AVAILABLE[mapper] = found
    return found


def available(mapper: Mapper[Any]) -> bool:
    """What `enable` found for the application owning `mapper` (False if never asked)."""
    return _AVAILABLE.get(mapper, False)
