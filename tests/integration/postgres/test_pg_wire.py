"""The append call's own binary encoding and prepared statement (crm_ledger.storage.pg_wire)
against a real PostgreSQL: the server reads back exactly the values written, the
statement survives a session that lost it, and errors keep psycopg's classes."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.settings import Settings
from crm_ledger.storage import pg_wire as wire

IDS = [uuid.UUID(int=0), uuid.uuid4(), uuid.UUID(int=2**128 - 1)]
INTS = [0, 1, -1, 2**53 + 1, 2**63 - 1, -(2**63)]
TEXTS = ["", "plain", "Ñandú — 東京 🐍", 'quote " and \\ backslash']
BLOBS = [b"", b"\x00\x01\xff", bytes(range(256)) * 4]


def _same_values_call() -> wire.PreparedCall:
    """Compares, on the server, each parameter with the literal it must equal."""
    ids = "ARRAY[" + ",".join(f"'{i}'" for i in IDS) + "]"
    ints = "ARRAY[" + ",".join(str(i) for i in INTS) + "]"
    texts = "ARRAY[" + ",".join("'" + t.replace("'", "''") + "'" for t in TEXTS) + "]"
    blobs = "ARRAY[" + ",".join(f"'\\x{b.hex()}'::bytea" for b in BLOBS) + "]"
    return wire.PreparedCall(
        "crm_test_wire",
        f"SELECT $1::uuid[] = {ids}::uuid[], $2::bigint[] = {ints}::bigint[],"
        f" $3::text[] = {texts}::text[], $4::bytea[] = {blobs}::bytea[],"
        " $5::bigint = -42, $6::bytea IS NULL, $7::text[] = '{}'::text[],"
        f" $8::text[] = {ids}::text[]",
        [
            wire.ARRAY_OF[wire.UUID],
            wire.ARRAY_OF[wire.INT8],
            wire.ARRAY_OF[wire.TEXT],
            wire.ARRAY_OF[wire.BYTEA],
            wire.INT8,
            wire.BYTEA,
            wire.ARRAY_OF[wire.TEXT],
            wire.ARRAY_OF[wire.TEXT],
        ],
    )


def _params() -> list[bytes | None]:
    return [
        wire.array(wire.UUID, [wire.originator_id(i, "uuid") for i in IDS]),
        wire.array(wire.INT8, [wire.int8(i) for i in INTS]),
        wire.array(wire.TEXT, [wire.text(t) for t in TEXTS]),
        wire.array(wire.BYTEA, BLOBS),
        wire.int8(-42),
        None,
        wire.array(wire.TEXT, []),
        wire.array(wire.TEXT, [wire.originator_id(i, "text") for i in IDS]),
    ]


def test_the_server_reads_back_every_value_written(fresh_postgres_url: str) -> None:
    with psycopg.connect(fresh_postgres_url, autocommit=True) as conn:
        result = _same_values_call().run(conn, _params())
        row = wire.decode_row(result, [wire.BOOL] * 8)
    assert row == [True] * 8


def test_a_wrong_value_reads_back_different(fresh_postgres_url: str) -> None:
    """The comparison above can fail: one changed integer makes its column false."""
    params = _params()
    params[1] = wire.array(wire.INT8, [wire.int8(i) for i in [*INTS[:-1], 7]])
    with psycopg.connect(fresh_postgres_url, autocommit=True) as conn:
        row = wire.decode_row(_same_values_call().run(conn, params), [wire.BOOL] * 8)
    assert row == [True, False, True, True, True, True, True, True]


def test_result_columns_decode_to_python_values(fresh_postgres_url: str) -> None:
    call = wire.PreparedCall(
        "crm_test_decode",
        "SELECT true, -5::bigint, '\\x00ff'::bytea, 'ñ'::text, NULL::bigint",
        [],
    )
    with psycopg.connect(fresh_postgres_url, autocommit=True) as conn:
        row = wire.decode_row(
            call.run(conn, []), [wire.BOOL, wire.INT8, wire.BYTEA, wire.TEXT, wire.INT8]
        )
    assert row == [True, -5, b"\x00\xff", "ñ", None]


def test_a_statement_gone_from_the_session_is_prepared_again(fresh_postgres_url: str) -> None:
    call = _same_values_call()
    with psycopg.connect(fresh_postgres_url, autocommit=True) as conn:
        call.run(conn, _params())
        conn.execute("DEALLOCATE ALL")
        assert wire.decode_row(call.run(conn, _params()), [wire.BOOL] * 8) == [True] * 8


def test_a_statement_prepared_by_another_instance_is_replaced(fresh_postgres_url: str) -> None:
    """Two instances with one name (say, a recorder made again) share a connection."""
    with psycopg.connect(fresh_postgres_url, autocommit=True) as conn:
        _same_values_call().run(conn, _params())
        other = wire.PreparedCall("crm_test_wire", "SELECT $1::bigint + 1", [wire.INT8])
        assert wire.decode_row(other.run(conn, [wire.int8(41)]), [wire.INT8]) == [42]


def test_errors_keep_psycopgs_classes(fresh_postgres_url: str) -> None:
    call = wire.PreparedCall("crm_test_div", "SELECT 1 / $1::bigint", [wire.INT8])
    with psycopg.connect(fresh_postgres_url, autocommit=True) as conn:
        with pytest.raises(errors.DivisionByZero):
            call.run(conn, [wire.int8(0)])
        assert wire.decode_row(call.run(conn, [wire.int8(1)]), [wire.INT8]) == [1]


def test_a_lost_connection_is_an_operational_error(fresh_postgres_url: str) -> None:
    call = wire.PreparedCall("crm_test_one", "SELECT $1::bigint", [wire.INT8])
    with psycopg.connect(fresh_postgres_url, autocommit=True) as conn:
        call.run(conn, [wire.int8(1)])
        with psycopg.connect(fresh_postgres_url, autocommit=True) as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        with pytest.raises(psycopg.OperationalError):
            call.run(conn, [wire.int8(1)])


def test_a_connection_inside_a_transaction_is_refused(fresh_postgres_url: str) -> None:
    """The append must be its own transaction: never left uncommitted in another one."""
    call = wire.PreparedCall("crm_test_one", "SELECT $1::bigint", [wire.INT8])
    with psycopg.connect(fresh_postgres_url) as conn, pytest.raises(psycopg.InterfaceError):
        call.run(conn, [wire.int8(1)])  # not autocommit
    with psycopg.connect(fresh_postgres_url, autocommit=True) as conn:
        conn.execute("BEGIN")
        with pytest.raises(psycopg.InterfaceError):
            call.run(conn, [wire.int8(1)])


def test_saves_survive_a_session_reset_of_the_writer(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    """The recorder's writer connection loses its prepared statements between two saves;
    the second save is stored all the same (and a stale version still conflicts)."""
    crm = CrmApplication(Settings(database_url=fresh_postgres_url, data_dir=tmp_path))
    try:
        first = Contact.register(kind="person", name="First", actor="user:test")
        crm.save(first, actor="user:test")
        with crm.recorder.writer.connection() as conn:  # type: ignore[attr-defined]
            conn.execute("DEALLOCATE ALL")
        second = Contact.register(kind="person", name="Second", actor="user:test")
        crm.save(second, actor="user:test")
        assert crm.repository.get(second.id).name == "Second"
        assert crm.recorder.appender.misses == 0  # type: ignore[attr-defined]
    finally:
        crm.close()
