"""Webhooks: endpoints receive the change feed as Standard Webhooks messages, in log
order, each exactly as ``GET /changes`` shows it, signed with a secret that never reaches
the log; failures are retried in order and end in a disabled endpoint that resumes where
it stopped (SQLite and PostgreSQL, a real HTTP receiver on loopback)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from crm_ledger.api.webhook_delivery import Outcome, Target, WebhookDispatcher, message_id
from crm_ledger.domain.api_key import ApiKeyRevokedError
from crm_ledger.settings import Settings
from crm_ledger.webhooks import KEY_REVOKED, revoke_api_key
from tests.integration.http.conftest import Api
from tests.integration.http.test_changes import as_role, feed
from tests.integration.http.test_payments_api import new_issuer
from tests.integration.http.test_sales_api import match, new_deal, new_pipeline, ok, problem


class Receiver:
    """An HTTP server on loopback that keeps every request and answers with the
    statuses queued in `answers` (then 200)."""

    def __init__(self, *, keep_alive: bool = False, drop: bool = False) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []
        self.ports: list[int] = []  # the client's port of each request
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1: connections kept alive unless `drop` closes them after each answer
            # (without saying so: the client finds out when it sends on it again)
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                receiver.ports.append(self.client_address[1])
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.close_connection = drop or not keep_alive

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks?source=crm"

    def bodies(self) -> list[dict[str, Any]]:
        return [orjson.loads(body) for _, body in self.requests]


@contextmanager
def serving(receiver: Receiver) -> Iterator[Receiver]:
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving(Receiver()) as receiver:
        yield receiver


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """As the HTTP tests' settings, with loopback webhook targets allowed."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        log_json=True,
        webhook_allow_local=True,
    )


def quiet(api: Api, **kwargs: Any) -> WebhookDispatcher:
    """Stop the app's background delivery; a dispatcher the test runs round by round."""
    app = api.client.app
    app.state.webhook_dispatcher.stop()  # type: ignore[attr-defined]
    store = app.state.webhook_store  # type: ignore[attr-defined]
    return WebhookDispatcher(api.crm, store, allow_local=True, timeout=5, **kwargs)


def register(api: Api, url: str, **fields: Any) -> dict[str, Any]:
    response = api.post("/webhooks", json={"url": url, "role": "admin", **fields})
    body = ok(response, 201)
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"/webhooks/{body['id']}"
    return body


def verified(secret: str, request: tuple[dict[str, str], bytes]) -> dict[str, Any]:
    headers, body = request
    payload: dict[str, Any] = Webhook(secret).verify(body, headers)
    return payload


