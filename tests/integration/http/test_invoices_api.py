"""Issuers and invoices end to end over HTTP, on SQLite and PostgreSQL.

Covers the full flow (issuer, series, contact, draft, edit, issue, cancel, rectify), the
VERI*FACTU chain verified through the API, the unalterability of issued invoices through
every mutating route, and gapless numbering under concurrent issues.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from crm_ledger import retry
from crm_ledger.application import CrmApplication
from crm_ledger.domain import verifactu
from tests.integration.http.conftest import Api

PATTERN = "{series}-{year}-{number:06d}"
LINES = [
    {"description": "Widget", "quantity": "3", "unit_price": "10.015", "vat_rate": "21"},
    {"description": "Book", "quantity": "1", "unit_price": "20.00", "vat_rate": "4"},
]
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert status == response.status_code, response.text
    return dict(response.json())


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert (status, code) == (response.status_code, response.json().get("code")), response.text
    assert "application/problem+json" == response.headers["content-type"]
    return dict(response.json())


def match(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


def new_issuer(api: Api) -> dict[str, Any]:
    body = {
        "legal_name": "Acme Soluciones SL",
        "tax_id": "B12345678",
        "address": {"line1": "Calle Mayor 1", "city": "Madrid", "country": "ES"},
        "series": [{"code": "A", "pattern": PATTERN}],
    }
    return ok(api.post("/issuers", json=body), 201)


def new_customer(api: Api) -> str:
    body = {
        "kind": "organisation",
        "name": "Cliente SA",
        "tax_id": "A87654321",
        "addresses": [{"line1": "Gran Via 2", "city": "Madrid", "country": "ES"}],
    }
    return str(ok(api.post("/contacts", json=body), 201)["id"])


def new_draft(api: Api, issuer: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"issuer_id": issuer["id"], "series": "A", "lines": LINES, **fields}
    return ok(api.post("/invoices", json=body), 201)


def issue(api: Api, invoice: dict[str, Any]) -> dict[str, Any]:
    return ok(api.post(f"/invoices/{invoice['id']}/issue", headers=match(invoice["version"])))


def chain(api: Api, issuer_id: str, limit: int = 500) -> list[dict[str, Any]]:
    """Every record of the issuer's chain, following the cursor."""
    records: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = ok(api.get(f"/issuers/{issuer_id}/verifactu/records?limit={limit}{cursor}"))
        records.extend(page["items"])
        if page["next_cursor"] is None:
            return records
        cursor = f"&cursor={page['next_cursor']}"


# -- full flow --------------------------------------------------------------------------


def test_issuer_series_and_validation(api: Api) -> None:
    issuer = new_issuer(api)
    assert (["A"], {"last_huella": "", "count": 0}) == (
        [s["code"] for s in issuer["series"]],
        issuer["chain"],
    )
    path = f"/issuers/{issuer['id']}/series"
    problem(api.post(path, json={"code": "B", "pattern": PATTERN}), 428, "precondition_required")
    added = ok(
        api.post(
            path,
            json={"code": "R", "pattern": "R/{year}/{series}{number:05d}"},
            headers=match(issuer["version"]),
        )
    )
    assert ["A", "R"] == [s["code"] for s in added["series"]]
    problem(
        api.post(path, json={"code": "A", "pattern": PATTERN}, headers=match(added["version"])),
        409,
        "series_exists",
    )
    problem(
        api.post(path, json={"code": "B", "pattern": "{number}"}, headers=match(added["version"])),
        422,
        "invalid_series_pattern",
    )
    problem(
        api.post(path, json={"code": "B", "pattern": PATTERN}, headers=match(1)),
        412,
        "version_conflict",
    )
    bad = {"legal_name": "X", "tax_id": "B1234567-"}
    problem(api.post("/issuers", json=bad), 422, "invalid_command")
    assert added == ok(api.get(f"/issuers/{issuer['id']}"))


