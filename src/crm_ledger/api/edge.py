"""The ASGI edge: request id, body size limit, idempotency keys and access logs.

One pure ASGI middleware (no per-request task switching) wrapping the FastAPI app.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from typing import Any

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_ledger.api.drain import Drain
from crm_ledger.api.problems import PROBLEM_JSON, problem_body
from crm_ledger.storage.idempotency import IdempotencyStore

log = structlog.get_logger("crm_ledger.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
_CLOSE = (b"connection", b"close")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


#: paths whose POST answers are never kept for an Idempotency-Key replay
NO_REPLAY_PREFIX = "/auth/"


class EdgeMiddleware:
    """Request id, body limit, idempotency and logging around every HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        idempotency: IdempotencyStore | None,
        drain: Drain | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.idempotency = idempotency
        self.drain = drain or Drain()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        supplied = _header(scope, b"x-request-id")
        request_id = supplied if supplied and _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        rid_header = (b"x-request-id", request_id.encode())
        status_seen = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
                headers = [*message.get("headers", []), rid_header]
                if self.drain.draining and _CLOSE not in headers:
                    headers.append(_CLOSE)  # shutting down: no next request on this connection
                message["headers"] = headers
            await send(message)

        if not self.drain.enter():
            await self._problem(
                scope,
                send_with_id,
                503,
                "shutting_down",
                "Shutting down",
                "the server is shutting down; retry on a new connection",
                [(b"retry-after", b"1")],
            )
            log.info("request refused: shutting down", request_id=request_id)
            return
        try:
            if scope["method"] in _BODY_METHODS:
                body = await self._read_body(scope, receive, send_with_id)
                if body is None:
                    return
                await self._with_body(scope, body, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            self.drain.leave()
            log.info(
                "request",
                request_id=request_id,
                method=scope["method"],
                path=scope["path"],
                status=status_seen,
                actor=state.get("actor"),
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )

    async def _too_large(self, scope: Scope, send: Send) -> None:
        await self._problem(
            scope,
            send,
            413,
            "body_too_large",
            "Request body too large",
            f"the body exceeds {self.max_body} bytes",
        )

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await self._too_large(scope, send)
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self._too_large(scope, send)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _with_body(self, scope: Scope, body: bytes, send: Send) -> None:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        key = _header(scope, b"idempotency-key")
        # answers under /auth carry credentials (session tokens, TOTP secrets): never
        # stored for replay
        private = str(scope.get("path", "")).startswith(NO_REPLAY_PREFIX)
        if key is None or self.idempotency is None or scope["method"] != "POST" or private:
            await self.app(scope, replay, send)
            return
        if not _KEY.match(key):
            await self._problem(
                scope,
                send,
                400,
                "bad_idempotency_key",
                "Bad Idempotency-Key",
                "Idempotency-Key must be 1-255 visible ASCII characters",
            )
            return
        await self._idempotent(scope, body, key, replay, send)

    async def _idempotent(
        self, scope: Scope, body: bytes, key: str, receive: Receive, send: Send
    ) -> None:
        assert self.idempotency is not None
        credentials = _header(scope, b"authorization") or ""
        scope_key = hashlib.sha256(f"{credentials}\n{key}".encode()).hexdigest()
        request_hash = hashlib.sha256(
            scope["method"].encode()
            + b" "
            + scope["path"].encode()
            + b"?"
            + scope.get("query_string", b"")
            + b"\n"
            + body
        ).hexdigest()
        from starlette.concurrency import run_in_threadpool

        claim = await run_in_threadpool(self.idempotency.claim, scope_key, request_hash)
        if claim.outcome == "mismatch":
            await self._problem(
                scope,
                send,
                422,
                "idempotency_key_reused",
                "Idempotency-Key reused",
                "this Idempotency-Key was used with a different request",
            )
            return
        if claim.outcome == "in_progress":
            await self._problem(
                scope,
                send,
                409,
                "idempotency_key_in_progress",
                "Request in progress",
                "a request with this Idempotency-Key is still being processed",
            )
            return
        if claim.outcome == "replay":
            headers = [(k.encode(), v.encode()) for k, v in orjson.loads(claim.headers)]
            headers.append((b"idempotent-replayed", b"true"))
            await send({"type": "http.response.start", "status": claim.status, "headers": headers})
            await send({"type": "http.response.body", "body": claim.body})
            return
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": []}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = [
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"x-request-id", b"content-length")
                ]
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            await run_in_threadpool(self.idempotency.release, scope_key, claim.token)
            raise
        if captured["status"] >= 500:
            await run_in_threadpool(self.idempotency.release, scope_key, claim.token)
        else:
            await run_in_threadpool(
                self.idempotency.complete,
                scope_key,
                claim.token,
                captured["status"],
                orjson.dumps(captured["headers"]),
                b"".join(captured["body"]),
            )

    async def _problem(
        self,
        scope: Scope,
        send: Send,
        status: int,
        code: str,
        title: str,
        detail: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        body = problem_body(
            status,
            code,
            title,
            detail,
            instance=scope["path"],
            request_id=scope.get("state", {}).get("request_id"),
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    *(headers or []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
