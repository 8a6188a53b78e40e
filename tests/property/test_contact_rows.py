"""The fast row reader answers exactly as the ``POST /contacts`` schema, or not at all.

For generated headers and rows: whenever `RowReader.fields` gives an answer, it equals
``ContactCreate.model_validate(row_fields(header, values)).fields()`` (key order
included), and every row the schema rejects gets no answer. Ordinary rows do get one
(else the reader would be correct but useless).
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crm_ledger.api.schemas.contacts import ContactCreate
from crm_ledger.contact_rows import RowReader, registered
from crm_ledger.domain.contact import registration
from crm_ledger.domain.errors import DomainError
from crm_ledger.imports import check_header, row_fields

COLUMNS = [
    "kind",
    "name",
    "emails",
    "phones",
    "tags",
    "tax_id",
    "owner",
    "organisation_id",
    "address.line1",
    "address.line2",
    "address.city",
    "address.region",
    "address.postal_code",
    "address.country",
    "custom.source",
    "custom." + "k" * 64,
    "custom." + "k" * 65,
]

# Cells near the rules' edges: valid values, values one step off, odd characters.
pieces = st.sampled_from(
    [
        "",
        " ",
        ";",
        "person",
        "organisation",
        "Person",
        "ana@example.com",
        "ANA@Example.COM",
        "a@b",
        "a @b.c",
        "a@b.c\x1f",
        "ñ@example.com",
        "+34 600 000 000",
        "12",
        "(0) 1-2/3.4",
        "vip",
        "v-i.p_1",
        "café",
        "x" * 40,
        "x" * 41,
        "ES",
        "es",
        "ÉS",
        str(uuid.UUID(int=7)),
        str(uuid.UUID(int=7)).upper(),
        uuid.UUID(int=7).hex,
        "\t",
        "\u00a0",
        "\u2028",
        "\x1c",
        "名",
        "a" * 20,
        "a" * 200,
        "a" * 254,
    ]
)
cells = st.one_of(
    st.lists(pieces, max_size=4).map("".join),
    st.lists(pieces, max_size=25).map(";".join),
    st.text(max_size=12),
)


# Mostly plausible cells per column (so that many rows are valid), sometimes odd ones.
ORG = uuid.UUID(int=7)
ACTOR = "system:tests"


def joined(*items: str) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(items)).map(";".join)


good: dict[str, st.SearchStrategy[str]] = {
    "kind": st.sampled_from(["person", "organisation", " person "]),
    "name": st.sampled_from(["Ana", "Ünïcödé 名前", " Bo "]),
    "emails": joined("ana@example.com", "ANA@Example.COM", "b@c.es", "", "a@b", "ñ@x.es"),
    "phones": joined("+34 600 000 000", "(0) 1-2/3.4", "123", "12", "1a2"),
    "tags": joined("vip", "v-i.p_1", "es", "b", "café", "x y", "x" * 41),
    "organisation_id": st.sampled_from(["", str(ORG), str(ORG).upper(), ORG.hex, "7"]),
    "address.line1": st.sampled_from(["", "Calle 1", "Rua 2"]),
    "address.country": st.sampled_from(["", "ES", "PT", "es", "ÉS", "E"]),
    "custom.source": st.sampled_from(["", "fair", "名"]),
}


def column_cells(column: str) -> st.SearchStrategy[str]:
    plausible = good.get(column, st.sampled_from(["", "", "x", "Ñ 1"]))
    return st.integers(0, 9).flatmap(lambda n: cells if n == 0 else plausible)


@st.composite
def files(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    others = draw(st.lists(st.sampled_from(COLUMNS[2:]), max_size=8, unique=True))
    header = draw(st.permutations(["kind", "name", *others]))
    if draw(st.booleans()):  # sometimes a required column is missing
        header = header[1:]
    rows = draw(
        st.lists(st.tuples(*(column_cells(c) for c in header)).map(list), min_size=1, max_size=4)
    )
    return header, rows


def schema_fields(header: list[str], values: list[str]) -> dict[str, Any] | None:
    try:
        return ContactCreate.model_validate(row_fields(header, values)).fields()
    except ValidationError:
        return None


def assert_registered_as_the_domain_does(fields: dict[str, Any]) -> None:
    """`registered` gives `registration`'s arguments, or None where it raises."""
    try:
        expected: dict[str, Any] | None = registration(actor=ACTOR, **fields)
    except DomainError:
        expected = None
    assert ordered(expected) == ordered(registered(fields, ACTOR))


def ordered(value: Any) -> Any:
    """`value` with every dict turned into its list of items (to compare key order)."""
    if isinstance(value, dict):
        return [(k, ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [ordered(v) for v in value]
    return value


@settings(max_examples=1000, deadline=None)
@given(files())
def test_an_answer_is_the_schema_answer(file: tuple[list[str], list[list[str]]]) -> None:
    """The reader answers only for rows the schema accepts, with the schema's fields."""
    header, rows = file
    reader = RowReader(header)
    for values in rows:
        fast = reader.fields(values)
        if fast is not None:
            assert ordered(schema_fields(header, values)) == ordered(fast)
            assert_registered_as_the_domain_does(fast)


def test_ordinary_rows_are_read_fast() -> None:
    """Rows like those of a real export are answered by the reader itself."""
    header = check_header(
        [
            "kind",
            "name",
            "emails",
            "phones",
            "tax_id",
            "tags",
            "owner",
            "organisation_id",
            "address.country",
            "address.line1",
            "custom.source",
        ]
    )
    rows = [
        ["person", "Ana García", "ana@example.com;A@b.es", "+34 600 000 000", "", "vip", "", "",
         "ES", "Calle 1", "fair"],
        ["organisation", "Acme SL", "", "", "B123", "customer;es", "ana", "", "", "", ""],
        ["person", "Bo", "", "", "", "", "", str(uuid.UUID(int=9)), "", "", ""],
    ]  # fmt: skip
    reader = RowReader(header)
    for values in rows:
        fast = reader.fields(values)
        assert fast is not None, values
        assert ordered(schema_fields(header, values)) == ordered(fast)
        assert registered(fast, ACTOR) is not None


def test_rows_of_the_wrong_width_or_a_bad_header_are_left_to_the_schema() -> None:
    """A short row, or a custom column whose key the schema refuses, gets no answer."""
    assert RowReader(["kind", "name"]).fields(["person"]) is None
    assert RowReader(["kind", "name", "custom." + "k" * 65]).fields(["person", "A", ""]) is None
