"""Extend the hash chain inside the transaction that inserts the events.

Called by the ledger recorders while the database's writer lock is held (SQLite's
single writer, PostgreSQL's ``LOCK TABLE ... IN EXCLUSIVE MODE``), so reading the head
and appending after it cannot interleave with another writer. Any failure raises and
rolls back the whole transaction: no event is ever stored without its ledger entry.
PostgreSQL keeps the entries in ``ledger_entries`` (`ChainWriter.extend`); SQLite keeps
them in the event rows and takes only `ChainWriter.rows` from here (see
`crm_ledger.storage.sqlite_ledger`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from eventsourcing.persistence import StoredEvent
from psycopg import Cursor

from crm_ledger.ledger.envelope import format_timestamp, seal_links
from crm_ledger.storage.sql import Tx

UNATTRIBUTED_ACTOR = "system:unattributed"
#: The chain's head: the last entry's index, leaf hash and time (no row: empty log).
HEAD_QUERY = (
    "SELECT leaf_index, leaf_hash, recorded_at FROM ledger_entries ORDER BY leaf_index DESC LIMIT 1"
)
#: ``(leaf_index, seq, recorded_at, envelope bytes, leaf hash)``
LedgerRow = tuple[int, int, str, bytes, bytes]
#: A chain head as `HEAD_QUERY` reads it: ``(leaf_index, leaf hash, recorded_at)``
Head = tuple[int, bytes, str]
ORIGIN_KEY = "origin"


def actor_of(kwargs: dict[str, Any]) -> str:
    """The actor named in a save's keyword arguments (``app.save(..., actor=...)``)."""
    return str(kwargs.get("actor") or UNATTRIBUTED_ACTOR)


def new_origin() -> str:
    """Return a fresh log origin (C2SP style: schema-less, unique per deployment)."""
    return f"crm-ledger.local/{uuid.uuid4().hex}"


def ensure_origin(tx: Tx, proposed: str | None = None) -> str:
    """Create the log's origin once (first writer wins) and return the stored one."""
    tx.execute(
        "INSERT INTO ledger_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
        (ORIGIN_KEY, proposed or new_origin()),
    )
    origin = stored_origin(tx)
    assert origin is not None
    return origin


def stored_origin(tx: Tx) -> str | None:
    """The log's origin as ``ledger_meta`` holds it (None before the first write)."""
    origin = tx.scalar("SELECT value FROM ledger_meta WHERE key = ?", (ORIGIN_KEY,))
    return None if origin is None else str(origin)


class ChainWriter:
    """Appends one ledger entry per stored event, after the current head."""

    def __init__(self) -> None:
        self._origin: str | None = None

    def origin(self, tx: Tx) -> str:
        """The log's origin, read once from ``ledger_meta``."""
        if self._origin is None:
            self._origin = ensure_origin(tx)
        return self._origin

    def extend(
        self,
        tx: Tx,
        stored_events: Sequence[StoredEvent],
        notification_ids: Sequence[int] | None,
        actors: Sequence[str] | None,
        *,
        copy: bool = False,
    ) -> None:
        """Insert the ledger rows for `stored_events` (same order as their ids and actors)
        into ``ledger_entries`` (PostgreSQL).

        `copy`: write them with binary COPY (outside pipeline mode only; see
        `crm_ledger.storage.bulk_insert`)."""
        if tx.dialect != "postgres":
            raise RuntimeError("ledger: SQLite keeps its entries in the event rows")
        if not stored_events:
            return
        log = self.origin(tx)
        rows = self.rows(log, tx.one(HEAD_QUERY), stored_events, notification_ids, actors)
        if not copy:  # one statement for the batch, like the events insert
            insert_rows(cast("Cursor[Any]", tx.cursor), rows)
            return
        with cast("Cursor[Any]", tx.cursor).copy(
            "COPY ledger_entries (leaf_index, seq, recorded_at, envelope, leaf_hash)"
            " FROM STDIN (FORMAT BINARY)"
        ) as out:
            out.set_types(["int8", "int8", "text", "bytea", "bytea"])
            for row in rows:
                out.write_row(row)

    @staticmethod
    def rows(
        log: str,
        head: Sequence[Any] | None,
        stored_events: Sequence[StoredEvent],
        notification_ids: Sequence[int] | None,
        actors: Sequence[str] | None,
    ) -> list[LedgerRow]:
        """The ledger rows appending `stored_events` after `head` (a `HEAD_QUERY` row, or
        None for an empty log): ``(leaf_index, seq, recorded_at, envelope, leaf_hash)``."""
        if notification_ids is None or len(notification_ids) != len(stored_events):
            raise RuntimeError("ledger: notification ids missing for inserted events")
        if actors is None:
            actors = [UNATTRIBUTED_ACTOR] * len(stored_events)
        elif len(actors) != len(stored_events):
            raise RuntimeError("ledger: one actor per inserted event is required")
        if head is None:
            index, prev, last_time = 0, None, ""
        else:
            index, prev, last_time = head[0] + 1, bytes(head[1]), head[2]
        # recorded_at never goes backwards along the chain, whatever the host clocks say.
        recorded_at = max(format_timestamp(datetime.now(UTC)), last_time)
        links = [
            (
                seq,
                stored.originator_id,
                stored.originator_version,
                stored.topic,
                actor,
                stored.state,
            )
            for stored, seq, actor in zip(stored_events, notification_ids, actors, strict=True)
        ]
        return [
            (index + offset, link[0], recorded_at, canonical, leaf)
            for offset, (link, (canonical, leaf)) in enumerate(
                zip(links, seal_links(log, recorded_at, prev, links), strict=True)
            )
        ]


def insert_rows(cursor: Cursor[Any], rows: Sequence[LedgerRow]) -> None:
    """Insert ledger rows on PostgreSQL in one statement (binary arrays: text-format
    bytea arrays are slow)."""
    columns = [list(column) for column in zip(*rows, strict=True)]
    cursor.execute(
        "INSERT INTO ledger_entries (leaf_index, seq, recorded_at, envelope, leaf_hash)"
        " SELECT * FROM unnest(%b::bigint[], %b::bigint[], %b::text[], %b::bytea[],"
        " %b::bytea[])",
        columns,
        prepare=True,
    )
