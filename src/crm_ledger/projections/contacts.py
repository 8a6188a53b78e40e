"""The contacts read model: one row per contact, for lists, filters and search.

Each row keeps the contact's state as a library snapshot, so applying an event is the
aggregate's own ``mutate``: the read model can never drift from the domain's rules.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from crm_ledger.domain.contact import Contact, contact_snapshot
from crm_ledger.projections.base import EventApplyError
from crm_ledger.storage.sql import Dialect, Tx, ddl

if TYPE_CHECKING:
    from uuid import UUID

TABLE = "proj_contacts"
_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_contacts ("
    " id TEXT PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " sort_key {bintext} NOT NULL,"
    " search TEXT NOT NULL,"
    " tags TEXT NOT NULL,"
    " owner TEXT,"
    " archived INTEGER NOT NULL,"
    " version {bigint} NOT NULL,"
    " public TEXT NOT NULL,"
    " snapshot {blob} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS proj_contacts_sort ON proj_contacts (archived, sort_key, id)",
)


def contact_topics() -> tuple[str, ...]:
    """Topics of every Contact event class."""
    names = ("Registered", "Updated", "Archived", "Restored", "NoteAdded")
    return tuple(get_topic(getattr(Contact, n)) for n in names)


class ContactsProjection:
    """Maintains ``proj_contacts``."""

    name = "contacts"

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        self.topics = contact_topics()

    def ddl(self, dialect: Dialect) -> list[str]:
        return [ddl(dialect, s) for s in _DDL]

    def apply_batch(self, tx: Tx, items: Sequence[tuple[Any, int]]) -> None:
        """Apply events in order; each contact is thawed and written once per batch."""
        touched: dict[str, tuple[Contact | None, bool]] = {}
        for event, position in items:
            key = str(event.originator_id)
            if key not in touched:
                touched[key] = self._load(tx, event)
            current, existed = touched[key]
            try:
                contact = event.mutate(current)
            except Exception as exc:
                raise EventApplyError(position, exc) from exc
            assert isinstance(contact, Contact)
            touched[key] = (contact, existed)
        for contact, existed in touched.values():
            assert contact is not None
            self._write(tx, contact, existed)

    def _load(self, tx: Tx, event: Any) -> tuple[Contact | None, bool]:
        if event.originator_version == 1:
            return None, False
        row = tx.one(
            f"SELECT snapshot, version FROM {TABLE} WHERE id = ?", (str(event.originator_id),)
        )
        if row is None:
            return None, False
        return self._thaw(event.originator_id, row[0], int(row[1])), True

    def _write(self, tx: Tx, contact: Contact, existed: bool) -> None:
        public = contact_snapshot(contact)
        values = (
            public["kind"],
            public["name"],
            f"{public['name'].casefold()}\x01{public['id']}",
            " ".join(
                [public["name"], *public["emails"], *public["phones"], public.get("tax_id") or ""]
            ).casefold(),
            "".join(f"|{t}|" for t in public["tags"]),
            public.get("owner"),
            1 if public["archived"] else 0,
            public["version"],
            orjson.dumps(public).decode(),
            self._freeze(contact),
            public["id"],
        )
        if existed:
            tx.execute(
                f"UPDATE {TABLE} SET kind=?, name=?, sort_key=?, search=?, tags=?, owner=?,"
                " archived=?, version=?, public=?, snapshot=? WHERE id = ?",
                values,
            )
        else:
            tx.execute(
                f"INSERT INTO {TABLE} (kind, name, sort_key, search, tags, owner, archived,"
                " version, public, snapshot, id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                values,
            )

    def _freeze(self, contact: Contact) -> bytes:
        stored = self.mapper.to_stored_event(Snapshot.take(contact))
        return stored.state

    def _thaw(self, contact_id: UUID, state: bytes, version: int) -> Contact:
        stored = StoredEvent(
            originator_id=contact_id,
            originator_version=version,
            topic=get_topic(Snapshot),
            state=state,
        )
        snapshot = self.mapper.to_domain_event(stored)
        assert isinstance(snapshot, Snapshot)
        contact = snapshot.mutate(None)
        assert isinstance(contact, Contact)
        return contact


@dataclass(frozen=True)
class ContactFilter:
    """Filters of ``GET /contacts``."""

    kind: str | None = None
    tag: str | None = None
    owner: str | None = None
    archived: bool = False
    q: str | None = None


def encode_cursor(sort_key: str) -> str:
    """Opaque cursor for keyset pagination."""
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """Inverse of `encode_cursor`; ValueError when malformed."""
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode()).decode()
    except Exception as exc:
        raise ValueError("malformed cursor") from exc


def list_contacts(
    tx: Tx, filters: ContactFilter, *, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of contacts in name order, and the cursor of the next page (or None)."""
    where = ["archived = ?"]
    params: list[Any] = [1 if filters.archived else 0]
    if filters.kind:
        where.append("kind = ?")
        params.append(filters.kind)
    if filters.owner:
        where.append("owner = ?")
        params.append(filters.owner)
    if filters.tag:
        where.append("tags LIKE ? ESCAPE '\\'")
        params.append(f"%|{_like_escape(filters.tag)}|%")
    if filters.q:
        where.append("search LIKE ? ESCAPE '\\'")
        params.append(f"%{_like_escape(filters.q.casefold())}%")
    if after is not None:
        where.append("sort_key > ?")
        params.append(after)
    rows = tx.all(
        f"SELECT public, sort_key FROM {TABLE} WHERE {' AND '.join(where)}"
        " ORDER BY sort_key LIMIT ?",
        (*params, limit + 1),
    )
    items = [orjson.loads(r[0]) for r in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1][1]) if len(rows) > limit else None
    return items, next_cursor


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