def test_full_flow_with_chain_verified_through_the_api(api: Api) -> None:
    """Draft, edit, issue (alta), issue (alta), cancel (anulación), rectify, issue (alta):
    the chain read back from the API verifies with verify_chain, and a tampered copy not."""
    issuer = new_issuer(api)
    customer_id = new_customer(api)

    draft = new_draft(api, issuer, customer_id=customer_id, notes="first")
    assert ("draft", None, "Cliente SA", "A87654321") == (
        draft["status"],
        draft["number"],
        draft["customer"]["name"],
        draft["customer"]["tax_id"],
    )
    assert ["30.05", "20.00"] == [line["base"] for line in draft["lines"]]
    assert ("7.11", "57.16") == (draft["totals"]["tax_total"], draft["totals"]["total"])

    path = f"/invoices/{draft['id']}"
    problem(api.patch(path, json={"notes": "x"}), 428, "precondition_required")
    problem(api.patch(path, json={"notes": "x"}, headers=match(99)), 412, "version_conflict")
    problem(
        api.patch(path, json={"lines": [{**LINES[0], "quantity": 3}]}, headers=match(1)),
        422,
        "validation_failed",
    )  # a JSON number is refused: quantities travel as strings
    edited = ok(
        api.patch(
            path,
            json={"notes": "second", "lines": [*LINES, {**LINES[0], "withholding_rate": "15"}]},
            headers=match(draft["version"]),
        )
    )
    # 60.10 at 21% (12.62) + 20.00 at 4% (0.80); IRPF 15% of 30.05 = 4.5075 -> -4.51
    assert ("second", "13.42", "-4.51", "89.01") == (
        edited["notes"],
        edited["totals"]["tax_total"],
        edited["totals"]["withholding_total"],
        edited["totals"]["total"],
    )

    first = issue(api, edited)
    year = first["issue_date"][:4]
    assert ("issued", f"A-{year}-000001") == (first["status"], first["number"])
    assert first == ok(api.get(path))
    vf = ok(api.get(f"{path}/verifactu"))
    assert ("alta", "", first["huella"]) == (vf["record_type"], vf["previous_huella"], vf["huella"])
    assert ("93.52", "13.42", "F1") == (
        vf["fields"]["ImporteTotal"],  # 80.10 + 13.42: ImporteTotal excludes the IRPF
        vf["fields"]["CuotaTotal"],
        vf["fields"]["TipoFactura"],
    )
    assert f"numserie=A-{year}-000001" in vf["qr_url"]
    assert vf["qr_url"].endswith("&importe=93.52")
    assert vf["cancellation"] is None

    simplified = issue(api, new_draft(api, issuer, invoice_type="F2"))
    assert f"A-{year}-000002" == simplified["number"]
    cancelled = ok(
        api.post(
            f"/invoices/{simplified['id']}/cancel",
            json={"reason": "issued twice"},
            headers=match(simplified["version"]),
        )
    )
    assert ("cancelled", f"A-{year}-000002", "issued twice") == (
        cancelled["status"],
        cancelled["number"],
        cancelled["cancellation"]["reason"],
    )

    before = ok(api.get(path))
    credit = ok(
        api.post(
            f"{path}/rectify",
            json={"invoice_type": "R1", "method": "differences", "reason": "goods returned"},
        ),
        201,
    )
    assert before == ok(api.get(path))  # the original is untouched
    assert ("draft", "R1", first["number"], "-89.01") == (
        credit["status"],
        credit["invoice_type"],
        credit["rectifies"]["number"],
        credit["totals"]["total"],
    )
    credit = issue(api, credit)
    assert f"A-{year}-000003" == credit["number"]

    records = chain(api, issuer["id"], limit=2)
    assert ["alta", "alta", "anulacion", "alta"] == [r["record_type"] for r in records]
    assert [1, 2, 3, 4] == [r["index"] for r in records]
    assert [first["id"], simplified["id"], simplified["id"], credit["id"]] == [
        r["invoice_id"] for r in records
    ]
    assert verifactu.verify_chain(records) is None
    assert records[-1]["huella"] == ok(api.get(f"/issuers/{issuer['id']}"))["chain"]["last_huella"]

    tampered = [dict(r) for r in records]
    tampered[1] = {**tampered[1], "fields": {**tampered[1]["fields"], "ImporteTotal": "0.00"}}
    broken = verifactu.verify_chain(tampered)
    assert broken is not None
    assert (1, "huella_mismatch") == (broken.index, broken.reason)