def test_messages_follow_the_feed_signed_in_order_once_each(api: Api, receiver: Receiver) -> None:
    dispatcher = quiet(api)
    pipeline = new_pipeline(api)
    new_deal(api, pipeline)  # written before the endpoint: not sent
    endpoint = register(api, receiver.url, description="all of it")
    secret = endpoint.pop("secret")
    assert secret.startswith("whsec_")
    assert endpoint["start_after"] == ok(api.get("/changes"))["head"] - 1  # before its own

    deal = new_deal(api, pipeline)
    ok(
        api.post(
            f"/deals/{deal['id']}/move",
            json={"stage_id": pipeline["stages"][1]["stage_id"]},
            headers=match(1),
        )
    )
    expected = feed(api, after=endpoint["start_after"])
    assert ["contact", "deal", "deal"] == [c["type"] for c in expected]

    assert dispatcher.run_once() == 3
    payloads = [verified(secret, request) for request in receiver.requests]
    assert [p["data"] for p in payloads] == expected
    assert ["contact.registered", "deal.created", "deal.moved"] == [p["type"] for p in payloads]
    assert [p["timestamp"] for p in payloads] == [c["at"] for c in expected]
    endpoint_id = UUID(endpoint["id"])
    assert [h["webhook-id"] for h, _ in receiver.requests] == [
        message_id(endpoint_id, c["position"]) for c in expected
    ]
    assert {h["content-type"] for h, _ in receiver.requests} == {"application/json"}

    # nothing is sent twice; the endpoint shows where it is
    assert dispatcher.run_once() == 0
    assert len(receiver.requests) == 3
    read = api.get(f"/webhooks/{endpoint['id']}")
    assert read.headers["ETag"] == '"1"'
    assert ok(read)["delivery"] == {
        "position": ok(api.get("/changes"))["head"],
        "failures": 0,
        "next_attempt_at": None,
        "last_error": None,
    }
    assert "secret" not in ok(read)
    attempts = ok(api.get(f"/webhooks/{endpoint['id']}/attempts"))["items"]
    assert [(a["position"], a["attempt"], a["status"]) for a in attempts] == [
        (c["position"], 1, 200) for c in reversed(expected)
    ]

    # a tampered body or a wrong secret fails the receiver's check
    headers, body = receiver.requests[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"contact", b"kontact"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(register(api, receiver.url)["secret"]).verify(body, headers)

    # the secret is nowhere in the log: not in any stored event, not in the feed
    table = api.crm.recorder.events_table_name  # type: ignore[attr-defined]
    with api.crm.db.transaction(write=False) as tx:
        stored = b"".join(bytes(r[0]) for r in tx.all(f"SELECT state FROM {table}"))
    assert receiver.url.encode() in stored  # the endpoint's configuration is
    assert secret.encode() not in stored
    assert secret[len("whsec_") :].encode() not in stored


def test_an_endpoint_gets_what_its_role_reads_of_its_types(api: Api, receiver: Receiver) -> None:
    dispatcher = quiet(api)
    accountant = register(api, receiver.url, role="accountant")
    deals_only = register(api, receiver.url + "&deals", types=["deal", "pipeline"])
    start = deals_only["start_after"]
    new_deal(api, new_pipeline(api))
    new_issuer(api)

    dispatcher.run_once()
    by_endpoint: dict[str, list[dict[str, Any]]] = {accountant["id"]: [], deals_only["id"]: []}
    for headers, body in receiver.requests:
        endpoint_id = headers["webhook-id"].split("_")[1]
        by_endpoint[str(UUID(endpoint_id))].append(orjson.loads(body)["data"])
    as_accountant = feed(as_role(api, "accountant"), after=start)
    assert {"contact", "issuer"} == {c["type"] for c in as_accountant}
    assert by_endpoint[accountant["id"]] == as_accountant
    assert by_endpoint[deals_only["id"]] == feed(api, after=start, types=["deal", "pipeline"])
    assert {"deal", "pipeline"} == {c["type"] for c in by_endpoint[deals_only["id"]]}


def test_a_failing_message_is_retried_first_and_then_disables_the_endpoint(
    api: Api, receiver: Receiver
) -> None:
    dispatcher = quiet(api, retry_seconds=(0, 0))
    endpoint = register(api, receiver.url)
    first = ok(api.post("/contacts", json={"kind": "person", "name": "Ana"}), 201)
    ok(api.post("/contacts", json={"kind": "person", "name": "Bea"}), 201)

    receiver.answers = [500, 503]
    assert dispatcher.run_once() == 0
    assert dispatcher.run_once() == 0
    assert dispatcher.run_once() == 2
    ids = [h["webhook-id"] for h, _ in receiver.requests]
    assert ids[:3] == [ids[0]] * 3  # the first message, three times, before the second
    assert len(set(ids)) == 2
    assert receiver.bodies()[0]["data"]["id"] == first["id"]
    attempts = ok(api.get(f"/webhooks/{endpoint['id']}/attempts", params={"limit": 2}))
    older = ok(
        api.get(f"/webhooks/{endpoint['id']}/attempts", params={"cursor": attempts["next_cursor"]})
    )
    assert [(a["attempt"], a["status"]) for a in attempts["items"] + older["items"]] == [
        (1, 200),
        (3, 200),
        (2, 503),
        (1, 500),
    ]
    assert older["next_cursor"] is None
    assert (older["items"][0]["status"], older["items"][0]["error"]) == (503, "Service Unavailable")

    # every retry fails: after the last one the endpoint is disabled where it stands
    receiver.answers = [500, 500, 500]
    third = ok(api.post("/contacts", json={"kind": "person", "name": "Cai"}), 201)
    for _ in range(3):
        assert dispatcher.run_once() == 0
    read = ok(api.get(f"/webhooks/{endpoint['id']}"))
    assert read["enabled"] is False
    last = "HTTP 500 Internal Server Error"
    assert read["disabled_reason"] == f"a message failed 3 times; last: {last}"
    events = list(api.crm.history(UUID(endpoint["id"])))
    assert ("Disabled", "system:webhooks") == (type(events[-1]).__name__, events[-1].actor)
    sent = len(receiver.requests)
    assert dispatcher.run_once() == 0
    assert len(receiver.requests) == sent  # a disabled endpoint gets nothing

    # enabled again, it resumes with the same message
    ok(api.post(f"/webhooks/{endpoint['id']}/enable", headers=match(read["version"])))
    assert dispatcher.run_once() == 1
    assert receiver.bodies()[-1]["data"]["id"] == third["id"]
    assert receiver.requests[-1][0]["webhook-id"] == receiver.requests[-2][0]["webhook-id"]


def test_a_retry_waits_its_time_and_410_gone_disables_at_once(api: Api, receiver: Receiver) -> None:
    dispatcher = quiet(api, retry_seconds=(3600,))
    endpoint = register(api, receiver.url)
    ok(api.post("/contacts", json={"kind": "person", "name": "Ana"}), 201)
    receiver.answers = [500]
    assert dispatcher.run_once() == 0
    assert dispatcher.run_once() == 0
    assert len(receiver.requests) == 1  # the retry is an hour away
    delivery = ok(api.get(f"/webhooks/{endpoint['id']}"))["delivery"]
    assert (delivery["failures"], delivery["last_error"]) == (1, "HTTP 500 Internal Server Error")
    assert delivery["next_attempt_at"] > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())

    gone = register(api, receiver.url)
    ok(api.post("/contacts", json={"kind": "person", "name": "Bea"}), 201)
    receiver.answers = [410]
    dispatcher.run_once()
    read = ok(api.get(f"/webhooks/{gone['id']}"))
    assert (read["enabled"], read["disabled_reason"]) == (
        False,
        "the receiver answered 410 Gone",
    )


