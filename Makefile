# crm_ledger — see README.md. Every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# pytest-xdist processes for `make test` (0: one process). The suite waits on
# PostgreSQL and on subprocesses about half the time, so two workers suit 2 cores.
TEST_WORKERS ?= 2

.PHONY: help install run test test-unit lint bench clean

help:
	@echo "make run       serve the API on http://127.0.0.1:8000 (SQLite under ./var)"
	@echo "make test      lint + the whole suite on SQLite and a throwaway PostgreSQL"
	@echo "make test-unit fast unit, property and vector tests (no database server)"
	@echo "make lint      ruff + mypy --strict on src/"
	@echo "make bench     every benchmark under bench/ (ratios vs same-run baselines)"

$(STAMP): pyproject.toml setup.py src/crm_ledger/ledger/_native.c
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@scripts/build-deps
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/crm-ledger serve

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# Two phases (scripts/run-tests): all but the `serial` tests in TEST_WORKERS processes,
# then those alone (they start many processes and time a drain under load).
test: lint
	scripts/with-postgres scripts/run-tests $(BIN)/python $(TEST_WORKERS) $(PYTEST_ARGS)

test-unit: install
	$(BIN)/python -m pytest tests/unit tests/property tests/vectors $(PYTEST_ARGS)

bench: install
	scripts/with-postgres bash -c 'export CRM_BENCH_POSTGRES_URL=$${CRM_BENCH_POSTGRES_URL:-$${CRM_TEST_POSTGRES_URL:-}}; \
		set -e; for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script; done'

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
