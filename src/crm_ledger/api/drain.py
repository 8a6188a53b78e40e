"""Shutdown as the application sees it: draining, then closed.

uvicorn drains on SIGTERM by closing its listening socket and telling each open
connection to close after its current response. A connection it accepted just before
(its ``connection_made`` runs a loop turn later) is never told: a busy keep-alive client
keeps it busy until ``timeout_graceful_shutdown``, and uvicorn then cancels the requests
in flight, which answer 500.

So the application watches the signal itself (``watch_signals``, chained in front of the
server's handler): once it is *draining*, every response carries ``Connection: close``,
and no connection outlives its next response. When the lifespan shuts down the drain is
*closed*: a request that still reaches the application is refused with a 503 problem
(nothing of it is written), and ``close`` waits for those already inside, so the tail is
sealed after the last write.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Drain:
    """Tracks requests inside the application and whether the process is shutting down."""

    def __init__(self) -> None:
        self.draining = False  # a stop signal came: close each connection after its response
        self.closed = False  # the lifespan is shutting down: refuse new requests
        self.inside = 0  # requests inside the application now
        self._idle: asyncio.Event | None = None
        self._previous: dict[int, Any] = {}

    def begin(self) -> None:
        """Start draining (idempotent; safe to call from a signal handler)."""
        self.draining = True

    def enter(self) -> bool:
        """Count a request in; False when closed (the caller refuses it)."""
        if self.closed:
            return False
        self.inside += 1
        return True

    def leave(self) -> None:
        self.inside -= 1
        if self.inside == 0 and self._idle is not None:
            self._idle.set()

    async def close(self, timeout: float) -> bool:
        """Refuse new requests; wait (at most `timeout` s) for those inside. True if none are."""
        self.draining = self.closed = True
        if self.inside == 0:
            return True
        self._idle = asyncio.Event()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def watch_signals(self) -> None:
        """Chain `begin` in front of the server's SIGINT/SIGTERM handlers.

        Only in the main thread, and only in front of a Python handler (the server's):
        a default or ignored disposition is left as it is.
        """
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in SIGNALS:
            previous = signal.getsignal(sig)
            if callable(previous):
                self._previous[sig] = previous
                signal.signal(sig, self._on_signal)

    def unwatch_signals(self) -> None:
        """Put back the handlers `watch_signals` chained in front of (if still ours)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, previous in self._previous.items():
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, previous)
        self._previous.clear()

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.begin()
        self._previous[sig](sig, frame)
