"""Run an ASGI app under uvicorn with TCP_NODELAY on every connection, ``--workers N`` too.

With more than one worker, uvicorn binds the listening socket itself and hands it to the
workers; it creates that socket with ``proto`` 0, accepted connections inherit it, and
asyncio only sets ``TCP_NODELAY`` on sockets whose ``proto`` is ``IPPROTO_TCP``. Nagle's
algorithm then stays on and every keep-alive request after a connection's first waits for
the client's delayed ACK: about 40 ms each on Linux (uvicorn 0.54, issue 3149 upstream).
A single worker is not affected (asyncio builds its listener from ``getaddrinfo``).

`run` is ``uvicorn.run`` for an import string, with a `Config` whose TCP listener is
re-wrapped with ``IPPROTO_TCP`` (the same file descriptor, bound address and inheritable
flag; only the protocol the socket object reports changes).

Connections are served by `DrainingHttpToolsProtocol` on uvloop's event loop: uvicorn's
httptools protocol (the C HTTP parser) whose graceful shutdown does not drop a request
already sent on an idle keep-alive connection. The pure-Python h11 protocol has the same
fix (`DrainingH11Protocol`) for ``run(..., http=DrainingH11Protocol, loop="asyncio")``.
Against h11 on asyncio, ``POST /contacts`` served 17-20 % more requests a second on the
same two cores, at about 15 % less CPU per request (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import sys
import termios
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

#: how often, and how many times, shutdown looks again at a connection holding a request
SHUTDOWN_RECHECK_SECONDS = 0.01
SHUTDOWN_RECHECKS = 200


def _look_again_later(
    protocol: DrainingHttpToolsProtocol | DrainingH11Protocol, *, partial: bool
) -> bool:
    """Graceful shutdown of `protocol`'s connection, part one: when it is idle (no
    response under way) yet holds a request (`partial`: bytes of one its parser has read;
    or bytes unread in the socket's receive buffer), call its shutdown again a moment
    later and return True. Otherwise return False: uvicorn's own shutdown then applies
    (close an idle connection, close a busy one after its response)."""
    if protocol.transport.is_closing():
        return True  # nothing left to do
    idle = protocol.cycle is None or protocol.cycle.response_complete
    if not idle or protocol.shutdown_rechecks >= SHUTDOWN_RECHECKS:
        return False
    if not (partial or _unread_bytes(protocol.transport)):
        return False
    protocol.shutdown_rechecks += 1
    protocol.loop.call_later(SHUTDOWN_RECHECK_SECONDS, protocol.shutdown)
    return True


def _unread_bytes(transport: asyncio.Transport) -> bool:
    """Whether the connection's socket has received bytes nobody has read yet."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    try:
        unread = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return False
    return bool(struct.unpack("i", unread)[0])


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, except that shutdown never drops a request already
    sent.

    On SIGTERM uvicorn closes every idle keep-alive connection at once. A request the
    client sent just before (in the socket's receive buffer, or partly read) is lost: the
    client sees the connection reset, not an answer, and cannot tell whether it was done.
    Under load a worker's event loop can run late by a fraction of a second, which is
    exactly how long such a request waits unread (seen in a test with 32 clients on two
    busy cores). Here a connection with such a request is left open and looked at again
    a moment later: by then its request is being served, and uvicorn's own shutdown of a
    busy connection (close after the response) applies. A connection with nothing
    pending closes at once, as before.
    """

    shutdown_rechecks = 0
    _in_request = False  # the parser has begun a request whose headers are not all in

    def on_message_begin(self) -> None:
        self._in_request = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_request = False
        super().on_headers_complete()

    def shutdown(self) -> None:
        if not _look_again_later(self, partial=self._in_request):
            super().shutdown()


class DrainingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with `DrainingHttpToolsProtocol`'s shutdown."""

    shutdown_rechecks = 0

    def shutdown(self) -> None:
        partial = bool(self.conn.trailing_data[0])
        if not _look_again_later(self, partial=partial):
            super().shutdown()


class NoDelayConfig(uvicorn.Config):
    """uvicorn's Config whose bound TCP socket reports ``IPPROTO_TCP``."""

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        return tcp_listener(sock)


def tcp_listener(sock: socket.socket) -> socket.socket:
    """`sock` (a listening socket) re-wrapped so that it reports ``IPPROTO_TCP``."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto == socket.IPPROTO_TCP:
        return sock
    fixed = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    fixed.set_inheritable(True)
    return fixed


#: the ways to serve: HTTP protocol and event loop (``crm-ledger serve --http NAME``)
STACKS: dict[str, dict[str, Any]] = {
    "httptools": {"http": DrainingHttpToolsProtocol, "loop": "uvloop"},
    "h11": {"http": DrainingH11Protocol, "loop": "asyncio"},
}


def run(app: str, *, workers: int = 1, **options: Any) -> None:
    """Serve the app named by the import string `app` (``module:attribute``), like
    ``uvicorn.run(app, workers=workers, **options)``; by default as ``STACKS["httptools"]``
    says."""
    for option, value in STACKS["httptools"].items():
        options.setdefault(option, value)
    config = NoDelayConfig(app, workers=workers, **options)
    server = uvicorn.Server(config=config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            server.run()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        pass
    if not server.started and config.workers == 1:
        sys.exit(STARTUP_FAILURE)


def main(argv: list[str] | None = None) -> None:
    """``python -m crm_ledger.serving APP [--factory] [--port N] [--workers N]
    [--app-dir DIR] [--http httptools|h11]``: any ASGI app served as ``crm-ledger
    serve`` serves ours (the benchmarks serve their hello-world baseline this way)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m crm_ledger.serving")
    parser.add_argument("app", help="import string, module:attribute")
    parser.add_argument("--factory", action="store_true")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--app-dir", default="")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--http", choices=sorted(STACKS), default="httptools")
    args = parser.parse_args(argv)
    if args.app_dir:
        sys.path.insert(0, args.app_dir)
    run(
        args.app,
        factory=args.factory,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
        **STACKS[args.http],
    )


if __name__ == "__main__":
    main()
