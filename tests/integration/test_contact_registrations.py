"""The import's fast write path stores exactly what the normal write path stores.

The same CSV rows go once through ``import_contacts`` (rows read by `RowReader` or the
schema, events built by `RegistrationEncoder`, stored by `store_registrations`) and once
through the normal path (the schema, ``prepare_contacts``, ``Contact.register``,
``crm.store``), each into a fresh database, with the events' clock frozen to the same
instants. Every stored event row must be byte-identical, every ledger envelope the
same apart from the log origin and commit time (and the chain links they feed), and the
fast path's ledger must verify. The personal values are sealed with each contact's own
key and a random nonce, so those bytes differ by design: both paths must seal the same
fields, and once opened with the keys the states must be equal (as must be the rest).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest
from eventsourcing.persistence import StoredEvent

from crm_ledger.api.schemas.contacts import ContactCreate
from crm_ledger.application import CrmApplication
from crm_ledger.contact_batch import prepare_contacts
from crm_ledger.contact_registrations import REGISTERED
from crm_ledger.domain.contact import Contact
from crm_ledger.imports import check_header, contact_id, file_digest, import_contacts, row_fields
from crm_ledger.privacy.mapper import SealingMapper
from crm_ledger.settings import Settings
from tests.integration.test_import_contacts import verify_ledger

ACTOR = "system:tests"
ORGANISATION = uuid.UUID("5b0e4e1c-3c1f-4f7e-9d7a-2a6e1c0b9f10")
HEADER = (
    "name,kind,custom.zeta,emails,address.country,tags,phones,address.city,address.line1,"
    "organisation_id,owner,tax_id,custom.alpha"
)
ROWS = [
    # surely valid (RowReader): lists to normalise, address columns out of order, custom
    f"Ana García,person,z,Ana@Example.com;ana@example.com,ES,vip;b;vip,+34 600 000 000,"
    f"Madrid,Calle 1,{ORGANISATION},alice,,a",
    "Acme SL,organisation,,hello@acme.test,,customer,,,,,,B12345678,",
    '"  Spaces  ",person,," x@y.es ; ",,,  600 ,,,,,,',
    # valid, but only the schema can tell (a non-ASCII tag)
    f"Café Owner,person,,,PT,café,,,Rua 2,{str(ORGANISATION).upper()},,,",
    "Ünïcödé 名前,person,ü,,,,,,,,,,",
    # rejected: by the schema, by the domain (an organisation cannot link), by the schema
    "Bad mail,person,,nope,,,,,,,,,",
    f"Org link,organisation,,,,,,,,{ORGANISATION},,,",
    "No country,person,,,,,,,Street,,,,",
]


def write_file(path: Path) -> None:
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")


@contextmanager
def frozen_clock() -> Iterator[None]:
    """Event timestamps 1 s apart from a fixed instant, one per created event (a whole
    second every tenth, which ``isoformat`` writes without microseconds)."""
    start = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
    moments = (
        start + timedelta(seconds=n, microseconds=0 if n % 10 else -123456) for n in range(10_000)
    )
    with mock.patch.object(REGISTERED, "create_timestamp", side_effect=lambda: next(moments)):
        yield


def new_app(url: str, data: Path) -> CrmApplication:
    crm = CrmApplication(Settings(database_url=url, data_dir=data))
    with frozen_clock():  # the organisation the rows link to, identical in both stores
        organisation = Contact.register(
            kind="organisation", name="Parent SA", actor=ACTOR, contact_id=ORGANISATION
        )
        crm.store(organisation, actor=ACTOR)
    return crm


def normal_path(crm: CrmApplication, source: Path) -> None:
    """What the import did before the fast path: schema, prepare_contacts, crm.store."""
    digest = file_digest(source)[0]
    with source.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = check_header(next(reader))
        fields, ids = [], []
        for number, values in enumerate(reader, start=2):
            try:
                fields.append(ContactCreate.model_validate(row_fields(header, values)).fields())
            except ValueError:
                continue
            ids.append(contact_id(digest, number))
    prepared = prepare_contacts(crm, fields, actor=ACTOR, ids=ids)
    assert 1 == len(prepared.problems)  # only "Org link" breaks a domain rule
    crm.store(*prepared.contacts, actor=ACTOR)


def stored(crm: CrmApplication) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    """Event rows (id, version, topic, state with its sealed values opened, the sealed
    fields) and ledger envelopes, in log order."""
    table = crm.recorder.events_table_name  # type: ignore[attr-defined]
    seq = "rowid" if crm.db.dialect == "sqlite" else "notification_id"
    with crm.db.transaction(write=False) as tx:
        events = tx.all(
            f"SELECT originator_id, originator_version, topic, state FROM {table} ORDER BY {seq}"
        )
    envelopes = [orjson.loads(entry.canonical) for entry in crm.ledger_store().entries()]
    mapper = crm.mapper
    assert isinstance(mapper, SealingMapper)
    rows = []
    for i, v, t, s in events:
        subject = str(uuid.UUID(str(i)))
        stored_event = StoredEvent(originator_id=subject, originator_version=v, topic=t, state=s)
        state, fields = mapper.opened_state(stored_event)
        rows.append((subject, v, t, state, fields))
    for envelope in envelopes:
        for varying in ("log", "recorded_at", "prev", "state_sha256"):
            envelope.pop(varying)
    return rows, envelopes


@pytest.fixture
def other_url(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A second fresh database of the same kind as `database_url`."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path}/normal.db"
    return str(request.getfixturevalue("postgres_database_factory")())


def test_fast_path_stores_the_same_bytes_as_the_normal_path(
    database_url: str, other_url: str, tmp_path: Path
) -> None:
    """Same rows, same ids, same clock: identical event rows and ledger envelopes."""
    source = tmp_path / "contacts.csv"
    write_file(source)
    fast = new_app(database_url, tmp_path / "fast")
    try:
        with frozen_clock():
            summary = import_contacts(
                fast, source, actor=ACTOR, rejects=tmp_path / "rejects.csv", batch_size=3
            )
        assert (8, 5, 3) == (summary.rows, summary.imported, summary.rejected)
        fast_rows, fast_envelopes = stored(fast)
        # the normal write path carries on after the bulk one (ids, chain)
        after = fast.register_contact(actor=ACTOR, kind="person", name="After the import")
        assert after.position == len(fast_rows) + 1
    finally:
        fast.close()
    normal = new_app(other_url, tmp_path / "normal")
    try:
        with frozen_clock():
            normal_path(normal, source)
        normal_rows, normal_envelopes = stored(normal)
    finally:
        normal.close()

    assert 6 == len(fast_rows)  # the organisation and five imported rows
    assert normal_rows == fast_rows
    assert normal_envelopes == fast_envelopes
    assert fast_rows[1][4] == ["name", "emails", "phones", "addresses", "tax_id", "custom_fields"]
    topics = {topic for _, _, topic, _, _ in fast_rows}
    assert {f"{Contact.__module__}:{Contact.__qualname__}.Registered"} == topics
    report = list(csv.reader(io.StringIO((tmp_path / "rejects.csv").read_text())))
    assert ["7", "8", "9"] == [r[0] for r in report[1:]]
    assert report[2][1].startswith("organisation_id: only a person")

    checked = verify_ledger(database_url, tmp_path / "fast")
    assert 0 == checked.returncode, checked.stdout + checked.stderr
