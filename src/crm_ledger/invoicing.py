"""Invoicing use cases (issuers, series, invoices), called by the API: one per use case.

Issuing and cancelling move two aggregates at once: the invoice and its issuer (the
number counter and the VERI*FACTU chain head). Both are saved in ONE ``crm.store`` call,
so the number, the chain and the invoice advance together or not at all. Two concurrent
issues on one issuer conflict on the issuer's version; the loser reloads both and redoes
the whole step (a new number from the new counter, a record linked to the new head), up
to ``CHAIN_ATTEMPTS`` times. Numbers are therefore never duplicated and never skipped.

A damaged chain never stops invoicing: when the issuer's stored head does not match its
own last record, the step goes on from the stored head and an ``Alarm`` is stored in the
same save (``GET /alarms``; ``crm-ledger verify`` reports the break itself).

Issuing a rectification by differences also records it on the original (the corrections
cap, :meth:`Invoice.record_correction`), and cancelling one withdraws it, in the same
save: the original is loaded after the issuer, so a concurrent issue against the same
original conflicts on the issuer and is redone with the other correction counted.

QR codes point to the AEAT test service unless ``Settings.verifactu_production``
(``CRM_VERIFACTU_PRODUCTION``) is set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from crm_ledger import __version__
from crm_ledger.alarms import chain_head_alarm
from crm_ledger.application import CrmApplication, Written
from crm_ledger.domain import verifactu, verifactu_registro
from crm_ledger.domain.contact import Contact
from crm_ledger.domain.errors import ContactArchivedError, NotFoundError
from crm_ledger.domain.invoice import (
    COUNTRY,
    Invoice,
    InvoiceStatus,
    RectificationMethod,
    verifactu_view,
)
from crm_ledger.domain.invoicing_errors import (
    ChainContendedError,
    IssueDateError,
    VerifactuRecordError,
)
from crm_ledger.domain.issuer import Issuer
from crm_ledger.invoice_html import render_invoice
from crm_ledger.ledger.envelope import format_timestamp
from crm_ledger.retry import store_retrying
from crm_ledger.verifactu_qr import qr_png, qr_svg

CHAIN_ATTEMPTS = 30
RECORD_PAGE = 200


def now() -> datetime:
    """The current instant as Spanish civil time (how VERI*FACTU records timestamps)."""
    return verifactu.spanish_time(datetime.now(UTC))


# -- issuers ----------------------------------------------------------------------------


def register_issuer(
    crm: CrmApplication,
    *,
    actor: str,
    legal_name: str,
    tax_id: str,
    address: Mapping[str, Any] | None = None,
    series: Iterable[Mapping[str, Any]] = (),
    simplified_limit: str | None = None,
) -> Written:
    """Register an issuer, optionally with its first series and a simplified-invoice limit
    (default 400.00 EUR)."""
    issuer = Issuer.register(
        legal_name=legal_name,
        tax_id=tax_id,
        address=address,
        simplified_limit=simplified_limit,
        actor=actor,
    )
    for item in series:
        issuer.add_series(item.get("code"), item.get("pattern"), actor=actor)
    return Written(issuer, crm.store(issuer, actor=actor))


def get_issuer(crm: CrmApplication, issuer_id: UUID) -> Issuer:
    """Return the issuer or raise NotFoundError."""
    return crm.load(Issuer, issuer_id, "issuer")


def add_series(
    crm: CrmApplication,
    issuer_id: UUID,
    *,
    expected_version: int,
    actor: str,
    code: str,
    pattern: str,
) -> Written:
    """Open a numbering series."""
    return crm.change(
        Issuer,
        issuer_id,
        "issuer",
        expected_version,
        actor,
        lambda i: i.add_series(code, pattern, actor=actor),
    )


def set_simplified_limit(
    crm: CrmApplication,
    issuer_id: UUID,
    *,
    expected_version: int,
    actor: str,
    simplified_limit: str,
) -> Written:
    """Set the highest total (VAT included, EUR) of the issuer's simplified invoices."""
    return crm.change(
        Issuer,
        issuer_id,
        "issuer",
        expected_version,
        actor,
        lambda i: i.set_simplified_limit(simplified_limit, actor=actor),
    )


