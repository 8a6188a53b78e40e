"""Including the routers so that a request only tries the routers its path can match.

FastAPI (0.163) keeps each included router as one top-level route that, to answer
whether a request matches, tries every route of that router in turn; a request tries
the routers in the order they were included. With the API's 37 top-level routes that
cost grew with the router's position: 37 µs to match ``POST /contacts`` (the 8th),
145 µs for ``POST /activities``, 421 µs for ``GET /ledger/checkpoints/latest`` (the
last), per request (docs/performance.md). Every route of a router with a static
``prefix`` has a path starting with that prefix, so a request whose path does not start
with it cannot match any of them, nor partly (a partial match needs the path to match):
`include` answers "no match" for such a request at once and asks the router otherwise.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from starlette._utils import get_route_path
from starlette.routing import Match


def include(app: FastAPI, router: APIRouter) -> None:
    """``app.include_router(router)``, its top-level route refusing at once the paths
    outside `router.prefix` (nothing changes for a router without a static prefix, or
    if the inclusion did not add exactly one route)."""
    before = len(app.router.routes)
    app.include_router(router)
    prefix = router.prefix
    if not prefix or "{" in prefix or len(app.router.routes) != before + 1:
        return
    route = app.router.routes[-1]
    full_match = route.matches

    def matches(scope: Any) -> tuple[Match, Any]:
        if not get_route_path(scope).startswith(prefix):
            return Match.NONE, {}
        return full_match(scope)

    route.matches = matches  # type: ignore[method-assign]