def test_a_rotated_secret_signs_beside_the_new_one(api: Api, receiver: Receiver) -> None:
    dispatcher = quiet(api)
    endpoint = register(api, receiver.url)
    problem(api.post(f"/webhooks/{endpoint['id']}/secret:rotate"), 428, "precondition_required")
    rotated = ok(api.post(f"/webhooks/{endpoint['id']}/secret:rotate", headers=match(1)))
    assert rotated["version"] == 2
    assert rotated["secret"] not in (endpoint["secret"], None)
    ok(api.post("/contacts", json={"kind": "person", "name": "Ana"}), 201)
    dispatcher.run_once()
    (request,) = receiver.requests
    assert len(request[0]["webhook-signature"].split(" ")) == 2
    assert verified(endpoint["secret"], request) == verified(rotated["secret"], request)


def test_changing_disabling_and_deleting_an_endpoint(api: Api, receiver: Receiver) -> None:
    dispatcher = quiet(api)
    endpoint = register(api, receiver.url)
    changed = ok(
        api.patch(
            f"/webhooks/{endpoint['id']}",
            json={"types": ["deal"], "description": "deals"},
            headers=match(1),
        )
    )
    assert (changed["types"], changed["description"], changed["version"]) == (["deal"], "deals", 2)
    problem(
        api.patch(f"/webhooks/{endpoint['id']}", json={"types": []}, headers=match(1)),
        412,
        "version_conflict",
    )
    paused = ok(
        api.post(
            f"/webhooks/{endpoint['id']}/disable", json={"reason": "maintenance"}, headers=match(2)
        )
    )
    assert (paused["enabled"], paused["disabled_reason"]) == (False, "maintenance")
    problem(
        api.post(f"/webhooks/{endpoint['id']}/disable", headers=match(3)), 409, "webhook_conflict"
    )
    listed = ok(api.get("/webhooks"))["items"]
    assert [e["id"] for e in listed] == [endpoint["id"]]

    deleted = api.request("DELETE", f"/webhooks/{endpoint['id']}", headers=match(3))
    assert deleted.status_code == 204
    problem(api.get(f"/webhooks/{endpoint['id']}"), 410, "webhook_deleted")
    store = api.client.app.state.webhook_store  # type: ignore[attr-defined]
    assert store.secrets(UUID(endpoint["id"]), int(time.time() * 1000)) == []  # destroyed
    assert ok(api.get("/webhooks"))["items"] == []
    new_deal(api, new_pipeline(api))
    assert dispatcher.run_once() == 0
    assert receiver.requests == []
    problem(api.get(f"/webhooks/{UUID(int=7)}"), 404, "not_found")


