"""Which values of an event are personal data, and how they are sealed.

A person's values (a contact's name, emails, phones, addresses, tax id, custom fields
and note texts; a lead's name, emails, phones, tax id and notes; the free text of
activities and service cases) are encrypted
(AES-256-GCM, ``cryptography``) before the event is stored, each event with its own
key, so the log, its ledger hashes and every exported bundle hold only their
ciphertext. Destroying the keys of a person's events (erasure) leaves that ciphertext
undecipherable while every stored byte, and so the chain, stays as it was:
crypto-shredding.

A sealed event's stored state keeps its other values in clear and carries one member::

    "_sealed_": {"v": 1, "kid": key id (32 hex digits), "fields": ["name", ...],
                 "nonce": base64 (12 bytes), "data": base64 (ciphertext and tag)}

``fields`` names the values taken out (a top-level value, or ``outer.inner`` for a key
of a dict value such as an update's ``changes``); ``data`` is the AES-GCM encryption of
their transcoded JSON object, keyed by those names, with the aggregate id, the event's
version and its topic as associated data (a sealed value cannot be moved to another
event undetected). Once the key is gone, each named value reads as its `ERASED` form.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.utils import get_topic

from crm_ledger.domain.activity import Activity
from crm_ledger.domain.case import Case
from crm_ledger.domain.contact import ERASED_NAME, Contact
from crm_ledger.domain.lead import Lead

SEALED_MEMBER = "_sealed_"
SEAL_VERSION = 1
KEY_BYTES = 32

#: the erased form of each personal value, by field name
ERASED: dict[str, Any] = {
    "name": ERASED_NAME,
    "emails": [],
    "phones": [],
    "addresses": [],
    "tax_id": None,
    "custom_fields": {},
    "text": ERASED_NAME,
    "notes": None,
    "subject": ERASED_NAME,
    "body": None,
    "description": None,
    "resolution": ERASED_NAME,
    "reason": ERASED_NAME,
    "comment": None,
}
PERSONAL = frozenset(ERASED)

_NONE: frozenset[str] = frozenset()
#: the personal values of each event topic: top-level names, and dict-valued members
#: whose personal keys are sealed (``changes`` of an update, ``absorbed`` of a merge)
SEALED_TOPICS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    get_topic(Contact.Registered): (  # type: ignore[attr-defined]
        frozenset({"name", "emails", "phones", "addresses", "tax_id", "custom_fields"}),
        _NONE,
    ),
    get_topic(Contact.Updated): (_NONE, frozenset({"changes"})),  # type: ignore[attr-defined]
    get_topic(Contact.NoteAdded): (frozenset({"text"}), _NONE),  # type: ignore[attr-defined]
    get_topic(Contact.Merged): (_NONE, frozenset({"absorbed"})),  # type: ignore[attr-defined]
    get_topic(Lead.Registered): (  # type: ignore[attr-defined]
        frozenset({"name", "emails", "phones", "tax_id", "notes"}),
        _NONE,
    ),
    get_topic(Lead.Updated): (_NONE, frozenset({"changes"})),  # type: ignore[attr-defined]
    # the free text of activities and service cases (what they say may be about a person)
    get_topic(Activity.Logged): (frozenset({"subject", "body"}), _NONE),  # type: ignore[attr-defined]
    get_topic(Activity.Updated): (_NONE, frozenset({"changes"})),  # type: ignore[attr-defined]
    get_topic(Case.Opened): (frozenset({"subject", "description"}), _NONE),  # type: ignore[attr-defined]
    get_topic(Case.Updated): (_NONE, frozenset({"changes"})),  # type: ignore[attr-defined]
    get_topic(Case.Resolved): (frozenset({"resolution"}), _NONE),  # type: ignore[attr-defined]
    get_topic(Case.Reopened): (frozenset({"reason"}), _NONE),  # type: ignore[attr-defined]
    get_topic(Case.Rated): (frozenset({"comment"}), _NONE),  # type: ignore[attr-defined]
}


class SealError(ValueError):
    """A sealed value that does not decrypt with its key (altered bytes, or a value
    moved from another event)."""


def personal_values(topic: str, state: dict[str, Any]) -> dict[str, Any]:
    """Take the personal values of an event of `topic` out of `state` (changed in place)
    and return them by field name (``outer.inner`` for nested ones); empty if none."""
    spec = SEALED_TOPICS.get(topic)
    if spec is None:
        return {}
    top, nested = spec
    taken: dict[str, Any] = {}
    for name in ERASED:  # a fixed order: the same event seals the same field list
        if name in top and name in state:
            taken[name] = state.pop(name)
    for outer in nested:
        inner = state.get(outer)
        if isinstance(inner, dict):
            kept: dict[str, Any] = {}
            for key, value in inner.items():
                if key in PERSONAL:
                    taken[f"{outer}.{key}"] = value
                else:
                    kept[key] = value
            state[outer] = kept
    return taken


def put_back(state: dict[str, Any], values: Mapping[str, Any]) -> None:
    """Return `values` (as `personal_values` took them) into `state`."""
    for path, value in values.items():
        outer, _, inner = path.partition(".")
        if inner:
            target = state.setdefault(outer, {})
            if isinstance(target, dict):
                target[inner] = value
        else:
            state[outer] = value


_MEMBER = f'"{SEALED_MEMBER}"'.encode()
_KID_AT = f'"{SEALED_MEMBER}":{{"v":{SEAL_VERSION},"kid":"'.encode()
_HEX = frozenset(b"0123456789abcdef")


def sealed_kid(state: bytes) -> str | None:
    """The key id of a stored state's sealed member (None if it has none). Found in the
    bytes where the member starts as sealing writes it (a quote inside a JSON string is
    escaped, so those bytes are the member itself), else by parsing the state."""
    if _MEMBER not in state:
        return None
    at = state.find(_KID_AT)
    if at >= 0:
        kid = state[at + len(_KID_AT) : at + len(_KID_AT) + 33]
        if len(kid) == 33 and kid[32:] == b'"' and _HEX.issuperset(kid[:32]):
            return kid[:32].decode()
    sealed = orjson.loads(state).get(SEALED_MEMBER)
    return str(sealed["kid"]) if isinstance(sealed, dict) and "kid" in sealed else None


def erased_values(fields: list[str]) -> dict[str, Any]:
    """The erased form of each sealed field named in `fields`."""
    found: dict[str, Any] = {}
    for path in fields:
        name = path.rpartition(".")[2]
        value = ERASED.get(name)
        found[path] = type(value)() if isinstance(value, list | dict) else value
    return found


def _aad(subject: str, version: int, topic: str) -> bytes:
    return f"{subject}\n{version}\n{topic}".encode()


def seal(
    kid: str,
    key: bytes,
    plaintext: bytes,
    fields: list[str],
    *,
    subject: str,
    version: int,
    topic: str,
) -> dict[str, Any]:
    """The ``_sealed_`` member for `plaintext` (the transcoded personal values), sealed
    with `key`, whose id is `kid`."""
    nonce = os.urandom(12)
    data = AESGCM(key).encrypt(nonce, plaintext, _aad(subject, version, topic))
    return {
        "v": SEAL_VERSION,
        "kid": kid,
        "fields": fields,
        "nonce": base64.b64encode(nonce).decode(),
        "data": base64.b64encode(data).decode(),
    }


def unseal(
    key: bytes, sealed: Mapping[str, Any], *, subject: str, version: int, topic: str
) -> bytes:
    """The plaintext of a ``_sealed_`` member; `SealError` if it does not decrypt."""
    if sealed.get("v") != SEAL_VERSION:
        raise SealError(f"unknown seal version {sealed.get('v')!r}")
    try:
        nonce = base64.b64decode(sealed["nonce"], validate=True)
        data = base64.b64decode(sealed["data"], validate=True)
        return AESGCM(key).decrypt(nonce, data, _aad(subject, version, topic))
    except (InvalidTag, KeyError, ValueError, TypeError) as exc:
        raise SealError(f"the sealed values of {subject} version {version} do not decrypt") from exc
