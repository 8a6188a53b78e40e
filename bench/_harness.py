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
def server(
    args: list[str], port: int, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process until the block ends; wait until it accepts connections.
    Yields the process (`CpuSplit` counts its children as the server)."""
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
        yield proc
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
    cpu: CpuSplit | None = None  # where the CPU went, when counted

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


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _processes() -> dict[int, tuple[int, str, float]]:
    """Every process now: pid -> (parent pid, command name, CPU seconds used so far)."""
    found: dict[int, tuple[int, str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:  # gone meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[1] is the parent pid; [11] and [12] user and system time in ticks
        found[int(entry)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / _TICK)
    return found


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return sum(values[i] for i in (0, 1, 2, 5, 6)) / _TICK


@dataclass
class CpuSplit:
    """Where the machine's CPU went during a load run, per request (Linux ``/proc``): the
    server (the process `server` yields and its children), PostgreSQL (processes named
    ``postgres``), this load generator, and everything else. On a machine where all of
    them share the cores, a request can only go as fast as the sum allows."""

    server_pid: int
    seconds: float = 0.0
    used: dict[str, float] | None = None
    _before: dict[int, tuple[int, str, float]] | None = None
    _busy: float = 0.0
    _started: float = 0.0

    def __enter__(self) -> CpuSplit:
        self._before, self._busy, self._started = _processes(), _machine_busy(), time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        after, busy = _processes(), _machine_busy()
        self.seconds = time.monotonic() - self._started
        before = self._before or {}
        own = os.getpid()
        used = {"server": 0.0, "PostgreSQL": 0.0, "load generator": 0.0, "other": 0.0}
        for pid, (ppid, name, cpu) in after.items():
            spent = cpu - before.get(pid, (0, "", 0.0))[2]
            if spent <= 0:
                continue
            if pid == own:
                used["load generator"] += spent
            elif name == "postgres":
                used["PostgreSQL"] += spent
            elif self.server_pid in (pid, ppid):
                used["server"] += spent
            else:
                used["other"] += spent
        used["other"] = max(0.0, busy - self._busy - sum(used.values()) + used["other"])
        self.used = used

    def line(self, requests: int) -> str:
        """CPU per request, by part, and how many cores were busy."""
        used = self.used or {}
        if not requests or not self.seconds:
            return "CPU: no requests"
        parts = ", ".join(f"{name} {spent / requests * 1e6:,.0f}" for name, spent in used.items())
        total = sum(used.values())
        return (
            f"CPU per request {total / requests * 1e6:,.0f} us ({parts}); "
            f"{total / self.seconds:.2f} cores busy"
        )


def counted_load(
    server_process: subprocess.Popen[bytes],
    port: int,
    make_request: Callable[[int], tuple[str, str, bytes, dict[str, str]]],
    *,
    clients: int,
    seconds: float,
) -> LoadResult:
    """A second of `load` to warm every worker of `server_process` up, then `load` for
    `seconds` with where its CPU went (`CpuSplit`) in the result."""
    load(port, make_request, clients=clients, seconds=1)
    with CpuSplit(server_process.pid) as cpu:
        result = load(port, make_request, clients=clients, seconds=seconds)
    result.cpu = cpu
    return result


PYTHON = sys.executable
BENCH_DIR = Path(__file__).resolve().parent