def test_bad_endpoints_and_roles_are_refused(api: Api, receiver: Receiver) -> None:
    for url in ("ftp://hooks.example.com/x", "https://user:pw@hooks.example.com/x", "hooks"):
        problem(
            api.post("/webhooks", json={"url": url, "role": "admin"}), 422, "invalid_webhook_url"
        )
    problem(
        api.post("/webhooks", json={"url": receiver.url, "role": "root"}), 422, "validation_failed"
    )
    body = {"url": receiver.url, "role": "admin", "types": ["api_key"]}
    problem(api.post("/webhooks", json=body), 422, "validation_failed")
    sales, auditor = as_role(api, "sales"), as_role(api, "auditor")
    problem(
        sales.post("/webhooks", json={"url": receiver.url, "role": "sales"}),
        403,
        "forbidden_for_role",
    )
    problem(sales.get("/webhooks"), 403, "forbidden_for_role")
    problem(
        auditor.post("/webhooks", json={"url": receiver.url, "role": "auditor"}),
        403,
        "forbidden_for_role",
    )
    endpoint = register(api, receiver.url)
    assert [e["id"] for e in ok(auditor.get("/webhooks"))["items"]] == [endpoint["id"]]
    # nothing refused was stored
    assert len(ok(api.get("/webhooks"))["items"]) == 1


def post(url: str, *, allow_local: bool) -> Outcome:
    target = Target(url, timeout=5, allow_local=allow_local)
    try:
        return target.post(b"{}", {})
    finally:
        target.close()


def test_without_local_targets_only_public_addresses_are_reached(receiver: Receiver) -> None:
    outcome = post(receiver.url, allow_local=False)
    assert outcome.status is None
    assert "127.0.0.1, which is not a public address" in str(outcome.error)
    assert receiver.requests == []
    assert post(receiver.url, allow_local=True).status == 200
    assert len(receiver.requests) == 1


def test_the_server_delivers_in_the_background(api: Api, receiver: Receiver) -> None:
    endpoint = register(api, receiver.url)
    contact = ok(api.post("/contacts", json={"kind": "person", "name": "Ana"}), 201)
    deadline = time.monotonic() + 20
    while not receiver.requests:
        assert time.monotonic() < deadline, "nothing delivered"
        time.sleep(0.1)
    payload = verified(endpoint["secret"], receiver.requests[0])
    assert (payload["type"], payload["data"]["id"]) == ("contact.registered", contact["id"])


def test_messages_share_a_kept_alive_connection_and_survive_its_loss(api: Api) -> None:
    dispatcher = quiet(api)
    for drop in (False, True):
        with serving(Receiver(keep_alive=True, drop=drop)) as receiver:
            endpoint = register(api, receiver.url)
            for name in ("Ana", "Bea", "Cai"):
                ok(api.post("/contacts", json={"kind": "person", "name": name}), 201)
            assert dispatcher.run_once() == 3
            # kept alive: one connection; dropped after each answer: a new one each time,
            # and no message fails for it
            assert len(set(receiver.ports)) == (3 if drop else 1)
            assert len(receiver.requests) == 3
            attempts = ok(api.get(f"/webhooks/{endpoint['id']}/attempts"))["items"]
            assert [(a["attempt"], a["status"]) for a in attempts] == [(1, 200)] * 3
            deleted = api.request("DELETE", f"/webhooks/{endpoint['id']}", headers=match(1))
            assert deleted.status_code == 204


