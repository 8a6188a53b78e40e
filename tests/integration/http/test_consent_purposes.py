"""The consent purpose catalogue over HTTP: purposes with versioned wordings, statements
that name the version a person was shown (recorded with its SHA-256), roles and the feed
(SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib

from tests.integration.http.conftest import Api
from tests.integration.http.test_changes import as_role, feed
from tests.integration.http.test_sales_api import ok, problem

FIRST = "I agree to receive offers by e-mail."
SECOND = "I agree that Example S.L. sends me offers by e-mail; I can withdraw at any time."


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def define(api: Api, purpose: str = "marketing_email", wording: str = FIRST) -> dict:
    body = {"purpose": purpose, "title": "Offers by e-mail", "wording": wording}
    response = api.post("/consent-purposes", json=body)
    made: dict = ok(response, 201)
    assert response.headers["Location"] == f"/consent-purposes/{purpose}"
    assert int(response.headers["X-Log-Position"]) > 0
    return made


def test_wordings_are_versioned_and_statements_name_theirs(api: Api) -> None:
    assert ok(api.get("/consent-purposes")) == {"items": []}
    problem(api.get("/consent-purposes/marketing_email"), 404, "not_found")
    made = define(api)
    assert (made["title"], made["description"], [w["version"] for w in made["wordings"]]) == (
        "Offers by e-mail",
        None,
        [1],
    )
    assert made["wordings"][0]["sha256"] == sha(FIRST)
    problem(api.post("/consent-purposes", json={"purpose": "marketing_email",
            "title": "Again", "wording": "x"}), 409, "purpose_defined")  # fmt: skip

    published = api.post("/consent-purposes/marketing_email/wordings", json={"wording": SECOND})
    second = ok(published, 201)
    assert (second["version"], second["text"], second["sha256"]) == (2, SECOND, sha(SECOND))
    assert published.headers["Location"] == "/consent-purposes/marketing_email/wordings/2"
    same = api.post("/consent-purposes/marketing_email/wordings", json={"wording": SECOND})
    problem(same, 422, "invalid_command")
    problem(
        api.post("/consent-purposes/newsletter/wordings", json={"wording": "x"}), 404, "not_found"
    )
    assert ok(api.get("/consent-purposes/marketing_email/wordings/1"))["text"] == FIRST
    problem(api.get("/consent-purposes/marketing_email/wordings/3"), 404, "not_found")
    (listed,) = ok(api.get("/consent-purposes"))["items"]
    assert [w["text"] for w in listed["wordings"]] == [FIRST, SECOND]  # the first unchanged

    contact = ok(api.post("/contacts", json={"kind": "person", "name": "Ana"}), 201)["id"]
    given = {"purpose": "marketing_email", "granted": True, "source": "web_form"}
    answer = ok(
        api.post(f"/contacts/{contact}/consents", json={**given, "wording_version": 1}), 201
    )
    (statement,) = answer["statements"]
    assert (statement["wording_version"], statement["wording_sha256"], statement["wording"]) == (
        1,
        sha(FIRST),
        None,
    )
    for bad, status, code in (
        ({**given, "wording_version": 3}, 404, "not_found"),
        ({**given, "purpose": "newsletter", "wording_version": 1}, 404, "not_found"),
        ({**given, "wording_version": 1, "wording": "text"}, 422, "invalid_command"),
        ({**given, "wording_version": 0}, 422, "validation_failed"),
    ):
        problem(api.post(f"/contacts/{contact}/consents", json=bad), status, code)
    plain = ok(api.post(f"/contacts/{contact}/consents", json={**given, "wording": "paper"}), 201)
    assert [s["wording_version"] for s in plain["statements"]] == [1, None]
    assert len(ok(api.get(f"/contacts/{contact}/consents"))["statements"]) == 2  # nothing else

    changes = [c for c in feed(api) if c["type"] == "consent_purpose"]
    assert [c["event"] for c in changes] == ["Started", "Defined", "Published", "Published"]
    assert changes[-1]["data"]["text"] == SECOND


def test_admins_define_purposes_and_everyone_reads_them(api: Api) -> None:
    define(api)
    for role in ("sales", "accountant", "auditor"):
        other = as_role(api, role)
        assert [p["purpose"] for p in ok(other.get("/consent-purposes"))["items"]] == [
            "marketing_email"
        ]
        refused = other.post("/consent-purposes/marketing_email/wordings", json={"wording": "x"})
        problem(refused, 403, "forbidden_for_role")
