"""The ``/pipeline/...`` reports over HTTP, on SQLite and PostgreSQL, against a small fixed
data set whose every figure below was worked out by hand.

Pipeline A "New business": Qualified 20 %, Proposal 50 %, Negotiation 80 %.
Pipeline B "Renewals": Contact 10 %, Commit 90 % (then reordered, one stage renamed, one
extra stage added and retired).

=====  ====  =========  =====  ==================================================  ==========
deal   cur   amount     owner  story (times UTC, 09:00 each day, 2026)             exp. close
=====  ====  =========  =====  ==================================================  ==========
d1     EUR   1000.00    alice  created in Qualified 01-10                           03-01
d2     EUR    333.33    alice  created Qualified 01-12, moved to Proposal 02-01     02-15
d3     USD    250.05    bob    created in Proposal 01-20                            04-01
d4     EUR    999.99    bob    created Qualified 01-05, moved to Negotiation 02-10  (none)
d5     EUR    500.00    alice  created Qualified 01-02, Proposal 01-15, won 02-01   01-20
d6     USD    120.00    bob    created in Qualified 01-03, lost 01-25               01-31
d7     EUR    (none)    (none) created in Qualified 02-20, title "=HYPERLINK(..)"   02-01
d8     EUR     10.03    carol  created Qualified 01-08 as USD with no amount, no    02-28
                               owner; then one update: EUR, 10.03, carol, 02-28
d9     EUR    200.00    bob    created in Proposal 01-25, lost 02-05, reopened      02-20
e1     EUR    100.00    alice  pipeline B, created in Commit 01-15                  02-28
e2     USD     80.00    bob    pipeline B, created in Contact 01-15                 02-10
=====  ====  =========  =====  ==================================================  ==========

Weighted amounts are exact ``amount x probability / 100`` rounded once, half up: e.g.
Proposal EUR 533.33 x 50 % = 266.665 -> 266.67 (half-even would give 266.66).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest

from crm_ledger import sales as sales_module
from crm_ledger.api.routers import pipeline_reports
from crm_ledger.ledger.envelope import format_timestamp
from tests.integration.http.conftest import Api

STAGES_A = [
    {"name": "Qualified", "probability": 20, "forecast_category": "pipeline"},
    {"name": "Proposal", "probability": 50, "forecast_category": "best_case"},
    {"name": "Negotiation", "probability": 80, "forecast_category": "commit"},
]
STAGES_B = [
    {"name": "Contact", "probability": 10, "forecast_category": "pipeline"},
    {"name": "Commit", "probability": 90, "forecast_category": "commit"},
]
FORMULA_TITLE = '=HYPERLINK("http://evil.example","x")'


class Clock:
    """Replaces the sales use cases' clock so stage times are fixed."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 9, tzinfo=UTC)

    def at(self, day: str) -> None:
        self.now = datetime.fromisoformat(f"2026-{day}T09:00:00+00:00")

    def __call__(self) -> str:
        return format_timestamp(self.now)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fixed = Clock()
    monkeypatch.setattr(sales_module, "_now", fixed)
    return fixed


def ok(response: Any, status: int = 200) -> Any:
    assert status == response.status_code, response.text
    return response.json()