def test_simplified_invoice_without_tax_id_and_full_invoice_with(api: Api) -> None:
    issuer = new_issuer(api)
    full = new_draft(api, issuer, customer={"name": "Walk-in"})
    problem(
        api.post(f"/invoices/{full['id']}/issue", headers=match(full["version"])),
        422,
        "customer_tax_id_required",
    )
    empty = new_draft(api, issuer, invoice_type="F2", lines=[])
    problem(
        api.post(f"/invoices/{empty['id']}/issue", headers=match(empty["version"])),
        422,
        "invoice_lines_required",
    )
    simplified = issue(api, new_draft(api, issuer, invoice_type="F2"))
    assert simplified["number"].endswith("-000001")  # the refusals took no number
    problem(
        api.post(
            f"/invoices/{simplified['id']}/rectify",
            json={"invoice_type": "R1", "reason": "x"},
        ),
        422,
        "invalid_rectification_type",
    )
    problem(api.get(f"/invoices/{empty['id']}/verifactu"), 409, "invoice_not_issued")
    problem(
        api.post(
            f"/invoices/{empty['id']}/issue",
            json={"issue_date": "2999-01-01"},
            headers=match(empty["version"]),
        ),
        422,
        "invalid_issue_date",
    )


def test_idempotent_draft_creation(api: Api) -> None:
    """The same Idempotency-Key and body returns the first response and writes nothing."""
    issuer = new_issuer(api)
    body = {"issuer_id": issuer["id"], "series": "A", "lines": LINES}
    key = {"Idempotency-Key": "draft-1"}
    first = ok(api.post("/invoices", json=body, headers=key), 201)
    count = api.event_count()
    again = ok(api.post("/invoices", json=body, headers=key), 201)
    assert (first, count) == (again, api.event_count())


# -- unalterability ---------------------------------------------------------------------

Probe = Callable[[dict[str, Any]], dict[str, Any]]

# A request for every mutating route that targets one invoice: what it would send to
# change the invoice (If-Match is always the current version, so only the domain refuses).
PROBES: dict[tuple[str, str], Probe] = {
    ("PATCH", "/invoices/{invoice_id}"): lambda inv: {
        "json": {"notes": "altered", "lines": [{**LINES[0], "unit_price": "1.00"}]}
    },
    ("POST", "/invoices/{invoice_id}/issue"): lambda inv: {"json": {}},
    ("POST", "/invoices/{invoice_id}/cancel"): lambda inv: {"json": {"reason": "again"}},
    ("POST", "/invoices/{invoice_id}/rectify"): lambda inv: {
        "json": {"invoice_type": "R1", "method": "differences", "reason": "x"}
    },
}
# Corrections by NEW records, the only ways the law allows: on an issued (not cancelled)
# invoice they succeed without altering its content; on a cancelled one they are refused.
CORRECTIONS = {
    ("POST", "/invoices/{invoice_id}/cancel"),
    ("POST", "/invoices/{invoice_id}/rectify"),
}
COLLECTION = {("POST", "/invoices")}  # creates a new draft; targets no invoice


def mutating_routes(api: Api) -> list[tuple[str, str]]:
    """Every (method, path) under /invoices that may write, from the app's OpenAPI."""
    paths = ok(api.get("/openapi.json"))["paths"]
    found = [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/invoices")
        for method in sorted(operations)
        if method.upper() in MUTATING
    ]
    assert found, "no mutating routes found under /invoices"
    return found


def attempt(api: Api, method: str, path: str, invoice: dict[str, Any]) -> Any:
    url = path.replace("{invoice_id}", invoice["id"])
    return api.request(
        method, url, headers=match(invoice["version"]), **PROBES[method, path](invoice)
    )


def content(invoice: dict[str, Any]) -> dict[str, Any]:
    """Everything fiscal about an invoice (not its status or version)."""
    keys = ("number", "issue_date", "invoice_type", "series", "customer", "lines", "totals")
    return {k: invoice[k] for k in (*keys, "huella", "currency", "notes")}