def test_a_test_message_is_signed_and_moves_nothing(api: Api, receiver: Receiver) -> None:
    dispatcher = quiet(api, retry_seconds=(0,))
    endpoint = register(api, receiver.url)
    ok(api.post(f"/webhooks/{endpoint['id']}/disable", headers=match(1)))
    ok(api.post("/contacts", json={"kind": "person", "name": "Ana"}), 201)
    before = ok(api.get(f"/webhooks/{endpoint['id']}"))["delivery"]

    answer = ok(api.post(f"/webhooks/{endpoint['id']}/test"))
    assert (answer["event_type"], answer["status"], answer["position"]) == ("webhook.test", 200, 0)
    (request,) = receiver.requests
    payload = verified(endpoint["secret"], request)
    assert (payload["type"], payload["data"]["endpoint_id"]) == ("webhook.test", endpoint["id"])
    assert request[0]["webhook-id"] == answer["message_id"]

    receiver.answers = [500]
    failed = ok(api.post(f"/webhooks/{endpoint['id']}/test"))
    assert (failed["status"], failed["error"]) == (500, "Internal Server Error")
    read = ok(api.get(f"/webhooks/{endpoint['id']}"))
    assert read["delivery"] == before  # no position moved, no failure counted
    assert read["enabled"] is False  # and the disabled endpoint got only the tests
    assert dispatcher.run_once() == 0
    assert len(receiver.requests) == 2
    attempts = ok(api.get(f"/webhooks/{endpoint['id']}/attempts"))["items"]
    assert [a["message_id"] for a in attempts] == [failed["message_id"], answer["message_id"]]
    problem(
        as_role(api, "auditor").post(f"/webhooks/{endpoint['id']}/test"), 403, "forbidden_for_role"
    )


def test_revoking_the_registering_key_disables_its_endpoints(api: Api, receiver: Receiver) -> None:
    """Revoking a key disables, in the same transaction, the enabled endpoints it
    registered (and only those); an admin may enable one again."""
    dispatcher = quiet(api)
    integration = as_role(api, "admin")
    theirs = register(integration, receiver.url, description="theirs")
    paused = register(integration, receiver.url, description="already disabled")
    ok(integration.post(f"/webhooks/{paused['id']}/disable", headers=match(1)))
    ours = register(api, receiver.url, description="ours")
    key_id = UUID(integration.crm.authenticate(integration.token).key_id.hex)  # type: ignore[union-attr]
    head = api.crm.head_position()

    key, disabled = revoke_api_key(api.crm, key_id, actor="user:security")
    assert key.revoked
    assert [e.id for e in disabled] == [UUID(theirs["id"])]
    seen = ok(api.get(f"/webhooks/{theirs['id']}"))
    assert (seen["enabled"], seen["disabled_reason"]) == (False, KEY_REVOKED)
    assert ok(api.get(f"/webhooks/{paused['id']}"))["version"] == 2  # untouched
    assert ok(api.get(f"/webhooks/{ours['id']}"))["enabled"] is True
    last = list(api.crm.history(UUID(theirs["id"])))[-1]
    assert (type(last).__name__, last.actor) == ("Disabled", "user:security")
    assert api.crm.head_position() == head + 2  # the revocation and the one disabling

    new_deal(api, new_pipeline(api))
    while dispatcher.run_once():
        pass
    # every message was signed for `ours` (the others share its URL): none for `theirs`
    assert "deal.created" in [verified(ours["secret"], r)["type"] for r in receiver.requests]
    ok(api.post(f"/webhooks/{theirs['id']}/enable", headers=match(2)))
    with pytest.raises(ApiKeyRevokedError):
        revoke_api_key(api.crm, key_id, actor="user:security")