def issuer_records(
    crm: CrmApplication, issuer_id: UUID, *, after: int = 0, limit: int = 100
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of the issuer's VERI*FACTU chain, in order, and the cursor of the next page
    (the issuer version of the last record returned; None on the last page)."""
    get_issuer(crm, issuer_id)
    items: list[dict[str, Any]] = []
    position = cursor = after
    while True:
        batch = list(crm.events.get(issuer_id, gt=position, limit=RECORD_PAGE))
        for item in batch:
            position = item.originator_version
            if type(item).__qualname__ != "Issuer.RecordAppended":
                continue
            if len(items) == limit:
                return items, cursor
            data = vars(item)
            items.append(
                {
                    "index": data["index"],
                    "invoice_id": str(data["invoice_id"]),
                    **data["record"],
                    "recorded_at": format_timestamp(data["timestamp"]),
                }
            )
            cursor = item.originator_version
        if len(batch) < RECORD_PAGE:
            return items, None


# -- invoices ---------------------------------------------------------------------------


def _fiscal_data(contact: Contact) -> dict[str, Any]:
    """The fiscal data of `contact` as an invoice keeps it."""
    address = dict(contact.addresses[0]) if contact.addresses else {}
    country = str(address.get("country", "")).strip().upper()
    return {
        "name": contact.name,
        "tax_id": contact.tax_id,
        "address": address,
        "country": country if COUNTRY.fullmatch(country) else None,
    }


def customer_snapshot(
    crm: CrmApplication,
    customer_id: UUID | None,
    given: Mapping[str, Any] | None,
    *,
    merged_ok: bool = False,
) -> dict[str, Any] | None:
    """The customer's fiscal data for a draft: the contact's (refused if archived, or if
    merged into another unless `merged_ok`), overridden by any fields `given`; without a
    contact, `given` as is."""
    if customer_id is None:
        return None if given is None else dict(given)
    contact = crm.load(Contact, customer_id, "contact")
    if contact.archived:
        raise ContactArchivedError(f"contact {customer_id} is archived; restore it first")
    if not merged_ok:
        contact.check_not_merged()
    snapshot = _fiscal_data(contact)
    snapshot.update(given or {})
    return snapshot


def create_invoice(
    crm: CrmApplication,
    *,
    actor: str,
    issuer_id: UUID,
    series: str,
    invoice_type: str = "F1",
    customer_id: UUID | None = None,
    customer: Mapping[str, Any] | None = None,
    lines: Iterable[Mapping[str, Any]] = (),
    currency: str = "EUR",
    notes: str | None = None,
    due_date: date | None = None,
) -> Written:
    """Draft an invoice; the customer's fiscal data is copied from the contact (fields in
    `customer` override it) and fixed when the invoice is issued. Without `due_date` the
    invoice falls due DEFAULT_TERM_DAYS after its issue date."""
    issuer = get_issuer(crm, issuer_id)
    invoice = Invoice.draft(
        issuer=issuer,
        series=series,
        invoice_type=invoice_type,
        customer_id=customer_id,
        customer=customer_snapshot(crm, customer_id, customer),
        lines=lines,
        currency=currency,
        notes=notes,
        due_date=due_date,
        actor=actor,
    )
    return Written(invoice, crm.store(invoice, actor=actor))


def get_invoice(crm: CrmApplication, invoice_id: UUID) -> Invoice:
    """Return the invoice or raise NotFoundError."""
    return crm.load(Invoice, invoice_id, "invoice")


def update_invoice(
    crm: CrmApplication,
    invoice_id: UUID,
    *,
    expected_version: int,
    actor: str,
    changes: dict[str, Any],
) -> Written:
    """Change a draft (refused once issued). A new customer_id re-copies the contact's
    fiscal data unless `customer` is sent too."""

    def command(invoice: Invoice) -> None:
        invoice.update(issuer=get_issuer(crm, invoice.issuer_id), actor=actor, **fields)

    fields = dict(changes)
    if fields.get("customer_id") is not None and "customer" not in fields:
        invoice = get_invoice(crm, invoice_id)
        # an issued invoice or a rectifying draft refuses the change itself: no lookup
        if invoice.status is InvoiceStatus.DRAFT and invoice.rectifies is None:
            fields["customer"] = customer_snapshot(crm, UUID(str(fields["customer_id"])), None)
    return crm.change(Invoice, invoice_id, "invoice", expected_version, actor, command)


def software_system(crm: CrmApplication, issuer: Issuer) -> verifactu_registro.SoftwareSystem:
    """The ``SistemaInformatico`` of the records this installation writes for `issuer`
    (the producer is the issuer itself unless configured)."""
    settings = crm.settings
    return verifactu_registro.SoftwareSystem(
        producer_name=settings.verifactu_producer_name or issuer.legal_name,
        producer_tax_id=settings.verifactu_producer_tax_id or issuer.tax_id,
        version=__version__,
        installation=settings.verifactu_installation,
        multiple_issuers=settings.verifactu_multiple_issuers,
    )


def _chain_step(
    crm: CrmApplication,
    invoice_id: UUID,
    *,
    expected_version: int,
    actor: str,
    step: Callable[[Invoice, Issuer, datetime], Sequence[Invoice]],
    during: str,
) -> Written:
    """Load the invoice and its issuer, run `step`, store both and whatever other invoices
    `step` returns (an original it corrected) atomically, with an alarm if the issuer's
    chain head is damaged; on a conflict (another issue moved the issuer), reload and
    redo, a bounded number of times."""

    def build() -> list[Aggregate]:
        invoice = crm.load_at(Invoice, invoice_id, "invoice", expected_version)
        issuer = get_issuer(crm, invoice.issuer_id)
        alarm = chain_head_alarm(issuer, actor=actor, during=during)
        try:
            others = step(invoice, issuer, now())
        except verifactu.VerifactuError as error:
            raise VerifactuRecordError(str(error), field="record") from None
        return [invoice, issuer, *others, *(() if alarm is None else (alarm,))]

    contended = ChainContendedError(
        f"issuer of invoice {invoice_id} kept changing over {CHAIN_ATTEMPTS} attempts; "
        "nothing was written, retry"
    )
    return store_retrying(crm, build, actor=actor, exhausted=contended, attempts=CHAIN_ATTEMPTS)


def _corrected_original(crm: CrmApplication, invoice: Invoice) -> Invoice | None:
    """The original that `invoice` corrects by differences (None for any other invoice)."""
    rectifies = invoice.rectifies
    if rectifies is None or rectifies.get("method") != RectificationMethod.DIFFERENCES.value:
        return None
    return get_invoice(crm, UUID(str(rectifies["invoice_id"])))


def issue_invoice(
    crm: CrmApplication,
    invoice_id: UUID,
    *,
    expected_version: int,
    actor: str,
    issue_date: date | None = None,
    exchange_rate: Decimal | None = None,
) -> Written:
    """Issue a draft: next number of its series, alta record chained to the issuer's head,
    both fixed in the invoice's Issued event (with `exchange_rate`, EUR per unit, for an
    invoice in another currency: the record's amounts are in euros). `issue_date`
    defaults to today in Spain and may not be in the future. A simplified invoice (F2) is
    held to the issuer's simplified_limit; a rectification by differences is recorded on
    its original, within the corrections cap."""

    def step(invoice: Invoice, issuer: Issuer, generated_at: datetime) -> Sequence[Invoice]:
        today = generated_at.date()
        day = today if issue_date is None else issue_date
        if day > today:
            raise IssueDateError(f"issue date {day} is in the future", field="issue_date")
        limit = issuer.simplified_limit
        totals = invoice.check_issuable(simplified_limit=limit)
        original = _corrected_original(crm, invoice)
        if original is not None:
            original.check_correction(totals.gross_total)  # before a number is taken
        number = issuer.take_number(invoice.series, day.year, actor=actor, on=day)
        fields = invoice.alta_fields(
            issuer_tax_id=issuer.tax_id,
            number=number,
            issue_date=day,
            previous_huella=issuer.last_huella,
            generated_at=generated_at,
            simplified_limit=limit,
            exchange_rate=exchange_rate,
        )
        record = verifactu.record(fields)
        record["registro"] = invoice.alta_registro(
            record,
            issuer_name=issuer.legal_name,
            previous=issuer.last_record,
            system=software_system(crm, issuer),
            exchange_rate=exchange_rate,
        )
        issuer.append_record(record, invoice_id=invoice.id, actor=actor)
        invoice.issue(
            number=number,
            issue_date=day,
            record=record,
            actor=actor,
            simplified_limit=limit,
            exchange_rate=exchange_rate,
        )
        if original is None:
            return ()
        original.record_correction(
            invoice_id=invoice.id, number=number, amount=totals.gross_total, actor=actor
        )
        return (original,)

    return _chain_step(
        crm, invoice_id, expected_version=expected_version, actor=actor, step=step, during="issue"
    )


def cancel_invoice(
    crm: CrmApplication,
    invoice_id: UUID,
    *,
    expected_version: int,
    actor: str,
    reason: str | None = None,
) -> Written:
    """Cancel an issued invoice with an anulación record chained to the issuer's head; a
    cancelled rectification by differences no longer counts against its original."""

    def step(invoice: Invoice, issuer: Issuer, generated_at: datetime) -> Sequence[Invoice]:
        fields = invoice.anulacion_fields(
            issuer_tax_id=issuer.tax_id,
            previous_huella=issuer.last_huella,
            generated_at=generated_at,
        )
        record = verifactu.record(fields)
        record["registro"] = invoice.anulacion_registro(
            record, previous=issuer.last_record, system=software_system(crm, issuer)
        )
        issuer.append_record(record, invoice_id=invoice.id, actor=actor)
        invoice.cancel(record=record, reason=reason, actor=actor)
        original = _corrected_original(crm, invoice)
        if original is None or str(invoice.id) not in original.corrections:
            return ()
        original.withdraw_correction(invoice_id=invoice.id, actor=actor)
        return (original,)

    return _chain_step(
        crm,
        invoice_id,
        expected_version=expected_version,
        actor=actor,
        step=step,
        during="cancellation",
    )


def rectify_invoice(
    crm: CrmApplication,
    invoice_id: UUID,
    *,
    actor: str,
    invoice_type: str,
    method: str,
    reason: str,
    lines: Iterable[Mapping[str, Any]] | None = None,
    series: str | None = None,
    notes: str | None = None,
) -> Written:
    """Draft a NEW rectifying invoice (or credit note) for an issued one; the original is
    not touched. Issue the new draft like any other."""
    original = get_invoice(crm, invoice_id)
    issuer = get_issuer(crm, original.issuer_id)
    invoice = Invoice.rectifying(
        original,
        issuer=issuer,
        invoice_type=invoice_type,
        method=method,
        reason=reason,
        lines=lines,
        series=series,
        notes=notes,
        actor=actor,
    )
    return Written(invoice, crm.store(invoice, actor=actor))


def invoice_verifactu(crm: CrmApplication, invoice_id: UUID) -> dict[str, Any]:
    """The issued invoice's alta record, its QR URL, and its anulación if cancelled."""
    return verifactu_view(
        get_invoice(crm, invoice_id), production=crm.settings.verifactu_production
    )


