"""Shutdown at the edge: ``Connection: close`` while draining, 503 once closed, and the
stop signal seen by the application (``crm_ledger.api.drain``)."""

from __future__ import annotations

import asyncio
import signal
from types import FrameType
from typing import Any

import orjson

from crm_ledger.api.drain import Drain
from crm_ledger.api.edge import EdgeMiddleware
from crm_ledger.api.problems import PROBLEM_JSON

CLOSE = (b"connection", b"close")


class Inner:
    """An ASGI app answering 200; `hold` (when set) keeps a request inside until set."""

    def __init__(self, hold: asyncio.Event | None = None) -> None:
        self.hold = hold
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        if self.hold is not None:
            await self.hold.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def edge(inner: Inner, drain: Drain) -> EdgeMiddleware:
    return EdgeMiddleware(inner, max_body=1024, idempotency=None, drain=drain)


async def call(app: EdgeMiddleware, method: str = "GET") -> tuple[int, list[Any], bytes]:
    scope = {"type": "http", "method": method, "path": "/x", "headers": [], "query_string": b""}
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return sent[0]["status"], list(sent[0]["headers"]), body


def test_responses_keep_the_connection_until_draining_then_close_it() -> None:
    """Before a stop signal connections stay open; from then on every response (GET or
    POST) ends its connection, so no keep-alive client outlives the drain."""
    drain = Drain()
    app = edge(Inner(), drain)
    status, headers, _ = asyncio.run(call(app))
    assert (200, False) == (status, CLOSE in headers)
    drain.begin()
    for method in ("GET", "POST"):
        status, headers, _ = asyncio.run(call(app, method))
        assert (200, 1) == (status, headers.count(CLOSE))


def test_closed_drain_refuses_with_a_503_problem_without_calling_the_app() -> None:
    """Once the lifespan shuts down, a late request is refused cleanly: a 503
    ``shutting_down`` problem with Retry-After and ``Connection: close``."""
    drain, inner = Drain(), Inner()
    app = edge(inner, drain)
    assert asyncio.run(drain.close(timeout=1)) is True  # nothing inside: closes at once
    status, headers, body = asyncio.run(call(app, "POST"))
    assert 503 == status
    assert (b"content-type", PROBLEM_JSON.encode()) in headers
    assert (b"retry-after", b"1") in headers
    assert CLOSE in headers
    assert "shutting_down" == orjson.loads(body)["code"]
    assert 0 == inner.calls
    assert 0 == drain.inside


def test_close_waits_for_the_requests_inside() -> None:
    """`close` returns only when the requests already inside have answered (False when
    its timeout comes first); requests arriving meanwhile are refused."""

    async def scenario() -> tuple[bool, int, bool, int, int]:
        hold = asyncio.Event()
        drain, inner = Drain(), Inner(hold)
        app = edge(inner, drain)
        first = asyncio.create_task(call(app, "POST"))
        while drain.inside == 0:
            await asyncio.sleep(0)
        timed_out = await drain.close(timeout=0.05)
        late_status, _, _ = await call(app)
        closing = asyncio.create_task(drain.close(timeout=5))
        await asyncio.sleep(0.01)
        hold.set()
        done = await closing
        status, _, _ = await first
        return timed_out, late_status, done, status, inner.calls

    assert (False, 503, True, 200, 1) == asyncio.run(scenario())


def test_watch_signals_chains_in_front_of_the_server_handler() -> None:
    """SIGTERM starts draining and still reaches the handler that was there (uvicorn's);
    `unwatch_signals` puts that handler back."""
    seen: list[int] = []

    def server_handler(sig: int, _frame: FrameType | None) -> None:
        seen.append(sig)

    original = signal.signal(signal.SIGTERM, server_handler)
    try:
        drain = Drain()
        drain.watch_signals()
        assert signal.getsignal(signal.SIGTERM) is not server_handler
        signal.raise_signal(signal.SIGTERM)
        assert (True, [signal.SIGTERM]) == (drain.draining, seen)
        drain.unwatch_signals()
        assert signal.getsignal(signal.SIGTERM) is server_handler
    finally:
        signal.signal(signal.SIGTERM, original)


def test_watch_signals_leaves_a_default_disposition_alone() -> None:
    """Without a Python handler to chain to (no server), nothing is installed."""
    original = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        Drain().watch_signals()
        assert signal.SIG_DFL == signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, original)
