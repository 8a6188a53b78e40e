"""The VERI*FACTU pass of verify over synthetic entries: each kind of break, per issuer."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from crm_ledger.domain import verifactu
from crm_ledger.ledger.envelope import Entry
from crm_ledger.verifactu_chains import RECORD_TOPIC, check_chains

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ISSUER_A, ISSUER_B = (
    "a" * 8 + "-0000-0000-0000-" + "0" * 12,
    "b" * 8 + "-0000-0000-0000-" + "0" * 12,
)


def chain(count: int, number: str = "A-{n}") -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    previous = ""
    for n in range(1, count + 1):
        fields = verifactu.build_alta(
            issuer_tax_id="B12345678",
            number=number.format(n=n),
            issue_date=date(2026, 3, 2),
            invoice_type="F2",
            tax_total=Decimal("2.10"),
            total=Decimal("12.10"),
            previous_huella=previous,
            generated_at=AT,
        )
        records.append(verifactu.record(fields))
        previous = records[-1]["huella"]
    return records


def entries(*streams: tuple[str, list[dict[str, Any]], list[int] | None]) -> list[Entry]:
    """Interleave the issuers' records as entries (plus an unrelated event between)."""
    out: list[Entry] = []
    for issuer_id, records, indexes in streams:
        for position, record in enumerate(records):
            index = position + 1 if indexes is None else indexes[position]
            state = orjson.dumps({"index": index, "record": record, "actor": "x"})
            out.append(Entry(0, 0, b"", b"", issuer_id, index + 2, RECORD_TOPIC, state))
            out.append(Entry(0, 0, b"", b"", issuer_id, 0, "other:Topic", b"{}"))
    return [e._replace(leaf_index=i, seq=i + 10) for i, e in enumerate(out)]


def test_whole_chains_of_two_issuers_pass() -> None:
    assert [] == check_chains(entries((ISSUER_A, chain(3), None), (ISSUER_B, chain(2), None)))


def test_a_changed_field_is_a_huella_mismatch_at_that_record_only_for_its_issuer() -> None:
    broken = chain(3)
    broken[1] = {**broken[1], "fields": {**broken[1]["fields"], "ImporteTotal": "0.00"}}
    found = check_chains(entries((ISSUER_B, chain(2), None), (ISSUER_A, broken, None)))
    assert 1 == len(found)
    assert ("verifactu_chain", 6, 16, 1) == (
        found[0].kind,
        found[0].leaf_index,
        found[0].seq,
        found[0].exit_code,
    )
    assert f"issuer {ISSUER_A}: VERI*FACTU record 2 (invoice A-2, alta): huella_mismatch" == (
        found[0].message
    )
    assert broken[1]["huella"] == found[0].actual


def test_a_missing_record_is_reported_as_an_index_gap() -> None:
    records = chain(3)
    found = check_chains(entries((ISSUER_A, [records[0], records[2]], [1, 3])))
    assert [("2", "3")] == [(f.expected, f.actual) for f in found]
    assert "index_gap" in found[0].message


def test_unreadable_and_malformed_records_are_findings_not_crashes() -> None:
    bad_json = Entry(0, 5, b"", b"", ISSUER_A, 2, RECORD_TOPIC, b"{not json")
    assert "cannot be read" in check_chains([bad_json])[0].message
    records = chain(2)
    records[1] = {**records[1], "record_type": "anulacion"}
    found = check_chains(entries((ISSUER_A, records, None)))
    assert 1 == len(found)
    assert "record 2" in found[0].message
    assert "malformed" in found[0].message
