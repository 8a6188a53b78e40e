"""Fixtures shared by the property tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    ids=["sqlite", "postgres"],
)
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """A factory of fresh, empty databases (one per Hypothesis example)."""
    if request.param == "sqlite":
        return lambda: f"sqlite:///{tmp_path}/{uuid.uuid4().hex}.db"
    factory: Callable[[], str] = request.getfixturevalue("postgres_database_factory")
    return factory
