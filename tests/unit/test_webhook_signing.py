"""Webhook signatures: the Standard Webhooks known answer, and for any secret, message id,
time and body, the reference implementation accepts our headers and refuses them once
anything signed changes. Also the URL rule of an endpoint."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from crm_ledger.domain.webhook import WebhookEndpoint, WebhookUrlError, check_url
from crm_ledger.security.webhook_signing import headers, new_secret, signature

# the example of the Standard Webhooks specification's reference libraries
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
BODY = b'{"test": 2432232314}'


def test_the_known_answer() -> None:
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signature(SECRET, MSG_ID, 1614265330, BODY) == expected
    reference = Webhook(SECRET).sign(MSG_ID, datetime.fromtimestamp(1614265330, UTC), BODY.decode())
    assert reference == expected


bodies = st.text(max_size=200).map(str.encode)
ids = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)


@given(body=bodies, message_id=ids, skew=st.integers(-200, 200))
def test_the_reference_verifier_accepts_ours_and_refuses_changes(
    body: bytes, message_id: str, skew: int
) -> None:
    old, new = new_secret(), new_secret()
    now = int(time.time()) + skew
    signed = headers([new, old], message_id, now, body)
    for secret in (new, old):
        Webhook(secret).verify(body, signed, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, signed, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body + b" ", signed, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body, {**signed, "webhook-id": message_id + "x"}, json_parse=False)
    later = {**signed, "webhook-timestamp": str(now + 1)}
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body, later, json_parse=False)


def test_a_secret_is_32_random_bytes() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(s.startswith("whsec_") and len(s) == 6 + 44 for s in secrets)


@pytest.mark.parametrize(
    ("url", "allow_http"),
    [
        ("http://hooks.example.com/x", False),
        ("ftp://hooks.example.com/x", True),
        ("https://user:pw@hooks.example.com/x", True),
        ("https:///x", True),
        ("https://hooks.example.com:99999/x", True),
        ("https://hooks.example.com/x#frag", True),
        ("https://hooks.example.com/a b", True),
        ("", True),
    ],
)
def test_urls_an_endpoint_refuses(url: str, allow_http: bool) -> None:
    with pytest.raises(WebhookUrlError):
        check_url(url, allow_http=allow_http)


def test_urls_an_endpoint_takes() -> None:
    assert check_url(" https://hooks.example.com/x?a=1 ", allow_http=False) == (
        "https://hooks.example.com/x?a=1"
    )
    assert check_url("http://127.0.0.1:9000/", allow_http=True) == "http://127.0.0.1:9000/"
    endpoint = WebhookEndpoint.register(
        url="https://hooks.example.com/x",
        role="sales",
        types=["deal", "contact", "deal"],
        start_after=7,
        actor="apikey:x",
        allow_http=False,
    )
    assert (endpoint.types, endpoint.start_after) == (["contact", "deal"], 7)
    assert endpoint.enabled
