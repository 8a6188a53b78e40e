"""The ledger on SQLite: its columns in the events' own rows.

On SQLite each event row also holds its ledger entry's ``recorded_at``, ``actor`` and
``leaf_hash``. Everything else the envelope names is the row itself: ``seq`` is the
row's ``rowid`` (the library's notification id), the leaf index is ``rowid - 1``, the
aggregate id, version, topic and the stored bytes (``state_sha256``) are the event's
own columns, ``prev`` is the leaf hash of the row before, and ``log`` is the origin in
``ledger_meta``. Readers rebuild each envelope's canonical bytes from those columns
(`rebuild`), and the stored leaf hash is what they must hash to: a changed event
column, actor or time gives other bytes, so another leaf (``leaf_mismatch``).

Why not a table of its own, as on PostgreSQL: SQLite then inserts and commits a second
row per event, which alone costs more than the 25 % extra write time the ledger may add
(measured in ``docs/performance.md``). A view named ``ledger_entries`` shows the
entries for people reading the file with SQL.

Files written before this layout (a ``ledger_entries`` table) are migrated once, in one
transaction, when a recorder creates its tables: `migrate` rebuilds every envelope from
the new columns and only drops the old table if each rebuilt envelope is byte for byte
the stored one. Otherwise nothing changes and the error says where.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from crm_ledger.ledger.envelope import Entry, Link, seal_links
from crm_ledger.ledger.errors import LedgerError
from crm_ledger.storage.chain import stored_origin
from crm_ledger.storage.sql import RawCursor, Tx

#: ``(rowid, originator_id, originator_version, topic, state, recorded_at, actor,
#: leaf_hash)``: an event row with its ledger columns, as `ROWS` selects it
Row = tuple[Any, ...]
ROWS = (
    "SELECT rowid, originator_id, originator_version, topic, state, recorded_at, actor,"
    " leaf_hash FROM {events} WHERE rowid > ? ORDER BY rowid LIMIT ?"
)
#: `ROWS` with the text columns read as bytes, for a row whose text is not UTF-8 (SQLite
#: stores what it is given; only a tamperer writes such text, and it must be reported,
#: not stop the reader)
RAW_ROWS = (
    "SELECT rowid, CAST(originator_id AS BLOB), originator_version, CAST(topic AS BLOB),"
    " state, CAST(recorded_at AS BLOB), CAST(actor AS BLOB), leaf_hash FROM {events}"
    " WHERE rowid > ? ORDER BY rowid LIMIT ?"
)
#: The chain head: the last event row's ``(rowid, leaf_hash, recorded_at)``.
HEAD = "SELECT rowid, leaf_hash, recorded_at FROM {events} ORDER BY rowid DESC LIMIT 1"
INSERT = (
    "INSERT INTO {events} (rowid, originator_id, originator_version, topic, state,"
    " recorded_at, actor, leaf_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_COLUMNS = (("recorded_at", "TEXT"), ("actor", "TEXT"), ("leaf_hash", "BLOB"))


class MigrationError(RuntimeError):
    """An old-layout file whose ledger cannot be moved into the event rows as it is."""


def events_table(events: str) -> str:
    """The library's events table with the ledger's columns (nullable: a row inserted
    outside the ledger has none, and verifying reports it)."""
    extra = "".join(f"{name} {kind}, " for name, kind in _COLUMNS)
    return (
        f"CREATE TABLE IF NOT EXISTS {events} (originator_id TEXT, originator_version"
        f" INTEGER, topic TEXT, state BLOB, {extra}PRIMARY KEY (originator_id,"
        " originator_version))"
    )


def entries_view(events: str) -> str:
    """``ledger_entries`` as a view of the event rows (no envelope: it is rebuilt)."""
    return (
        "CREATE VIEW IF NOT EXISTS ledger_entries AS SELECT rowid - 1 AS leaf_index,"
        f" rowid AS seq, recorded_at, actor, leaf_hash FROM {events}"
        " WHERE leaf_hash IS NOT NULL"
    )


def texts_of(row: Row) -> Row:
    """A `RAW_ROWS` row with its text columns decoded; bytes that are not UTF-8 become
    lone surrogates, which no envelope can hold (so the entry is reported)."""
    return tuple(
        value.decode("utf-8", "surrogateescape")
        if index in (1, 3, 5, 6) and isinstance(value, bytes)
        else value
        for index, value in enumerate(row)
    )


def aggregate_text(value: object) -> str:
    """An aggregate id as the envelope names it (SQLite stores UUIDs as 32 hex digits)."""
    text = str(value)
    if len(text) == 32:
        text = f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text


def _link(row: Row) -> Link:
    return (
        int(row[0]),
        aggregate_text(row[1]),
        int(row[2]),
        str(row[3]),
        str(row[6]),
        bytes(row[4]),
    )


def rebuild(log: str, row: Row, prev: bytes | None) -> Entry:
    """The entry of event row `row`: its envelope rebuilt with `prev` (the stored leaf
    hash of the row before; None at genesis) and its stored leaf hash. A row without
    ledger columns gives an entry without envelope or leaf (reported as such)."""
    link, canonical = _link(row), b""
    if _chained(row):
        try:
            [(canonical, _)] = seal_links(log, row[5], prev, [link])
        except (LedgerError, TypeError, ValueError):
            canonical = b"-"  # not encodable: unreadable, the verifier says so
    return _entry(link, canonical, row[7])


def _entry(link: Link, canonical: bytes, leaf: Any) -> Entry:
    """The entry of the row `link` was read from, with its stored `leaf` (None: none)."""
    seq, aggregate_id, version, topic, _, state = link
    stored = b"" if leaf is None else bytes(leaf)
    # positional: Entry's keyword form costs the verifier a few percent
    return Entry(seq - 1, seq, canonical, stored, str(aggregate_id), version, topic, state)


def _chained(row: Row) -> bool:
    return row[7] is not None and isinstance(row[5], str) and isinstance(row[6], str)


def rebuilt(log: str, rows: Sequence[Row], prev: bytes | None) -> Iterator[Entry]:
    """`rebuild` along consecutive rows, each after the stored leaf of the one before.

    The same entries, faster: a run of rows written together (one ``recorded_at``) is
    sealed in one `seal_links` call, which chains each envelope to the leaf it computed
    for the row before. That is the stored leaf unless the row was changed; from a row
    whose leaf differs, the rest of the run is sealed again after its stored leaf."""
    i, count = 0, len(rows)
    while i < count:
        first = rows[i]
        end = i + 1
        if _chained(first):
            while end < count and rows[end][5] == first[5] and _chained(rows[end]):
                end += 1
        if end - i == 1:
            yield rebuild(log, first, prev)
            prev = None if first[7] is None else bytes(first[7])
            i = end
            continue
        try:
            links = [_link(row) for row in rows[i:end]]
            sealed = seal_links(log, first[5], prev, links)
        except (LedgerError, TypeError, ValueError):  # one of them: each on its own
            for row in rows[i:end]:
                yield rebuild(log, row, prev)
                prev = bytes(row[7])
            i = end
            continue
        for offset, (canonical, leaf) in enumerate(sealed):
            entry = _entry(links[offset], canonical, rows[i + offset][7])
            yield entry
            prev = entry.leaf_hash
            if leaf != prev:  # the next envelope names the stored leaf: seal again
                break
        i += offset + 1


def has_ledger_table(cursor: RawCursor) -> bool:
    """Whether the file still has the old layout's ``ledger_entries`` table."""
    cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ledger_entries'")
    return cursor.fetchone() is not None


