"""Concurrent writes against a real server on SQLite: no stalls, no 503s, nothing lost.

Regression: the projection runner once held SQLite's writer while asking the pool for a
read connection; with writers queued it stalled until the 5 s pool timeout (503s).
"""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time

from tests.integration.http.conftest import CLI


def test_parallel_posts_all_succeed_quickly(served: tuple[str, dict[str, str]]) -> None:
    """8 clients x 40 POST /contacts: every one is 201, none waits a second, all listed."""
    base, env = served
    token = subprocess.run(
        [CLI, "api-keys", "create", "--name", "load"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    port = int(base.rsplit(":", 1)[1])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    statuses: list[int] = []
    slowest: list[float] = []

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(40):
            body = json.dumps({"kind": "person", "name": f"C{n}-{i}", "tags": ["load"]})
            started = time.perf_counter()
            conn.request("POST", "/contacts", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            slowest.append(time.perf_counter() - started)
            statuses.append(response.status)
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [201] * 320 == statuses
    assert max(slowest) < 1.0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    seen = 0
    cursor = ""
    while True:
        conn.request("GET", f"/contacts?tag=load&limit=200{cursor}", headers=headers)
        page = json.loads(conn.getresponse().read())
        seen += len(page["items"])
        if not page["next_cursor"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    conn.close()
    assert 320 == seen
