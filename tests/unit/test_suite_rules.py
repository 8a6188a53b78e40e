"""The suite's own rules (tests/conftest.py), run in a pytest subprocess, with and
without pytest-xdist workers (as `make test` runs them):

* no test collected or selected fails the run (pytest's exit code 5 must not pass);
* a PostgreSQL-related skip fails the run when ``CRM_REQUIRE_POSTGRES=1`` (as in CI);
* ``scripts/run-tests`` (the two phases of ``make test``) passes when only one phase has
  tests, and fails when neither has.
"""

from __future__ import annotations

import sys
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
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("CRM_TESTS_ALLOW_EMPTY", raising=False)  # set by scripts/run-tests
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makeini(
        "[pytest]\nmarkers =\n    postgres: needs PostgreSQL\n    serial: runs alone\n"
    )
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


RUN_TESTS = Path(__file__).parents[2] / "scripts" / "run-tests"


def test_the_two_phases_need_a_test_between_them(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_mixed="import pytest\n\n@pytest.mark.serial\ndef test_alone():\n    pass\n"
    )
    command = [str(RUN_TESTS), sys.executable, "2", "-p", "no:cacheprovider"]
    only_serial = suite.run(*command)
    assert only_serial.ret == 0  # the parallel phase selected nothing: fine
    only_serial.stdout.fnmatch_lines(["*1 passed*"])
    nothing = suite.run(*command, "-k", "nothing")
    assert nothing.ret == 1
    nothing.stderr.fnmatch_lines(["*no tests were collected or selected in either phase*"])
    failing = suite.makepyfile(test_failing="def test_fails():\n    assert False\n")
    assert suite.run(*command).ret == 1  # a failure in the parallel phase fails the run
    failing.unlink()
