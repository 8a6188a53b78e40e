"""Contact lists over ``proj_contacts``: search, filters, sorts and keyset pagination.

One query builder serves ``GET /contacts``, segments and the benchmark, on both
databases, and the meaning of every condition is the same on both (the tests run each
case on each):

* ``q`` (see `contact_text`): a contact matches when one of the query's forms (its
  words, its digits, its letters and digits) of three characters or more is a substring
  of the contact's search document, or when every word of the query starts a word of
  the document. On PostgreSQL a search in name or relevance order first walks the name
  index, which carries the documents (`NameWalk`); for rare terms it asks the GIN
  indexes: ``pg_trgm`` for the substrings (when the extension is there) and the
  ``tsvector`` for word prefixes (``word:*``, then checked with the same ``LIKE`` as on
  SQLite, so an index never changes the answer). SQLite runs the same ``LIKE``
  conditions in one query without a text index: an FTS5 virtual table cannot be
  rebuilt and swapped by ``crm-ledger rebuild``, which copies plain tables and indexes.
* filters: kind, tags (all of them), owner, list state (active, archived, merged or
  erased),
  has_email, created_after (inclusive) and created_before (exclusive), custom field
  equality (the value compared as text: ``true``/``false``, digits, or itself), and
  consents (the person's latest statement for each purpose gave consent; see
  `crm_ledger.projections.consents`).
* sorts: ``name``, ``created``, ``updated`` and their descending forms (``-name`` ...),
  each on a unique key (the value followed by the contact id); with ``q``, the default
  ``relevance`` ranks the name starting with the query first (3), then all query words
  starting document words (2), then the other matches (1), each tier in name order.
* the cursor names the sort and the last key (and tier) seen, so every page continues
  exactly after the previous one, whatever is written in between.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from crm_ledger.projections.consents import consent_condition
from crm_ledger.projections.contact_text import TextQuery, custom_token, index_words
from crm_ledger.projections.contacts import ACTIVE, ARCHIVED, ERASED, MERGED, TABLE
from crm_ledger.storage.sql import Dialect, Tx, equalities

RELEVANCE = "relevance"
SORTS: dict[str, tuple[str, bool]] = {
    "name": ("sort_key", False),
    "-name": ("sort_key", True),
    "created": ("created_key", False),
    "-created": ("created_key", True),
    "updated": ("updated_key", False),
    "-updated": ("updated_key", True),
}
SORT_NAMES = (RELEVANCE, *SORTS)
CustomValue = str | int | bool


def stamp(moment: datetime) -> str:
    """`moment` in the projection's timestamp form (UTC, microseconds; naive = UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class ContactFilter:
    """Which contacts a list shows (``erased``: only contacts whose personal data was
    erased; ``merged``: only contacts merged into others; ``archived``: only archived
    ones; none: active ones)."""

    kind: str | None = None
    tags: tuple[str, ...] = ()
    owner: str | None = None
    archived: bool = False
    merged: bool = False
    erased: bool = False
    q: str | None = None
    has_email: bool | None = None
    created_after: str | None = None
    """Inclusive, in `stamp` form."""
    created_before: str | None = None
    """Exclusive, in `stamp` form."""
    custom_fields: tuple[tuple[str, CustomValue], ...] = ()
    consents: tuple[str, ...] = ()
    """Purposes the contact's person consents to now (all of them)."""

    def described(self) -> dict[str, Any]:
        """The filters that are set, as JSON values (what an export records)."""
        described: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is field.default or value == field.default:
                continue
            if field.name == "custom_fields":
                value = [list(pair) for pair in value]
            described[field.name] = list(value) if isinstance(value, tuple) else value
        return described

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any]) -> ContactFilter:
        """The filter of a segment definition (``crm_ledger.domain.segment``)."""
        return cls(
            kind=definition.get("kind"),
            tags=tuple(definition.get("tags", ())),
            owner=definition.get("owner"),
            archived=bool(definition.get("archived", False)),
            merged=bool(definition.get("merged", False)),
            q=definition.get("q"),
            has_email=definition.get("has_email"),
            created_after=definition.get("created_after"),
            created_before=definition.get("created_before"),
            custom_fields=tuple(sorted(definition.get("custom_fields", {}).items())),
            consents=tuple(definition.get("consents", ())),
        )

    @property
    def state(self) -> int:
        if self.erased:
            return ERASED
        return MERGED if self.merged else ARCHIVED if self.archived else ACTIVE


