"""How contact text is folded for search, the same way on both databases.

Folding is done here, in Python, rather than with PostgreSQL's ``unaccent`` (an extension
that may be missing, and whose function is not immutable, so it cannot feed a generated
column): letters lose their accents (NFKD, combining marks dropped) and their case
(``casefold``), so ``"García"``, ``"GARCIA"`` and ``"garcia"`` are one word.

A contact's search *document* is its text as words (runs of letters and digits) separated
by single spaces, with a space at each end, name first::

    " ana garcia ana example com 34600000000 b12345678 vip gold "

* name, emails, tags and custom field text values: their words;
* phones: their digits only (``+34 600-000-000`` -> ``34600000000``);
* tax id: its letters and digits, joined (``B-1234 5678`` -> ``b12345678``).

The leading space makes "a word starting with w" the pattern ``% w%``; words hold no
``%`` or ``_``, so patterns need no escaping. A document keeps at most DOCUMENT_BYTES
(the words after that are not searchable). The name's words also start the name sort
key (``name_key``), so "the name starts with q" is a range of that key. Custom fields
are also kept as ``|key=value|`` tokens (key and value percent-encoded) for exact
filters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

_WORD = re.compile(r"[^\W_]+")
_NON_DIGITS = re.compile(r"[^0-9]+")
MIN_SUBSTRING = 3
"""Substring matching needs at least this many characters (shorter: word prefixes only)."""
DOCUMENT_BYTES = 1500
"""A document keeps the words that fit in this many UTF-8 bytes (PostgreSQL copies it
into a B-tree index, whose entries must stay under ~2,700 bytes)."""
NAME_KEY_CHARACTERS = 150
"""The name part of the name sort key is cut to this many characters (same reason)."""


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str) -> str:
    """`text` without accents or case."""
    if text.isascii():
        return text.lower()
    return _strip_marks(_strip_marks(text).casefold())


def words(text: str) -> list[str]:
    """The folded words (runs of letters and digits) of `text`."""
    return _WORD.findall(fold(text))


def phrase(text: str) -> str:
    """The folded words of `text` joined by single spaces."""
    return " ".join(words(text))


def digits(text: str) -> str:
    """The digits of `text` (how phones compare)."""
    if text.isascii():  # the same result, faster: ASCII digits are 0-9 only
        return _NON_DIGITS.sub("", text)
    return "".join(c for c in fold(text) if c.isdigit())


def compact(text: str) -> str:
    """The folded letters and digits of `text`, joined (how tax ids compare)."""
    return "".join(words(text))


def value_text(value: str | int | bool) -> str:
    """A custom field value as text: ``true``/``false``, an integer's digits, or itself."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def custom_token(key: str, value: str | int | bool) -> str:
    """The exact-match token of one custom field (``key=value``, both percent-encoded)."""
    return f"{quote(key, safe='')}={quote(value_text(value), safe='')}"


def custom_tokens(fields: Mapping[str, Any]) -> str:
    """Every custom field as ``|token|``, in key order."""
    return "".join(f"|{custom_token(k, v)}|" for k, v in sorted(fields.items()))


def search_document(public: Mapping[str, Any]) -> str:
    """The search document of a contact's public state (see the module docstring)."""
    terms: list[str] = [phrase(public["name"])]
    terms += [phrase(e) for e in public["emails"]]
    terms += [digits(p) for p in public["phones"]]
    if public.get("tax_id"):
        terms.append(compact(public["tax_id"]))
    terms += [phrase(t) for t in public["tags"]]
    terms += [
        phrase(value_text(v))
        for v in public["custom_fields"].values()
        if not isinstance(v, bool)  # "true" would match every flag: not worth a word
    ]
    return _fit(" " + " ".join(t for t in terms if t) + " ")


def _fit(document: str) -> str:
    """`document`, cut after the last whole word that fits in DOCUMENT_BYTES."""
    raw = document.encode()
    if len(raw) <= DOCUMENT_BYTES:
        return document
    return raw[: raw.rfind(b" ", 0, DOCUMENT_BYTES) + 1].decode()


def name_key(name: str) -> str:
    """The name part of the name sort key: its words (so "the name starts with q" is a
    key range), cut to NAME_KEY_CHARACTERS."""
    return phrase(name)[:NAME_KEY_CHARACTERS]


@dataclass(frozen=True)
class TextQuery:
    """The forms of a search text `q` that are matched against documents."""

    phrase: str
    """Its words joined by spaces: matched as a substring (>= 3 characters)."""
    words: tuple[str, ...]
    """Each must start a word of the document (all of them)."""
    digits: str
    """Its digits: matched as a substring (>= 3 digits), e.g. inside a phone."""
    compact: str
    """Its letters and digits joined: matched as a substring, e.g. inside a tax id."""

    @classmethod
    def parse(cls, q: str) -> TextQuery:
        found = words(q)
        return cls(" ".join(found), tuple(found), digits(q), "".join(found))

    def substrings(self) -> list[str]:
        """The distinct forms long enough to be matched as substrings."""
        forms: list[str] = []
        for form in (self.phrase, self.digits, self.compact):
            if len(form) >= MIN_SUBSTRING and form not in forms:
                forms.append(form)
        return forms

    def needs_word_match(self) -> bool:
        """Word-prefix matching adds matches unless `q` is one word long enough to be
        matched as a substring (a word prefix is then a substring too)."""
        if not self.words:
            return False
        return not (len(self.words) == 1 and len(self.phrase) >= MIN_SUBSTRING)


def matches(document: str, query: TextQuery) -> bool:
    """The reference meaning of a search, used by tests: does `document` match?"""
    if any(form in document for form in query.substrings()):
        return True
    return bool(query.words) and all(f" {w}" in document for w in query.words)


def index_words(query: TextQuery) -> Iterable[str]:
    """The words worth a ``word:*`` prefix to narrow with PostgreSQL's tsvector index: 3
    characters or more (``34:*`` would list most phones), ASCII letters and digits only
    (its parser may split other scripts by locale; for
    ASCII words, a document word starting with w always matched ``w:*`` in a check of
    13,629 word/prefix pairs, e.g. ``1e10x`` (parsed as ``1e10`` then ``x``) and ``1e1``)."""
    return [w for w in query.words if w.isascii() and w.isalnum() and len(w) >= MIN_SUBSTRING]
