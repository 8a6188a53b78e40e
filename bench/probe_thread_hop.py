"""What handing a call to a thread costs, from a running event loop (a probe, not one of
`make bench`'s benchmarks: it informs the design of the HTTP write path).

A sync FastAPI endpoint is run through Starlette's ``run_in_threadpool`` (anyio's worker
threads, capacity limiter and cancellation checkpoints); ``loop.run_in_executor`` with a
plain ``ThreadPoolExecutor`` is the baseline. Both call a function that returns at once,
one call at a time and 16 in flight; prints CPU and wall time per call and the ratio.
Usage: python bench/probe_thread_hop.py [--calls 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from starlette.concurrency import run_in_threadpool


def nothing() -> int:
    return 1


async def measure(call: Callable[[], Awaitable[int]], calls: int, in_flight: int) -> float:
    """CPU time per call (µs) over `calls` calls, `in_flight` at a time."""
    for _ in range(200):
        await call()
    started = time.process_time()
    for _ in range(calls // in_flight):
        await asyncio.gather(*(call() for _ in range(in_flight)))
    return (time.process_time() - started) / calls * 1e6


async def main(calls: int) -> None:
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(16)
    ways: dict[str, Callable[[], Awaitable[int]]] = {
        "loop.run_in_executor (baseline)": lambda: loop.run_in_executor(executor, nothing),
        "starlette run_in_threadpool": lambda: run_in_threadpool(nothing),
    }
    for in_flight in (1, 16):
        results = {name: await measure(call, calls, in_flight) for name, call in ways.items()}
        base = results["loop.run_in_executor (baseline)"]
        print(f"{in_flight} in flight:")
        for name, cpu in results.items():
            print(f"  {name:34} {cpu:7.1f} µs of CPU a call  ratio {cpu / base:4.2f}")
    executor.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    asyncio.run(main(parser.parse_args().calls))
