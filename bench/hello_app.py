"""The baseline: a FastAPI hello-world, served exactly like crm_ledger is."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def create() -> FastAPI:
    """An app with one POST endpoint that parses a JSON body and answers."""
    app = FastAPI()

    @app.post("/hello", status_code=201)
    def hello(body: dict[str, Any]) -> dict[str, str]:
        return {"hello": "world"}

    return app
