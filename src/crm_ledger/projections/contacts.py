"""The contacts read model: one row per contact, for lists, filters and search.

Each row keeps the contact's state as a library snapshot, so applying an event is the
aggregate's own ``mutate``: the read model can never drift from the domain's rules.

The ``archived`` column holds the contact's list state: 0 active, 1 archived, 2 merged
into another contact (a merged contact is never archived: merging refuses archived
contacts and a merged one refuses every command). Default lists show state 0 only.
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
LOAD_CHUNK = 500  # ids per SELECT ... IN (...) when a batch reads the stored rows
ACTIVE, ARCHIVED, MERGED = 0, 1, 2
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
    names = (
        "Registered",
        "Updated",
        "Archived",
        "Restored",
        "NoteAdded",
        "Merged",
        "MergedInto",
        "OrganisationRelinked",
    )
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
        """Apply events in order; each contact is read, thawed and written once per batch.

        The stored rows are read with a few ``IN (...)`` queries and written with one
        ``executemany`` per statement (pipelined on PostgreSQL), so a batch costs a
        handful of round trips however many contacts it touches.
        """
        stored = self._load_rows(tx, items)
        touched: dict[str, tuple[Contact | None, bool]] = {}
        for event, position in items:
            key = str(event.originator_id)
            if key not in touched:
                row = None if event.originator_version == 1 else stored.get(key)
                touched[key] = (
                    (None, False)
                    if row is None
                    else (self._thaw(event.originator_id, row[0], int(row[1])), True)
                )
            current, existed = touched[key]
            try:
                contact = event.mutate(current)
            except Exception as exc:
                raise EventApplyError(position, exc) from exc
            assert isinstance(contact, Contact)
            touched[key] = (contact, existed)
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        for contact, existed in touched.values():
            assert contact is not None
            (updates if existed else inserts).append(self._values(contact))
        tx.executemany(
            f"UPDATE {TABLE} SET kind=?, name=?, sort_key=?, search=?, tags=?, owner=?,"
            " archived=?, version=?, public=?, snapshot=? WHERE id = ?",
            updates,
        )
        tx.executemany(
            f"INSERT INTO {TABLE} (kind, name, sort_key, search, tags, owner, archived,"
            " version, public, snapshot, id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            inserts,
        )

    def _load_rows(self, tx: Tx, items: Sequence[tuple[Any, int]]) -> dict[str, tuple[bytes, int]]:
        """The stored (snapshot, version) of the contacts whose first event in `items`
        is not their first event ever."""
        first: dict[str, int] = {}
        for event, _position in items:
            first.setdefault(str(event.originator_id), event.originator_version)
        wanted = [key for key, version in first.items() if version > 1]
        rows: dict[str, tuple[bytes, int]] = {}
        for at in range(0, len(wanted), LOAD_CHUNK):
            chunk = wanted[at : at + LOAD_CHUNK]
            marks = ",".join("?" * len(chunk))
            for key, snapshot, version in tx.all(
                f"SELECT id, snapshot, version FROM {TABLE} WHERE id IN ({marks})", chunk
            ):
                rows[str(key)] = (snapshot, int(version))
        return rows

    def _values(self, contact: Contact) -> tuple[Any, ...]:
        public = contact_snapshot(contact)
        return (
            public["kind"],
            public["name"],
            f"{public['name'].casefold()}\x01{public['id']}",
            " ".join(
                [public["name"], *public["emails"], *public["phones"], public.get("tax_id") or ""]
            ).casefold(),
            "".join(f"|{t}|" for t in public["tags"]),
            public.get("owner"),
            _state(public),
            public["version"],
            orjson.dumps(public).decode(),
            self._freeze(contact),
            public["id"],
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


def _state(public: dict[str, Any]) -> int:
    if public["merged_into"] is not None:
        return MERGED
    return ARCHIVED if public["archived"] else ACTIVE


@dataclass(frozen=True)
class ContactFilter:
    """Filters of ``GET /contacts`` (``merged``: only contacts merged into others)."""

    kind: str | None = None
    tag: str | None = None
    owner: str | None = None
    archived: bool = False
    q: str | None = None
    merged: bool = False


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
    params: list[Any] = [MERGED if filters.merged else ARCHIVED if filters.archived else ACTIVE]
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


def organisation_members(tx: Tx, organisation_id: UUID) -> list[str]:
    """Ids of the contacts (any state) whose organisation is `organisation_id`.

    A ``LIKE`` on the public JSON narrows the rows; the exact test is on the parsed JSON.
    """
    wanted = str(organisation_id)
    rows = tx.all(
        f"SELECT public FROM {TABLE} WHERE kind = 'person' AND public LIKE ?",
        (f"%{wanted}%",),
    )
    found = (orjson.loads(r[0]) for r in rows)
    return sorted(c["id"] for c in found if c["organisation_id"] == wanted)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