def invoice_record_xml(crm: CrmApplication, invoice_id: UUID, *, kind: str) -> bytes:
    """The invoice's ``RegistroAlta`` (`kind` alta) or ``RegistroAnulacion`` (anulacion)
    as the agency's XML (NotFoundError when the invoice has no such record)."""
    view = invoice_verifactu(crm, invoice_id)
    source = view if kind == "alta" else view["cancellation"]
    registro = None if source is None else source.get("registro")
    if registro is None:
        raise NotFoundError(kind=f"{kind} record of invoice", id=str(invoice_id))
    return verifactu_registro.to_xml(registro)


def invoice_qr(crm: CrmApplication, invoice_id: UUID, *, kind: str) -> bytes:
    """The QR image (``kind`` png or svg) of an issued invoice's verification URL
    (InvoiceNotIssuedError for a draft)."""
    url = str(invoice_verifactu(crm, invoice_id)["qr_url"])
    return qr_png(url) if kind == "png" else qr_svg(url).encode("utf-8")


def invoice_html(crm: CrmApplication, invoice_id: UUID) -> str:
    """The printable HTML of an issued invoice, with its QR and the VERI*FACTU legend
    (InvoiceNotIssuedError for a draft)."""
    invoice = get_invoice(crm, invoice_id)
    url = str(verifactu_view(invoice, production=crm.settings.verifactu_production)["qr_url"])
    return render_invoice(invoice, get_issuer(crm, invoice.issuer_id), qr_url=url)
