"""Possible duplicates: contacts of the contacts read model sharing an email, tax id or phone.

Read-only over ``proj_contacts``. Emails compare case-insensitively, phones by their
digits only, tax ids by their letters and digits only, case-insensitively. The SQL
``LIKE`` on the ``search`` column only narrows the candidates (each wanted character in
order, anything between); the exact comparison is made here on each candidate's public
JSON, so punctuation and spacing never decide a match.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from crm_ledger.projections.contacts import TABLE
from crm_ledger.storage.sql import Tx


def email_key(value: str) -> str:
    """How emails compare."""
    return value.strip().casefold()


def phone_key(value: str) -> str:
    """How phones compare: digits only."""
    return "".join(c for c in value if c.isdigit())


def tax_key(value: str) -> str:
    """How tax ids compare: letters and digits only, case-insensitive."""
    return "".join(c for c in value if c.isalnum()).casefold()


def escape_like(text: str) -> str:
    """`text` as a literal inside a LIKE pattern with ``ESCAPE '\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _spread(key: str) -> str:
    """A LIKE pattern matching `key`'s characters in order with anything between them."""
    return "%" + "%".join(escape_like(c) for c in key) + "%"


def find_contact_matches(
    tx: Tx, *, emails: Iterable[str], phones: Iterable[str], tax_ids: Iterable[str]
) -> list[dict[str, Any]]:
    """Contacts sharing any given value, as ``{contact_id, name, matched_on}`` sorted by
    name; ``matched_on`` lists ``email``, ``tax_id`` and/or ``phone``."""
    wanted = {
        "email": {k for k in map(email_key, emails) if k},
        "tax_id": {k for k in map(tax_key, tax_ids) if k},
        "phone": {k for k in map(phone_key, phones) if k},
    }
    patterns = [f"%{escape_like(k)}%" for k in wanted["email"]]
    patterns += [_spread(k) for k in (*wanted["tax_id"], *wanted["phone"])]
    if not patterns:
        return []
    where = " OR ".join("search LIKE ? ESCAPE '\\'" for _ in patterns)
    rows = tx.all(  # merged contacts (archived = 2) live on in their survivor
        f"SELECT public FROM {TABLE} WHERE archived <> 2 AND ({where})", patterns
    )
    matches = []
    for (public,) in rows:
        contact = orjson.loads(public)
        found = {
            "email": {email_key(e) for e in contact["emails"]},
            "tax_id": {tax_key(contact["tax_id"])} if contact.get("tax_id") else set(),
            "phone": {phone_key(p) for p in contact["phones"]},
        }
        matched_on = [k for k in ("email", "tax_id", "phone") if wanted[k] & found[k]]
        if matched_on:
            matches.append(
                {"contact_id": contact["id"], "name": contact["name"], "matched_on": matched_on}
            )
    return sorted(matches, key=lambda m: (m["name"].casefold(), m["contact_id"]))
