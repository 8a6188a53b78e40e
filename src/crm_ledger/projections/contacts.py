"""The contacts read model: one row per contact, for lists, filters and search.

Each row keeps the contact's state as a library snapshot, so applying an event is the
aggregate's own ``mutate``: the read model can never drift from the domain's rules.

The ``archived`` column holds the contact's list state: 0 active, 1 archived, 2 merged
into another contact (a merged contact is never archived: merging refuses archived
contacts and a merged one refuses every command), 3 erased (whatever it was before: an
erased contact has no personal data left to list). Default lists show state 0 only.
Lists, search and filters over this table are built by `contact_search`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from eventsourcing.persistence import JSONTranscoder, Mapper
from eventsourcing.utils import get_topic

from crm_ledger.domain.contact import Contact, contact_snapshot
from crm_ledger.privacy.mapper import SealingMapper
from crm_ledger.projections import trigram
from crm_ledger.projections.base import (
    EventApplyError,
    ReplayUnsupportedError,
    TableRows,
    public_states,
)
from crm_ledger.projections.contact_text import custom_tokens, name_key, search_document
from crm_ledger.projections.snapshot_rows import freeze, thaw
from crm_ledger.storage.sql import Dialect, Tx, ddl
from crm_ledger.storage.transcoder import FastJSONTranscoder

if TYPE_CHECKING:
    from uuid import UUID

    from crm_ledger.projections.bulk import RawEvent

TABLE = "proj_contacts"
LOAD_CHUNK = 500  # ids per SELECT ... IN (...) when a batch reads the stored rows
ACTIVE, ARCHIVED, MERGED, ERASED = 0, 1, 2, 3
# Search columns (see `contact_text` and `contact_search`): ``doc`` is the folded search
# document; ``cfields`` the custom fields as ``|key=value|`` tokens; ``created_key`` and
# ``updated_key`` are the timestamps followed by the id, unique sort keys like
# ``sort_key`` (the name's words + id). ``search`` (raw text) serves `contact_matches`.
_TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_contacts ("
    " id TEXT PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " sort_key {bintext} NOT NULL,"
    " search TEXT NOT NULL,"
    " doc TEXT NOT NULL,"
    " tags TEXT NOT NULL,"
    " cfields TEXT NOT NULL,"
    " owner TEXT,"
    " has_email INTEGER NOT NULL,"
    " created_key {bintext} NOT NULL,"
    " updated_key {bintext} NOT NULL,"
    " archived INTEGER NOT NULL,"
    " version {bigint} NOT NULL,"
    " public TEXT NOT NULL,"
    " snapshot {blob} NOT NULL{extra})"
)
# PostgreSQL derives index-friendly forms itself: words for the GIN text-search index,
# tags and custom field tokens as arrays for GIN containment (``@>``).
_POSTGRES_COLUMNS = (
    ", doc_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, doc)) STORED"
    ", tag_array TEXT[] GENERATED ALWAYS AS (string_to_array(btrim(tags, '|'), '||')) STORED"
    ", cf_array TEXT[] GENERATED ALWAYS AS (string_to_array(btrim(cfields, '|'), '||')) STORED"
)
_INDEX_DDL = (
    "CREATE INDEX IF NOT EXISTS proj_contacts_created ON proj_contacts (archived, created_key)",
    "CREATE INDEX IF NOT EXISTS proj_contacts_updated ON proj_contacts (archived, updated_key)",
    "CREATE INDEX IF NOT EXISTS proj_contacts_owner ON proj_contacts (archived, owner, sort_key)",
)
_SQLITE_INDEX_DDL = (
    "CREATE INDEX IF NOT EXISTS proj_contacts_sort ON proj_contacts (archived, sort_key, id)",
)
# The name-order index carries the id and the search document, so a search can walk
# the list in name order without reading the table (an index-only scan): see
# `contact_search`. Its entries stay small: see ``contact_text.DOCUMENT_BYTES``.
_POSTGRES_INDEX_DDL = (
    "CREATE INDEX IF NOT EXISTS proj_contacts_sort ON proj_contacts (archived, sort_key)"
    " INCLUDE (id, doc)",
    "CREATE INDEX IF NOT EXISTS proj_contacts_tsv ON proj_contacts USING gin (doc_tsv)",
    "CREATE INDEX IF NOT EXISTS proj_contacts_tags ON proj_contacts USING gin (tag_array)",
    "CREATE INDEX IF NOT EXISTS proj_contacts_cf ON proj_contacts USING gin (cf_array)",
)
_TRIGRAM_INDEX_DDL = (
    "CREATE INDEX IF NOT EXISTS proj_contacts_trgm ON proj_contacts USING gin (doc gin_trgm_ops)"
)

#: transcoders writing the library's JSON, which `contact_replay` reads
_LIBRARY_JSON = (JSONTranscoder, FastJSONTranscoder)


WRITTEN = (
    "kind",
    "name",
    "sort_key",
    "search",
    "doc",
    "tags",
    "cfields",
    "owner",
    "has_email",
    "created_key",
    "updated_key",
    "archived",
    "version",
    "public",
    "snapshot",
    "id",
)
"""The columns `ContactsProjection` writes, in the order of its row tuples (id last)."""


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
        "Erased",
    )
    return tuple(get_topic(getattr(Contact, n)) for n in names)


class ContactsProjection:
    """Maintains ``proj_contacts``."""

    name = "contacts"
    per_aggregate = True  # each row follows from one aggregate's own events

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        self.topics = contact_topics()
        self.trigram = trigram.available(mapper)
        """Declare the ``pg_trgm`` index (only if `trigram.enable` found the extension)."""

    def ddl(self, dialect: Dialect) -> list[str]:
        if dialect == "sqlite":
            table = _TABLE_DDL.replace("{extra}", "")
            return [ddl(dialect, table), *_SQLITE_INDEX_DDL, *_INDEX_DDL]
        table = _TABLE_DDL.replace("{extra}", _POSTGRES_COLUMNS)
        indexes = [*_POSTGRES_INDEX_DDL, *_INDEX_DDL]
        if self.trigram:
            indexes.append(_TRIGRAM_INDEX_DDL)
        return [ddl(dialect, table), *indexes]

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
            f"UPDATE {TABLE} SET {', '.join(f'{c}=?' for c in WRITTEN[:-1])} WHERE id = ?",
            updates,
        )
        tx.executemany(
            f"INSERT INTO {TABLE} ({', '.join(WRITTEN)})"
            f" VALUES ({', '.join('?' for _ in WRITTEN)})",
            inserts,
        )

    def replay(
        self, events: Sequence[RawEvent], aggregate_text: Callable[[Any], str]
    ) -> list[TableRows]:
        """The rows of whole contact histories, replayed on their stored JSON (see
        `contact_replay`); `ReplayUnsupportedError` when the mapper stores states in
        another form (not the library's JSON, as `JSONTranscoder` and
        `FastJSONTranscoder` write it, or with a cipher or a compressor) or a history is
        not of the shape replayed there."""
        mapper = self.mapper
        if type(mapper.transcoder) not in _LIBRARY_JSON or mapper.cipher or mapper.compressor:
            raise ReplayUnsupportedError("stored states are not plain library JSON")
        from crm_ledger.projections.contact_replay import replay

        opener = None
        if isinstance(mapper, SealingMapper):
            mapper.prefetch(e[3] for e in events)
            opener = mapper.open_json
        return [TableRows(TABLE, WRITTEN, replay(events, aggregate_text, opener))]

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
        """The row of `contact`, in the order of ``WRITTEN``."""
        return row_of(contact_snapshot(contact), self._freeze(contact))

    def _freeze(self, contact: Contact) -> bytes:
        return freeze(self.mapper, contact)

    def _thaw(self, contact_id: UUID, state: bytes, version: int) -> Contact:
        return thaw(self.mapper, Contact, contact_id, state, version)


def row_of(public: dict[str, Any], snapshot: bytes) -> tuple[Any, ...]:
    """The row of a contact with this public state and stored snapshot (``WRITTEN`` order)."""
    key = public["id"]
    return (
        public["kind"],
        public["name"],
        f"{name_key(public['name'])}\x01{key}",
        " ".join(
            [public["name"], *public["emails"], *public["phones"], public.get("tax_id") or ""]
        ).casefold(),
        search_document(public),
        "".join(f"|{t}|" for t in public["tags"]),
        custom_tokens(public["custom_fields"]),
        public.get("owner"),
        1 if public["emails"] else 0,
        f"{public['created_at']}\x01{key}",
        f"{public['modified_at']}\x01{key}",
        _state(public),
        public["version"],
        orjson.dumps(public).decode(),
        snapshot,
        key,
    )


def _state(public: dict[str, Any]) -> int:
    if public.get("erased"):
        return ERASED
    if public["merged_into"] is not None:
        return MERGED
    return ARCHIVED if public["archived"] else ACTIVE


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


def contacts_by_ids(tx: Tx, contact_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The public state of each of `contact_ids` in the read model, in that order
    (ids it does not hold are left out)."""
    return public_states(tx, TABLE, contact_ids)
