"""Contact lists equal a plain-Python model, for random contacts, filters, sorts and pages.

Hypothesis draws contacts (names with and without accents, emails, phones, tax ids,
tags, owners, custom fields, list states, and creation times with ties) written as rows
of ``proj_contacts`` with the projection's own ``row_of``, then a filter, a sort and a
page size. The model here predicts the whole answer from the contacts' public JSON:
which contacts match (the search rule written out again over each search document) and
in which order (sort key, then id; for relevance the tier first); the implementation
(SQL on SQLite and PostgreSQL, following every ``next_cursor``) must give exactly that.
On PostgreSQL each list is read twice: as planned, and with sequential scans off, so
the GIN indexes (tsvector, arrays, trigrams) are used even on these small tables; and
searches in name order walk the name index with tiny windows and budgets, so every
path of `NameWalk` (walk, walk further, ask the GIN indexes) is taken.
"""

from __future__ import annotations

import random
import string
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_ledger.application import CrmApplication
from crm_ledger.projections import contact_search, trigram
from crm_ledger.projections.contact_search import (
    SORT_NAMES,
    ContactFilter,
    list_contacts,
)
from crm_ledger.projections.contact_text import (
    fold,
    name_key,
    search_document,
    value_text,
    words,
)
from crm_ledger.projections.contacts import WRITTEN, ContactsProjection, row_of
from crm_ledger.settings import Settings

NAMES = ["Ana García", "Álvaro Núñez", "ana maria", "Mariana Ruiz", "Zoë", "Bob 12", "Émile"]
EMAILS = ["ana@example.com", "garcia.ana@acme.test", "bob12@mail.es", "zoe@nunez.es"]
PHONES = ["+34 600 111 222", "600-111", "+1 (555) 0100", "911 12 12"]
TAX_IDS = [None, "12345678-Z", "B-8765 4321", "x1"]
TAGS = ["vip", "b2b", "lead"]
OWNERS = [None, "user:1", "user:2"]
CUSTOM = {"region": ["north", "south"], "n": [1, 12, "12", True, False]}
TIMES = [
    "2026-01-01T00:00:00.000000Z",
    "2026-01-02T00:00:00.000000Z",
    "2026-03-04T05:06:07.000008Z",
]
QUERIES = ["ana", "an", "garc", "nunez ana", "12", "600 1", "b2", "north", "zo", "@", "ia gar"]
QUERIES += ["1", "8765-4321", "maria ana", "a", "example.com", "ZOË", "555 01", "x1"]


@st.composite
def contacts(draw: st.DrawFn) -> dict[str, Any]:
    """The public JSON of one contact (only what the list reads)."""
    created = draw(st.sampled_from(TIMES))
    state = draw(st.sampled_from(["active", "active", "archived", "merged"]))
    return {
        "id": str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)), version=4)),
        "version": 1,
        "kind": draw(st.sampled_from(["person", "organisation"])),
        "name": draw(st.sampled_from(NAMES)),
        "emails": draw(st.lists(st.sampled_from(EMAILS), max_size=2, unique=True)),
        "phones": draw(st.lists(st.sampled_from(PHONES), max_size=2, unique=True)),
        "addresses": [],
        "tax_id": draw(st.sampled_from(TAX_IDS)),
        "tags": sorted(draw(st.sets(st.sampled_from(TAGS)))),
        "owner": draw(st.sampled_from(OWNERS)),
        "organisation_id": None,
        "custom_fields": draw(
            st.dictionaries(st.sampled_from(list(CUSTOM)), st.sampled_from(CUSTOM["n"]))
            | st.fixed_dictionaries({"region": st.sampled_from(CUSTOM["region"])})
        ),
        "archived": state == "archived",
        "merged_into": str(uuid.uuid4()) if state == "merged" else None,
        "notes": [],
        "created_at": created,
        "modified_at": draw(st.sampled_from([t for t in TIMES if t >= created])),
    }


filters = st.builds(
    ContactFilter,
    kind=st.none() | st.sampled_from(["person", "organisation"]),
    tags=st.lists(st.sampled_from(TAGS), max_size=2, unique=True).map(tuple),
    owner=st.sampled_from(OWNERS),
    archived=st.booleans(),
    merged=st.booleans(),
    q=st.none() | st.sampled_from(QUERIES) | st.text(string.ascii_letters + "áé 12", max_size=6),
    has_email=st.none() | st.booleans(),
    created_after=st.none() | st.sampled_from(TIMES),
    created_before=st.none() | st.sampled_from(TIMES),
    custom_fields=st.lists(
        st.tuples(st.sampled_from(list(CUSTOM)), st.sampled_from(["north", "12", "1", "true"])),
        max_size=2,
    ).map(lambda pairs: tuple(sorted(pairs))),
)


