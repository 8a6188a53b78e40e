"""`crm-ledger serve --workers N` keeps TCP_NODELAY on accepted connections.

uvicorn binds the listener itself when it runs several workers, with ``proto`` 0, and
asyncio then leaves Nagle's algorithm on for every connection (about 40 ms per keep-alive
request on Linux). `crm_ledger.serving.NoDelayConfig` re-wraps the listener; these tests
accept a real connection through asyncio, as a worker does, and read the socket option.
uvloop, the default loop, sets the option itself.

Then graceful shutdown: a request already sent on an idle keep-alive connection is
answered, not dropped, with either HTTP protocol ``crm-ledger serve`` can use.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from crm_ledger.serving import (
    DrainingH11Protocol,
    DrainingHttpToolsProtocol,
    NoDelayConfig,
    tcp_listener,
)


async def _accepted_nodelay(listener: socket.socket) -> int:
    """Serve `listener` with asyncio and report TCP_NODELAY of the first accepted socket."""
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Report(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Report, sock=listener)
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    try:
        return await asyncio.wait_for(seen, 5)
    finally:
        client.close()
        server.close()
        await server.wait_closed()


def _config(config_class: type[uvicorn.Config]) -> uvicorn.Config:
    return config_class("crm_ledger.api.app:app_from_env", host="127.0.0.1", port=0, workers=2)


def test_our_bound_listener_reports_tcp_and_connections_get_nodelay() -> None:
    listener = _config(NoDelayConfig).bind_socket()
    assert listener.proto == socket.IPPROTO_TCP
    assert listener.get_inheritable()  # still handed to the worker processes
    assert asyncio.run(_accepted_nodelay(listener)) != 0


def test_the_listener_uvicorn_binds_for_workers_loses_nodelay() -> None:
    """The upstream behaviour this works around (if uvicorn fixes it, this test says so)."""
    listener = _config(uvicorn.Config).bind_socket()
    if listener.proto == socket.IPPROTO_TCP:  # pragma: no cover - fixed upstream
        pytest.skip("uvicorn now binds with IPPROTO_TCP; NoDelayConfig is no longer needed")
    assert asyncio.run(_accepted_nodelay(listener)) == 0
    assert asyncio.run(_accepted_nodelay(tcp_listener(_config(uvicorn.Config).bind_socket()))) != 0


def test_uvloop_sets_nodelay_on_any_listeners_connections() -> None:
    """uvloop (the default loop) sets TCP_NODELAY itself, even through uvicorn's own
    listener: `NoDelayConfig` matters for the asyncio loop (``loop="asyncio"``)."""
    import uvloop

    assert uvloop.run(_accepted_nodelay(_config(uvicorn.Config).bind_socket())) != 0


def test_other_sockets_are_left_alone() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        assert tcp_listener(unix) is unix
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as tcp:
        assert tcp_listener(tcp) is tcp


# --- graceful shutdown of an idle keep-alive connection holding a request ---------------

REQUEST = b"GET /%s HTTP/1.1\r\nHost: test\r\n\r\n"


#: how ``crm-ledger serve`` serves (the default), and the other way it can
SERVED = [(DrainingHttpToolsProtocol, "uvloop"), (DrainingH11Protocol, "asyncio")]
UPSTREAM = [(HttpToolsProtocol, "uvloop"), (H11Protocol, "asyncio")]


def _drain_race(protocol: type[asyncio.Protocol], loop: str, *, partial: bool = False) -> bytes:
    """What a keep-alive client gets for a request it sent just before shutdown.

    Connection A is served once and left idle. A request on B then holds the event loop
    while A's next request is sent (it sits unread in A's receive buffer), and shuts every
    connection down as ``uvicorn.Server.shutdown`` does before the loop can read it: the
    race a late event loop loses under load. With `partial`, the start of A's request
    arrives early and is read by the server (its parser holds it), the shutdown finds
    nothing unread, and the rest comes after it. Returns all A then receives ("" if
    reset).
    """
    go, sent, shut = threading.Event(), threading.Event(), threading.Event()
    server: uvicorn.Server
    second = REQUEST % b"second"
    head, rest = (second[:20], second[20:]) if partial else (b"", second)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/stop":
            go.set()
            assert sent.wait(5)
            time.sleep(0.05)  # A's request is in its receive buffer, unread
            for connection in list(server.server_state.connections):
                connection.shutdown()  # type: ignore[attr-defined]
            server.should_exit = True
            shut.set()
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", http=protocol, loop=loop, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "server stopped"
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as a:
        a.sendall(REQUEST % b"first")
        first = b""
        while not first.endswith(b"ok"):
            first += a.recv(4096)
        if head:
            a.sendall(head)
            time.sleep(0.2)  # read by the server and given to its parser
        with socket.create_connection(("127.0.0.1", port), timeout=5) as b:
            b.sendall(REQUEST % b"stop")
            assert go.wait(5)
            if not head:
                a.sendall(rest)
            sent.set()
            if head:
                assert shut.wait(5)
                time.sleep(0.05)
                with contextlib.suppress(OSError):  # closed already: the request is lost
                    a.sendall(rest)
            answer = b""
            try:
                while chunk := a.recv(4096):  # until the server closes (a timeout fails)
                    answer += chunk
            except ConnectionResetError:
                pass
            assert b.recv(4096).startswith(b"HTTP/1.1 200")
    thread.join(10)
    assert not thread.is_alive()
    return answer


@pytest.mark.parametrize(("protocol", "loop"), SERVED)
@pytest.mark.parametrize("partial", [False, True], ids=["unread", "partly-parsed"])
def test_shutdown_answers_a_request_already_sent_on_an_idle_connection(
    protocol: type[asyncio.Protocol], loop: str, partial: bool
) -> None:
    answer = _drain_race(protocol, loop, partial=partial)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert answer.endswith(b"\r\n\r\nok")  # whole, and then the server closed the connection


@pytest.mark.parametrize(("protocol", "loop"), UPSTREAM)
@pytest.mark.parametrize("partial", [False, True], ids=["unread", "partly-parsed"])
def test_uvicorns_own_protocols_drop_that_request(
    protocol: type[asyncio.Protocol], loop: str, partial: bool
) -> None:
    """The upstream behaviour this works around, reproduced by the same race (if uvicorn
    fixes it, this test says so)."""
    assert _drain_race(protocol, loop, partial=partial) == b""
