"""Webhook delivery: each enabled endpoint receives the change feed, one signed message
per change, in log order, at least once.

Each round (every `POLL_SECONDS`, in the one process of ``serve --workers N`` that holds
the delivery lease) reads, for every enabled endpoint, the changes after the position it
was delivered up to, as its role sees them (`crm_ledger.api.change_items`), and POSTs
them one by one::

    {"type": "deal.moved", "timestamp": "<the event's time>", "data": <the GET /changes item>}

with the Standard Webhooks headers (`crm_ledger.security.webhook_signing`). A 2xx answer
moves the endpoint on. Anything else (another status, a timeout, a refused connection,
a redirect: none is followed) is retried after `RETRY_SECONDS`, the later changes
waiting behind it so the order holds; when the last retry fails too, or the receiver
answers 410 Gone, the delivery worker disables the endpoint (actor
``system:webhooks``), which stops where it is: enabling it again resumes with the same
message. Every attempt is kept for ``GET /webhooks/{id}/attempts``. The attempts of a
round and the endpoint's new position are written in one transaction at its end: after
a crash, that round's messages are sent again, with the same ``webhook-id``.

Unless ``CRM_WEBHOOK_ALLOW_LOCAL`` is set, a message is only sent to a public address:
whenever a connection is opened the host is resolved, every address must be global, and
the connection goes to the address that was checked (so a name cannot be re-pointed at
an internal service between the check and the connection). Consecutive messages to an
endpoint share one kept-alive connection.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit
from uuid import UUID

import orjson

from crm_ledger import __version__, webhooks
from crm_ledger.api.change_items import change_item, readable
from crm_ledger.application import CrmApplication
from crm_ledger.changes import Change, changes_after
from crm_ledger.domain.errors import VersionConflictError
from crm_ledger.domain.webhook import WebhookEndpoint, WebhookError
from crm_ledger.ledger.envelope import format_timestamp
from crm_ledger.security.webhook_signing import headers as signed_headers
from crm_ledger.storage.webhook_store import Attempt, WebhookStore, new_attempt_id

log = logging.getLogger(__name__)

#: seconds to wait after the 1st, 2nd, ... failure of a message; one more failure
#: disables the endpoint (about 27 hours in all, as Standard Webhooks suggests)
RETRY_SECONDS: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
POLL_SECONDS = 1.0
WOKEN_GAP_SECONDS = 0.2  # the shortest time between two rounds, however often woken
BATCH = 50  # changes read per endpoint and round
SCAN = 5000  # log positions read per endpoint and round at most
WORKERS = 4  # endpoints delivered to at the same time
MAX_ANSWER = 65536  # bytes of an answer read (and thrown away)
PURGE_EVERY_SECONDS = 3600  # how often attempts older than the store keeps are dropped
ACTOR = "system:webhooks"
USER_AGENT = f"crm-ledger/{__version__} (webhooks)"


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave: the receiver's status (None without an answer)."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        return self.status == 410


def event_type(item_type: str, event: str) -> str:
    """``deal`` + ``StageMoved`` -> ``deal.stage_moved``."""
    return f"{item_type}.{re.sub(r'(?<!^)(?=[A-Z])', '_', event).lower()}"


def message(change: Change) -> tuple[str, bytes]:
    """The event type and body of the message of `change`."""
    item = change_item(change).model_dump(mode="json")
    kind = event_type(item["type"], item["event"])
    return kind, orjson.dumps({"type": kind, "timestamp": item["at"], "data": item})


def message_id(endpoint_id: UUID, position: int) -> str:
    """The ``webhook-id`` of the change at `position` sent to an endpoint (the same on
    every retry)."""
    return f"msg_{endpoint_id.hex}_{position}"


def _public(address: str) -> bool:
    return ipaddress.ip_address(address.split("%", 1)[0]).is_global


def resolve(host: str, port: int, *, allow_local: bool) -> str:
    """The address to connect to for `host`; OSError (with a sentence) when it cannot be
    resolved or, unless `allow_local`, when any of its addresses is not global."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise OSError(f"{host} has no address")
    if not allow_local:
        for address in addresses:
            if not _public(address):
                raise OSError(f"{host} resolves to {address}, which is not a public address")
    return addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to an address resolved beforehand (the Host header stays)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(_PinnedHTTP):
    """`_PinnedHTTP` over TLS, the certificate checked against the host name."""

    default_port = 443
    context = ssl.create_default_context()

    def connect(self) -> None:
        super().connect()
        self.sock = self.context.wrap_socket(self.sock, server_hostname=self.host)


