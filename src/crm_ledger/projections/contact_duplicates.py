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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from crm_ledger.projections.contact_text import compact, digits, phrase
from crm_ledger.projections.contacts import ACTIVE, TABLE
from crm_ledger.storage.sql import Tx

MIN_PHONE_DIGITS = 6
#: at most this many candidate rows are read (the first ones found) for one contact
MAX_CANDIDATES = 500
REASONS = ("email", "phone", "tax_id", "name")


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