# -- the model ---------------------------------------------------------------------------


def state_of(c: dict[str, Any]) -> str:
    return "merged" if c["merged_into"] else "archived" if c["archived"] else "active"


def text_matches(doc: str, name: str, q: str) -> tuple[bool, int]:
    """(matches, tier) by the documented rule, written out again."""
    found = words(q)
    forms = {" ".join(found), "".join(c for c in fold(q) if c.isdigit()), "".join(found)}
    substring = any(len(f) >= 3 and f in doc for f in forms)
    every_word = bool(found) and all(f" {w}" in doc for w in found)
    starts = bool(found) and name_key(name).startswith(" ".join(found))
    tier = 3 if starts else 2 if every_word else 1
    return substring or every_word, tier


def model(rows: list[dict[str, Any]], f: ContactFilter, sort: str) -> list[str]:
    """The ids the list must give, in order."""
    wanted_state = "merged" if f.merged else "archived" if f.archived else "active"
    chosen: list[tuple[Any, ...]] = []
    for c in rows:
        if state_of(c) != wanted_state:
            continue
        if (f.kind is not None and c["kind"] != f.kind) or (
            f.owner is not None and c["owner"] != f.owner
        ):
            continue
        if not set(f.tags) <= set(c["tags"]):
            continue
        if f.has_email is not None and bool(c["emails"]) != f.has_email:
            continue
        if f.created_after is not None and c["created_at"] < f.created_after:
            continue
        if f.created_before is not None and c["created_at"] >= f.created_before:
            continue
        custom = {k: value_text(v) for k, v in c["custom_fields"].items()}
        if any(custom.get(k) != v for k, v in f.custom_fields):
            continue
        tier = 0
        if f.q is not None:
            hit, tier = text_matches(search_document(c), c["name"], f.q)
            if not hit:
                continue
        by_name = f"{name_key(c['name'])}\x01{c['id']}"
        keys = {
            "name": by_name,
            "created": f"{c['created_at']}\x01{c['id']}",
            "updated": f"{c['modified_at']}\x01{c['id']}",
        }
        if sort == "relevance":
            chosen.append(((-tier, by_name) if f.q is not None else (by_name,), c["id"]))
        else:
            chosen.append((keys[sort.lstrip("-")], c["id"]))
    chosen.sort(reverse=sort.startswith("-"))
    return [cid for _, cid in chosen]


# -- the implementation --------------------------------------------------------------------


@contextmanager
def application(url: str, tmp_path: Path) -> Iterator[CrmApplication]:
    crm = CrmApplication(Settings(database_url=url, data_dir=tmp_path / "data"))
    try:
        trigram.enable(crm.db, crm.mapper)
        crm.db.create(ContactsProjection(crm.mapper).ddl(crm.db.dialect))
        yield crm
    finally:
        crm.close()


def store(crm: CrmApplication, rows: list[dict[str, Any]]) -> None:
    with crm.db.transaction() as tx:
        tx.execute("DELETE FROM proj_contacts")
        tx.executemany(
            f"INSERT INTO proj_contacts ({', '.join(WRITTEN)})"
            f" VALUES ({', '.join('?' for _ in WRITTEN)})",
            [row_of(c, b"") for c in rows],
        )


def every_page(
    crm: CrmApplication, f: ContactFilter, sort: str, limit: int, *, force_index: bool
) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        with crm.db.transaction(write=False) as tx:
            if force_index:
                tx.execute("SET LOCAL enable_seqscan = off")
            items, cursor = list_contacts(tx, f, limit=limit, cursor=cursor, sort=sort)
        ids += [i["id"] for i in items]
        if cursor is None:
            return ids
    raise AssertionError("pagination did not end")


@pytest.fixture
def crm(database_url: str, tmp_path: Path) -> Iterator[CrmApplication]:
    with application(database_url, tmp_path) as app:
        yield app


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(contacts(), max_size=14, unique_by=lambda c: c["id"]),
    f=filters,
    sort=st.sampled_from(SORT_NAMES),
    limit=st.integers(min_value=1, max_value=5),
    walk=st.tuples(
        st.integers(1, 6), st.integers(0, 20), st.sampled_from([0, 3, 5000]), st.integers(0, 4)
    ),
)
def test_lists_equal_the_model(
    crm: CrmApplication,
    rows: list[dict[str, Any]],
    f: ContactFilter,
    sort: str,
    limit: int,
    walk: tuple[int, int, int, int],
) -> None:
    """Every page, in order, is what the model predicts (and the same with indexes forced).

    On PostgreSQL, searches walk the name index in windows of `walk[0]` entries for at
    most `walk[1]` entries before asking the GIN indexes, unless the planner expects at
    most `walk[2]` matches (0: always walk first) and at most `walk[3]` rows match, so
    tiny tables take every path.
    """
    store(crm, rows)
    expected = model(rows, f, sort)
    names = ("WINDOW", "WALK_BUDGET", "INDEXED_ROWS", "PROBE_CAP")
    saved = [getattr(contact_search, n) for n in names]
    for name, value in zip(names, walk, strict=True):
        setattr(contact_search, name, value)
    try:
        assert expected == every_page(crm, f, sort, limit, force_index=False)
        if crm.db.dialect == "postgres":
            assert expected == every_page(crm, f, sort, limit, force_index=True)
    finally:
        for name, value in zip(names, saved, strict=True):
            setattr(contact_search, name, value)