def migrate(cursor: RawCursor, events: str, batch: int = 5000) -> int:
    """Move an old-layout ledger (a ``ledger_entries`` table) into the event rows, in
    the caller's transaction; return the number of entries moved. Raises
    `MigrationError` (and the caller rolls back) unless every entry has its event and
    every event its entry, and every envelope rebuilt from the new columns (after the
    leaf before it, with ``seq`` the rowid) is byte for byte the stored one."""
    cursor.execute(f"PRAGMA table_info({events})")
    present = {str(row[1]) for row in cursor.fetchall()}
    for name, kind in _COLUMNS:
        if name not in present:
            cursor.execute(f"ALTER TABLE {events} ADD COLUMN {name} {kind}")
    log = stored_origin(Tx(cursor, "sqlite")) or ""  # no origin: no entry rebuilds
    moved, prev = 0, None
    while True:
        cursor.execute(
            "SELECT l.leaf_index, l.seq, l.recorded_at, l.envelope, l.leaf_hash,"
            " e.originator_id, e.originator_version, e.topic, e.state FROM ledger_entries l"
            f" LEFT JOIN {events} e ON e.rowid = l.seq WHERE l.leaf_index >= ?"
            " ORDER BY l.leaf_index LIMIT ?",
            (moved, batch),
        )
        try:
            rows = cursor.fetchall()
        except sqlite3.OperationalError as exc:  # text that is not UTF-8
            raise MigrationError(f"ledger entries from {moved} on: {exc}") from None
        if not rows:
            break
        updates = []
        for index, seq, recorded_at, envelope, leaf, oid, version, topic, state in rows:
            where = f"ledger entry {index} (seq {seq})"
            if oid is None:
                raise MigrationError(f"{where}: its event is missing")
            envelope = bytes(envelope)
            try:
                actor = orjson.loads(envelope)["actor"]
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise MigrationError(f"{where}: unreadable envelope ({exc})") from None
            row = (seq, oid, version, topic, state, recorded_at, actor, leaf)
            if rebuild(log, row, prev).canonical != envelope:
                raise MigrationError(f"{where}: the stored envelope differs from its event")
            updates.append((recorded_at, actor, bytes(leaf), seq))
            prev, moved = bytes(leaf), moved + 1
        cursor.executemany(
            f"UPDATE {events} SET recorded_at = ?, actor = ?, leaf_hash = ? WHERE rowid = ?",
            updates,
        )
    cursor.execute(f"SELECT COUNT(*) FROM {events} WHERE leaf_hash IS NULL")
    (unledgered,) = cursor.fetchone()
    if unledgered:
        raise MigrationError(f"{unledgered} event(s) have no ledger entry")
    cursor.execute("DROP TABLE ledger_entries")
    cursor.execute(entries_view(events))
    return moved
