"""`crm-ledger verify` re-checks every issuer's VERI*FACTU chain, on SQLite and PostgreSQL,
and a damaged chain head never stops invoicing: it raises an alarm.

Three kinds of damage:
* none: two invoices issued, one cancelled, verify exits 0 and counts 3 records;
* stored bytes of a record changed: the ledger fails (state_mismatch; on SQLite, whose
  envelopes are rebuilt from the event rows, leaf_mismatch) AND the chain pass names the
  record (huella_mismatch);
* a record written through the domain without its guards, stored normally: the ledger
  is intact, only the chain pass fails (exit 1), naming issuer, record and invoice.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest

from crm_ledger import alarms, invoicing
from crm_ledger.application import CrmApplication
from crm_ledger.domain import verifactu
from crm_ledger.domain.issuer import Issuer
from crm_ledger.ledger.verify import Report
from crm_ledger.settings import Settings
from crm_ledger.storage.checkpoints import CheckpointWriter
from crm_ledger.storage.keystore import KeyStore
from crm_ledger.verifactu_chains import RECORD_TOPIC
from crm_ledger.verification import run_verification

CLI = str(Path(sys.executable).with_name("crm-ledger"))
ACTOR = "system:tests"
LINES = [{"description": "Widget", "quantity": "2", "unit_price": "10.00", "vat_rate": "21"}]
GENERATED = verifactu.spanish_time(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))


@dataclass
class Books:
    """An application with one issuer and a few helpers around it."""

    crm: CrmApplication
    settings: Settings
    issuer_id: UUID

    @property
    def events_table(self) -> str:
        return str(self.crm.recorder.events_table_name)  # type: ignore[attr-defined]

    @property
    def seq_column(self) -> str:
        return "rowid" if self.crm.db.dialect == "sqlite" else "notification_id"

    def issue(self, **fields: Any) -> Any:
        draft = invoicing.create_invoice(
            self.crm,
            actor=ACTOR,
            issuer_id=self.issuer_id,
            series="A",
            invoice_type="F2",
            lines=LINES,
            **fields,
        ).aggregate
        return invoicing.issue_invoice(
            self.crm, draft.id, expected_version=draft.version, actor=ACTOR
        ).aggregate

    def issuer(self) -> Issuer:
        return invoicing.get_issuer(self.crm, self.issuer_id)

    def verify(self) -> tuple[Report, str]:
        return run_verification(
            bundle=None,
            database=self.settings.database_url,
            keys_path=None,
            anchors=None,
            state_path=None,
            data_dir=str(self.settings.data_dir),
            as_json=False,
            progress=None,
        )

    def record_rows(self) -> list[tuple[int, bytes]]:
        """(seq, stored bytes) of every RecordAppended event, in log order."""
        with self.crm.db.transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {self.seq_column}, state FROM {self.events_table}"
                f" WHERE topic = ? ORDER BY {self.seq_column}",
                (RECORD_TOPIC,),
            )
        return [(int(seq), bytes(state)) for seq, state in rows]

    def event_rows(self, originator_id: UUID) -> list[tuple[int, bytes]]:
        """(seq, stored bytes) of every event of one aggregate, in log order."""
        with self.crm.db.transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {self.seq_column}, state FROM {self.events_table}"
                f" WHERE originator_id = ? ORDER BY {self.seq_column}",
                (originator_id if self.crm.db.dialect == "postgres" else originator_id.hex,),
            )
        return [(int(seq), bytes(state)) for seq, state in rows]

    def append_unguarded(self, record: dict[str, Any], index: int) -> None:
        """Write a record through the issuer's private event (no guard runs), stored as
        any event is: the ledger chains and hashes it like every other."""
        issuer = self.issuer()
        issuer._record_appended(index=index, invoice_id=uuid4(), record=record, actor=ACTOR)
        self.crm.store(issuer, actor=ACTOR)


@pytest.fixture
def books(database_url: str, tmp_path: Path) -> Iterator[Books]:
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data")
    crm = CrmApplication(settings)
    keystore = KeyStore(settings.data_dir / "keys")
    keystore.ensure_key()
    issuer = invoicing.register_issuer(
        crm,
        actor=ACTOR,
        legal_name="Acme Soluciones SL",
        tax_id="B12345678",
        series=[{"code": "A", "pattern": "{series}-{year}-{number:06d}"}],
    ).aggregate
    yield Books(crm, settings, issuer.id)
    crm.close()


def alta(number: str, *, previous: str) -> dict[str, str]:
    """The fields of an F2 alta of 24.20 (4.20 VAT) linked to `previous`."""
    return verifactu.build_alta(
        issuer_tax_id="B12345678",
        number=number,
        issue_date=GENERATED.date(),
        invoice_type="F2",
        tax_total=Decimal("4.20"),
        total=Decimal("24.20"),
        previous_huella=previous,
        generated_at=GENERATED,
    )


def chain_findings(report: Report) -> list[Any]:
    return [f for f in report.findings if f.kind == "verifactu_chain"]


def cli_verify(books: Books) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            CLI,
            "verify",
            "--database",
            books.settings.database_url,
            "--data-dir",
            str(books.settings.data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
        stdin=subprocess.DEVNULL,
    )


def test_issued_and_cancelled_invoices_verify(books: Books) -> None:
    """Two altas and one anulación through the application: exit 0, 3 records seen."""
    first = books.issue()
    books.issue()
    invoicing.cancel_invoice(
        books.crm, first.id, expected_version=first.version, actor=ACTOR, reason="duplicate"
    )
    CheckpointWriter(
        books.crm.ledger_store(),
        KeyStore(books.settings.data_dir / "keys"),
        books.crm.origin,
        books.settings.data_dir / "anchors",
    ).cut(force=True)
    report, text = books.verify()
    assert ([], 0) == (report.findings, report.exit_code)
    assert "VERI*FACTU chains: 1 issuers, 3 records" in text
    done = cli_verify(books)
    assert 0 == done.returncode, done.stdout + done.stderr


def test_changed_record_bytes_break_the_ledger_and_the_chain(books: Books) -> None:
    """One amount changed inside the stored bytes of the 2nd record: the ledger reports
    state_mismatch there, and the chain pass names record 2 (huella_mismatch)."""
    books.issue()
    second = books.issue()
    seq, state = books.record_rows()[1]
    old = b'"ImporteTotal":"24.20"'
    assert old in state
    with books.crm.db.transaction() as tx:
        tx.execute(
            f"UPDATE {books.events_table} SET state = ? WHERE {books.seq_column} = ?",
            (state.replace(old, b'"ImporteTotal":"20.00"', 1), seq),
        )
    report, _ = books.verify()
    assert 1 == report.exit_code
    kind = "leaf_mismatch" if books.crm.db.dialect == "sqlite" else "state_mismatch"
    assert (kind, seq) == (report.findings[0].kind, report.findings[0].seq)
    [found] = chain_findings(report)
    assert seq == found.seq
    assert "huella_mismatch" in found.message
    assert f"record 2 (invoice {second.number}, alta)" in found.message
    assert second.record["huella"] == found.actual  # the stored huella, no longer its fields'


def test_wrong_link_with_an_intact_ledger_exits_1_naming_the_record(books: Books) -> None:
    """A 2nd record that links to genesis instead of the 1st huella, written without the
    issuer's guards: every ledger check passes, the chain pass fails at that record."""
    first = books.issue()
    fields = alta("A-2026-000099", previous="")
    books.append_unguarded(verifactu.record(fields), index=2)
    seq = books.record_rows()[1][0]
    report, _ = books.verify()
    assert 1 == report.exit_code
    [found] = report.findings  # the ledger itself is intact
    assert ("verifactu_chain", seq) == (found.kind, found.seq)
    assert (first.record["huella"], "") == (found.expected, found.actual)
    assert f"issuer {books.issuer_id}" in found.message
    assert "record 2 (invoice A-2026-000099, alta): chain_link_mismatch" in found.message
    done = cli_verify(books)
    assert 1 == done.returncode, done.stdout + done.stderr
    assert "verifactu_chain" in done.stdout
    assert "A-2026-000099" in done.stdout


