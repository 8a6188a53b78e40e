"""Fixtures of the PostgreSQL integration tests."""

from tests.integration.postgres.private_server import private_postgres

__all__ = ["private_postgres"]
