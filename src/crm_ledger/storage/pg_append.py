"""Append a group of events and their ledger rows in one round trip (PostgreSQL).

The ledger rows depend on the chain's head (the previous leaf hash, the next leaf index
and notification id), which is only known under the table lock. The group leader keeps
the head it left after its last group and builds the new rows from it *before* the
transaction; one call of a server function then, inside one transaction:

1. takes the recorder's lock (``LOCK TABLE ... IN EXCLUSIVE MODE``, the same statement
   and timeout as the library's insert);
2. reads the real head: the last ledger entry and the notification id sequence;
3. if it is not the head the rows were built on (another process wrote meanwhile, or
   this is the first group), writes nothing and returns the real head;
4. otherwise ``NOTIFY``, inserts the events with the notification ids the rows name
   (consecutive, after the sequence's last value, as the library's INSERT would draw
   them), inserts the ledger rows, moves the sequence past them and returns the new head.

After a miss the caller calls again with the head the function reported: with another
process writing too, that head is usually still the head a moment later, and no call
holds the lock across the client's own work (the table stays free for the other
processes while this one builds rows). After `ATTEMPTS` misses in a row (the other
writers are many or fast), the caller takes the two-round-trip path that reads the head
under the lock, which cannot miss. Nothing is ever stored with a ledger
row built on a stale head: the check and the writes are one transaction under the lock.
A duplicate aggregate version raises the unique violation as the library's insert does,
and the whole call rolls back.

How often groups needed the locked path is tracked as a moving average. When more than
half of the recent ones did, as with several busy processes, the caller goes to the
locked path first (`ATTEMPTS` wasted round trips per group otherwise), and tries the calls
again every `PROBE_EVERY` groups to notice when the contention has passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import StoredEvent
from psycopg import Connection
from psycopg.sql import SQL, Identifier, Literal

from crm_ledger.storage import pg_wire as wire
from crm_ledger.storage.chain import ChainWriter, LedgerRow

#: weight of the latest group in the moving average of groups that needed the lock
MISS_WEIGHT = 0.2
#: calls of the function per group before the locked path
ATTEMPTS = 4
#: while the locked path goes first, every this many groups try the calls again
PROBE_EVERY = 8
#: the append function's result columns: appended, head index, leaf, time, next seq
_HEAD_TYPES = (wire.BOOL, wire.INT8, wire.BYTEA, wire.TEXT, wire.INT8)


@dataclass(frozen=True)
class Head:
    """The chain's head as the server function reports it."""

    index: int  # the last leaf index; -1 when the log is empty
    leaf: bytes | None  # its leaf hash
    recorded_at: str  # its time ("" when empty)
    next_seq: int  # the notification id the next event gets


def function_name(events_table: str) -> str:
    return f"{events_table}_ledger_append"[:63]


def function_ddl(
    *, schema: str, events_table: str, id_type: str, channel: str, lock_timeout: int
) -> str:
    """``CREATE OR REPLACE FUNCTION`` for the append (one per events table)."""
    sequence = f"{events_table}_notification_id_seq"[:63]  # bigserial's own sequence
    return (
        SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}("
            " ids {id_type}[], versions bigint[], topics text[], states bytea[],"
            " expected_index bigint, expected_leaf bytea, first_seq bigint, recorded text,"
            " envelopes bytea[], leaves bytea[])"
            " RETURNS TABLE (appended boolean, head_index bigint, head_leaf bytea,"
            " head_time text, next_seq bigint)"
            " LANGUAGE plpgsql AS $body$"
            " DECLARE"
            "  head record;"
            "  seq_last bigint;"
            "  seq_called boolean;"
            "  next_id bigint;"
            "  n bigint := cardinality(ids);"
            " BEGIN"
            "  SET LOCAL lock_timeout = {lock_timeout};"
            "  LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE;"
            "  SELECT e.leaf_index, e.leaf_hash, e.recorded_at, e.seq INTO head"
            "   FROM ledger_entries e ORDER BY e.leaf_index DESC LIMIT 1;"
            "  SELECT s.last_value, s.is_called INTO seq_last, seq_called"
            "   FROM {schema}.{sequence} s;"
            "  next_id := greatest(coalesce(head.seq, 0),"
            "   CASE WHEN seq_called THEN seq_last ELSE seq_last - 1 END) + 1;"
            "  IF coalesce(head.leaf_index, -1) <> expected_index"
            "   OR head.leaf_hash IS DISTINCT FROM expected_leaf"
            "   OR next_id <> first_seq OR n <> cardinality(envelopes) THEN"
            "   RETURN QUERY SELECT false, coalesce(head.leaf_index, -1), head.leaf_hash,"
            "    coalesce(head.recorded_at, ''), next_id;"
            "   RETURN;"
            "  END IF;"
            "  NOTIFY {channel};"
            "  INSERT INTO {schema}.{table}"
            "   (originator_id, originator_version, topic, state, notification_id)"
            "   SELECT u.i, u.v, u.t, u.s, first_seq + u.o - 1"
            "   FROM unnest(ids, versions, topics, states) WITH ORDINALITY AS u(i, v, t, s, o);"
            "  INSERT INTO ledger_entries (leaf_index, seq, recorded_at, envelope, leaf_hash)"
            "   SELECT expected_index + u.o, first_seq + u.o - 1, recorded, u.e, u.l"
            "   FROM unnest(envelopes, leaves) WITH ORDINALITY AS u(e, l, o);"
            "  PERFORM setval({qualified_sequence}, first_seq + n - 1);"
            "  RETURN QUERY SELECT true, expected_index + n, leaves[n], recorded, first_seq + n;"
            " END"
            " $body$"
        )
        .format(
            schema=Identifier(schema),
            function=Identifier(function_name(events_table)),
            table=Identifier(events_table),
            sequence=Identifier(sequence),
            qualified_sequence=Literal(f'"{schema}"."{sequence}"'),
            id_type=Identifier(id_type),
            channel=Identifier(channel),
            lock_timeout=Literal(f"{lock_timeout}s"),
        )
        .as_string()
    )


