"""Likely duplicates of a contact, from the contacts read model (then merged by hand).

Another active contact is a likely duplicate when it shares, compared as the search does
(see `contact_text`):

* ``email``: an email address (letter case ignored);
* ``phone``: a phone number's digits (at least `MIN_PHONE_DIGITS` of them);
* ``tax_id``: the tax id's letters and digits (case, spaces and punctuation ignored);
* ``name``: the name's words (case and accents ignored), for contacts of the same kind.

The search document holds each of these forms between spaces, so one query with a
``LIKE`` per form finds every candidate (and, as ``LIKE`` matches more than whole
values, some others); each candidate's reasons are then decided exactly on its stored
public state. Candidates come most reasons first, then by name.

`duplicate_pairs` finds them across a whole list in one pass instead (the duplicates
report): every pair of contacts sharing a form, with its reasons. A form shared by more
than `MAX_GROUP` contacts (a switchboard number, a generic mailbox) pairs none of them:
it is counted as too common instead, as pairing them all would bury the real duplicates.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from itertools import combinations
from typing import Any

import orjson

from crm_ledger.projections.contact_text import compact, digits, phrase
from crm_ledger.projections.contacts import ACTIVE, TABLE
from crm_ledger.storage.sql import Tx

MIN_PHONE_DIGITS = 6
#: at most this many candidate rows are read (the first ones found) for one contact
MAX_CANDIDATES = 500
REASONS = ("email", "phone", "tax_id", "name")
#: a form shared by more contacts than this is too common to pair them
MAX_GROUP = 50


def _forms(public: Mapping[str, Any]) -> dict[str, set[str]]:
    """The compared forms of a contact's values, per reason."""
    phones = {digits(p) for p in public["phones"]}
    return {
        "email": {e.casefold() for e in public["emails"]},
        "phone": {p for p in phones if len(p) >= MIN_PHONE_DIGITS},
        "tax_id": {compact(public["tax_id"])} - {""} if public.get("tax_id") else set(),
        "name": {phrase(public["name"])} - {""},
    }


def _patterns(public: Mapping[str, Any], forms: dict[str, set[str]]) -> list[str]:
    """``LIKE`` patterns of the search document that every candidate matches one of."""
    found = [f"% {phrase(e)} %" for e in public["emails"] if phrase(e)]
    found += [f"% {form} %" for reason in ("phone", "tax_id") for form in forms[reason]]
    found += [f" {form} %" for form in forms["name"]]  # the document starts with the name
    return found


def reasons_between(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> list[str]:
    """What the two contacts' public states share (in `REASONS` order)."""
    a, b = _forms(mine), _forms(theirs)
    shared = [r for r in REASONS if a[r] & b[r]]
    if "name" in shared and mine["kind"] != theirs["kind"]:
        shared.remove("name")  # a company named like a person is not that person
    return shared


def likely_duplicates(tx: Tx, public: Mapping[str, Any], *, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` active contacts sharing something with `public` (a contact's public
    state): ``[{"reasons": [...], "contact": public state}, ...]``."""
    patterns = _patterns(public, _forms(public))
    if not patterns:
        return []
    matching = " OR ".join("doc LIKE ?" for _ in patterns)
    rows = tx.all(
        f"SELECT public FROM {TABLE} WHERE archived = ? AND id <> ? AND ({matching}) LIMIT ?",
        (ACTIVE, str(public["id"]), *patterns, MAX_CANDIDATES),
    )
    found = []
    for (raw,) in rows:
        other = orjson.loads(raw)
        shared = reasons_between(public, other)
        if shared:
            found.append({"reasons": shared, "contact": other})
    found.sort(key=lambda d: (-len(d["reasons"]), phrase(d["contact"]["name"]), d["contact"]["id"]))
    return found[:limit]


def duplicate_pairs(
    contacts: Iterable[Mapping[str, Any]],
) -> tuple[list[tuple[str, str, list[str]]], dict[str, int]]:
    """Every pair of `contacts` (public states) sharing a form, as (id, other id,
    reasons) with id < other id, most reasons first, then by ids; and, per reason, how
    many forms were too common to pair (shared by more than `MAX_GROUP`). Names pair
    contacts of the same kind only, as `reasons_between` says."""
    holders: dict[tuple[str, str], list[str]] = defaultdict(list)
    for contact in contacts:
        for reason, forms in _forms(contact).items():
            for form in forms:
                key = f"{contact['kind']} {form}" if reason == "name" else form
                holders[reason, key].append(str(contact["id"]))
    shared: dict[tuple[str, str], set[str]] = defaultdict(set)
    too_common: Counter[str] = Counter()
    for (reason, _), ids in holders.items():
        if len(ids) > MAX_GROUP:
            too_common[reason] += 1
            continue
        for pair in combinations(sorted(set(ids)), 2):
            shared[pair].add(reason)
    pairs = [(a, b, [r for r in REASONS if r in reasons]) for (a, b), reasons in shared.items()]
    pairs.sort(key=lambda p: (-len(p[2]), p[0], p[1]))
    return pairs, {reason: too_common[reason] for reason in REASONS}
