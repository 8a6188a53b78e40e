"""POST /contacts over HTTP vs a FastAPI hello-world served the same way (same run).

Both run under uvicorn on loopback with the same number of workers; the same bounded load
generator drives both. Two configurations:

* SQLite, 1 worker, 8 clients (target >= 0.25 of hello-world);
* PostgreSQL, ``--workers 2``, 16 clients (target >= 0.6), when CRM_BENCH_POSTGRES_URL
  names a server (a fresh database is created and dropped); then, on the same server,
  ``POST /activities`` (a logged call on one contact, its subject and body sealed),
  printed against the same hello-world run, without a target.

Prints the ratio, absolute rates and p50/p99 latencies.
Usage: python bench/bench_http_contacts.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg

from _harness import BENCH_DIR, PYTHON, LoadResult, counted_load, free_port, load, server

BODY = json.dumps({"kind": "person", "name": "Bench Person", "emails": ["b@example.com"]}).encode()


def uvicorn(app: str, port: int, workers: int, *extra: str) -> list[str]:
    """Serve `app` as ``crm-ledger serve`` does (``crm_ledger.serving``: uvicorn, with
    TCP_NODELAY kept under ``--workers N``; plain ``uvicorn --workers 2`` adds ~40 ms to
    every keep-alive request, which made the hello-world baseline 3x slower than with one
    worker before this was fixed)."""
    return [
        PYTHON,
        "-m",
        "crm_ledger.serving",
        "--factory",
        app,
        "--port",
        str(port),
        "--workers",
        str(workers),
        *extra,
    ]


def first_contact(port: int, headers: dict[str, str]) -> str:
    """The id of a contact registered through the server on `port`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/contacts", BODY, headers)
        answer = conn.getresponse()
        body = answer.read()
    finally:
        conn.close()
    if answer.status != 201:
        raise RuntimeError(f"POST /contacts answered {answer.status}: {body[:200]!r}")
    return str(json.loads(body)["id"])


def activity_body(contact: str) -> bytes:
    """A logged call on `contact`: its subject and body are sealed (personal data)."""
    return json.dumps(
        {
            "kind": "call",
            "subject": "Intro call",
            "body": "Interested in the annual plan; call back next week",
            "links": [{"type": "contact", "id": contact}],
        }
    ).encode()


def measure(
    database: str,
    tmp: str,
    *,
    workers: int,
    clients: int,
    seconds: float,
    activities: list[LoadResult] | None = None,
) -> tuple[LoadResult, LoadResult]:
    """hello-world, then ``POST /contacts``; then, when `activities` is a list,
    ``POST /activities`` on one contact too (appended to it)."""
    env = {"CRM_DATABASE_URL": database, "CRM_DATA_DIR": f"{tmp}/data", "CRM_LOG_LEVEL": "WARNING"}
    crm = str(Path(PYTHON).with_name("crm-ledger"))
    token = (
        subprocess.run(
            [crm, "api-keys", "create", "--name", "bench", "--database", database],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    hello_port = free_port()
    hello = uvicorn("hello_app:create", hello_port, workers, "--app-dir", str(BENCH_DIR))
    with server(hello, hello_port) as process:
        hello_post = ("POST", "/hello", BODY, headers)
        base = counted_load(
            process, hello_port, lambda i: hello_post, clients=clients, seconds=seconds
        )
    port = free_port()
    with server(uvicorn("crm_ledger.api.app:app_from_env", port, workers), port, env) as process:
        post = ("POST", "/contacts", BODY, headers)
        ours = counted_load(process, port, lambda i: post, clients=clients, seconds=seconds)
        if activities is not None:
            call = activity_body(first_contact(port, headers))
            activities.append(
                load(
                    port,
                    lambda i: ("POST", "/activities", call, headers),
                    clients=clients,
                    seconds=seconds,
                )
            )
    return base, ours


def report(
    kind: str, workers: int, clients: int, target: float, results: tuple[LoadResult, LoadResult]
) -> bool:
    base, ours = results
    print(f"{kind}: {workers} worker(s), {clients} clients")
    print(base.line("  baseline  FastAPI hello-world POST"))
    print(ours.line("  crm_ledger POST /contacts        "))
    ratio = ours.rate / base.rate if base.rate else 0.0
    print(f"  ratio: {ratio:.2f} of hello-world (target >= {target})")
    if base.cpu and ours.cpu and base.cpu.used and base.requests:
        print(f"  hello-world {base.cpu.line(base.requests)}")
        print(f"  POST /contacts {ours.cpu.line(ours.requests)}")
        # With every core busy in both runs, the rates stand in inverse ratio to the CPU
        # each request uses: then the target leaves a request this much.
        used = sum(base.cpu.used.values())
        if used / base.cpu.seconds >= 0.9 * (os.cpu_count() or 1):
            budget = used / base.requests / target * 1e6
            print(f"  at {target} of hello-world, the cores as busy: {budget:,.0f} us per request")
    return not (ours.errors or base.errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    clean = True
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = measure(
            f"sqlite:///{tmp}/bench.db", tmp, workers=1, clients=8, seconds=args.seconds
        )
        clean &= report("SQLite", 1, 8, 0.25, sqlite)
    server_url = os.environ.get("CRM_BENCH_POSTGRES_URL")
    if not server_url:
        print("PostgreSQL: skipped (set CRM_BENCH_POSTGRES_URL to a server URL)")
    else:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        try:
            with tempfile.TemporaryDirectory() as tmp:
                url = f"{server_url.rsplit('/', 1)[0]}/{name}"
                logged: list[LoadResult] = []
                pg = measure(
                    url, tmp, workers=2, clients=16, seconds=args.seconds, activities=logged
                )
                clean &= report("PostgreSQL", 2, 16, 0.6, pg)
                print(logged[0].line("  crm_ledger POST /activities      "))
                print(
                    f"  ratio: {logged[0].rate / pg[0].rate:.2f} of hello-world"
                    " (no target: a logged call, subject and body sealed)"
                )
                clean &= not logged[0].errors
        finally:
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    if not clean:
        sys.exit("errors during the run")


if __name__ == "__main__":
    main()
