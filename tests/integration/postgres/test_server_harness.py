"""The throwaway PostgreSQL server from scripts/with-postgres and its fixtures."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _scalar(url: str, query: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return str(row[0])


def _public_tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return [str(row[0]) for row in rows]


@pytest.mark.postgres
def test_url_connects(postgres_url: str) -> None:
    """CRM_TEST_POSTGRES_URL accepts a connection and answers a query."""
    assert postgres_url.startswith("postgresql://")
    assert _scalar(postgres_url, "SELECT 1") == "1"
    assert _scalar(postgres_url, "SELECT current_database()") == "crm_test"


@pytest.mark.postgres
def test_server_is_postgres_15_or_newer(postgres_url: str) -> None:
    """The server is PostgreSQL 15 or newer (the oldest version we support)."""
    assert int(_scalar(postgres_url, "SHOW server_version_num")) >= 150000


@pytest.mark.postgres
def test_fresh_databases_are_distinct_and_empty(
    fresh_postgres_url: str, postgres_database_factory: Callable[[], str]
) -> None:
    """Each fresh database is a new, empty database, isolated from the others."""
    other_url = postgres_database_factory()
    assert fresh_postgres_url != other_url

    first = _scalar(fresh_postgres_url, "SELECT current_database()")
    second = _scalar(other_url, "SELECT current_database()")
    assert first != second
    assert first.startswith("crm_t_")
    assert second.startswith("crm_t_")

    assert _public_tables(fresh_postgres_url) == []
    assert _public_tables(other_url) == []

    with psycopg.connect(fresh_postgres_url) as conn:
        conn.execute("CREATE TABLE marker (id integer PRIMARY KEY)")
    assert _public_tables(fresh_postgres_url) == ["marker"]
    assert _public_tables(other_url) == []


@pytest.mark.postgres
def test_server_listens_on_loopback_only(postgres_url: str) -> None:
    """The test server accepts TCP connections on loopback addresses only."""
    addresses = _scalar(postgres_url, "SHOW listen_addresses")
    assert addresses
    assert {a.strip() for a in addresses.split(",")} <= LOOPBACK


def test_database_url_matches_backend(database_url: str, request: pytest.FixtureRequest) -> None:
    """database_url yields a fresh SQLite file URL or a fresh PostgreSQL URL."""
    backend = request.node.callspec.params["database_url"]
    if backend == "sqlite":
        assert database_url.startswith("sqlite:///")
        assert database_url.endswith("/crm.db")
    else:
        assert database_url.startswith("postgresql://")
        assert _public_tables(database_url) == []
