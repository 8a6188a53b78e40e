"""The consents read model: the state of each consent purpose per person, for lists.

``GET /contacts?consent=marketing_email`` and segments with ``consents`` keep only the
contacts whose latest statement for each purpose gave consent. The truth is the
``ContactConsents`` aggregates (`crm_ledger.consents.consent_view`); this read model
holds, for each person and purpose, the winning statement's ``granted`` and its
`order_key`, so a list tests one indexed row per contact.

A person is a *root*: an active contact, with every contact merged into it. Two tables:

* ``proj_consent_links``: for each consents aggregate (``Opened`` names its contact) and
  each contact merged into another (``MergedInto``), its root and the contact it stands
  for. A contact that is in no row is its own root.
* ``proj_consents``: one row per (root, purpose): whether the purpose's winning
  statement gave consent, and that statement's `order_key`.

A statement replaces its root's row when its key is not older (equal keys: the one
recorded later wins, as `current` says). A merge moves the duplicate's links and rows to
the survivor, keeping for each purpose the later of the two statements. The rows depend
on several aggregates and on the log's order, so a rebuild applies the log in order.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.utils import get_topic

from crm_ledger.domain.consent import GIVEN, OPENED, WITHDRAWN, order_key, statement_of
from crm_ledger.domain.contact import Contact
from crm_ledger.projections.base import Dispatching, Handler
from crm_ledger.storage.sql import Tx

LINKS = "proj_consent_links"
STATES = "proj_consents"
_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_consent_links ("
    " link TEXT PRIMARY KEY,"
    " root TEXT NOT NULL,"
    " contact TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS proj_consent_links_root ON proj_consent_links (root)",
    "CREATE TABLE IF NOT EXISTS proj_consents ("
    " root TEXT NOT NULL,"
    " purpose TEXT NOT NULL,"
    " granted INTEGER NOT NULL,"
    " order_key TEXT NOT NULL,"
    " PRIMARY KEY (root, purpose))",
)
MERGED_INTO: Any = Contact.MergedInto  # type: ignore[attr-defined]  # made by @event


def consent_condition(purpose_count: int) -> str:
    """SQL over ``proj_contacts`` (its ``id`` unqualified): the contact's person has a
    given consent for each of `purpose_count` purposes (one parameter each)."""
    root = f"COALESCE((SELECT l.root FROM {LINKS} l WHERE l.link = id), id)"
    one = (
        f"EXISTS (SELECT 1 FROM {STATES} k WHERE k.root = {root}"
        " AND k.purpose = ? AND k.granted = 1)"
    )
    return " AND ".join([one] * purpose_count)


class ConsentsProjection(Dispatching):
    """Maintains ``proj_consent_links`` and ``proj_consents``."""

    name = "consents"
    statements = _DDL

    def __init__(self) -> None:
        self._handlers: dict[type, Handler] = {
            OPENED: self._opened,
            GIVEN: self._stated,
            WITHDRAWN: self._stated,
            MERGED_INTO: self._merged_into,
        }
        self.topics = tuple(get_topic(cls) for cls in self._handlers)

    @staticmethod
    def _root(tx: Tx, key: str) -> tuple[str, str]:
        """(root, contact) of a consents aggregate id or a contact id."""
        row = tx.one(f"SELECT root, contact FROM {LINKS} WHERE link = ?", (key,))
        return (key, key) if row is None else (str(row[0]), str(row[1]))

    def _opened(self, tx: Tx, event: Any) -> None:
        contact = str(event.contact_id)
        root, _ = self._root(tx, contact)  # merged meanwhile: its survivor
        tx.execute(
            f"INSERT INTO {LINKS} (link, root, contact) VALUES (?, ?, ?)",
            (str(event.originator_id), root, contact),
        )

    def _stated(self, tx: Tx, event: Any) -> None:
        statement = statement_of(event)
        assert statement is not None
        root, contact = self._root(tx, str(event.originator_id))
        self._keep_later(
            tx, root, statement["purpose"], statement["granted"], order_key(statement, contact)
        )

    def _merged_into(self, tx: Tx, event: Any) -> None:
        duplicate, survivor = str(event.originator_id), str(event.survivor_id)
        tx.execute(f"UPDATE {LINKS} SET root = ? WHERE root = ?", (survivor, duplicate))
        tx.execute(
            f"INSERT INTO {LINKS} (link, root, contact) VALUES (?, ?, ?)",
            (duplicate, survivor, duplicate),
        )
        moved = tx.all(
            f"SELECT purpose, granted, order_key FROM {STATES} WHERE root = ?", (duplicate,)
        )
        tx.execute(f"DELETE FROM {STATES} WHERE root = ?", (duplicate,))
        for purpose, granted, key in moved:
            self._keep_later(tx, survivor, str(purpose), bool(granted), str(key))

    @staticmethod
    def _keep_later(tx: Tx, root: str, purpose: str, granted: bool, key: str) -> None:
        """Make (granted, key) the row of (root, purpose) unless that row's key is later."""
        row = tx.one(
            f"SELECT order_key FROM {STATES} WHERE root = ? AND purpose = ?", (root, purpose)
        )
        if row is not None and str(row[0]) > key:
            return
        tx.execute(
            f"INSERT INTO {STATES} (root, purpose, granted, order_key) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (root, purpose) DO UPDATE"
            " SET granted = excluded.granted, order_key = excluded.order_key",
            (root, purpose, 1 if granted else 0, key),
        )
