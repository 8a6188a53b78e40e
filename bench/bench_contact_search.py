"""Contact search over 1,000,000 contacts on PostgreSQL (target: p95 under 50 ms).

Fills ``proj_contacts`` of a fresh database directly with CRM_BENCH_CONTACTS synthetic
contacts (default 1,000,000) by ``COPY``, each row made by the projection's own
``row_of`` from a synthetic public state (names with and without accents, emails,
phones, tax ids, skewed tags, owners, custom fields, 5% archived, 1% merged, five years
of creation dates), then builds the projection's indexes (``pg_trgm`` created first) and
analyses the table. Then, on that one table:

* ours: QUERIES queries through ``list_contacts`` (what ``GET /contacts`` runs), a
  page of 50, five kinds in turn: name prefix (4-6 letters of a name in use), email
  substring (part of an address in use), phone digits (6-9 digits of a phone in use,
  with its punctuation), a tag filter (one or two tags) with a sort, and a deep page
  (a cursor taken from the middle of the list, name or -created order, optionally with
  a kind filter);
* baseline, same run, same queries: a plain ``LIKE`` over the same table with index
  scans turned off (sequential scan), what the list did before: ``%text%`` on the
  search document, tags with ``LIKE '%|tag|%'``, the same sort, limit and keyset.

Every query runs once to warm the cache, then is timed (wall clock, rows decoded).
Prints p50/p95/p99 in ms per kind and overall for both, and the ratio baseline/ours.
Needs CRM_BENCH_POSTGRES_URL (a server URL; a fresh database is created and dropped,
or kept with CRM_BENCH_KEEP=1 to look at query plans, and then measured again without
loading with CRM_BENCH_DATABASE=<its name>). CRM_BENCH_CONTACTS shrinks it.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg

from crm_ledger.application import CrmApplication
from crm_ledger.projections import trigram
from crm_ledger.projections.contact_search import (
    ContactFilter,
    decode_page_cursor,
    encode_page_cursor,
    list_contacts,
)
from crm_ledger.projections.contact_text import TextQuery, fold
from crm_ledger.projections.contacts import WRITTEN, ContactsProjection, row_of
from crm_ledger.settings import Settings

CONTACTS = int(os.environ.get("CRM_BENCH_CONTACTS", "1000000"))
QUERIES = int(os.environ.get("CRM_BENCH_QUERIES", "200"))
PAGE = 50
SEED = 20261126
FIRST = (  # noqa: SIM905 - a list of words
    "Ana Antonio Beatriz Carlos Carmen Daniel David Elena Emilio Fernando Francisco"
    " Gabriel Héctor Inés Isabel Javier Jorge José Juan Julia Laura Lucía Luis Manuel"
    " Marta María Miguel Mónica Nuria Pablo Pedro Pilar Raquel Raúl Rocío Rosa Sara Sergio"
    " Silvia Sofía Teresa Tomás Víctor Alba Álvaro Andrés Ángela Ignacio Óscar Rubén Zoë"
    " Émile Chloé"
).split()
LAST = (  # noqa: SIM905 - a list of words
    "García Martínez López Sánchez González Pérez Rodríguez Fernández Gómez Martín"
    " Jiménez Ruiz Hernández Díaz Moreno Álvarez Muñoz Romero Alonso Gutiérrez Navarro"
    " Torres Domínguez Vázquez Ramos Gil Ramírez Serrano Blanco Suárez Molina Morales"
    " Ortega Delgado Castro Ortiz Rubio Marín Sanz Iglesias Núñez Medina Garrido Santos"
    " Castillo Cortés Lozano Guerrero Cano Prieto Méndez Calvo Cruz Gallego Vidal León"
    " Herrera Márquez Peña Cabrera Flores Campos Vega Fuentes Carrasco Diez Caballero"
    " Reyes Nieto Aguilar Pascual"
).split()
WORDS = (  # noqa: SIM905 - a list of words
    "Acme Iberia Norte Sur Logística Global Datos Soluciones Verde Azul Consultores Grupo"
    " Industrias Técnica Digital Servicios Médica Energía Agro Textil Hogar Marina Andina"
).split()
DOMAINS = [f"{w.lower()}{i}.example" for i, w in enumerate(WORDS)] + [
    "gmail.com",
    "hotmail.com",
    "outlook.es",
    "yahoo.es",
]
TAGS = ["b2b", "newsletter", "lead", "customer", "vip", "partner", "supplier", "event-2025"]
TAGS += [f"campaign-{i}" for i in range(20)]
REGIONS = ["north", "south", "east", "west", "centre", "islands", "abroad", "unknown"]
OWNERS = [f"user:{i}" for i in range(50)]
START = 1_640_995_200.0  # 2022-01-01
SPAN = 5 * 365 * 86_400.0


def _ascii(text: str) -> str:
    table = str.maketrans("áéíóúüñÁÉÍÓÚÑëË", "aeiouunAEIOUNeE")
    return text.translate(table).lower()


def _stamp(seconds: float) -> str:
    whole = int(seconds)
    micros = int((seconds - whole) * 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros:06d}Z"


def synthetic(rng: random.Random, n: int) -> dict[str, Any]:
    """The public state of synthetic contact number `n`."""
    organisation = rng.random() < 0.1
    if organisation:
        name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(['SL', 'SA', 'SLU'])}"
        local = _ascii(name.split()[0]) + str(n % 1000)
    else:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        second = rng.choice(LAST) if rng.random() < 0.5 else ""
        name = " ".join(p for p in (first, last, second) if p)
        local = f"{_ascii(first)}.{_ascii(last)}{n % 10_000}"
    emails = [f"{local}@{rng.choice(DOMAINS)}"] if rng.random() < 0.9 else []
    if emails and rng.random() < 0.1:
        emails.append(f"{local}.work@{rng.choice(DOMAINS)}")
    phones = []
    if rng.random() < 0.7:
        digits = f"{rng.choice('6789')}{rng.randrange(10**8):08d}"
        phones.append(f"+34 {digits[:3]} {digits[3:6]} {digits[6:]}")
    tax_id = f"{rng.randrange(10**8):08d}{rng.choice('TRWAGMYFPDXBNJZSQVHLCKE')}"
    tags = sorted({t for t in TAGS if rng.random() < 0.6 / (TAGS.index(t) + 1)})
    custom: dict[str, Any] = {"region": rng.choice(REGIONS)}
    if organisation:
        custom["employees"] = rng.randrange(1, 5000)
    created = START + rng.random() * SPAN
    state = rng.random()
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "version": rng.randrange(1, 6),
        "kind": "organisation" if organisation else "person",
        "name": name,
        "emails": emails,
        "phones": phones,
        "addresses": [],
        "tax_id": tax_id if rng.random() < 0.5 else None,
        "tags": tags,
        "owner": rng.choice(OWNERS) if rng.random() < 0.8 else None,
        "organisation_id": None,
        "custom_fields": custom,
        "archived": 0.94 <= state < 0.99,
        "merged_into": str(uuid.uuid4()) if state >= 0.99 else None,
        "notes": [],
        "created_at": _stamp(created),
        "modified_at": _stamp(created + rng.random() * 86_400 * 30),
    }


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new database on `server`, dropped at the end (or CRM_BENCH_DATABASE, an
    existing one a CRM_BENCH_KEEP run filled, used as it is)."""
    reused = os.environ.get("CRM_BENCH_DATABASE")
    if reused:
        yield f"{server.rsplit('/', 1)[0]}/{reused}"
        return
    name = f"bench_search_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{server.rsplit('/', 1)[0]}/{name}"
    finally:
        if os.environ.get("CRM_BENCH_KEEP"):
            print(f"kept database {name} (CRM_BENCH_KEEP)")
        else:
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def regenerate() -> list[dict[str, Any]]:
    """The sample `load` returns, without loading (the generator is seeded)."""
    rng = random.Random(SEED)
    every = max(CONTACTS // 2000, 1)
    return [c for n in range(CONTACTS) if (c := synthetic(rng, n)) and n % every == 0]


def load(url: str, crm: CrmApplication) -> list[dict[str, Any]]:
    """Create the table, COPY the contacts in, build the indexes; return a sample of
    the contacts (for the queries)."""
    projection = ContactsProjection(crm.mapper)
    statements = projection.ddl("postgres")
    tables = [s for s in statements if s.startswith("CREATE TABLE")]
    indexes = [s for s in statements if not s.startswith("CREATE TABLE")]
    rng = random.Random(SEED)
    sample: list[dict[str, Any]] = []
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in tables:
            conn.execute(statement)
        columns = ", ".join(WRITTEN)
        with conn.cursor() as cur, cur.copy(f"COPY proj_contacts ({columns}) FROM STDIN") as copy:
            for n in range(CONTACTS):
                public = synthetic(rng, n)
                if n % max(CONTACTS // 2000, 1) == 0:
                    sample.append(public)
                copy.write_row(row_of(public, b""))
        loaded = time.perf_counter()
        print(f"  COPY {CONTACTS:,} rows: {loaded - started:.1f} s", flush=True)
        conn.execute("SET maintenance_work_mem = '1GB'")
        for statement in indexes:
            began = time.perf_counter()
            conn.execute(statement)
            name = statement.split()[5]
            print(f"  {name}: {time.perf_counter() - began:.1f} s", flush=True)
        conn.execute("VACUUM ANALYZE proj_contacts")
    print(f"  loaded and indexed in {time.perf_counter() - started:.1f} s", flush=True)
    return sample


@dataclass(frozen=True)
class Query:
    kind: str
    filters: ContactFilter
    sort: str | None
    cursor: str | None


def name_prefix(rng: random.Random, contact: dict[str, Any]) -> Query:
    word = rng.choice(contact["name"].split()[:2])
    cut = rng.randint(4, 6)
    return Query("name prefix", ContactFilter(q=word[:cut]), None, None)


def email_substring(rng: random.Random, contact: dict[str, Any]) -> Query:
    email = contact["emails"][0]
    local, domain = email.split("@")
    part = rng.choice([local[: rng.randint(5, 9)], local[-rng.randint(6, 9) :], domain])
    return Query("email substring", ContactFilter(q=part), None, None)


def phone_digits(rng: random.Random, contact: dict[str, Any]) -> Query:
    phone = contact["phones"][0]
    end = len(phone) - rng.randint(0, 3)
    start = max(0, end - rng.randint(8, 12))
    return Query("phone digits", ContactFilter(q=phone[start:end]), None, None)


def tag_sorted(rng: random.Random, contact: dict[str, Any]) -> Query:
    tags = (rng.choice(TAGS[:8]),) if rng.random() < 0.7 else tuple(rng.sample(TAGS[:5], 2))
    sort = rng.choice(["name", "-created", "updated", "-name"])
    return Query("tag + sort", ContactFilter(tags=tags), sort, None)


def deep_page(rng: random.Random, contact: dict[str, Any]) -> Query:
    if rng.random() < 0.5:
        key, sort = f"{fold(contact['name'])}\x01{contact['id']}", "name"
    else:
        key, sort = f"{contact['created_at']}\x01{contact['id']}", "-created"
    kind = rng.choice([None, "person"])
    return Query("deep page", ContactFilter(kind=kind), sort, encode_page_cursor(sort, None, key))


MAKERS: list[tuple[Callable[[random.Random, dict[str, Any]], Query], str]] = [
    (name_prefix, "name"),
    (email_substring, "emails"),
    (phone_digits, "phones"),
    (tag_sorted, "name"),
    (deep_page, "name"),
]


def queries(sample: list[dict[str, Any]]) -> list[Query]:
    rng = random.Random(SEED + 1)
    made: list[Query] = []
    while len(made) < QUERIES:
        maker, needs = MAKERS[len(made) % len(MAKERS)]
        contact = rng.choice(sample)
        if contact[needs]:
            made.append(maker(rng, contact))
    return made


def ours(crm: CrmApplication, query: Query) -> int:
    with crm.db.transaction(write=False) as tx:
        items, _ = list_contacts(
            tx, query.filters, limit=PAGE, cursor=query.cursor, sort=query.sort
        )
    return len(items)


BASE_SORT = {
    None: "sort_key",
    "name": "sort_key",
    "-name": "sort_key DESC",
    "-created": "created_key DESC",
    "updated": "updated_key",
}


def baseline(crm: CrmApplication, query: Query) -> int:
    """A plain LIKE, sequential scan: index scans off for this transaction."""
    f = query.filters
    where = ["archived = 0"]
    params: list[Any] = []
    if f.q:
        where.append("doc LIKE ?")
        params.append(f"%{TextQuery.parse(f.q).phrase}%")
    for tag in f.tags:
        where.append("tags LIKE ?")
        params.append(f"%|{tag}|%")
    if f.kind:
        where.append("kind = ?")
        params.append(f.kind)
    order = BASE_SORT[query.sort]
    if query.cursor is not None:
        _, key = decode_page_cursor(query.cursor, str(query.sort))
        column = order.split()[0]
        where.append(f"{column} {'<' if order.endswith('DESC') else '>'} ?")
        params.append(key)
    with crm.db.transaction(write=False) as tx:
        tx.execute("SET LOCAL enable_indexscan = off")
        tx.execute("SET LOCAL enable_bitmapscan = off")
        tx.execute("SET LOCAL enable_indexonlyscan = off")
        rows = tx.all(
            f"SELECT public FROM proj_contacts WHERE {' AND '.join(where)}"
            f" ORDER BY {order} LIMIT ?",
            (*params, PAGE + 1),
        )
    return len([orjson.loads(r[0]) for r in rows[:PAGE]])


def timed(run: Callable[[Query], int], batch: list[Query]) -> dict[str, list[float]]:
    """Milliseconds per query kind (each query warmed once first)."""
    for query in batch:
        run(query)
    found: dict[str, list[float]] = {}
    for query in batch:
        began = time.perf_counter()
        run(query)
        found.setdefault(query.kind, []).append((time.perf_counter() - began) * 1000)
    return found


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), cuts[94], cuts[98]


def line(p50: float, p95: float, p99: float) -> str:
    return f"p50 {p50:8.2f}  p95 {p95:8.2f}  p99 {p99:8.2f} ms"


def report(name: str, times: dict[str, list[float]]) -> tuple[float, float, float]:
    print(f"  {name}:")
    for kind, values in times.items():
        p50, p95, p99 = percentiles(values)
        print(
            f"    {kind:<16} n={len(values):<4} p50 {p50:8.2f}  p95 {p95:8.2f}  p99 {p99:8.2f} ms"
        )
    every = [v for values in times.values() for v in values]
    p50, p95, p99 = percentiles(every)
    print(f"    {'all':<16} n={len(every):<4} {line(p50, p95, p99)}")
    return p50, p95, p99


def main() -> None:
    server = os.environ.get("CRM_BENCH_POSTGRES_URL")
    if not server:
        print("needs CRM_BENCH_POSTGRES_URL (a PostgreSQL server URL)", file=sys.stderr)
        sys.exit(2)
    with fresh_database(server) as url, tempfile.TemporaryDirectory() as tmp:
        crm = CrmApplication(Settings(database_url=url, data_dir=Path(tmp)))
        try:
            print(f"pg_trgm: {'yes' if trigram.enable(crm.db, crm.mapper) else 'no'}")
            sample = regenerate() if os.environ.get("CRM_BENCH_DATABASE") else load(url, crm)
            batch = queries(sample)
            mine = timed(lambda q: ours(crm, q), batch)
            base = timed(lambda q: baseline(crm, q), batch)
        finally:
            crm.close()
    print(f"contact search over {CONTACTS:,} contacts, {len(batch)} queries, pages of {PAGE}")
    ours_p = report("ours: list_contacts (GET /contacts)", mine)
    base_p = report("baseline: plain LIKE, sequential scan", base)
    print(
        f"  ratio baseline/ours: p50 {base_p[0] / ours_p[0]:.1f}x,"
        f" p95 {base_p[1] / ours_p[1]:.1f}x, p99 {base_p[2] / ours_p[2]:.1f}x"
    )
    print(f"  target: p95 < 50 ms -> {'met' if ours_p[1] < 50 else 'NOT met'}")


if __name__ == "__main__":
    main()
