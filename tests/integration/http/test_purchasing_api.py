"""Suppliers, received invoices and payables end to end over HTTP, on SQLite and PostgreSQL.

Covers the supplier resource (IBAN check, If-Match, deactivation), the received-invoice
flow (register, correct, approve, dispute, partial and full payment, cancel), duplicate
supplier invoice numbers (also eight concurrent registrations on PostgreSQL), the
filtered, cursor-paginated listing, and the payables ageing on fixed, hand-computed dates.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from crm_ledger import purchasing
from crm_ledger.domain.purchase_invoice import PurchaseInvoice
from tests.integration.http.conftest import Api

IBAN = "ES91 2100 0418 4502 0005 1332"
PAPER = {"description": "Printer paper", "quantity": "10", "unit_price": "4.50", "vat_rate": "21"}


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert status == response.status_code, response.text
    return dict(response.json())


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert (status, code) == (response.status_code, response.json().get("code")), response.text
    assert "application/problem+json" == response.headers["content-type"]
    return dict(response.json())


def match(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


def new_supplier(api: Api, name: str = "Papelera Norte SL", **fields: Any) -> dict[str, Any]:
    contact = ok(api.post("/contacts", json={"kind": "organisation", "name": name}), 201)
    body = {"contact_id": contact["id"], "legal_name": name, "tax_id": "B76543210", **fields}
    return ok(api.post("/suppliers", json=body), 201)


def register(api: Api, supplier: dict[str, Any], number: str, **fields: Any) -> dict[str, Any]:
    body = {
        "supplier_id": supplier["id"],
        "number": number,
        "issue_date": "2025-03-01",
        "received_on": "2025-03-01",
        "lines": [PAPER],
        **fields,
    }
    return ok(api.post("/purchase-invoices", json=body), 201)


def act(api: Api, invoice: dict[str, Any], action: str, **body: Any) -> dict[str, Any]:
    path = f"/purchase-invoices/{invoice['id']}/{action}"
    return ok(api.post(path, json=body or None, headers=match(invoice["version"])))


def pay(api: Api, invoice: dict[str, Any], ref: str, amount: str, on: str) -> dict[str, Any]:
    return act(api, invoice, "payments", payment_ref=ref, amount=amount, paid_on=on)


# -- suppliers --------------------------------------------------------------------------


def test_supplier_register_read_update_deactivate(api: Api) -> None:
    """Register (201, ETag, Location, IBAN stored compact), read, change with If-Match
    (428 without, 412 stale), deactivate, then changes are 409 supplier_inactive."""
    contact = ok(api.post("/contacts", json={"kind": "person", "name": "Ana Autónoma"}), 201)
    body = {"contact_id": contact["id"], "legal_name": "Ana Autónoma", "tax_id": "12345678-z",
            "payment_terms_days": 60, "default_expense_category": "623", "iban": IBAN}  # fmt: skip
    created = api.post("/suppliers", json=body)
    supplier = ok(created, 201)
    sid = supplier["id"]
    assert ('"1"', f"/suppliers/{sid}") == (created.headers["etag"], created.headers["location"])
    assert ("12345678Z", 60, "623", "ES9121000418450200051332", True) == (
        supplier["tax_id"],
        supplier["payment_terms_days"],
        supplier["default_expense_category"],
        supplier["iban"],
        supplier["active"],
    )
    read = api.get(f"/suppliers/{sid}")
    assert ('"1"', supplier) == (read.headers["etag"], read.json())

    change = {"payment_terms_days": 45, "iban": None}
    problem(api.patch(f"/suppliers/{sid}", json=change), 428, "precondition_required")
    problem(api.patch(f"/suppliers/{sid}", json=change, headers=match(9)), 412, "version_conflict")
    changed = ok(api.patch(f"/suppliers/{sid}", json=change, headers=match(1)))
    assert (45, None, 2) == (changed["payment_terms_days"], changed["iban"], changed["version"])

    off = ok(api.post(f"/suppliers/{sid}/deactivate", headers=match(2)))
    assert (False, 3) == (off["active"], off["version"])
    problem(
        api.patch(f"/suppliers/{sid}", json={"legal_name": "X"}, headers=match(3)),
        409,
        "supplier_inactive",
    )
    problem(api.post(f"/suppliers/{sid}/deactivate", headers=match(3)), 409, "supplier_inactive")
    listed = ok(api.get("/suppliers?active=false"))["items"]
    assert [sid] == [s["id"] for s in listed]
    assert [] == ok(api.get("/suppliers?active=true"))["items"]
    events, entries = api.event_count()
    assert events == entries


def test_supplier_refusals(api: Api) -> None:
    """A bad IBAN check digit is 422 invalid_iban pointing at /iban; an unknown contact
    404; a JSON number as terms text or an unknown field 422 validation_failed."""
    contact = ok(api.post("/contacts", json={"kind": "organisation", "name": "Acme"}), 201)
    body = {"contact_id": contact["id"], "legal_name": "Acme SL", "tax_id": "B1"}
    bad = problem(
        api.post("/suppliers", json={**body, "iban": "ES9121000418450200051333"}),
        422,
        "invalid_iban",
    )
    assert "/iban" == bad["errors"][0]["pointer"]
    unknown = {**body, "contact_id": "0b5e7a52-8d6f-4b1e-9f59-6a0f6f0e2c11"}
    problem(api.post("/suppliers", json=unknown), 404, "not_found")
    problem(api.post("/suppliers", json={**body, "payment_terms_days": "30"}), 422,
            "validation_failed")  # fmt: skip
    problem(api.post("/suppliers", json={**body, "bank": "x"}), 422, "validation_failed")


# -- received invoices ----------------------------------------------------------------------


def test_purchase_invoice_flow(api: Api) -> None:
    """Register (totals as strings, due date from the terms), correct before approval,
    dispute, approve, then correcting is refused; partial and full payment; a paid
    invoice is neither paid again nor cancelled. Every event is in the ledger."""
    supplier = new_supplier(api, payment_terms_days=30, default_expense_category="629")
    created = api.post(
        "/purchase-invoices",
        json={"supplier_id": supplier["id"], "number": "PN-0142", "issue_date": "2025-03-02",
              "received_on": "2025-03-04", "lines": [PAPER], "notes": "March paper"},
    )  # fmt: skip
    invoice = ok(created, 201)
    iid = invoice["id"]
    assert f"/purchase-invoices/{iid}" == created.headers["location"]
    assert ("received", "2025-04-01", "45.00", "9.45", "54.45", "54.45", "0.00") == (
        invoice["status"],
        invoice["due_date"],
        invoice["totals"]["base_total"],
        invoice["totals"]["deductible_vat"],
        invoice["totals"]["total"],
        invoice["outstanding"],
        invoice["paid_total"],
    )
    assert ("629", True, "45.00") == tuple(
        invoice["lines"][0][k] for k in ("expense_category", "deductible", "base")
    )

    lunch = {"description": "Lunch", "quantity": "1", "unit_price": "30", "vat_rate": "10",
             "deductible": False}  # fmt: skip
    corrected = ok(
        api.patch(
            f"/purchase-invoices/{iid}",
            json={"issue_date": "2025-03-03", "lines": [PAPER, lunch]},
            headers=match(1),
        )
    )
    assert ("2025-04-02", "87.45", "9.45", 2) == (
        corrected["due_date"],
        corrected["totals"]["total"],
        corrected["totals"]["deductible_vat"],
        corrected["version"],
    )
    problem(
        api.post(f"/purchase-invoices/{iid}/payments", json={"payment_ref": "T0", "amount": "1"},
                 headers=match(2)),
        409,
        "purchase_invoice_status_conflict",
    )  # fmt: skip
    disputed = act(api, corrected, "dispute", reason="lunch not ordered")
    assert ("disputed", "lunch not ordered") == (disputed["status"], disputed["dispute_reason"])
    approved = act(api, disputed, "approve")
    assert ("approved", None) == (approved["status"], approved["dispute_reason"])
    assert approved["approved_by"].startswith("apikey:")
    problem(
        api.patch(f"/purchase-invoices/{iid}", json={"notes": "x"}, headers=match(4)),
        409,
        "purchase_invoice_status_conflict",
    )

    partial = pay(api, approved, "T1", "40.00", "2025-04-01")
    assert ("partially_paid", "40.00", "47.45") == (
        partial["status"],
        partial["paid_total"],
        partial["outstanding"],
    )
    over = api.post(
        f"/purchase-invoices/{iid}/payments",
        json={"payment_ref": "T2", "amount": "47.46"},
        headers=match(5),
    )
    problem(over, 409, "overpayment")
    again = api.post(
        f"/purchase-invoices/{iid}/payments",
        json={"payment_ref": "T1", "amount": "1.00"},
        headers=match(5),
    )
    problem(again, 409, "payment_ref_taken")
    future = {"payment_ref": "T2", "amount": "1.00", "paid_on": "2099-01-01"}
    problem(
        api.post(f"/purchase-invoices/{iid}/payments", json=future, headers=match(5)),
        422,
        "invalid_purchase_date",
    )
    paid = pay(api, partial, "T2", "47.45", "2025-04-10")
    assert ("paid", "0.00", ["T1", "T2"]) == (
        paid["status"],
        paid["outstanding"],
        [p["payment_ref"] for p in paid["payments"]],
    )
    problem(
        api.post(f"/purchase-invoices/{iid}/cancel", json={"reason": "x"}, headers=match(6)),
        409,
        "purchase_invoice_paid",
    )
    read = api.get(f"/purchase-invoices/{iid}")
    assert ('"6"', paid) == (read.headers["etag"], read.json())
    events, entries = api.event_count()
    assert events == entries


def test_register_refusals(api: Api) -> None:
    """Future issue date, reception before issue, money as a JSON number, no lines, an
    inactive supplier: each refused with its problem; nothing written."""
    supplier = new_supplier(api)
    base = {"supplier_id": supplier["id"], "number": "N-1", "issue_date": "2025-03-01",
            "lines": [PAPER]}  # fmt: skip
    before = api.event_count()
    problem(api.post("/purchase-invoices", json={**base, "issue_date": "2099-01-01"}), 422,
            "invalid_purchase_date")  # fmt: skip
    problem(api.post("/purchase-invoices", json={**base, "received_on": "2025-02-01"}), 422,
            "invalid_purchase_date")  # fmt: skip
    problem(api.post("/purchase-invoices", json={**base, "lines": []}), 422, "validation_failed")
    problem(
        api.post("/purchase-invoices", json={**base, "lines": [{**PAPER, "unit_price": 4.5}]}),
        422,
        "validation_failed",
    )
    problem(
        api.post("/purchase-invoices", json={**base, "lines": [{**PAPER, "vat_rate": None}]}),
        422,
        "invalid_command",
    )
    assert before == api.event_count()
    ok(api.post(f"/suppliers/{supplier['id']}/deactivate", headers=match(1)))
    problem(api.post("/purchase-invoices", json=base), 409, "supplier_inactive")


def test_duplicate_supplier_invoice_number_is_refused(api: Api) -> None:
    """The same supplier's number again (any case or spacing) is 409
    purchase_invoice_duplicate naming the existing invoice, and writes nothing; the same
    number from another supplier is another invoice. An Idempotency-Key replay returns
    the first response instead."""
    papelera, quimica = new_supplier(api), new_supplier(api, "Quimica Sur SA")
    first = register(api, papelera, "PN-0142")
    count = api.event_count()
    dup = problem(
        api.post(
            "/purchase-invoices",
            json={"supplier_id": papelera["id"], "number": " pn-0142", "issue_date": "2025-03-05",
                  "lines": [PAPER]},
        ),
        409,
        "purchase_invoice_duplicate",
    )  # fmt: skip
    assert first["id"] in dup["detail"]
    assert "/number" == dup["errors"][0]["pointer"]
    assert count == api.event_count()
    other = register(api, quimica, "PN-0142")
    assert other["id"] != first["id"]

    body = {"supplier_id": papelera["id"], "number": "PN-0143", "issue_date": "2025-03-01",
            "lines": [PAPER]}  # fmt: skip
    once = api.post("/purchase-invoices", json=body, headers={"Idempotency-Key": "pi-1"})
    replay = api.post("/purchase-invoices", json=body, headers={"Idempotency-Key": "pi-1"})
    assert (201, ok(once, 201)) == (replay.status_code, replay.json())
    problem(api.post("/purchase-invoices", json=body), 409, "purchase_invoice_duplicate")


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_concurrent_double_registration_on_postgres(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """8 threads register the same supplier invoice at once on PostgreSQL. Each is held
    after the "already registered?" look-up until all 8 have passed it, so all 8 reach
    the event store together: exactly one 201, seven 409 purchase_invoice_duplicate, one
    stored Registered event, and the ledger still has every event."""
    supplier = new_supplier(api)
    threads_count = 8
    gate = threading.Barrier(threads_count, timeout=30)
    original = PurchaseInvoice.register

    def held(cls: type[PurchaseInvoice], **kwargs: Any) -> PurchaseInvoice:
        gate.wait()  # every thread has done the look-up and found nothing
        return original(**kwargs)

    monkeypatch.setattr(PurchaseInvoice, "register", classmethod(held))
    body = {"supplier_id": supplier["id"], "number": "PN-RACE", "issue_date": "2025-03-01",
            "lines": [PAPER]}  # fmt: skip
    results: list[Any] = []
    lock = threading.Lock()

    def worker() -> None:
        response = api.post("/purchase-invoices", json=body)
        with lock:
            results.append(response)

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    statuses = sorted(r.status_code for r in results)
    assert [201] + [409] * (threads_count - 1) == statuses, [r.text for r in results]
    assert {"purchase_invoice_duplicate"} == {
        r.json()["code"] for r in results if r.status_code == 409
    }
    (winner,) = [r.json() for r in results if r.status_code == 201]
    registrations = list(purchasing.registered(api.crm, purchasing.REGISTERED_TOPIC))
    assert [winner["id"]] == [str(aggregate_id) for _, aggregate_id in registrations]
    assert winner == ok(api.get(f"/purchase-invoices/{winner['id']}"))
    events, entries = api.event_count()
    assert events == entries


# -- listing and payables --------------------------------------------------------------------


def book(api: Api) -> dict[str, Any]:
    """Two suppliers and twelve invoices on fixed 2025 dates (all issued and received
    2025-03-01 unless said). Amounts: base x 1.21 (21% VAT).

    ========  =====  ===========  =======  ==========================================
    invoice   base   due          total    state
    ========  =====  ===========  =======  ==========================================
    P-1       100    2025-07-10   121.00   received
    P-2       200    2025-06-30   242.00   paid 42.00 on 06-15 and 100.00 on 07-05
    P-3        50    2025-05-31    60.50   received
    P-4      1000    2025-05-30  1210.00   disputed
    P-5       300    2025-04-01   363.00   approved
    P-6       400    2025-03-31   484.00   paid in full on 06-01
    P-7        10    2025-03-01    12.10   cancelled
    P-8        20    2025-07-25    24.20   issued 06-25, received 07-02
    Q-1        20    2025-05-01    24.20   received
    Q-2       100    2025-04-30   121.00   received
    Q-3       200    2025-03-31   242.00   paid 142.00 on 06-30
    Q-4 USD    50    2025-06-01    60.50   received
    ========  =====  ===========  =======  ==========================================
    """
    p = new_supplier(api, "Papelera Norte SL")
    q = new_supplier(api, "Quimica Sur SA")

    def line(base: str) -> list[dict[str, str]]:
        return [{"description": "Goods", "quantity": "1", "unit_price": base, "vat_rate": "21"}]

    inv = {
        "P-1": register(api, p, "P-1", lines=line("100"), due_date="2025-07-10"),
        "P-2": register(api, p, "P-2", lines=line("200"), due_date="2025-06-30"),
        "P-3": register(api, p, "P-3", lines=line("50"), due_date="2025-05-31"),
        "P-4": register(api, p, "P-4", lines=line("1000"), due_date="2025-05-30"),
        "P-5": register(api, p, "P-5", lines=line("300"), due_date="2025-04-01"),
        "P-6": register(api, p, "P-6", lines=line("400"), due_date="2025-03-31"),
        "P-7": register(api, p, "P-7", lines=line("10"), due_date="2025-03-01"),
        "P-8": register(
            api,
            p,
            "P-8",
            lines=line("20"),
            issue_date="2025-06-25",
            received_on="2025-07-02",
            due_date="2025-07-25",
        ),
        "Q-1": register(api, q, "Q-1", lines=line("20"), due_date="2025-05-01"),
        "Q-2": register(api, q, "Q-2", lines=line("100"), due_date="2025-04-30"),
        "Q-3": register(api, q, "Q-3", lines=line("200"), due_date="2025-03-31"),
        "Q-4": register(api, q, "Q-4", lines=line("50"), due_date="2025-06-01", currency="USD"),
    }
    p2 = pay(api, act(api, inv["P-2"], "approve"), "P2-a", "42.00", "2025-06-15")
    inv["P-2"] = pay(api, p2, "P2-b", "100.00", "2025-07-05")
    inv["P-4"] = act(api, inv["P-4"], "dispute", reason="damaged")
    inv["P-5"] = act(api, inv["P-5"], "approve")
    inv["P-6"] = pay(api, act(api, inv["P-6"], "approve"), "P6", "484.00", "2025-06-01")
    inv["P-7"] = act(api, inv["P-7"], "cancel", reason="registered by mistake")
    inv["Q-3"] = pay(api, act(api, inv["Q-3"], "approve"), "Q3", "142.00", "2025-06-30")
    return {"p": p, "q": q, **inv}


def numbers(page: dict[str, Any]) -> list[str]:
    return [i["number"] for i in page["items"]]


def test_listing_filters_and_cursor(api: Api) -> None:
    """Registration order; status, due_before (strictly before), supplier_id filters
    combine; a cursor walks every invoice exactly once."""
    b = book(api)
    assert ["P-2", "Q-3"] == numbers(ok(api.get("/purchase-invoices?status=partially_paid")))
    assert ["P-7"] == numbers(ok(api.get("/purchase-invoices?status=cancelled")))
    assert ["P-6", "P-7", "Q-3"] == numbers(ok(api.get("/purchase-invoices?due_before=2025-04-01")))
    query = f"/purchase-invoices?supplier_id={b['q']['id']}&status=received"
    assert ["Q-1", "Q-2", "Q-4"] == numbers(ok(api.get(query)))
    exact = ok(api.get(query + "&due_before=2025-05-02&limit=2"))  # Q-4 is due 06-01
    assert (["Q-1", "Q-2"], None) == (numbers(exact), exact["next_cursor"])
    first = ok(api.get(query + "&due_before=2025-05-02&limit=1"))
    rest = ok(api.get(query + f"&due_before=2025-05-02&limit=1&cursor={first['next_cursor']}"))
    assert (["Q-1"], ["Q-2"], None) == (numbers(first), numbers(rest), rest["next_cursor"])
    problem(api.get("/purchase-invoices?status=lost"), 422, "validation_failed")
    problem(api.get("/purchase-invoices?due_before=tomorrow"), 422, "validation_failed")

    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        page = ok(api.get(f"/purchase-invoices?limit=5{cursor}"))
        seen += numbers(page)
        pages += 1
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    expected = ["P-1", "P-2", "P-3", "P-4", "P-5", "P-6", "P-7", "P-8", "Q-1", "Q-2", "Q-3",
                "Q-4"]  # fmt: skip
    assert (expected, 3) == (seen, pages)


def buckets(not_due: str, d30: str, d60: str, d90: str, over: str) -> dict[str, str]:
    return {"not_due": not_due, "days_0_30": d30, "days_31_60": d60, "days_61_90": d90,
            "days_over_90": over}  # fmt: skip


def test_payables_ageing_on_fixed_dates(api: Api) -> None:
    """As of 2025-06-30, by hand from the table in ``book``:

    * Papelera EUR: P-1 121.00 not due (-10 days); P-2 242.00 - 42.00 = 200.00 (0 days:
      the 07-05 payment is after as_of) and P-3 60.50 (30 days) in 0-30; P-4 1210.00
      (31 days, disputed still owed) in 31-60; P-5 363.00 (90 days) in 61-90. P-6 paid,
      P-7 cancelled, P-8 received after as_of: left out. 5 invoices, 1954.50.
    * Quimica EUR: Q-1 24.20 (60 days) in 31-60; Q-2 121.00 (61 days) in 61-90; Q-3
      242.00 - 142.00 = 100.00 (91 days; paid on as_of itself, so deducted) over 90.
      3 invoices, 245.20.
    * Quimica USD: Q-4 60.50 (29 days) in 0-30.
    """
    book(api)
    report = ok(api.get("/payables?as_of=2025-06-30"))
    assert "2025-06-30" == report["as_of"]
    rows = [
        (r["legal_name"], r["currency"], r["invoice_count"], r["outstanding"], r["buckets"])
        for r in report["suppliers"]
    ]
    assert [
        ("Papelera Norte SL", "EUR", 5, "1954.50",
         buckets("121.00", "260.50", "1210.00", "363.00", "0.00")),
        ("Quimica Sur SA", "EUR", 3, "245.20",
         buckets("0.00", "0.00", "24.20", "121.00", "100.00")),
        ("Quimica Sur SA", "USD", 1, "60.50", buckets("0.00", "60.50", "0.00", "0.00", "0.00")),
    ] == rows  # fmt: skip
    assert [
        {"currency": "EUR", "invoice_count": 8, "outstanding": "2199.70",
         "buckets": buckets("121.00", "260.50", "1234.20", "484.00", "100.00")},
        {"currency": "USD", "invoice_count": 1, "outstanding": "60.50",
         "buckets": buckets("0.00", "60.50", "0.00", "0.00", "0.00")},
    ] == report["totals"]  # fmt: skip


def test_payables_move_with_the_date(api: Api) -> None:
    """As of 2025-07-05: P-2's second payment counts (100.00 left, 5 days past due), P-8
    (received 07-02) is now owed, P-1 not due yet (5 days early). As of 2025-02-28,
    before anything was received: empty."""
    book(api)
    report = ok(api.get("/payables?as_of=2025-07-05"))
    papelera = report["suppliers"][0]
    assert ("Papelera Norte SL", 6, "1878.70") == (
        papelera["legal_name"],
        papelera["invoice_count"],
        papelera["outstanding"],
    )
    # P-1 121.00 and P-8 24.20 not due; P-2 100.00 (5 d) in 0-30; P-3 60.50 (35 d) and
    # P-4 1210.00 (36 d) in 31-60; P-5 363.00 (95 d) over 90.
    assert buckets("145.20", "100.00", "1270.50", "0.00", "363.00") == papelera["buckets"]
    assert {"as_of": "2025-02-28", "suppliers": [], "totals": []} == ok(
        api.get("/payables?as_of=2025-02-28")
    )
    problem(api.get("/payables?as_of=2025-13-01"), 422, "validation_failed")
