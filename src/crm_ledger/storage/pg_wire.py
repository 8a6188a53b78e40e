"""The append call sent straight through libpq, its parameters in binary written here.

psycopg adapts each parameter of a query in Python: for an array it walks the list to
find the element type, picks a dumper, then dumps each element. For the append function
(`crm_ledger.storage.pg_append`: six arrays and four scalars) that took about 130 µs of
CPU per call, measured with ``time.thread_time`` around ``Connection.execute``: more than
half the CPU of a one-event save. The call's types never change, so its parameters are
written here in PostgreSQL's binary format (``array_send`` / ``int8send`` / ``uuid_send``
/ ``textsend`` / ``byteasend``) and the statement is run with libpq's
``PQexecPrepared``, prepared once per connection under a name of its own.

Errors are psycopg's own exception classes (``psycopg.errors.error_from_result``), so a
unique violation or a lock timeout reaches the recorder exactly as before. If the
statement is gone from the session (``DEALLOCATE``, a server-side reset), it is prepared
again and the call made once more: nothing ran the first time.
"""

from __future__ import annotations

import struct
import threading
import uuid
import weakref
from collections.abc import Sequence
from typing import Any, cast

import psycopg
from psycopg import Connection, pq
from psycopg.errors import error_from_result

#: element type OIDs (pg_type) and their array types
INT8, TEXT, BYTEA, UUID, BOOL = 20, 25, 17, 2950, 16
ARRAY_OF = {INT8: 1016, TEXT: 1009, BYTEA: 1001, UUID: 2951}
#: SQLSTATEs: "prepared statement ... does not exist", "... already exists"
INVALID_STATEMENT_NAME, DUPLICATE_STATEMENT = b"26000", b"42P05"

_INT8 = struct.Struct("!q")
_LENGTH = struct.Struct("!i")
_ARRAY_HEAD = struct.Struct("!iiiii")  # dimensions, has nulls, element type, length, lower bound


def array(element_type: int, items: Sequence[bytes]) -> bytes:
    """A one-dimensional array without NULLs of already-encoded `items`, in binary."""
    if not items:
        return _ARRAY_HEAD.pack(0, 0, element_type, 0, 0)[:12]  # no dimensions
    head = _ARRAY_HEAD.pack(1, 0, element_type, len(items), 1)
    return head + b"".join([_LENGTH.pack(len(item)) + item for item in items])


def int8(value: int) -> bytes:
    return _INT8.pack(value)


def text(value: str) -> bytes:
    return value.encode("utf-8")


def originator_id(value: Any, id_type: str) -> bytes:
    """An event's originator id as the events table's column type stores it."""
    if id_type == "uuid":
        return (value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))).bytes
    return str(value).encode("utf-8")


def decode_row(result: pq.abc.PGresult, types: Sequence[int]) -> list[Any]:
    """The first row of a binary `result` whose columns have the given `types`."""
    row: list[Any] = []
    for column, kind in enumerate(types):
        raw = result.get_value(0, column)
        if raw is None:
            row.append(None)
        elif kind == BOOL:
            row.append(raw == b"\x01")
        elif kind == INT8:
            row.append(_INT8.unpack(raw)[0])
        elif kind == TEXT:
            row.append(bytes(raw).decode("utf-8"))
        else:
            row.append(bytes(raw))
    return row


class PreparedCall:
    """One statement, prepared on each connection that runs it, run in binary."""

    def __init__(self, name: str, query: str, param_types: Sequence[int]) -> None:
        self.name = name.encode()
        self.query = query.encode()
        self.param_types = list(param_types)
        self._formats = [pq.Format.BINARY] * len(self.param_types)
        self._prepared: weakref.WeakKeyDictionary[Connection[Any], bool] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def run(self, conn: Connection[Any], params: Sequence[bytes | None]) -> pq.abc.PGresult:
        """Run the statement on `conn`, an idle connection in autocommit mode (so that the
        statement is its own transaction), with binary `params`; the result is binary.
        Raises psycopg's errors."""
        pgconn = conn.pgconn
        if not conn.autocommit or pgconn.transaction_status != pq.TransactionStatus.IDLE:
            raise psycopg.InterfaceError("the append needs an idle connection in autocommit")
        with self._lock:
            ready = self._prepared.get(conn, False)
        if not ready:
            self._prepare(conn)
        values = cast("Sequence[bytes]", params)  # libpq takes None as NULL (not in the stubs)
        result = pgconn.exec_prepared(self.name, values, self._formats, pq.Format.BINARY)
        if _state(result) == INVALID_STATEMENT_NAME:  # gone from the session: nothing ran
            self._prepare(conn)
            result = pgconn.exec_prepared(self.name, values, self._formats, pq.Format.BINARY)
        return self._checked(conn, result)

    def _prepare(self, conn: Connection[Any]) -> None:
        pgconn = conn.pgconn
        result = pgconn.prepare(self.name, self.query, self.param_types)
        if _state(result) == DUPLICATE_STATEMENT:  # prepared before we lost track of it
            self._checked(conn, pgconn.exec_(b"DEALLOCATE " + self.name))
            result = pgconn.prepare(self.name, self.query, self.param_types)
        self._checked(conn, result)
        with self._lock:
            self._prepared[conn] = True

    def _checked(self, conn: Connection[Any], result: pq.abc.PGresult) -> pq.abc.PGresult:
        if result.status in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK):
            return result
        with self._lock:
            self._prepared.pop(conn, None)
        if conn.pgconn.status == pq.ConnStatus.BAD:
            raise psycopg.OperationalError(
                result.get_error_message("utf-8") or "the connection to the server was lost"
            )
        raise error_from_result(result, encoding="utf-8")


def _state(result: pq.abc.PGresult) -> bytes | None:
    """The SQLSTATE of a failed `result` (None when it did not fail)."""
    if result.status != pq.ExecStatus.FATAL_ERROR:
        return None
    return result.error_field(pq.DiagnosticField.SQLSTATE)