class Target:
    """An endpoint's URL while messages are sent to it: resolved and checked when a
    connection is opened, the connection kept alive from one message to the next."""

    def __init__(self, url: str, *, timeout: float, allow_local: bool) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.secure = parts.scheme == "https"
        self.port = parts.port or (443 if self.secure else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self.allow_local = allow_local
        self._connection: _PinnedHTTP | None = None

    def post(self, body: bytes, headers: dict[str, str]) -> Outcome:
        """POST `body` once (no redirect followed); never raises for network faults. A
        kept-alive connection the receiver closed meanwhile is replaced once."""
        try:
            if self._connection is not None:
                try:
                    return self._exchange(self._connection, body, headers)
                except (ConnectionError, http.client.RemoteDisconnected):
                    self.close()
            address = resolve(self.host, self.port, allow_local=self.allow_local)
            kind = _PinnedHTTPS if self.secure else _PinnedHTTP
            self._connection = kind(self.host, self.port, address, self.timeout)
            return self._exchange(self._connection, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return Outcome(None, f"{type(exc).__name__}: {exc}"[:300])

    def _exchange(self, connection: _PinnedHTTP, body: bytes, headers: dict[str, str]) -> Outcome:
        connection.request("POST", self.target, body, headers)
        answer = connection.getresponse()
        answer.read(MAX_ANSWER)
        if not answer.isclosed() or answer.will_close:  # a longer answer, or no keep-alive
            self.close()
        return Outcome(answer.status, None if 200 <= answer.status < 300 else answer.reason)

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def attempt(
    target: Target,
    body: bytes,
    *,
    secrets: Sequence[str],
    message: str,
    position: int,
    kind: str,
    number: int,
    clock: Callable[[], float],
) -> tuple[Outcome, Attempt]:
    """POST one message (`body`, signed with `secrets` as ``webhook-id`` `message`) to
    `target`: its outcome and the attempt to keep (not stored yet)."""
    started = clock()
    headers = {
        **signed_headers(secrets, message, int(started), body),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    outcome = target.post(body, headers)
    done = Attempt(
        new_attempt_id(),
        message,
        position,
        kind,
        number,
        int(started * 1000),
        outcome.status,
        outcome.error,
        int((clock() - started) * 1000),
    )
    return outcome, done


TEST_TYPE = "webhook.test"


def ping(
    store: WebhookStore,
    endpoint: WebhookEndpoint,
    *,
    timeout: float,
    allow_local: bool,
    clock: Callable[[], float] = time.time,
) -> Attempt:
    """Send the endpoint one ``webhook.test`` message now (signed as every message, moving
    nothing: no cursor, no failure count); keep and return the attempt."""
    now = clock()
    at = format_timestamp(datetime.fromtimestamp(now, UTC))
    body = orjson.dumps({"type": TEST_TYPE, "timestamp": at,
                         "data": {"endpoint_id": str(endpoint.id), "at": at}})  # fmt: skip
    target = Target(endpoint.url, timeout=timeout, allow_local=allow_local)
    try:
        _, done = attempt(
            target,
            body,
            secrets=store.secrets(endpoint.id, int(now * 1000)),
            message=f"msg_{endpoint.id.hex}_test_{uuid.uuid4().hex}",
            position=0,
            kind=TEST_TYPE,
            number=1,
            clock=clock,
        )
    finally:
        target.close()
    store.add_attempt(endpoint.id, done)
    return done


class WebhookDispatcher:
    """Delivers the change feed to the enabled endpoints (see the module docstring)."""

    def __init__(
        self,
        crm: CrmApplication,
        store: WebhookStore,
        *,
        allow_local: bool,
        timeout: float,
        retry_seconds: Sequence[float] = RETRY_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        deliver: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.crm = crm
        self.store = store
        self.allow_local = allow_local
        self.timeout = timeout
        self.retry_seconds = tuple(retry_seconds)
        self.poll_seconds = poll_seconds
        self._deliver = deliver
        self._clock = clock
        self._stop = threading.Event()
        self.wake = threading.Event()  # set to start a round at once (events written)
        self._thread: threading.Thread | None = None
        self._busy: set[UUID] = set()
        self._busy_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._next_purge = 0

    # -- background ---------------------------------------------------------------------

    def start(self) -> None:
        """Deliver in the background until `stop`."""
        self._stop.clear()
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="webhooks")
        self._thread = threading.Thread(target=self._loop, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop starting deliveries; wait for the ones in flight."""
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.wake.clear()  # before the round: an event written during it wakes the next
            started = time.monotonic()
            try:
                if self._deliver():
                    self._submit_round()
            except Exception:  # a database outage must not end delivery for good
                log.exception("webhook delivery round failed")
            self.wake.wait(self.poll_seconds)
            # woken by writes: at most one round per `WOKEN_GAP_SECONDS` all the same
            self._stop.wait(max(0.0, started + WOKEN_GAP_SECONDS - time.monotonic()))

    def _submit_round(self) -> None:
        assert self._pool is not None
        for endpoint in webhooks.enabled_webhooks(self.crm):
            with self._busy_lock:
                if endpoint.id in self._busy:
                    continue
                self._busy.add(endpoint.id)
            self._pool.submit(self._pump_released, endpoint)

    def _pump_released(self, endpoint: WebhookEndpoint) -> None:
        try:
            self.pump(endpoint)
        except Exception:
            log.exception("webhook delivery to %s failed", endpoint.id)
        finally:
            with self._busy_lock:
                self._busy.discard(endpoint.id)

    # -- one round, in the caller's thread ------------------------------------------------

    def run_once(self) -> int:
        """One round over every enabled endpoint, one after the other; the number of
        messages delivered."""
        return sum(self.pump(endpoint) for endpoint in webhooks.enabled_webhooks(self.crm))

    def pump(self, endpoint: WebhookEndpoint) -> int:
        """Send `endpoint` what is due (up to `BATCH` changes); the number delivered."""
        now = self._now_ms()
        if now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY_SECONDS * 1000
            self.store.purge_attempts(now)
        cursor = self.store.cursor(endpoint.id, endpoint.start_after)
        if cursor.next_attempt > now:
            return 0
        wanted = readable(endpoint.role, endpoint.types)
        page = changes_after(
            self.crm, cursor.position, limit=BATCH, wanted=wanted.__contains__, scan=SCAN
        )
        secrets = self.store.secrets(endpoint.id, now)
        target = Target(endpoint.url, timeout=self.timeout, allow_local=self.allow_local)
        position, delivered = cursor.position, 0
        attempts: list[Attempt] = []
        try:
            for change in page.changes:
                if self._stop.is_set():  # shutting down: the rest waits for the next start
                    break
                number = 1 if delivered else cursor.failures + 1  # this message's try
                outcome, tried = self._send(endpoint, target, change, number, secrets)
                attempts.append(tried)
                if not outcome.ok:
                    self._failed(endpoint, position, number, outcome, attempts)
                    return delivered
                position, delivered = change.position, delivered + 1
            else:
                position = max(position, page.after)  # nothing more for it up to there
        finally:
            target.close()
        if position > cursor.position or attempts:
            self.store.delivered(endpoint.id, position, attempts)
        return delivered

    def _send(
        self,
        endpoint: WebhookEndpoint,
        target: Target,
        change: Change,
        number: int,
        secrets: list[str],
    ) -> tuple[Outcome, Attempt]:
        """One attempt to deliver `change` (the `number`-th), not yet stored."""
        kind, body = message(change)
        return attempt(
            target,
            body,
            secrets=secrets,
            message=message_id(endpoint.id, change.position),
            position=change.position,
            kind=kind,
            number=number,
            clock=self._clock,
        )

    def _failed(
        self,
        endpoint: WebhookEndpoint,
        position: int,
        failures: int,
        outcome: Outcome,
        attempts: list[Attempt],
    ) -> None:
        error = str(outcome.error)
        if outcome.status is not None:
            error = f"HTTP {outcome.status} {outcome.error or ''}".strip()
        if not outcome.gone and failures <= len(self.retry_seconds):
            wait_ms = int(self.retry_seconds[failures - 1] * 1000)
            self.store.failed(
                endpoint.id, position, failures, self._now_ms() + wait_ms, error, attempts
            )
            return
        # disabled: the message is tried again from scratch once the endpoint is enabled
        self.store.failed(endpoint.id, position, 0, 0, error, attempts)
        if outcome.gone:
            self._disable(endpoint.id, "the receiver answered 410 Gone")
        else:
            self._disable(endpoint.id, f"a message failed {failures} times; last: {error}")

    def _disable(self, endpoint_id: UUID, reason: str) -> None:
        for _ in range(3):
            endpoint = webhooks.ENDPOINT.load(self.crm, endpoint_id)
            if not endpoint.enabled:
                return
            try:
                webhooks.disable_webhook(
                    self.crm,
                    endpoint_id,
                    expected_version=endpoint.version,
                    actor=ACTOR,
                    reason=reason,
                )
                log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
                return
            except (VersionConflictError, WebhookError):
                continue  # changed meanwhile: look again

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