def event_columns(stored_events: Sequence[StoredEvent]) -> tuple[list[Any], ...]:
    """The events as four parallel arrays (originator id, version, topic, stored bytes),
    the binary parameters of both PostgreSQL inserts."""
    return (
        [e.originator_id for e in stored_events],
        [e.originator_version for e in stored_events],
        [e.topic for e in stored_events],
        [e.state for e in stored_events],
    )


class Appender:
    """Calls the append function for the group leader, remembering the head it left."""

    def __init__(self, *, schema: str, events_table: str, id_type: str) -> None:
        self.head: Head | None = None
        self.misses = 0  # statistics: calls that found another head than expected
        self.locked = 0  # statistics: groups written on the locked path
        self.miss_rate = 0.0  # moving average of groups that needed the locked path
        self._since_probe = 0
        function = SQL("{schema}.{function}").format(
            schema=Identifier(schema), function=Identifier(function_name(events_table))
        )
        self._id_type = id_type
        id_element = wire.UUID if id_type == "uuid" else wire.TEXT
        self._call = wire.PreparedCall(
            f"crm_{function_name(events_table)}"[:63],
            f"SELECT * FROM {function.as_string()}($1::{id_type}[], $2::bigint[],"
            " $3::text[], $4::bytea[], $5::bigint, $6::bytea, $7::bigint, $8::text,"
            " $9::bytea[], $10::bytea[])",
            [
                wire.ARRAY_OF[id_element],
                wire.ARRAY_OF[wire.INT8],
                wire.ARRAY_OF[wire.TEXT],
                wire.ARRAY_OF[wire.BYTEA],
                wire.INT8,
                wire.BYTEA,
                wire.INT8,
                wire.TEXT,
                wire.ARRAY_OF[wire.BYTEA],
                wire.ARRAY_OF[wire.BYTEA],
            ],
        )
        self._id_element = id_element

    def append(
        self,
        conn: Connection[Any],
        log: str,
        stored_events: Sequence[StoredEvent],
        actors: Sequence[str],
    ) -> list[int] | None:
        """Append in one round trip if the head is as expected: the notification ids, or
        None on a miss (nothing stored; the caller then takes the locked path)."""
        head = self.head or Head(-1, None, "", 1)
        ids = list(range(head.next_seq, head.next_seq + len(stored_events)))
        rows = ChainWriter.rows(
            log,
            None if head.leaf is None else (head.index, head.leaf, head.recorded_at),
            stored_events,
            ids,
            actors,
        )
        id_type = self._id_type
        result = self._call.run(
            conn,
            [
                wire.array(
                    self._id_element,
                    [wire.originator_id(e.originator_id, id_type) for e in stored_events],
                ),
                wire.array(wire.INT8, [wire.int8(e.originator_version) for e in stored_events]),
                wire.array(wire.TEXT, [wire.text(e.topic) for e in stored_events]),
                wire.array(wire.BYTEA, [e.state for e in stored_events]),
                wire.int8(head.index),
                head.leaf,
                wire.int8(head.next_seq),
                wire.text(rows[0][2]),
                wire.array(wire.BYTEA, [row[3] for row in rows]),
                wire.array(wire.BYTEA, [row[4] for row in rows]),
            ],
        )
        appended, index, leaf, recorded_at, next_seq = wire.decode_row(result, _HEAD_TYPES)
        self.head = Head(index, None if leaf is None else bytes(leaf), recorded_at, next_seq)
        self.misses += not appended
        return ids if appended else None

    def likely_stale(self) -> bool:
        """True when most recent groups needed the locked path."""
        return self.miss_rate > 0.5

    def attempts(self) -> int:
        """How many one-round-trip calls to try for the next group before the locked
        path: none while the locked path goes first, bar a probe now and then."""
        if not self.likely_stale():
            return ATTEMPTS
        self._since_probe += 1
        if self._since_probe < PROBE_EVERY:
            return 0
        self._since_probe = 0
        return ATTEMPTS

    def settled(self, *, locked: bool) -> None:
        """Record how a group that tried the calls was written (`locked`: every call
        missed and it went to the locked path)."""
        self.miss_rate += MISS_WEIGHT * (locked - self.miss_rate)

    def locked_write(self, ids: Sequence[int], last: LedgerRow) -> None:
        """Record a group written on the locked path: its new head."""
        self.locked += 1
        self.head = Head(last[0], last[4], last[2], ids[-1] + 1)

    def forget(self) -> None:
        """Drop the remembered head (after a failure whose outcome is unknown)."""
        self.head = None
