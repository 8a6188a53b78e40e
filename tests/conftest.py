"""Shared fixtures: SQLite and PostgreSQL database URLs for the test suite.

PostgreSQL comes from ``CRM_TEST_POSTGRES_URL`` (set by ``scripts/with-postgres``,
which ``make test`` uses). Without it, PostgreSQL tests are skipped, unless
``CRM_REQUIRE_POSTGRES=1`` (as in CI), where they fail instead and any
PostgreSQL-related skip fails the session.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

POSTGRES_URL_ENV = "CRM_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "CRM_REQUIRE_POSTGRES"

#: node ids of PostgreSQL-related skips seen by this process (see pytest_runtest_logreport)
_SKIPPED_POSTGRES: list[str] = []
_final_messages = pytest.StashKey[list[str]]()


def _postgres_required() -> bool:
    return os.environ.get(REQUIRE_POSTGRES_ENV) == "1"


def _with_dbname(url: str, dbname: str) -> str:
    """Return ``url`` (a ``postgresql://`` URL) pointing at database ``dbname``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the test PostgreSQL server's ``crm_test`` database."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        message = (
            f"{POSTGRES_URL_ENV} is not set: no PostgreSQL server to test against "
            "(run the suite with `make test` or scripts/with-postgres)"
        )
        if _postgres_required():
            pytest.fail(f"{message}; {REQUIRE_POSTGRES_ENV}=1 forbids skipping", pytrace=False)
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_database_factory(postgres_url: str) -> Iterator[Callable[[], str]]:
    """Callable that creates a new, empty PostgreSQL database and returns its URL.

    Every database created is dropped (``WITH (FORCE)``) when the test ends.
    """
    import psycopg
    from psycopg import sql

    created: list[str] = []

    def create() -> str:
        name = f"crm_t_{uuid.uuid4().hex}"
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return _with_dbname(postgres_url, name)

    yield create

    if created:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            for name in reversed(created):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


@pytest.fixture
def fresh_postgres_url(postgres_database_factory: Callable[[], str]) -> str:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    return postgres_database_factory()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a new SQLite database file in the test's temporary directory."""
    return f"sqlite:///{tmp_path}/crm.db"


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    ids=["sqlite", "postgres"],
)
def database_url(request: pytest.FixtureRequest) -> str:
    """URL of a fresh database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("fresh_postgres_url"))


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_final_messages] = []


def _is_postgres_skip(report: pytest.TestReport) -> bool:
    if not report.skipped or hasattr(report, "wasxfail"):
        return False
    if "postgres" in report.keywords:
        return True
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.lower()
    return "postgres" in reason or POSTGRES_URL_ENV.lower() in reason


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Record PostgreSQL-related skips (any phase) so the session can fail on them. With
    # pytest-xdist (`make test` runs two workers) the controller gets every worker's
    # reports through this hook, so the controller's session sees them all.
    if _postgres_required() and _is_postgres_skip(report):
        _SKIPPED_POSTGRES.append(report.nodeid)


def _empty_allowed() -> bool:
    # scripts/run-tests runs two phases, either of which may select nothing; it fails the
    # run itself when both do
    return os.environ.get("CRM_TESTS_ALLOW_EMPTY") == "1"


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _is_xdist_worker(session.config):
        return  # the controller judges the whole run (a worker may get no tests at all)
    messages = session.config.stash.get(_final_messages, [])
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and not _empty_allowed():
        messages.append("no tests were collected or selected: treating this as a failure")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    skipped = _SKIPPED_POSTGRES
    if skipped and _postgres_required():
        messages.append(
            f"{len(skipped)} PostgreSQL test(s) were skipped but {REQUIRE_POSTGRES_ENV}=1: "
            + ", ".join(skipped[:10])
            + (" ..." if len(skipped) > 10 else "")
        )
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if messages and session.config.pluginmanager.get_plugin("terminalreporter") is None:
        for message in messages:
            print(f"ERROR: {message}", file=sys.stderr)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for message in terminalreporter.config.stash.get(_final_messages, []):
        terminalreporter.write_line(f"ERROR: {message}", red=True, bold=True)
