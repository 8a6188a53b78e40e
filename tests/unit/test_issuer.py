"""Every guard of the Issuer aggregate: series, gapless numbering, chain head (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from crm_ledger.domain import verifactu
from crm_ledger.domain.errors import InvalidCommandError, NotFoundError
from crm_ledger.domain.invoicing_errors import (
    ChainHeadMismatchError,
    IssueDateError,
    SeriesExistsError,
    SeriesNotFoundError,
    SeriesPatternError,
    VerifactuRecordError,
)
from crm_ledger.domain.issuer import Issuer, issuer_snapshot

ACTOR = "user:test"
PATTERN = "{series}-{year}-{number:06d}"
AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def issuer(*codes: str) -> Issuer:
    made = Issuer.register(legal_name="Acme SL", tax_id="B12345678", actor=ACTOR)
    for code in codes:
        made.add_series(code, PATTERN, actor=ACTOR)
    return made


def alta(head: str, number: str, *, tax_id: str = "B12345678") -> dict[str, Any]:
    fields = verifactu.build_alta(
        issuer_tax_id=tax_id,
        number=number,
        issue_date=date(2026, 3, 1),
        invoice_type="F1",
        tax_total=Decimal("21.00"),
        total=Decimal("121.00"),
        previous_huella=head,
        generated_at=AT,
    )
    return verifactu.record(fields)


def replay(aggregate: Issuer) -> Issuer:
    """The issuer rebuilt from its events alone."""
    copy: Any = None
    for e in aggregate.collect_events():
        copy = e.mutate(copy)
    assert isinstance(copy, Issuer)
    return copy


def test_register_normalises_and_validates() -> None:
    """The NIF is upper-cased; a wrong NIF or empty name is refused with the field named."""
    made = Issuer.register(
        legal_name=" Acme SL ", tax_id="b12345678", address={"city": " Madrid "}, actor=ACTOR
    )
    assert ("Acme SL", "B12345678", {"city": "Madrid"}) == (
        made.legal_name,
        made.tax_id,
        made.address,
    )
    assert ("", 0) == (made.last_huella, made.record_count)
    for kwargs, field in [
        ({"legal_name": "Acme", "tax_id": "B1234567"}, "tax_id"),
        ({"legal_name": "Acme", "tax_id": "B1234567-8"}, "tax_id"),
        ({"legal_name": " ", "tax_id": "B12345678"}, "legal_name"),
        ({"legal_name": "x" * 121, "tax_id": "B12345678"}, "legal_name"),
    ]:
        with pytest.raises(InvalidCommandError) as caught:
            Issuer.register(actor=ACTOR, **kwargs)
        assert field == caught.value.field
    with pytest.raises(InvalidCommandError):
        Issuer.register(legal_name="A", tax_id="B12345678", address={"planet": "Mars"}, actor=ACTOR)


def test_add_series_refuses_a_taken_code() -> None:
    made = issuer("A")
    with pytest.raises(SeriesExistsError):
        made.add_series("A", PATTERN, actor=ACTOR)
    made.add_series("R", "R{year}/{series}/{number:04d}", actor=ACTOR)
    assert ["A", "R"] == sorted(made.series)


@pytest.mark.parametrize(
    "pattern",
    [
        "{year}-{number:06d}",  # no series: two series could give the same text
        "{series}-{number:06d}",  # no year: numbers restart each year
        "{series}-{year}",  # no number
        "{series}-{year}-{number}-{number}",
        "{series}-{year}-{number:6d}",  # space padding
        "{series}-{year}-{number!r}",
        "{series}-{year:04}-{number}",
        "{series}-{year}-{customer}",
        "{series} {year} {number}",  # spaces
        "{series}-{year}-{number",  # malformed
        "{series}-{year}-{number:06d}" + "x" * 30,  # gives numbers over 60 characters
        "",
    ],
)
def test_patterns_that_cannot_number_uniquely_are_refused(pattern: str) -> None:
    with pytest.raises(SeriesPatternError):
        issuer().add_series("A", pattern, actor=ACTOR)


@pytest.mark.parametrize("code", ["", "a", "TOO-LONG", "ABCDEFGHIJK", None])
def test_series_codes(code: Any) -> None:
    with pytest.raises(InvalidCommandError) as caught:
        issuer().add_series(code, PATTERN, actor=ACTOR)
    assert "code" == caught.value.field


def test_numbers_are_gapless_per_series_and_year() -> None:
    """Each (series, year) counts 1, 2, 3... on its own."""
    made = issuer("A", "B")
    taken = [
        made.take_number("A", 2026, actor=ACTOR),
        made.take_number("A", 2026, actor=ACTOR),
        made.take_number("B", 2026, actor=ACTOR),
        made.take_number("A", 2027, actor=ACTOR),
        made.take_number("A", 2026, actor=ACTOR),
    ]
    assert [
        "A-2026-000001",
        "A-2026-000002",
        "B-2026-000001",
        "A-2027-000001",
        "A-2026-000003",
    ] == taken
    assert (4, 2, 2) == (
        made.next_number("A", 2026),
        made.next_number("B", 2026),
        made.next_number("A", 2027),
    )
    assert {"2026": 4, "2027": 2} == issuer_snapshot(made)["series"][0]["next_numbers"]
    assert replay(made).series == made.series


def test_take_number_refuses_unknown_series_bad_year_and_backdating() -> None:
    made = issuer("A")
    with pytest.raises(SeriesNotFoundError):
        made.take_number("Z", 2026, actor=ACTOR)
    assert isinstance(SeriesNotFoundError("Z"), NotFoundError)
    with pytest.raises(InvalidCommandError):
        made.take_number("A", 1999, actor=ACTOR)
    made.take_number("A", 2026, actor=ACTOR, on=date(2026, 3, 2))
    with pytest.raises(IssueDateError):  # numbers follow dates within a series
        made.take_number("A", 2026, actor=ACTOR, on=date(2026, 3, 1))
    with pytest.raises(IssueDateError):  # the date is not in the year
        made.take_number("A", 2026, actor=ACTOR, on=date(2027, 1, 1))
    assert "A-2026-000002" == made.take_number("A", 2026, actor=ACTOR, on=date(2026, 3, 2))
    assert 3 == made.next_number("A", 2026)  # the refusals took no number


def test_append_record_moves_the_head_only_when_linked() -> None:
    made = issuer("A")
    first = alta("", "A-2026-000001")
    assert 1 == made.append_record(first, invoice_id=uuid4(), actor=ACTOR)
    assert (first["huella"], 1) == (made.last_huella, made.record_count)

    stale = alta("", "A-2026-000002")  # links to the genesis, not to the head
    with pytest.raises(ChainHeadMismatchError) as caught:
        made.append_record(stale, invoice_id=uuid4(), actor=ACTOR)
    assert (first["huella"], "") == (caught.value.expected, caught.value.actual)

    second = alta(first["huella"], "A-2026-000002")
    assert 2 == made.append_record(second, invoice_id=uuid4(), actor=ACTOR)
    assert (second["huella"], 2) == (made.last_huella, made.record_count)
    rebuilt = replay(made)
    assert (second["huella"], 2) == (rebuilt.last_huella, rebuilt.record_count)


def test_append_record_refuses_tampered_or_foreign_records() -> None:
    made = issuer("A")
    forged = alta("", "A-2026-000001")
    forged["fields"]["ImporteTotal"] = "1.00"  # huella no longer matches the fields
    with pytest.raises(VerifactuRecordError):
        made.append_record(forged, invoice_id=uuid4(), actor=ACTOR)
    lying_link = {**alta("", "A-2026-000001"), "previous_huella": "A" * 64}
    with pytest.raises(ChainHeadMismatchError):
        made.append_record(lying_link, invoice_id=uuid4(), actor=ACTOR)
    with pytest.raises(VerifactuRecordError):  # another issuer's record
        made.append_record(
            alta("", "A-2026-000001", tax_id="A87654321"), invoice_id=uuid4(), actor=ACTOR
        )
    with pytest.raises(VerifactuRecordError):
        made.append_record({"fields": {}}, invoice_id=uuid4(), actor=ACTOR)
    assert ("", 0) == (made.last_huella, made.record_count)
