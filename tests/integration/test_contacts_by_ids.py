"""`contacts_by_ids` (the launch audience's download) reads the contacts read model in
chunks of ID_CHUNK ids and answers every contact it holds in the order asked, past a
chunk boundary too (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from pathlib import Path

from crm_ledger.contact_registrations import RegistrationEncoder, store_registrations
from crm_ledger.domain.contact import registration
from crm_ledger.projections.base import ID_CHUNK
from crm_ledger.projections.contacts import contacts_by_ids
from tests.property.projection_helpers import application, catch_up


def test_every_contact_asked_for_in_the_order_asked(database_url: str, tmp_path: Path) -> None:
    ids = [uuid.uuid4() for _ in range(2 * ID_CHUNK + 7)]
    with application(database_url, tmp_path) as crm:
        encoder = RegistrationEncoder(crm.mapper)
        events = [
            encoder.stored_event(i, registration(actor="user:ana", kind="person", name=f"P{n}"))
            for n, i in enumerate(ids)
        ]
        store_registrations(crm, events, actor="user:ana")
        catch_up(crm, ["contacts"], batch_size=500)
        asked = [str(i) for i in reversed(ids)]
        asked.insert(ID_CHUNK, str(uuid.UUID(int=1)))  # not a contact: left out
        with crm.db.transaction(write=False) as tx:
            found = contacts_by_ids(tx, asked)
        assert [c["id"] for c in found] == [str(i) for i in reversed(ids)]
        assert found[0]["name"] == f"P{len(ids) - 1}"
