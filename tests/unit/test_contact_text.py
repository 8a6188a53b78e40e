"""How contact text is folded and how a search text is read (no I/O)."""

from __future__ import annotations

import pytest

from crm_ledger.projections.contact_text import (
    TextQuery,
    custom_tokens,
    fold,
    index_words,
    matches,
    search_document,
)

CONTACT = {
    "name": "Ana García-Núñez",
    "emails": ["Ana.Garcia@Example.com"],
    "phones": ["+34 600-111 222"],
    "tax_id": "B-1234 5678",
    "tags": ["vip", "event-2025"],
    "custom_fields": {"region": "Norte", "employees": 12, "active": True},
}


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("García", "garcia"),
        ("ÅNGSTRÖM", "angstrom"),
        ("Straße", "strasse"),
        ("ﬁsh", "fish"),  # compatibility forms (NFKD)
        ("x²", "x2"),
        ("Zoë", "zoe"),
        ("plain ascii 12", "plain ascii 12"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert folded == fold(text)


def test_search_document() -> None:
    """Name first, then emails (words), phones (digits), tax id (letters and digits),
    tags and non-boolean custom values; one space between words and at each end."""
    expected = (
        " ana garcia nunez ana garcia example com 34600111222 b12345678 vip event 2025 norte 12 "
    )
    assert expected == search_document(CONTACT)


def test_custom_tokens_are_unambiguous() -> None:
    """Keys and values are percent-encoded, so | and = inside them cannot fake a token."""
    assert "|a%3Db=c%7Cd||n=12||t=true|" == custom_tokens({"t": True, "n": 12, "a=b": "c|d"})


def test_query_forms() -> None:
    query = TextQuery.parse("  +34 (600) Ana-GARCÍA ")
    assert query.phrase == "34 600 ana garcia"
    assert query.words == ("34", "600", "ana", "garcia")
    assert query.digits == "34600"
    assert query.compact == "34600anagarcia"
    assert ["34 600 ana garcia", "34600", "34600anagarcia"] == query.substrings()
    assert query.needs_word_match()
    assert ["600", "ana", "garcia"] == list(index_words(query))  # 3 characters or more
    assert not TextQuery.parse("garc").needs_word_match()  # a substring covers it
    assert TextQuery.parse("ga").needs_word_match()
    assert ["zoe"] == list(index_words(TextQuery.parse("zoë")))
    assert ["b2b"] == list(index_words(TextQuery.parse("b2b bjørn")))  # not non-ASCII


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("garc", True),
        ("ARCÍ", True),
        ("nunez ana", True),
        ("600 111", True),
        ("+34 600", True),
        ("b-1234", True),
        ("12345678", True),
        ("an", True),
        ("na", False),
        ("ga nu", True),
        ("true", False),
        ("norte", True),
        ("!!", False),
        ("", False),
    ],
)
def test_matches(q: str, found: bool) -> None:
    assert found == matches(search_document(CONTACT), TextQuery.parse(q))