@pytest.mark.postgres
def test_postgres_declares_the_search_indexes(
    postgres_url: str, postgres_database_factory: Any, tmp_path: Path
) -> None:
    """On PostgreSQL (pg_trgm available on the test server) every search index exists,
    so the forced-index reads above really go through them."""
    with application(postgres_database_factory(), tmp_path) as app, app.db.transaction() as tx:
        found = {
            r[0]
            for r in tx.all("SELECT indexname FROM pg_indexes WHERE tablename = 'proj_contacts'")
        }
    assert {
        "proj_contacts_tsv",
        "proj_contacts_tags",
        "proj_contacts_cf",
        "proj_contacts_trgm",
    } <= found


def seeded_contacts(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` contacts drawn like `contacts()`, from a seeded generator (no Hypothesis)."""
    rng = random.Random(seed)
    made = []
    for n in range(count):
        created = rng.choice(TIMES)
        state = rng.choice(["active", "active", "active", "archived", "merged"])
        made.append(
            {
                "id": str(uuid.UUID(int=n, version=4)),
                "version": 1,
                "kind": rng.choice(["person", "organisation"]),
                "name": rng.choice(NAMES),
                "emails": rng.sample(EMAILS, rng.randint(0, 2)),
                "phones": rng.sample(PHONES, rng.randint(0, 2)),
                "addresses": [],
                "tax_id": rng.choice(TAX_IDS),
                "tags": sorted(rng.sample(TAGS, rng.randint(0, 2))),
                "owner": rng.choice(OWNERS),
                "organisation_id": None,
                "custom_fields": {"region": rng.choice(CUSTOM["region"])},
                "archived": state == "archived",
                "merged_into": str(uuid.uuid4()) if state == "merged" else None,
                "notes": [],
                "created_at": created,
                "modified_at": created,
            }
        )
    return made


@pytest.mark.postgres
def test_every_walk_path_on_postgres(
    postgres_url: str, postgres_database_factory: Any, tmp_path: Path
) -> None:
    """On 120 contacts, with settings that force each way of `NameWalk` (walk only; GIN
    first; GIN probe overflowing into a walk; walk budget spent, GIN for the rest),
    every search pages exactly as the model says, and each way was taken."""
    rows = seeded_contacts(120, seed=7)
    taken: Counter[str] = Counter()
    walk_cls = contact_search.NameWalk
    original = walk_cls._indexed, walk_cls._window

    def indexed(self: Any, *args: Any, cap: int | None) -> Any:
        found = original[0](self, *args, cap=cap)
        taken["probe" if cap is not None else "rest"] += 1
        taken["overflow"] += cap is not None and found is None
        return found

    def window(self: Any, *args: Any) -> Any:
        taken["window"] += 1
        return original[1](self, *args)

    settings_list = [(2, 10_000, 0, 0), (3, 8, 0, 0), (4, 10_000, 5000, 2), (2, 10_000, 5000, 1000)]
    names = ("WINDOW", "WALK_BUDGET", "INDEXED_ROWS", "PROBE_CAP")
    saved = [getattr(contact_search, n) for n in names]
    with application(postgres_database_factory(), tmp_path) as app:
        store(app, rows)
        try:
            walk_cls._indexed, walk_cls._window = indexed, window  # type: ignore[method-assign]
            for values in settings_list:
                for name, value in zip(names, values, strict=True):
                    setattr(contact_search, name, value)
                for q in ("ana", "garc", "12", "zo", "north", "ia gar", "a"):
                    for sort, limit in (("relevance", 3), ("name", 4), ("-name", 5)):
                        f = ContactFilter(q=q)
                        expected = model(rows, f, sort)
                        assert expected == every_page(app, f, sort, limit, force_index=False), (
                            values,
                            q,
                            sort,
                        )
        finally:
            walk_cls._indexed, walk_cls._window = original  # type: ignore[method-assign]
            for name, value in zip(names, saved, strict=True):
                setattr(contact_search, name, value)
    assert all(taken[way] > 0 for way in ("window", "probe", "overflow", "rest")), taken
