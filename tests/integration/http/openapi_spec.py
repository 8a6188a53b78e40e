"""The OpenAPI document of the real app, and small helpers to walk it.

Used by the schema surface tests (no float money, examples and summaries everywhere).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crm_ledger.api.app import create_app
from crm_ledger.settings import Settings

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def build_openapi(directory: Path) -> dict[str, Any]:
    """`create_app(...).openapi()` for a fresh SQLite database in `directory`."""
    settings = Settings(database_url=f"sqlite:///{directory}/crm.db", data_dir=directory / "data")
    app = create_app(settings)
    try:
        return app.openapi()
    finally:
        app.state.crm.close()


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`, or the component it names with ``$ref`` (followed until it is not a ref)."""
    seen: set[str] = set()
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        assert ref not in seen, f"{ref} refers to itself"
        seen.add(ref)
        node: Any = spec
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) for every operation of the document."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), path, operation
