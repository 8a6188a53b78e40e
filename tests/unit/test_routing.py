"""`crm_ledger.api.routing.include`: a request only tries the routers its path can match."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from crm_ledger.api.routing import include


def _app() -> FastAPI:
    first, second, bare = APIRouter(prefix="/a"), APIRouter(prefix="/ab"), APIRouter()

    @first.get("/{item}")
    def first_item(item: str) -> dict[str, str]:
        return {"router": "a", "item": item}

    @first.post(":batch")
    def first_batch() -> dict[str, str]:
        return {"router": "a:batch"}

    @second.get("/{item}")
    def second_item(item: str) -> dict[str, str]:
        return {"router": "ab", "item": item}

    @bare.get("/free/{item}")
    def free_item(item: str) -> dict[str, str]:
        return {"router": "bare", "item": item}

    app = FastAPI()
    for router in (first, second, bare):
        include(app, router)
    return app


@pytest.fixture
def tried(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the API routes asked whether they match, in order."""
    paths: list[str] = []
    original = APIRoute.matches

    def matches(self: APIRoute, scope: Any) -> Any:
        paths.append(self.path)
        return original(self, scope)

    monkeypatch.setattr(APIRoute, "matches", matches)
    return paths


def test_a_request_skips_the_routers_outside_its_prefix(tried: list[str]) -> None:
    client = TestClient(_app())
    assert {"router": "bare", "item": "y"} == client.get("/free/y").json()
    assert not [p for p in tried if p.startswith("/a")]  # neither prefixed router asked
    assert "/free/{item}" in tried
    tried.clear()
    # "/ab/x" starts with "/a" too: the first router is asked (and answers no match)
    assert {"router": "ab", "item": "x"} == client.get("/ab/x").json()
    assert "/a/{item}" in tried


def test_routing_answers_as_before(tried: list[str]) -> None:
    """Matches, partial matches (405) and misses (404) are FastAPI's own."""
    client = TestClient(_app())
    assert {"router": "a", "item": "x"} == client.get("/a/x").json()
    assert {"router": "a:batch"} == client.post("/a:batch").json()
    assert 405 == client.post("/a/x").status_code
    assert 404 == client.get("/nowhere").status_code
    assert 404 == client.get("/b/x").status_code