def match(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


class Data:
    """The data set of the module docstring, built through the API."""

    def __init__(self, api: Api, clock: Clock) -> None:
        self.api, self.clock = api, clock
        self.contact = ok(api.post("/contacts", json={"kind": "organisation", "name": "Acme"}), 201)
        a = ok(api.post("/pipelines", json={"name": "New business", "stages": STAGES_A}), 201)
        b = ok(api.post("/pipelines", json={"name": "Renewals", "stages": STAGES_B}), 201)
        self.a, self.b = a["id"], b["id"]
        self.qualified, self.proposal, self.negotiation = (s["stage_id"] for s in a["stages"])
        self.contact_stage, self.commit = (s["stage_id"] for s in b["stages"])
        self.versions: dict[str, int] = {}
        self.ids: dict[str, str] = {}
        self.last_position = 0

    def deal(self, name: str, day: str, pipeline: str, stage: str, **fields: Any) -> None:
        self.clock.at(day)
        body = {
            "title": fields.pop("title", f"deal {name}"),
            "contact_id": self.contact["id"],
            "pipeline_id": pipeline,
            "stage_id": stage,
            **fields,
        }
        self._record(name, self.api.post("/deals", json=body), 201)

    def act(self, name: str, day: str, verb: str, body: dict[str, Any] | None = None) -> None:
        self.clock.at(day)
        url = f"/deals/{self.ids[name]}" + ("" if verb == "update" else f"/{verb}")
        method = "PATCH" if verb == "update" else "POST"
        response = self.api.request(method, url, json=body, headers=match(self.versions[name]))
        self._record(name, response, 200)

    def _record(self, name: str, response: Any, status: int) -> None:
        deal = ok(response, status)
        self.ids[name], self.versions[name] = deal["id"], deal["version"]
        self.last_position = int(response.headers["x-log-position"])

    def pipeline_b_changes(self) -> None:
        """Reorder B (Commit first), rename Contact to First call, add and retire Dormant."""
        api, b = self.api, self.b
        order = {"stage_ids": [self.commit, self.contact_stage]}
        ok(api.post(f"/pipelines/{b}/stages:reorder", json=order, headers=match(1)))
        rename = {"name": "First call"}
        ok(api.patch(f"/pipelines/{b}/stages/{self.contact_stage}", json=rename, headers=match(2)))
        stage = {"name": "Dormant", "probability": 5, "forecast_category": "pipeline"}
        added = ok(api.post(f"/pipelines/{b}/stages", json=stage, headers=match(3)))
        dormant = added["stages"][-1]["stage_id"]
        ok(api.post(f"/pipelines/{b}/stages/{dormant}/retire", headers=match(4)))


def build(api: Api, clock: Clock) -> Data:
    d = Data(api, clock)
    q, p, n = d.qualified, d.proposal, d.negotiation
    eur, usd = {"currency": "EUR"}, {"currency": "USD"}

    def close(day: str) -> dict[str, str]:
        return {"expected_close": f"2026-{day}"}

    d.deal("d1", "01-10", d.a, q, amount="1000.00", owner="alice", **close("03-01"), **eur)
    d.deal("d2", "01-12", d.a, q, amount="333.33", owner="alice", **close("02-15"), **eur)
    d.act("d2", "02-01", "move", {"stage_id": p})
    d.deal("d3", "01-20", d.a, p, amount="250.05", owner="bob", **close("04-01"), **usd)
    d.deal("d4", "01-05", d.a, q, amount="999.99", owner="bob", **eur)
    d.act("d4", "02-10", "move", {"stage_id": n})
    d.deal("d5", "01-02", d.a, q, amount="500.00", owner="alice", **close("01-20"), **eur)
    d.act("d5", "01-15", "move", {"stage_id": p})
    d.act("d5", "02-01", "win")
    d.deal("d6", "01-03", d.a, q, amount="120.00", owner="bob", **close("01-31"), **usd)
    d.act("d6", "01-25", "lose", {"reason": "budget"})
    d.deal("d7", "02-20", d.a, q, title=FORMULA_TITLE, **close("02-01"), **eur)
    d.deal("d8", "01-08", d.a, q, **usd)
    changes = {"currency": "EUR", "amount": "10.03", "owner": "carol", **close("02-28")}
    d.act("d8", "01-09", "update", changes)
    d.deal("d9", "01-25", d.a, p, amount="200.00", owner="bob", **close("02-20"), **eur)
    d.act("d9", "02-05", "lose", {"reason": "timing"})
    d.act("d9", "02-06", "reopen")
    d.deal("e1", "01-15", d.b, d.commit, amount="100.00", owner="alice", **close("02-28"), **eur)
    d.deal(
        "e2", "01-15", d.b, d.contact_stage, amount="80.00", owner="bob", **close("02-10"), **usd
    )
    d.pipeline_b_changes()
    return d


def eur(count: int, amount: str, weighted: str) -> dict[str, Any]:
    return {"currency": "EUR", "count": count, "amount": amount, "weighted": weighted}


def usd(count: int, amount: str, weighted: str) -> dict[str, Any]:
    return {"currency": "USD", "count": count, "amount": amount, "weighted": weighted}


def parse_csv(response: Any) -> list[list[str]]:
    assert 200 == response.status_code, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "\r\n" in response.text
    return list(csv.reader(io.StringIO(response.text)))


def test_board_per_stage_with_weighted_totals(api: Api, clock: Clock) -> None:
    """Board of A: open deals per stage in stage order, totals and weighted totals per
    currency; won and lost apart. Board of B: reordered, renamed, retired stage hidden."""
    d = build(api, clock)
    board = ok(api.get(f"/pipeline/{d.a}/board"))
    expected_stages = [
        {"stage_id": d.qualified, "name": "Qualified", "probability": 20, "retired": False,
         "count": 3, "totals": [eur(3, "1010.03", "202.01")]},
        {"stage_id": d.proposal, "name": "Proposal", "probability": 50, "retired": False,
         "count": 3, "totals": [eur(2, "533.33", "266.67"), usd(1, "250.05", "125.03")]},
        {"stage_id": d.negotiation, "name": "Negotiation", "probability": 80, "retired": False,
         "count": 1, "totals": [eur(1, "999.99", "799.99")]},
    ]  # fmt: skip
    assert expected_stages == board["stages"]
    assert {"count": 1, "totals": [{"currency": "EUR", "count": 1, "amount": "500.00"}]} == board[
        "won"
    ]
    assert {"count": 1, "totals": [{"currency": "USD", "count": 1, "amount": "120.00"}]} == board[
        "lost"
    ]

    board_b = ok(api.get(f"/pipeline/{d.b}/board"))
    assert [
        ("Commit", 1, [eur(1, "100.00", "90.00")]),
        ("First call", 1, [usd(1, "80.00", "8.00")]),
    ] == [(s["name"], s["count"], s["totals"]) for s in board_b["stages"]]
    assert (0, 0) == (board_b["won"]["count"], board_b["lost"]["count"])


def test_owners_slipping_and_ageing(api: Api, clock: Clock) -> None:
    """Per owner (weighted across stages, rounded once); slipping deals in pages and with
    filters; stage ageing (a reopened deal keeps the time it entered its stage)."""
    d = build(api, clock)
    owners = ok(api.get(f"/pipeline/{d.a}/owners"))["owners"]
    assert [
        {"owner": "alice", "count": 2, "totals": [eur(2, "1333.33", "366.67")]},
        {"owner": "bob", "count": 3,
         "totals": [eur(2, "1199.99", "899.99"), usd(1, "250.05", "125.03")]},
        {"owner": "carol", "count": 1, "totals": [eur(1, "10.03", "2.01")]},
        {"owner": None, "count": 1, "totals": [eur(1, "0.00", "0.00")]},
    ] == owners  # fmt: skip

    # As of 03-01: d1 closes on that very day (not before it), d3 later, d4 has no date,
    # d5/d6 are closed. d8 and e1 share 02-28 and then sort by id.
    tail = sorted([d.ids["d8"], d.ids["e1"]])
    expected = [d.ids[k] for k in ("d7", "e2", "d2", "d9")] + tail
    first = ok(api.get("/pipeline/slipping", params={"as_of": "2026-03-01", "limit": 4}))
    assert "2026-03-01" == first["as_of"]
    assert expected[:4] == [i["deal_id"] for i in first["items"]]
    assert [28, 19, 14, 9] == [i["days_overdue"] for i in first["items"]]
    assert first["next_cursor"]
    second = ok(
        api.get(
            "/pipeline/slipping",
            params={"as_of": "2026-03-01", "limit": 4, "cursor": first["next_cursor"]},
        )
    )
    assert (expected[4:], None) == ([i["deal_id"] for i in second["items"]], second["next_cursor"])
    d7 = first["items"][0]
    assert {
        "deal_id": d.ids["d7"],
        "title": FORMULA_TITLE,
        "pipeline_id": d.a,
        "stage_id": d.qualified,
        "stage_name": "Qualified",
        "owner": None,
        "amount": None,
        "currency": "EUR",
        "expected_close": "2026-02-01",
        "days_overdue": 28,
    } == d7
    only_b = ok(api.get("/pipeline/slipping", params={"as_of": "2026-03-01", "pipeline_id": d.b}))
    assert [d.ids["e2"], d.ids["e1"]] == [i["deal_id"] for i in only_b["items"]]
    alice = ok(api.get("/pipeline/slipping", params={"as_of": "2026-03-01", "owner": "alice"}))
    assert [d.ids["d2"], d.ids["e1"]] == [i["deal_id"] for i in alice["items"]]
    early = ok(api.get("/pipeline/slipping", params={"as_of": "2026-02-01"}))
    assert [] == early["items"]  # d7 is due on 02-01 itself: not slipping yet

    ageing = ok(api.get(f"/pipeline/{d.a}/ageing", params={"as_of": "2026-03-01"}))
    assert "2026-03-01" == ageing["as_of"]
    assert [
        # d1 50 days (01-10), d7 9 (02-20), d8 52 (01-08): 111 / 3
        {"stage_id": d.qualified, "name": "Qualified", "count": 3,
         "average_days": "37.0", "max_days": 52},
        # d2 28 (moved 02-01), d3 40 (01-20), d9 35 (01-25, reopened later): 103 / 3
        {"stage_id": d.proposal, "name": "Proposal", "count": 3,
         "average_days": "34.3", "max_days": 40},
        {"stage_id": d.negotiation, "name": "Negotiation", "count": 1,
         "average_days": "19.0", "max_days": 19},
    ] == ageing["stages"]  # fmt: skip
    before = ok(api.get(f"/pipeline/{d.b}/ageing", params={"as_of": "2026-01-01"}))
    assert [("Commit", 1, "0.0", 0), ("First call", 1, "0.0", 0)] == [
        (s["name"], s["count"], s["average_days"], s["max_days"]) for s in before["stages"]
    ]


def test_csv_exports(api: Api, clock: Clock) -> None:
    """Every report as CSV, by ?format=csv or by Accept; formula-like text is defused."""
    d = build(api, clock)
    board = parse_csv(api.get(f"/pipeline/{d.a}/board", params={"format": "csv"}))
    q, p, n = d.qualified, d.proposal, d.negotiation
    assert [
        ["status", "stage_id", "stage_name", "probability", "retired", "currency", "count",
         "amount", "weighted"],
        ["open", q, "Qualified", "20", "false", "EUR", "3", "1010.03", "202.01"],
        ["open", p, "Proposal", "50", "false", "EUR", "2", "533.33", "266.67"],
        ["open", p, "Proposal", "50", "false", "USD", "1", "250.05", "125.03"],
        ["open", n, "Negotiation", "80", "false", "EUR", "1", "999.99", "799.99"],
        ["won", "", "", "", "", "EUR", "1", "500.00", ""],
        ["lost", "", "", "", "", "USD", "1", "120.00", ""],
    ] == board  # fmt: skip

    owners = parse_csv(api.get(f"/pipeline/{d.a}/owners", headers={"Accept": "text/csv"}))
    assert [
        ["owner", "currency", "count", "amount", "weighted"],
        ["alice", "EUR", "2", "1333.33", "366.67"],
        ["bob", "EUR", "2", "1199.99", "899.99"],
        ["bob", "USD", "1", "250.05", "125.03"],
        ["carol", "EUR", "1", "10.03", "2.01"],
        ["", "EUR", "1", "0.00", "0.00"],
    ] == owners

    ageing = parse_csv(
        api.get(
            f"/pipeline/{d.a}/ageing",
            params={"as_of": "2026-03-01"},
            headers={"Accept": "application/json;q=0.5, text/csv"},
        )
    )
    assert [
        ["stage_id", "stage_name", "count", "average_days", "max_days"],
        [q, "Qualified", "3", "37.0", "52"],
        [p, "Proposal", "3", "34.3", "40"],
        [n, "Negotiation", "1", "19.0", "19"],
    ] == ageing

    # The CSV of the slipping list holds every row (limit is for JSON pages only).
    slipping = parse_csv(
        api.get("/pipeline/slipping", params={"as_of": "2026-03-01", "limit": 1, "format": "csv"})
    )
    assert [
        "deal_id", "title", "pipeline_id", "stage_id", "stage_name", "owner", "amount",
        "currency", "expected_close", "days_overdue",
    ] == slipping[0]  # fmt: skip
    assert 7 == len(slipping)
    assert [
        d.ids["d7"], "'" + FORMULA_TITLE, d.a, q, "Qualified", "", "", "EUR", "2026-02-01", "28"
    ] == slipping[1]  # fmt: skip
    assert ["d2", "alice", "333.33", "14"] == [
        slipping[3][1].removeprefix("deal "),
        slipping[3][5],
        slipping[3][6],
        slipping[3][9],
    ]
    # JSON stays the default, also when Accept prefers JSON or says nothing useful.
    for accept in ("*/*", "application/json, text/csv;q=0.9"):
        response = api.get(f"/pipeline/{d.a}/board", headers={"Accept": accept})
        assert response.headers["content-type"].startswith("application/json"), accept
    csv_first = {"Accept": "text/csv"}
    forced = api.get(f"/pipeline/{d.a}/board", params={"format": "json"}, headers=csv_first)
    assert forced.headers["content-type"].startswith("application/json")


def test_read_your_writes(api: Api, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read with a write's X-Log-Position waits for the read model; while the model
    cannot reach it, the answer is 503 with Retry-After, never a stale report."""
    d = Data(api, clock)
    runner = api.client.app.state.runners["pipeline"]
    d.deal("d1", "01-10", d.a, d.qualified, amount="10.00", owner="ana", currency="EUR")
    created = d.last_position
    seen = ok(api.get(f"/pipeline/{d.a}/board", params={"min_position": created}))
    assert [eur(1, "10.00", "2.00")] == seen["stages"][0]["totals"]

    runner.stop()  # nothing follows the log any more
    monkeypatch.setattr(pipeline_reports, "READ_WAIT_SECONDS", 0.3)
    d.act("d1", "01-11", "move", {"stage_id": d.proposal})
    behind = api.get(f"/pipeline/{d.a}/board", params={"min_position": d.last_position})
    assert (503, "read_model_behind", "1") == (
        behind.status_code,
        behind.json()["code"],
        behind.headers["retry-after"],
    )
    assert behind.headers["content-type"] == "application/problem+json"
    # An older position is already reached: answered at once, with what it reflects.
    older = ok(api.get(f"/pipeline/{d.a}/board", params={"min_position": created}))
    assert [1, 0] == [s["count"] for s in older["stages"][:2]]

    runner.catch_up()
    caught = ok(api.get(f"/pipeline/{d.a}/board", params={"min_position": d.last_position}))
    assert [0, 1] == [s["count"] for s in caught["stages"][:2]]
    assert [eur(1, "10.00", "5.00")] == caught["stages"][1]["totals"]


def test_problems(api: Api, clock: Clock) -> None:
    """Unknown pipeline: 404; malformed cursor: 400; bad as_of: 422; no key: 401."""
    d = Data(api, clock)
    missing = api.get("/pipeline/00000000-0000-4000-8000-000000000000/board")
    assert (404, "not_found") == (missing.status_code, missing.json()["code"])
    assert missing.headers["content-type"] == "application/problem+json"
    cursor = api.get("/pipeline/slipping", params={"cursor": "not-a-cursor"})
    assert (400, "malformed_cursor") == (cursor.status_code, cursor.json()["code"])
    bad_day = api.get(f"/pipeline/{d.a}/ageing", params={"as_of": "2026-13-01"})
    assert 422 == bad_day.status_code
    anonymous = api.client.get(f"/pipeline/{d.a}/board")
    assert 401 == anonymous.status_code
