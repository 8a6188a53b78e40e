"""Webhook delivery vs bare HTTP POSTs of the same bodies to the same receiver.

N contacts (CRM_BENCH_WEBHOOK_N, default 2,000) are written to a fresh SQLite database
with one webhook endpoint registered; a receiver process on loopback answers every POST
with 204. Timed:

* baseline: ``http.client`` POSTs of the very message bodies on one kept-alive
  connection (as delivery keeps one per endpoint), nothing else;
* ours: `WebhookDispatcher` rounds until every change is delivered: reading the change
  feed, building and signing each message, the POST, the attempt row and the cursor.

Prints messages/s of both and the ratio ours / baseline. No target in the issues; the
figure shows what delivery adds to the network work it cannot avoid.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import free_port
from crm_ledger.api.change_items import readable
from crm_ledger.api.webhook_delivery import WebhookDispatcher, message
from crm_ledger.application import CrmApplication
from crm_ledger.changes import changes_after
from crm_ledger.settings import Settings
from crm_ledger.storage.webhook_store import WebhookStore
from crm_ledger.webhooks import register_webhook

N = int(os.environ.get("CRM_BENCH_WEBHOOK_N", "2000"))
RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def bare(port: int, bodies: list[bytes]) -> float:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for body in bodies:
        connection.request("POST", "/hooks", body, {"Content-Type": "application/json"})
        connection.getresponse().read()
    connection.close()
    return time.perf_counter() - started


def main() -> None:
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    try:
        wait_for(port)
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                database_url=f"sqlite:///{tmp}/crm.db",
                data_dir=Path(tmp) / "data",
                webhook_allow_local=True,
            )
            crm = CrmApplication(settings)
            store = WebhookStore(crm.db)
            (written, _) = register_webhook(
                crm, store, url=f"http://127.0.0.1:{port}/hooks", role="admin", actor="bench"
            )
            start = written.aggregate.start_after
            for i in range(N):
                crm.register_contact(actor="bench", kind="person", name=f"Person {i}")
            page = changes_after(
                crm, start, limit=N + 10, wanted=readable("admin").__contains__, scan=10 * N
            )
            bodies = [message(change)[1] for change in page.changes]

            baseline = bare(port, bodies)
            dispatcher = WebhookDispatcher(crm, store, allow_local=True, timeout=10)
            started = time.perf_counter()
            delivered = 0
            while delivered < len(bodies):
                delivered += dispatcher.run_once()
            ours = time.perf_counter() - started
            crm.close()
    finally:
        receiver.terminate()
        receiver.wait()
    count = len(bodies)
    print(f"messages: {count:,} (one per change), receiver answering 204 on loopback")
    print(f"baseline bare POSTs:     {count / baseline:,.0f} messages/s")
    print(f"webhook delivery:        {count / ours:,.0f} messages/s")
    print(f"ratio: {baseline / ours:.2f} of bare POSTs of the same bodies")


if __name__ == "__main__":
    main()
