"""The suite's own rules (tests/conftest.py), run in a pytest subprocess, with and
without pytest-xdist workers (as `make test` runs them):

* no test collected or selected fails the run (pytest's exit code 5 must not pass);
* a PostgreSQL-related skip fails the run when ``CRM_REQUIRE_POSTGRES=1`` (as in CI).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).parents[1] / "conftest.py"
WORKERS = [pytest.param([], id="one-process"), pytest.param(["-n", "2"], id="xdist")]
SKIPPING = """
import pytest

def test_runs():
    pass

def test_skips():
    pytest.skip("no PostgreSQL server here")
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makeini("[pytest]\nmarkers =\n    postgres: needs PostgreSQL\n")
    return pytester


@pytest.mark.parametrize("workers", WORKERS)
def test_no_tests_fails_the_run(
    suite: pytest.Pytester, workers: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRM_REQUIRE_POSTGRES", raising=False)
    suite.makepyfile(test_one="def test_runs():\n    pass\n")
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", *workers, "-k", "nothing")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*no tests were collected or selected*"])


@pytest.mark.parametrize("workers", WORKERS)
def test_a_postgres_skip_fails_when_postgres_is_required(
    suite: pytest.Pytester, workers: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_REQUIRE_POSTGRES", "1")
    suite.makepyfile(test_skip=SKIPPING)
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", *workers)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*1 PostgreSQL test(s) were skipped*test_skips*"])


@pytest.mark.parametrize("workers", WORKERS)
def test_a_postgres_skip_passes_when_not_required(
    suite: pytest.Pytester, workers: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRM_REQUIRE_POSTGRES", raising=False)
    suite.makepyfile(test_skip=SKIPPING)
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", *workers)
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, skipped=1)
