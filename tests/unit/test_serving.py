"""`crm-ledger serve --workers N` keeps TCP_NODELAY on accepted connections.

uvicorn binds the listener itself when it runs several workers, with ``proto`` 0, and
asyncio then leaves Nagle's algorithm on for every connection (about 40 ms per keep-alive
request on Linux). `crm_ledger.serving.NoDelayConfig` re-wraps the listener; these tests
accept a real connection through asyncio, as a worker does, and read the socket option.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn

from crm_ledger.serving import NoDelayConfig, tcp_listener


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


def test_other_sockets_are_left_alone() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        assert tcp_listener(unix) is unix
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as tcp:
        assert tcp_listener(tcp) is tcp
