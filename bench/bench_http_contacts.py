"""POST /contacts over HTTP vs a FastAPI hello-world served the same way (same run).

Both run under uvicorn with one worker on loopback; the same bounded load generator
drives both. Prints the ratio (target >= 0.25 on SQLite, single worker) and absolutes.
Usage: python bench/bench_http_contacts.py [--seconds 5] [--clients 8] [--database URL]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import BENCH_DIR, PYTHON, free_port, load, server

BODY = json.dumps({"kind": "person", "name": "Bench Person", "emails": ["b@example.com"]}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        database = args.database or f"sqlite:///{tmp}/bench.db"
        env = {
            "CRM_DATABASE_URL": database,
            "CRM_DATA_DIR": f"{tmp}/data",
            "CRM_LOG_LEVEL": "WARNING",
        }
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
        hello_cmd = [
            PYTHON,
            "-m",
            "uvicorn",
            "--factory",
            "hello_app:create",
            "--port",
            str(hello_port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--app-dir",
            str(BENCH_DIR),
        ]
        with server(hello_cmd, hello_port):
            base = load(
                hello_port,
                lambda i: ("POST", "/hello", BODY, headers),
                clients=args.clients,
                seconds=args.seconds,
            )

        port = free_port()
        crm_cmd = [
            PYTHON,
            "-m",
            "uvicorn",
            "--factory",
            "crm_ledger.api.app:app_from_env",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        with server(crm_cmd, port, env):
            ours = load(
                port,
                lambda i: ("POST", "/contacts", BODY, headers),
                clients=args.clients,
                seconds=args.seconds,
            )

    print(base.line("baseline  FastAPI hello-world POST"))
    print(ours.line("crm_ledger POST /contacts        "))
    ratio = ours.rate / base.rate if base.rate else 0.0
    kind = "PostgreSQL" if database.startswith("postgres") else "SQLite"
    print(
        f"ratio: {ratio:.2f} of hello-world ({kind}, 1 worker, {args.clients} clients; "
        f"target >= 0.25)"
    )
    if ours.errors or base.errors:
        sys.exit("errors during the run")


if __name__ == "__main__":
    main()
