"""The DeliveryNote aggregate (albarán): what left for the customer against a sales order.

Made together with the order's ``DeliveryRecorded`` event (the use case stores both in
one transaction). The lines name the order's line numbers and carry the description and
product of the order line, so the note reads on its own. The person receiving the goods
signs it once (name and time); it is invoiced at most once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.document_errors import DeliveryNoteInvoicedError, DeliveryNoteSignedError
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.order import SalesOrder, plain
from crm_ledger.domain.quote import notes_of
from crm_ledger.ledger.envelope import format_timestamp

MAX_SIGNER = 200


def signed_at_of(value: object) -> str:
    """A timezone-aware instant (``datetime`` or ISO 8601 text) as a UTC stamp."""
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InvalidCommandError(
            "at must be an ISO 8601 date-time with a time zone, such as 2026-03-02T10:30:00+01:00",
            field="at",
        )
    return format_timestamp(moment)


class DeliveryNote(Aggregate):
    """A delivery of some lines of a sales order."""

    @event("Created")
    def __init__(
        self,
        *,
        order_id: UUID,
        customer_id: UUID,
        lines: list[dict[str, Any]],
        notes: str | None,
        actor: str,
    ) -> None:
        self.order_id = order_id
        self.customer_id = customer_id
        self.lines = lines
        self.notes = notes
        self.signed_by: str | None = None
        self.signed_at: str | None = None
        self.invoice_id: UUID | None = None
        self.created_by = actor

    @classmethod
    def create(
        cls, order: SalesOrder, *, lines: object, actor: str, notes: str | None = None
    ) -> DeliveryNote:
        """A note for `lines` (``{line_no: quantity}``) of `order`, which must be able to
        take them (deliverable status, no over-delivery). Record it on the order too."""
        quantities = order.check_delivery(lines)
        return cls(
            order_id=order.id,
            customer_id=order.customer_id,
            lines=[
                {
                    "line_no": n,
                    "description": order.lines[n - 1]["description"],
                    "product_id": order.lines[n - 1]["product_id"],
                    "quantity": plain(quantity),
                }
                for n, quantity in quantities.items()
            ],
            notes=notes_of(notes),
            actor=actor,
        )

    # -- queries ----------------------------------------------------------------------

    @property
    def quantities(self) -> dict[int, str]:
        """``{line_no: quantity}`` delivered by this note."""
        return {line["line_no"]: line["quantity"] for line in self.lines}

    # -- commands ---------------------------------------------------------------------

    def sign(self, *, name: str, at: datetime | str, actor: str) -> None:
        """The receiver signs: who and when (once)."""
        if self.signed_by is not None:
            raise DeliveryNoteSignedError(
                f"delivery note {self.id} was signed by {self.signed_by} at {self.signed_at}"
            )
        signer = name.strip() if isinstance(name, str) else ""
        if not signer or len(signer) > MAX_SIGNER:
            raise InvalidCommandError(f"name must have 1 to {MAX_SIGNER} characters", field="name")
        self._signed(name=signer, at=signed_at_of(at), actor=actor)

    @event("Signed")
    def _signed(self, *, name: str, at: str, actor: str) -> None:
        self.signed_by = name
        self.signed_at = at

    def mark_invoiced(self, *, invoice_id: UUID, actor: str) -> None:
        """Record that invoice `invoice_id` bills this note (once)."""
        if self.invoice_id is not None:
            raise DeliveryNoteInvoicedError(
                f"delivery note {self.id} is already billed by invoice {self.invoice_id}"
            )
        self._invoiced(invoice_id=invoice_id, actor=actor)

    @event("Invoiced")
    def _invoiced(self, *, invoice_id: UUID, actor: str) -> None:
        self.invoice_id = invoice_id


def delivery_note_snapshot(note: DeliveryNote) -> dict[str, Any]:
    """The note's public, JSON-ready state (quantities as decimal strings)."""
    return {
        "id": str(note.id),
        "version": note.version,
        "order_id": str(note.order_id),
        "customer_id": str(note.customer_id),
        "lines": [dict(line) for line in note.lines],
        "notes": note.notes,
        "signed_by": note.signed_by,
        "signed_at": note.signed_at,
        "invoice_id": None if note.invoice_id is None else str(note.invoice_id),
        "created_at": format_timestamp(note.created_on),
        "modified_at": format_timestamp(note.modified_on),
    }