def test_damaged_head_raises_an_alarm_and_invoicing_goes_on(books: Books) -> None:
    """The head record's huella no longer matches its fields: the next issue succeeds,
    linked to the stored head, and stores one alarm; the issue after it raises none
    (the head is whole again); verify still reports the damaged record."""
    books.issue()
    before = books.issuer()
    fields = alta("A-2026-000098", previous=before.last_huella)
    damaged = {**verifactu.record(fields), "huella": "F" * 64}
    books.append_unguarded(damaged, index=2)
    assert books.issuer().head_break() is not None

    third = books.issue()
    assert "F" * 64 == third.record["previous_huella"]
    found, following = alarms.list_alarms(books.crm)
    assert (1, None) == (len(found), following)
    alarm = found[0]
    assert ("verifactu_chain_head", ACTOR) == (alarm.kind, alarm.raised_by)
    assert {
        "issuer_id": str(books.issuer_id),
        "during": "issue",
        "record_index": 2,
        "reason": "huella_mismatch",
        "expected": verifactu.huella(fields),
        "actual": "F" * 64,
    } == alarm.context
    assert books.issuer().head_break() is None
    books.issue()
    assert 1 == len(alarms.list_alarms(books.crm)[0])

    report, _ = books.verify()
    [chain_break] = report.findings
    assert "record 2 (invoice A-2026-000098, alta): huella_mismatch" in chain_break.message


