"""Shared pieces of the benchmarks: servers on loopback and a bounded load generator.

Every benchmark prints its result as a ratio against a baseline measured in the same run,
plus the absolute figures. Nothing here asserts on time.
"""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(args: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[None]:
    """Run a server process until the block ends; wait until it accepts connections."""
    proc = subprocess.Popen(
        args,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"server exited: {err[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class LoadResult:
    """What a load run measured."""

    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))]

    def line(self, name: str) -> str:
        med = statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")
        return (
            f"{name}: {self.rate:,.0f} req/s ({self.requests} ok, {self.errors} errors, "
            f"{self.seconds:.1f}s), p50 {med:.1f} ms, p99 {self.percentile(0.99):.1f} ms"
        )


def load(
    port: int,
    make_request: Callable[[int], tuple[str, str, bytes, dict[str, str]]],
    *,
    clients: int,
    seconds: float,
    max_requests: int = 200_000,
    ok: tuple[int, ...] = (200, 201),
) -> LoadResult:
    """Drive `clients` keep-alive connections for `seconds` (bounded in count and time)."""
    latencies: list[float] = []
    errors = 0
    count = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker(wid: int) -> None:
        nonlocal errors, count
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = 0
        local: list[float] = []
        local_errors = 0
        while time.monotonic() < stop_at:
            with lock:
                if count >= max_requests:
                    break
                count += 1
            method, path, body, headers = make_request(wid * 10_000_000 + i)
            i += 1
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status in ok:
                    local.append((time.perf_counter() - started) * 1000)
                else:
                    local_errors += 1
            except (OSError, http.client.HTTPException):
                local_errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()
        with lock:
            latencies.extend(local)
            errors += local_errors

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return LoadResult(len(latencies), errors, elapsed, latencies)


PYTHON = sys.executable
BENCH_DIR = Path(__file__).resolve().parent