class CursorError(ValueError):
    """A cursor this list did not make (malformed, or made for another sort)."""


def resolve_sort(sort: str | None, filters: ContactFilter) -> str:
    """The sort to use: `sort`, else relevance with ``q`` and name without; relevance
    without ``q`` is name order. ValueError for an unknown sort."""
    if sort is None or sort == RELEVANCE:
        return RELEVANCE if filters.q else "name"
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; one of {', '.join(SORT_NAMES)}")
    return sort


def encode_page_cursor(sort: str, tier: int | None, key: str) -> str:
    """Opaque cursor: the sort, the relevance tier (or None) and the last key seen."""
    raw = orjson.dumps([sort, tier, key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_cursor(cursor: str, sort: str) -> tuple[int | None, str]:
    """(tier, key) of a cursor made for `sort`; CursorError when malformed or made for
    another sort."""
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode())
        made_for, tier, key = orjson.loads(raw)
    except Exception as exc:
        raise CursorError("malformed cursor") from exc
    if made_for != sort or not isinstance(key, str):
        raise CursorError("the cursor belongs to another sort")
    if (sort == RELEVANCE) != (type(tier) is int):
        raise CursorError("malformed cursor")
    return tier, key


def conditions(
    dialect: Dialect, filters: ContactFilter, *, text: bool = True
) -> tuple[list[str], list[Any]]:
    """The WHERE conditions (joined by AND) and their parameters (`text`: with ``q``)."""
    where, params = equalities(
        ("archived", filters.state), ("kind", filters.kind), ("owner", filters.owner)
    )
    if filters.has_email is not None:
        where.append("has_email = ?")
        params.append(1 if filters.has_email else 0)
    if filters.created_after is not None:
        where.append("created_key >= ?")  # the key is the timestamp, then the id
        params.append(filters.created_after)
    if filters.created_before is not None:
        where.append("created_key < ?")
        params.append(filters.created_before)
    tokens = [custom_token(k, v) for k, v in filters.custom_fields]
    for values, column, array in (
        (list(filters.tags), "tags", "tag_array"),
        (tokens, "cfields", "cf_array"),
    ):
        if not values:
            continue
        if dialect == "postgres":
            where.append(f"{array} @> ?::text[]")
            params.append(values)
        else:
            for value in values:
                where.append(f"instr({column}, ?) > 0")
                params.append(f"|{value}|")
    if filters.consents:
        where.append(consent_condition(len(filters.consents)))
        params.extend(filters.consents)
    if text and filters.q is not None:
        test: Test = "like" if dialect == "postgres" else "instr"
        sql, found = text_condition(dialect, TextQuery.parse(filters.q), test)
        where.append(sql)
        params.extend(found)
    return where, params


Condition = tuple[str, list[Any]]
"""SQL over the ``doc`` and ``sort_key`` columns only, and its parameters."""
Test = Literal["like", "strpos", "instr"]
"""How "the document contains t" is written: ``LIKE '%t%'`` (which the trigram index
serves), or PostgreSQL's ``strpos`` / SQLite's ``instr`` (cheaper, for scans)."""


def contains(test: Test, text: str) -> Condition:
    """The document contains `text` (letters, digits and spaces only: no wildcards)."""
    if test == "like":
        return "doc LIKE ?", [f"%{text}%"]
    return f"{test}(doc, ?) > 0", [text]


def _all(parts: list[Condition], joiner: str) -> Condition:
    return f"({f' {joiner} '.join(sql for sql, _ in parts)})", [p for _, ps in parts for p in ps]


def name_starts(query: TextQuery) -> Condition | None:
    """Tier 3: the name starts with the query (a range of the name sort key)."""
    if not query.phrase:
        return None
    return "(sort_key >= ? AND sort_key < ?)", [query.phrase, query.phrase + "\U0010ffff"]


def narrowing(query: TextQuery) -> Condition | None:
    """The tsvector prefixes every document matching `every_word` has (PostgreSQL)."""
    narrow = list(index_words(query))
    if not narrow:
        return None
    return "doc_tsv @@ to_tsquery('simple', ?)", [" & ".join(f"{w}:*" for w in narrow)]


def every_word(
    query: TextQuery, dialect: Dialect | None = None, test: Test = "like"
) -> Condition | None:
    """Every query word starts a document word; on PostgreSQL (`dialect`) first narrowed
    by the tsvector index, which never drops a match (see `index_words`)."""
    if not query.words:
        return None
    parts = [contains(test, f" {w}") for w in query.words]
    narrow = narrowing(query) if dialect == "postgres" else None
    return _all(parts if narrow is None else [narrow, *parts], "AND")


def some_substring(query: TextQuery, test: Test = "like") -> Condition | None:
    """One of the query's forms of 3 characters or more is in the document."""
    forms = query.substrings()
    if not forms:
        return None
    return _all([contains(test, f) for f in forms], "OR")


def text_condition(dialect: Dialect | None, query: TextQuery, test: Test = "like") -> Condition:
    """The condition of a search (see the module docstring); ``1 = 0`` when the query
    has no letters or digits at all. With dialect None: over ``doc`` only."""
    found = [some_substring(query, test)]
    if query.needs_word_match():  # else a single long word: its substring covers it
        found.append(every_word(query, dialect, test))
    parts = [c for c in found if c is not None]
    if not parts:
        return "1 = 0", []
    return _all(parts, "OR")


def tier_expression(query: TextQuery, test: Test = "like") -> Condition:
    """The relevance tier of a matching row: 3 the name starts with the query, 2 every
    query word starts a document word, else 1."""
    starts, every = name_starts(query), every_word(query, None, test)
    if starts is None or every is None:
        return "1", []
    return (
        f"(CASE WHEN {starts[0]} THEN 3 WHEN {every[0]} THEN 2 ELSE 1 END)",
        [*starts[1], *every[1]],
    )


def list_contacts(
    tx: Tx,
    filters: ContactFilter,
    *,
    limit: int,
    cursor: str | None = None,
    sort: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of contacts (public JSON) and the cursor of the next page (or None).

    ValueError for an unknown sort, CursorError for a cursor that is malformed or made
    for another sort.
    """
    order = resolve_sort(sort, filters)
    after = None if cursor is None else decode_page_cursor(cursor, order)
    if tx.dialect == "postgres" and filters.q is not None and order in WALKED_SORTS:
        rows = NameWalk(tx, filters).page(order, after, limit + 1)
        publics = dict(
            tx.all(f"SELECT id, public FROM {TABLE} WHERE id = ANY(?)", ([r[2] for r in rows],))
        )
        found = [(publics[r[2]], r[1], r[0]) for r in rows if r[2] in publics]
    else:
        found = _one_query(tx, filters, order, after, limit)
    items = [orjson.loads(r[0]) for r in found[:limit]]
    if len(found) <= limit:
        return items, None
    _, key, tier = found[limit - 1]
    return items, encode_page_cursor(order, None if tier is None else int(tier), str(key))


def _one_query(
    tx: Tx, filters: ContactFilter, order: str, after: tuple[int | None, str] | None, limit: int
) -> list[tuple[Any, ...]]:
    """(public, key, tier) of up to `limit` + 1 rows, by one query (SQLite, and
    PostgreSQL without ``q`` or in time order)."""
    where, params = conditions(tx.dialect, filters)
    if order == RELEVANCE:
        test: Test = "like" if tx.dialect == "postgres" else "instr"
        tier, tier_params = tier_expression(TextQuery.parse(filters.q or ""), test)
        select = f"SELECT public, sort_key, {tier} AS tier FROM {TABLE}"
        head_params = tier_params
        if after is not None:
            where.append(f"({tier} < ? OR ({tier} = ? AND sort_key > ?))")
            params += [*tier_params, after[0], *tier_params, after[0], after[1]]
        ordering = "tier DESC, sort_key"
    else:
        column, descending = SORTS[order]
        select = f"SELECT public, {column}, NULL FROM {TABLE}"
        head_params = []
        if after is not None:
            where.append(f"{column} {'<' if descending else '>'} ?")
            params.append(after[1])
        ordering = f"{column} {'DESC' if descending else 'ASC'}"
    return tx.all(
        f"{select} WHERE {' AND '.join(where)} ORDER BY {ordering} LIMIT ?",
        (*head_params, *params, limit + 1),
    )


# -- PostgreSQL: searches in name order walk the name index --------------------------------

WALKED_SORTS = (RELEVANCE, "name", "-name")
WINDOW = 4000
"""Entries of the name index read by a search's first step."""
WALK_BUDGET = 30_000
"""Entries a search reads in name order before it asks the GIN indexes instead."""
INDEXED_ROWS = 5000
"""Up to this many expected matches, a search asks the GIN indexes first ..."""
PROBE_CAP = 1000
"""... and walks anyway if more than this many rows match."""
_PLANNER = ("enable_indexscan", "enable_indexonlyscan", "enable_seqscan")


@dataclass(frozen=True)
class Stream:
    """Rows in name order meeting a condition, written three ways."""

    walk: Condition
    """Tested on each entry of the name index (``doc`` and ``sort_key`` only)."""
    indexed: Condition
    """Asked of the GIN indexes."""
    estimate: Condition | None
    """What the planner should estimate the match count of (None: always walk)."""
    lower: str | None = None
    """Only keys from here (inclusive) ..."""
    upper: str | None = None
    """... up to here (exclusive)."""


def _without(condition: Condition, excluded: list[Condition]) -> Condition:
    """`condition` AND NOT each of `excluded`."""
    sql = " AND ".join([condition[0], *(f"NOT {e[0]}" for e in excluded)])
    return sql, [*condition[1], *(p for e in excluded for p in e[1])]


class NameWalk:
    """A search in name order (or relevance: tier by tier, each in name order), on
    PostgreSQL.

    The name index carries each row's search document (``INCLUDE (id, doc)``), so
    walking it in order and testing each document reads no table pages: a common term
    fills a page after a few thousand entries. A rare one would need the whole index,
    so when the planner expects few matches (its estimate is good for tsvector
    prefixes, rough for ``LIKE``) the GIN indexes (tsvector, trigrams) are asked first,
    reading at most PROBE_CAP + 1 rows (more: walk after all), and when the walk has
    read WALK_BUDGET entries or its hits predict more, the GIN indexes are asked for
    the rest; index and sequential scans are turned off for those queries. Names
    starting with the query (tier 3) are a range of the index, walked from its start.
    Every way selects the same rows as the one-query form (`_one_query`, what SQLite
    runs); the other filters are tested on the table for hits only.
    """

    def __init__(self, tx: Tx, filters: ContactFilter) -> None:
        self.tx = tx
        self.query = TextQuery.parse(filters.q or "")
        self.state = filters.state
        where, params = conditions("postgres", filters, text=False)
        self.others = (" AND ".join(where[1:]), params[1:])  # without archived = ?

    def page(
        self, order: str, after: tuple[int | None, str] | None, wanted: int
    ) -> list[tuple[int | None, str, str]]:
        """(tier, sort key, id) of up to `wanted` rows after the cursor position."""
        if order != RELEVANCE:
            indexed = text_condition("postgres", self.query)
            match = Stream(text_condition(None, self.query, "strpos"), indexed, indexed)
            start = None if after is None else after[1]
            got = self.stream(match, wanted, start, descending=order == "-name")
            return [(None, key, cid) for key, cid in got]
        rows: list[tuple[int | None, str, str]] = []
        for tier, stream in self.tiers():
            if after is not None and after[0] is not None and tier > after[0]:
                continue  # pages before the cursor held every row of this tier
            start = after[1] if after is not None and tier == after[0] else None
            got = self.stream(stream, wanted - len(rows), start, descending=False)
            rows += [(tier, key, cid) for key, cid in got]
            if len(rows) >= wanted:
                break
        return rows

    def tiers(self) -> list[tuple[int, Stream]]:
        """Each tier's own rows: 3, then 2 without 3, then 1 without 2 or 3."""
        q = self.query
        found: list[tuple[int, Stream]] = []
        starts = name_starts(q)
        before = [] if starts is None else [starts]  # conditions of the tiers above
        if starts is not None:
            found.append((3, Stream(("TRUE", []), starts, None, *starts[1])))
        every, scanned_every = every_word(q), every_word(q, None, "strpos")
        if every is not None and scanned_every is not None:
            narrowed = every_word(q, "postgres") or every
            found.append(
                (
                    2,
                    Stream(
                        _without(scanned_every, before),
                        _without(narrowed, before),
                        narrowing(q) or every,
                    ),
                )
            )
        some, scanned_some = some_substring(q), some_substring(q, "strpos")
        if some is not None and scanned_some is not None:
            found.append(
                (
                    1,
                    Stream(
                        _without(scanned_some, [*before, *filter(None, [scanned_every])]),
                        _without(some, [*before, *filter(None, [every])]),
                        some,
                    ),
                )
            )
        return found

    def stream(
        self, stream: Stream, wanted: int, start: str | None, *, descending: bool
    ) -> list[tuple[str, str]]:
        """(sort key, id) of the first `wanted` rows after `start` meeting the stream's
        condition and the other filters, in name order (or its reverse)."""
        if wanted <= 0:
            return []
        if stream.lower is not None and (start is None or start < stream.lower):
            start = stream.lower  # "> lower" is ">= lower": a key is more than a name
        if stream.estimate is not None:
            expected = self._estimate(stream, stream.estimate, start, descending)
            if expected <= INDEXED_ROWS:
                probed = self._indexed(stream, start, wanted, descending, cap=PROBE_CAP)
                if probed is not None:
                    return probed
        found: list[tuple[str, str]] = []
        walked, window, key = 0, WINDOW, start
        while True:
            hits, last = self._window(stream, key, window, wanted - len(found), descending)
            found += hits
            if len(found) >= wanted or last is None:
                return found[:wanted]
            walked += window
            key = last
            need = wanted - len(found)
            guess = need * walked / len(found) if found else 2 * walked
            if walked >= WALK_BUDGET or (found and walked + guess > WALK_BUDGET):
                rest = self._indexed(stream, key, need, descending, cap=None)
                assert rest is not None  # no cap: complete
                return found + rest
            window = min(max(int(guess * 1.2) + 1, WINDOW), WALK_BUDGET - walked)

    def _range(self, stream: Stream, key: str | None, descending: bool) -> Condition:
        """archived = state, after `key`, inside the stream's range."""
        parts = ["archived = ?"]
        params: list[Any] = [self.state]
        if key is not None:
            parts.append("sort_key < ?" if descending else "sort_key > ?")
            params.append(key)
        if stream.upper is not None:
            parts.append("sort_key < ?")
            params.append(stream.upper)
        return " AND ".join(parts), params

    def _window(
        self, stream: Stream, key: str | None, size: int, wanted: int, descending: bool
    ) -> tuple[list[tuple[str, str]], str | None]:
        """Up to `wanted` hits among the next `size` index entries after `key`, and, if
        fewer, the key of the window's last entry (None: no entry after the window)."""
        where, params = self._range(stream, key, descending)
        direction = "DESC" if descending else "ASC"
        entries = (
            f"SELECT id, sort_key, doc FROM {TABLE} WHERE {where}"
            f" ORDER BY sort_key {direction} LIMIT ?"
        )
        others, other_params = self.others
        also = f" AND EXISTS (SELECT 1 FROM {TABLE} c WHERE c.id = w.id AND {others})"
        rows = self.tx.all(
            f"SELECT sort_key, id FROM ({entries}) w WHERE {stream.walk[0]}"
            f"{also if others else ''} ORDER BY sort_key {direction} LIMIT ?",
            (*params, size, *stream.walk[1], *other_params, wanted),
        )
        hits = [(str(r[0]), str(r[1])) for r in rows]
        if len(hits) >= wanted:
            return hits, None
        last = self.tx.scalar(  # the window's end: the same entries, without the test
            f"SELECT sort_key FROM {TABLE} WHERE {where}"
            f" ORDER BY sort_key {direction} OFFSET ? LIMIT 1",
            (*params, size - 1),
        )
        return hits, None if last is None else str(last)

    def _estimate(
        self, stream: Stream, condition: Condition, key: str | None, descending: bool
    ) -> float:
        """The planner's estimate of the rows meeting `condition` after `key`."""
        where, params = self._range(stream, key, descending)
        others, other_params = self.others
        plan = self.tx.scalar(
            f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {TABLE} WHERE {where} AND {condition[0]}"
            f"{' AND ' + others if others else ''}",
            (*params, *condition[1], *other_params),
        )
        document = orjson.loads(plan) if isinstance(plan, str | bytes) else plan
        return float(document[0]["Plan"]["Plan Rows"])

    def _indexed(
        self, stream: Stream, key: str | None, wanted: int, descending: bool, *, cap: int | None
    ) -> list[tuple[str, str]] | None:
        """The first `wanted` rows after `key`, found through the GIN indexes; None if
        more than `cap` rows match (then only about `cap` rows were read: the planner's
        estimate was too low and walking is cheaper)."""
        where, params = self._range(stream, key, descending)
        others, other_params = self.others
        settings = (f"current_setting({n!r}) AS s{i}" for i, n in enumerate(_PLANNER))
        saved = self.tx.one(f"SELECT {', '.join(settings)}")  # named: rows are dicts
        for name in _PLANNER:
            self.tx.execute(f"SET LOCAL {name} = off")
        try:
            matching = (
                f"SELECT sort_key, id FROM {TABLE} WHERE {where} AND {stream.indexed[0]}"
                f"{' AND ' + others if others else ''}"
            )
            direction = "DESC" if descending else "ASC"
            if cap is None:
                rows = self.tx.all(
                    f"{matching} ORDER BY sort_key {direction} LIMIT ?",
                    (*params, *stream.indexed[1], *other_params, wanted),
                )
            else:  # stops reading after cap + 1 rows
                rows = self.tx.all(
                    f"SELECT sort_key, id FROM ({matching} LIMIT ?) m"
                    f" ORDER BY sort_key {direction}",
                    (*params, *stream.indexed[1], *other_params, cap + 1),
                )
        finally:
            assert saved is not None
            for name, value in zip(_PLANNER, saved, strict=True):
                self.tx.execute("SELECT set_config(?, ?, true)", (name, value))
        if cap is not None and len(rows) > cap:
            return None
        return [(str(r[0]), str(r[1])) for r in rows[:wanted]]
