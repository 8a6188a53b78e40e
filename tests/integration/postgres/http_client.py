"""A load client for the scale tests: threads, each with a keep-alive connection.

``python -m tests.integration.postgres.http_client PORT TOKEN THREADS COUNT OUT [STOP]``
starts THREADS threads; each opens one keep-alive ``http.client`` connection and registers
COUNT contacts with ``POST /contacts`` (when COUNT is 0: until the file STOP exists). Every
request appends one JSON line to OUT (flushed at once, so a test can follow the burst):

``thread``, ``sent`` (``time.monotonic()`` once the request was written to the socket,
``null`` when it never was), ``done``, ``status``, ``ctype`` (content type), ``id`` (the
contact id of a 201), ``code`` (a problem's ``code``), ``error`` (the exception class when
no response came) and ``phase`` (``connect``, ``send`` or ``response``).

``time.monotonic()`` is system-wide on Linux, so a test can compare these times with
its own (e.g. the moment it sent SIGTERM).
"""

from __future__ import annotations

import http.client
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson

DEFAULT_TIMEOUT = 30.0


@dataclass
class Reply:
    """A response: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class Client:
    """One keep-alive connection to ``127.0.0.1:port`` with a bearer token."""

    def __init__(self, port: int, token: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.port = port
        self.auth = {"Authorization": f"Bearer {token}"}
        self.timeout = timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send one request and read the whole response (reconnects when needed)."""
        data = None if body is None else orjson.dumps(body)
        sent = {**self.auth, **(headers or {})}
        if data is not None:
            sent["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=sent)
            response = self.conn.getresponse()
            payload = response.read()
        except Exception:
            self.conn.close()
            raise
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, payload)

    def close(self) -> None:
        self.conn.close()


class Recorder:
    """Appends JSON lines to a file, one whole line at a time, from many threads."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by close()
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record) + b"\n"
        with self._lock:
            self._file.write(line)

    def close(self) -> None:
        self._file.close()


def register_one(conn: http.client.HTTPConnection, token: str, name: str) -> dict[str, Any]:
    """POST one contact on `conn`; return the record of what happened."""
    record: dict[str, Any] = {"sent": None, "status": None, "error": None, "phase": "connect"}
    try:
        if conn.sock is None:
            conn.connect()
        record["phase"] = "send"
        body = orjson.dumps({"kind": "person", "name": name, "tags": ["scale"]})
        conn.request(
            "POST",
            "/contacts",
            body=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        record["sent"] = time.monotonic()
        record["phase"] = "response"
        response = conn.getresponse()
        payload = response.read()
    except TimeoutError as exc:
        conn.close()
        record.update(error="timeout", detail=repr(exc))
        return record
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        record.update(error=type(exc).__name__, detail=repr(exc))
        return record
    record["status"] = response.status
    record["ctype"] = response.getheader("content-type")
    if response.status == 201:
        record["id"] = orjson.loads(payload)["id"]
    elif payload[:1] == b"{":
        record["code"] = orjson.loads(payload).get("code")
    return record


def writer(
    port: int,
    token: str,
    count: int,
    stop: str | None,
    recorder: Recorder,
    label: str,
    timeout: float,
) -> None:
    """One client thread: register `count` contacts (or until `stop` exists)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    i = 0
    try:
        while (count and i < count) or (not count and stop and not os.path.exists(stop)):
            record = register_one(conn, token, f"{label}-{i}")
            record["thread"] = label
            record["done"] = time.monotonic()
            recorder.write(record)
            if record["error"] in ("ConnectionRefusedError", "RemoteDisconnected"):
                time.sleep(0.05)  # the server is gone or going: do not spin
            i += 1
    finally:
        conn.close()


def main() -> None:
    port, token, threads, count, out = sys.argv[1:6]
    stop = sys.argv[6] if len(sys.argv) > 6 else None
    timeout = float(os.environ.get("CLIENT_TIMEOUT", DEFAULT_TIMEOUT))
    if int(count) == 0 and stop is None:
        sys.exit("COUNT 0 needs a STOP file")
    recorder = Recorder(out)
    workers = [
        threading.Thread(
            target=writer,
            args=(int(port), token, int(count), stop, recorder, f"{os.getpid()}-{n}", timeout),
        )
        for n in range(int(threads))
    ]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    recorder.close()


if __name__ == "__main__":
    main()
