"""Bulk insert of events and their ledger entries with binary COPY (PostgreSQL).

For large batches (``crm-ledger import contacts``): the server inserts COPY rows about
twice as fast as the rows of ``INSERT ... SELECT * FROM unnest(...) RETURNING``. COPY
cannot run in the pipeline mode the library's ``insert_events`` uses and returns no
ids, so this is that transaction written out without a pipeline, in the same order:
the recorder's own ``LOCK TABLE ... IN EXCLUSIVE MODE`` and ``NOTIFY``, then the
notification ids reserved from the table's own sequence while the lock is held
(consecutive, in row order and commit order, as the INSERT's would be), the event rows, and the
recorder's `ChainWriter` extending the ledger in the same transaction. Any failure
rolls back everything; a duplicate (originator id, version) raises the library's
``IntegrityError`` (the datastore's connection maps psycopg's errors).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL, Identifier, Literal

from crm_ledger.storage.postgres_recorder import LedgerPostgresRecorder
from crm_ledger.storage.sql import Tx


def copy_events(
    recorder: LedgerPostgresRecorder, stored_events: Sequence[StoredEvent], actor: str
) -> list[int]:
    """Insert `stored_events` (attributed to `actor`) and their ledger entries in one
    transaction; return their notification ids."""
    if not stored_events:
        return []
    datastore = recorder.datastore
    table = SQL("{}.{}").format(
        Identifier(datastore.schema), Identifier(recorder.events_table_name)
    )
    qualified = ".".join(
        '"' + name.replace('"', '""') + '"'
        for name in (datastore.schema, recorder.events_table_name)
    )
    as_text = datastore.originator_id_type != "uuid"
    # n consecutive ids from the sequence the column's default draws from. Every writer
    # of this table takes the table lock before it draws ids (the library's INSERT
    # does), so none can draw between our nextval and setval; were one to, its id
    # would collide with ours on the unique index and one transaction would fail.
    count = len(stored_events)
    draw_ids = SQL(
        "SELECT setval(s, nextval(s) + {more}) AS last"
        " FROM pg_get_serial_sequence({table}, 'notification_id') AS s"
    ).format(table=Literal(qualified), more=Literal(count - 1))
    copy_rows = SQL(
        "COPY {table} (originator_id, originator_version, topic, state, notification_id)"
        " FROM STDIN (FORMAT BINARY)"
    ).format(table=table)
    with datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
        recorder._lock_table(curs)  # the recorder's own lock statement
        recorder._notify_channel(curs)
        curs.execute(draw_ids)
        row = curs.fetchone()
        assert row is not None
        last = int(row["last"])
        ids = list(range(last - count + 1, last + 1))
        with curs.copy(copy_rows) as copy:
            copy.set_types([datastore.originator_id_type, "int8", "text", "bytea", "int8"])
            for stored, notification_id in zip(stored_events, ids, strict=True):
                values: tuple[Any, ...] = (
                    str(stored.originator_id) if as_text else stored.originator_id,
                    stored.originator_version,
                    stored.topic,
                    stored.state,
                    notification_id,
                )
                copy.write_row(values)
        recorder.chain.extend(
            Tx(curs, "postgres"), stored_events, ids, [actor] * len(stored_events), copy=True
        )
    return ids