def test_issued_invoice_cannot_be_changed_through_any_route(api: Api) -> None:
    """Every mutating route under /invoices is tried on an issued invoice.

    Each one that would alter it is refused (409 invoice_issued) and writes nothing. The
    two correction routes (cancel, rectify) leave its fiscal content as issued; once it is
    cancelled, EVERY mutating route is refused and writes nothing. Undefined methods on
    the invoice (PUT, DELETE) do not exist. A new mutating route without a probe here
    fails the test.
    """
    issuer = new_issuer(api)
    invoice = issue(api, new_draft(api, issuer, customer={"name": "C", "tax_id": "A87654321"}))
    issued_content = content(invoice)
    routes = mutating_routes(api)
    unprobed = set(routes) - set(PROBES) - COLLECTION
    assert set() == unprobed, f"add a probe for each new mutating route: {sorted(unprobed)}"

    refused = 0
    for method, path in routes:
        if (method, path) in COLLECTION | CORRECTIONS:
            continue
        count = api.event_count()
        problem(attempt(api, method, path, invoice), 409, "invoice_issued")
        assert count == api.event_count(), (method, path)
        assert invoice == ok(api.get(f"/invoices/{invoice['id']}")), (method, path)
        refused += 1
    assert refused >= 2  # PATCH and issue at least
    for method in ("PUT", "DELETE"):
        count = api.event_count()
        assert 405 == api.request(method, f"/invoices/{invoice['id']}", json={}).status_code
        assert count == api.event_count()

    rectified = ok(attempt(api, "POST", "/invoices/{invoice_id}/rectify", invoice), 201)
    assert rectified["id"] != invoice["id"]
    assert invoice == ok(api.get(f"/invoices/{invoice['id']}"))
    cancelled = ok(attempt(api, "POST", "/invoices/{invoice_id}/cancel", invoice))
    assert ("cancelled", issued_content) == (cancelled["status"], content(cancelled))

    for method, path in routes:
        if (method, path) in COLLECTION:
            continue
        count = api.event_count()
        response = attempt(api, method, path, cancelled)
        assert 409 == response.status_code, (method, path, response.text)
        assert response.json()["code"] in {"invoice_issued", "invoice_cancelled"}
        assert count == api.event_count(), (method, path)
        assert cancelled == ok(api.get(f"/invoices/{invoice['id']}")), (method, path)


# -- concurrency ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_concurrent_issues_number_gaplessly(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """8 threads issue 8 drafts of one series at once on PostgreSQL: numbers 1..8, no gap,
    no duplicate, one chain of 8 records that verifies; the threads did collide (the
    retry path ran), so the result is not an accident of serial timing. To make the
    collision certain (writes are fast enough to serialise by chance), each request's
    first store waits until all 8 have built their step on the same issuer head."""
    retries: list[float] = []
    uniform = retry.random.uniform

    def counting(low: float, high: float) -> float:
        retries.append(high)
        return uniform(low, high)

    monkeypatch.setattr(retry.random, "uniform", counting)
    issuer = new_issuer(api)
    drafts = [new_draft(api, issuer, invoice_type="F2") for _ in range(8)]
    barrier = threading.Barrier(len(drafts))
    built = threading.Barrier(len(drafts), timeout=30)
    stored_once: set[int] = set()
    store = CrmApplication.store

    def store_after_all_built(self: CrmApplication, *aggregates: Any, **kwargs: Any) -> Any:
        if threading.get_ident() not in stored_once:
            stored_once.add(threading.get_ident())
            built.wait()
        return store(self, *aggregates, **kwargs)

    monkeypatch.setattr(CrmApplication, "store", store_after_all_built)
    results: dict[str, Any] = {}

    def worker(draft: dict[str, Any]) -> None:
        barrier.wait()
        results[draft["id"]] = api.post(
            f"/invoices/{draft['id']}/issue", headers=match(draft["version"])
        )

    threads = [threading.Thread(target=worker, args=(d,)) for d in drafts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    issued = [ok(r) for r in results.values()]
    year = issued[0]["issue_date"][:4]
    assert [f"A-{year}-{n:06d}" for n in range(1, 9)] == sorted(i["number"] for i in issued)
    records = chain(api, issuer["id"])
    assert 8 == len(records)
    assert verifactu.verify_chain(records) is None
    numbers = {i["id"]: i["number"] for i in issued}
    assert [numbers[r["invoice_id"]] for r in records] == [
        r["fields"]["NumSerieFactura"] for r in records
    ]
    assert sorted(numbers.values()) == [r["fields"]["NumSerieFactura"] for r in records]
    assert {year: 9} == ok(api.get(f"/issuers/{issuer['id']}"))["series"][0]["next_numbers"]
    assert retries, "the 8 issues never collided: the test did not exercise the retry"
