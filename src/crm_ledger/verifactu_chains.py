"""The VERI*FACTU pass of ``crm-ledger verify``: every issuer's huella chain, re-checked.

The general ledger proves that no stored event changed; this pass proves that what was
stored is a valid VERI*FACTU chain: each issuer's ``Issuer.RecordAppended`` events, in
log order, must number their records 1, 2, 3... and pass
:func:`crm_ledger.domain.verifactu.verify_chain` (each record links to the previous
huella and its own huella is recomputed from its fields). A chain can be wrong while
the ledger is intact, e.g. if code that bypassed the issuer's guards wrote the record.

It reads the same entries as the ledger pass (database rows or bundle lines), observing
them as they stream by (:meth:`ChainCheck.observe`), and decodes the stored event bytes
as plain JSON (the application's transcoder writes JSON; the record itself is only
strings). Records are held per issuer until the end: memory grows with the number of
records, not of events. Each break becomes one ``verifactu_chain`` finding (exit 1)
naming the issuer, the record's index and invoice number, the reason, and the expected
vs actual huella, at the entry's leaf index and seq.

The whole record an invoice's ``Issued`` / ``Cancelled`` event stores (``registro``, the
XML-ready ``RegistroAlta`` / ``RegistroAnulacion``) is checked too: against its own
hashed fields as it streams by (reason ``registro_mismatch``, at that event), and, once
the issuer's chain is known to be whole, its ``Encadenamiento`` against the record
before it in the chain (reason ``registro_link_mismatch``, at the chain record).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from crm_ledger.domain import verifactu, verifactu_registro
from crm_ledger.domain.invoice import Invoice
from crm_ledger.domain.issuer import Issuer
from crm_ledger.ledger.envelope import Entry
from crm_ledger.ledger.verify import Finding

RECORD_TOPIC = f"{Issuer.__module__}:{Issuer.__qualname__}.RecordAppended"
INVOICE_TOPICS = frozenset(
    f"{Invoice.__module__}:{Invoice.__qualname__}.{name}" for name in ("Issued", "Cancelled")
)
KIND = "verifactu_chain"


@dataclass(frozen=True)
class Placed:
    """A record as found in the log: where, which index it claims, and its content."""

    leaf_index: int
    seq: int
    index: object
    record: dict[str, Any]


def invoice_number(record: dict[str, Any]) -> str | None:
    """The number of the invoice a record (alta or anulación) is about."""
    fields = record.get("fields") if isinstance(record, dict) else None
    if not isinstance(fields, dict):
        return None
    number = fields.get("NumSerieFactura", fields.get("NumSerieFacturaAnulada"))
    return None if number is None else str(number)


@dataclass
class ChainCheck:
    """Collects the issuers' records from a stream of entries, then reports breaks."""

    chains: dict[str, list[Placed]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    links: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def records(self) -> int:
        """How many records were seen."""
        return sum(len(chain) for chain in self.chains.values())

    def observe(self, entries: Iterable[Entry]) -> Iterator[Entry]:
        """Yield every entry unchanged, keeping the VERI*FACTU records on the way."""
        for entry in entries:
            if entry.topic == RECORD_TOPIC:
                self.add(entry)
            elif entry.topic in INVOICE_TOPICS:
                self.add_registro(entry)
            yield entry

    def add_registro(self, entry: Entry) -> None:
        """Check the whole record an invoice event stores against its hashed fields, and
        keep its ``Encadenamiento`` (by huella) for the link check at the end."""
        try:
            record = orjson.loads(entry.state)["record"]
            registro = record.get("registro")
            if registro is None:  # a record stored without the whole record
                return
            verifactu_registro.check(registro, record["fields"], record["huella"])
            self.links[record["huella"]] = registro["Encadenamiento"]
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            reason = f"registro cannot be read ({error!r})"
        except verifactu.VerifactuError as error:
            reason = f"registro_mismatch: {error}"
        else:
            return
        self._add(
            entry.leaf_index,
            entry.seq,
            None,
            None,
            f"invoice {entry.originator_id}: VERI*FACTU {reason}",
        )

    def add(self, entry: Entry) -> None:
        """Keep one ``RecordAppended`` entry (an undecodable one is a finding at once)."""
        try:
            state = orjson.loads(entry.state)
            record = state["record"]
            index = state["index"]
            if not isinstance(record, dict):
                raise TypeError("record is not an object")
        except (orjson.JSONDecodeError, KeyError, TypeError) as error:
            self._add(
                entry.leaf_index,
                entry.seq,
                None,
                None,
                f"issuer {entry.originator_id}: VERI*FACTU record event cannot be read ({error})",
            )
            return
        placed = Placed(entry.leaf_index, entry.seq, index, record)
        self.chains.setdefault(entry.originator_id, []).append(placed)

    def finish(self) -> list[Finding]:
        """Check every issuer's chain; return the findings (one per broken issuer)."""
        for issuer_id, chain in self.chains.items():
            self._check(issuer_id, chain)
        return self.findings

    def _check(self, issuer_id: str, chain: list[Placed]) -> None:
        for position, placed in enumerate(chain):
            if placed.index != position + 1:
                self._at(
                    issuer_id,
                    placed,
                    "index_gap",
                    str(position + 1),
                    str(placed.index),
                )
                return
        try:
            broken = verifactu.verify_chain(p.record for p in chain)
        except verifactu.VerifactuError as error:
            where = _malformed_position(chain)
            self._at(issuer_id, chain[where], f"malformed: {error}", None, None)
            return
        if broken is not None:
            self._at(issuer_id, chain[broken.index], broken.reason, broken.expected, broken.actual)
            return
        for position, placed in enumerate(chain):
            stored = self.links.get(placed.record["huella"])
            before = chain[position - 1].record if position else None
            expected = verifactu_registro.chaining(before, placed.record["previous_huella"])
            if stored is not None and stored != expected:
                self._at(issuer_id, placed, "registro_link_mismatch", None, None)
                return

    def _at(
        self,
        issuer_id: str,
        placed: Placed,
        reason: str,
        expected: str | None,
        actual: str | None,
    ) -> None:
        number = invoice_number(placed.record)
        self._add(
            placed.leaf_index,
            placed.seq,
            expected,
            actual,
            f"issuer {issuer_id}: VERI*FACTU record {placed.index} "
            f"(invoice {number}, {placed.record.get('record_type')}): {reason}",
        )

    def _add(
        self,
        leaf_index: int,
        seq: int,
        expected: str | None,
        actual: str | None,
        message: str,
    ) -> None:
        self.findings.append(Finding(KIND, leaf_index, seq, expected, actual, message))


def _malformed_position(chain: list[Placed]) -> int:
    """The first record whose shape verify_chain refuses (0 if none is found alone)."""
    for position, placed in enumerate(chain):
        try:
            verifactu.verify_chain([placed.record])  # alone: only its shape can raise
        except verifactu.VerifactuError:
            return position
    return 0


def check_chains(entries: Iterable[Entry]) -> list[Finding]:
    """The findings of every issuer's chain in `entries` (a convenience for one pass)."""
    check = ChainCheck()
    for _ in check.observe(entries):
        pass
    return check.finish()