def test_bundle_mode_checks_the_chain_too(books: Books, tmp_path: Path) -> None:
    """The export bundle carries the stored event bytes: the same break is found there."""
    from crm_ledger.storage.bundle import export_bundle

    books.issue()
    fields = alta("A-2026-000097", previous="")
    books.append_unguarded(verifactu.record(fields), index=2)
    keys = KeyStore(books.settings.data_dir / "keys")
    out = tmp_path / "bundle"
    export_bundle(books.crm.ledger_store(), books.crm.origin, keys.manifest_bytes(), out)
    report, text = run_verification(
        bundle=str(out),
        database=None,
        keys_path=None,
        anchors=None,
        state_path=None,
        data_dir=None,
        as_json=True,
        progress=None,
    )
    assert ["verifactu_chain"] == [f.kind for f in report.findings]
    assert {"issuers": 1, "records": 2} == orjson.loads(text)["verifactu"]


def test_registro_contradicting_its_fields_is_found_with_an_intact_ledger(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invoice stored (guards bypassed) with a whole record whose CuotaTotal is not the
    hashed one: every ledger check passes; the chain pass reports registro_mismatch at
    the invoice's Issued event."""
    from crm_ledger.domain import verifactu_registro

    books.issue()
    real_alta, real_check = verifactu_registro.alta, verifactu_registro.check

    def wrong_alta(**kwargs: Any) -> dict[str, Any]:
        return {**real_alta(**kwargs), "CuotaTotal": "9.99"}

    monkeypatch.setattr(verifactu_registro, "alta", wrong_alta)
    monkeypatch.setattr(verifactu_registro, "check", lambda *args: None)
    bad = books.issue()
    monkeypatch.setattr(verifactu_registro, "alta", real_alta)
    monkeypatch.setattr(verifactu_registro, "check", real_check)
    report, _ = books.verify()
    assert 1 == report.exit_code
    [found] = report.findings  # the ledger itself is intact
    issued_seq = max(seq for seq, _ in books.event_rows(bad.id))
    assert ("verifactu_chain", issued_seq) == (found.kind, found.seq)
    assert f"invoice {bad.id}: VERI*FACTU registro_mismatch" in found.message
    assert "CuotaTotal=9.99" in found.message


def test_registro_linked_to_the_wrong_previous_invoice_is_found(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole record whose Encadenamiento names another invoice than the record before
    it in the chain (its huella link is right, so it passes its own check): the chain
    pass reports registro_link_mismatch at that chain record."""
    from crm_ledger.domain import verifactu_registro

    books.issue()
    real_alta = verifactu_registro.alta

    def misnamed(**kwargs: Any) -> dict[str, Any]:
        record = real_alta(**kwargs)
        link = dict(record["Encadenamiento"]["RegistroAnterior"], NumSerieFactura="X-1")
        return {**record, "Encadenamiento": {"RegistroAnterior": link}}

    monkeypatch.setattr(verifactu_registro, "alta", misnamed)
    second = books.issue()
    monkeypatch.setattr(verifactu_registro, "alta", real_alta)
    report, _ = books.verify()
    assert 1 == report.exit_code
    [found] = report.findings
    seq = books.record_rows()[1][0]
    assert ("verifactu_chain", seq) == (found.kind, found.seq)
    assert f"record 2 (invoice {second.number}, alta): registro_link_mismatch" in found.message
