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
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess


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


def run(app: str, *, workers: int = 1, **options: Any) -> None:
    """Serve the app named by the import string `app` (``module:attribute``), like
    ``uvicorn.run(app, workers=workers, **options)``."""
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
    [--app-dir DIR]``: any ASGI app served as ``crm-ledger serve`` serves ours (the
    benchmarks serve their hello-world baseline this way)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m crm_ledger.serving")
    parser.add_argument("app", help="import string, module:attribute")
    parser.add_argument("--factory", action="store_true")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--app-dir", default="")
    parser.add_argument("--log-level", default="warning")
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
    )


if __name__ == "__main__":
    main()
