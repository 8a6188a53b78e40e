"""Purchasing use cases (suppliers, received invoices, payables), called by the API.

Rules that span aggregates or need the clock live here:

* a supplier links to an existing contact (organisation or person) that is neither
  archived nor merged;
* **a supplier's invoice number is registered once.** The invoice's id is derived from the
  supplier and the number (``purchase_invoice_id_for``), so a second registration finds
  the first (``PurchaseInvoiceDuplicateError``), and two concurrent registrations collide
  in the event store: the loser gets ``PurchaseInvoiceDuplicateError`` too, never a
  second invoice;
* dates: the issue date, the reception date and a payment date are never in the future
  (``PurchaseDateError``); reception and payment default to today (UTC).

Listings scan the notification log for ``PurchaseInvoice.Registered`` events and replay
each invoice (like the catalog's listings): simple and always exact; a projection should
replace it when the volume of purchases grows.

**Payables** (:func:`payables`) as of a day D: every invoice received by D (``received_on
<= D``) and not cancelled, with what was still unpaid at the end of D (payments with
``paid_on <= D`` deducted); those with something unpaid are summed per supplier and
currency, and aged by days past due (``D - due_date``): ``not_due`` (< 0), ``days_0_30``,
``days_31_60``, ``days_61_90``, ``days_over_90`` (> 90). A cancelled invoice is left out
whatever D is (the cancellation has no effective date of its own).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from crm_ledger.application import CrmApplication, Written
from crm_ledger.domain import taxes
from crm_ledger.domain.contact import Contact
from crm_ledger.domain.errors import InvalidCommandError, VersionConflictError
from crm_ledger.domain.purchase_invoice import (
    PaymentMethod,
    PurchaseInvoice,
    PurchaseStatus,
    date_of,
    number_of,
    purchase_invoice_id_for,
)
from crm_ledger.domain.purchasing_errors import PurchaseDateError, PurchaseInvoiceDuplicateError
from crm_ledger.domain.supplier import Supplier
from crm_ledger.kinds import Kind
from crm_ledger.listing import created, page_of, topic_of

SUPPLIER = Kind(Supplier, "supplier")
PURCHASE_INVOICE = Kind(PurchaseInvoice, "purchase invoice")

REGISTERED_TOPIC = topic_of(PurchaseInvoice, "Registered")
SUPPLIER_TOPIC = topic_of(Supplier, "Registered")
registered = created  # (log position, id) of every registration event of a topic
BUCKETS = ("not_due", "days_0_30", "days_31_60", "days_61_90", "days_over_90")


def today() -> date:
    """Today's date (UTC)."""
    return datetime.now(UTC).date()


def _not_future(day: date, field: str) -> date:
    if day > today():
        raise PurchaseDateError(f"{field} {day} is in the future", field=field)
    return day


# -- suppliers --------------------------------------------------------------------------


def register_supplier(
    crm: CrmApplication,
    *,
    actor: str,
    contact_id: UUID,
    legal_name: str,
    tax_id: str,
    payment_terms_days: int = 30,
    default_expense_category: str | None = None,
    iban: str | None = None,
) -> Written:
    """Register a supplier for an existing, active contact (organisation or person)."""
    contact = crm.load(Contact, contact_id, "contact")
    contact.check_active()
    supplier = Supplier.register(
        contact_id=contact.id,
        legal_name=legal_name,
        tax_id=tax_id,
        payment_terms_days=payment_terms_days,
        default_expense_category=default_expense_category,
        iban=iban,
        actor=actor,
    )
    return Written(supplier, crm.store(supplier, actor=actor))


def get_supplier(crm: CrmApplication, supplier_id: UUID) -> Supplier:
    """Return the supplier or raise NotFoundError."""
    return SUPPLIER.load(crm, supplier_id)


def update_supplier(
    crm: CrmApplication,
    supplier_id: UUID,
    *,
    expected_version: int,
    actor: str,
    changes: dict[str, Any],
) -> Written:
    """Change some of legal_name, tax_id, payment_terms_days, default_expense_category,
    iban (terms and category apply to invoices registered afterwards)."""
    return SUPPLIER.change(
        crm, supplier_id, expected_version, actor, lambda s: s.update(actor=actor, **changes)
    )


def deactivate_supplier(
    crm: CrmApplication, supplier_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Stop buying from the supplier (its registered invoices can still be paid)."""
    return SUPPLIER.change(
        crm, supplier_id, expected_version, actor, lambda s: s.deactivate(actor=actor)
    )


def list_suppliers(
    crm: CrmApplication, *, active: bool | None = None, limit: int = 50, after: int = 0
) -> tuple[list[Supplier], int | None]:
    """Up to `limit` suppliers in registration order (optionally only active or inactive)
    and the cursor of the next page, or None."""
    found = ((p, get_supplier(crm, i)) for p, i in registered(crm, SUPPLIER_TOPIC, after))
    return page_of(found, lambda s: active is None or s.active is active, limit=limit, after=after)


# -- purchase invoices ------------------------------------------------------------------


def register_purchase_invoice(
    crm: CrmApplication,
    *,
    actor: str,
    supplier_id: UUID,
    number: str,
    issue_date: date | str,
    lines: Iterable[Mapping[str, Any]],
    received_on: date | str | None = None,
    due_date: date | str | None = None,
    currency: str = "EUR",
    notes: str | None = None,
) -> Written:
    """Register an invoice received from an active supplier; PurchaseInvoiceDuplicateError
    when that supplier's number is already registered (also under a race)."""
    supplier = get_supplier(crm, supplier_id)
    issue = _not_future(date_of(issue_date, "issue_date"), "issue_date")
    received = today() if received_on is None else date_of(received_on, "received_on")
    _not_future(received, "received_on")
    text = number_of(number)
    invoice_id = purchase_invoice_id_for(supplier.id, text)
    if invoice_id in crm.repository:
        raise PurchaseInvoiceDuplicateError(
            supplier_id=supplier.id, number=text, existing_id=invoice_id
        )
    invoice = PurchaseInvoice.register(
        supplier=supplier,
        number=text,
        issue_date=issue,
        received_on=received,
        lines=lines,
        due_date=due_date,
        currency=currency,
        notes=notes,
        actor=actor,
    )
    try:
        position = crm.store(invoice, actor=actor)
    except VersionConflictError:  # registered concurrently by another request
        raise PurchaseInvoiceDuplicateError(
            supplier_id=supplier.id, number=text, existing_id=invoice_id
        ) from None
    return Written(invoice, position)


def get_purchase_invoice(crm: CrmApplication, invoice_id: UUID) -> PurchaseInvoice:
    """Return the received invoice or raise NotFoundError."""
    return PURCHASE_INVOICE.load(crm, invoice_id)


def correct_purchase_invoice(
    crm: CrmApplication,
    invoice_id: UUID,
    *,
    expected_version: int,
    actor: str,
    changes: dict[str, Any],
) -> Written:
    """Correct dates, lines, currency or notes before approval (the number is fixed)."""
    for field in ("issue_date", "received_on"):
        if changes.get(field) is not None:
            _not_future(date_of(changes[field], field), field)

    def command(invoice: PurchaseInvoice) -> None:
        supplier = get_supplier(crm, invoice.supplier_id)
        invoice.correct(supplier=supplier, actor=actor, **changes)

    return PURCHASE_INVOICE.change(crm, invoice_id, expected_version, actor, command)


def approve_purchase_invoice(
    crm: CrmApplication, invoice_id: UUID, *, expected_version: int, actor: str
) -> Written:
    """Accept the invoice for payment."""
    return PURCHASE_INVOICE.change(
        crm, invoice_id, expected_version, actor, lambda i: i.approve(actor=actor)
    )


def dispute_purchase_invoice(
    crm: CrmApplication, invoice_id: UUID, *, expected_version: int, actor: str, reason: str
) -> Written:
    """Contest the invoice with the supplier, saying why."""
    return PURCHASE_INVOICE.change(
        crm, invoice_id, expected_version, actor, lambda i: i.dispute(reason=reason, actor=actor)
    )


def record_payment(
    crm: CrmApplication,
    invoice_id: UUID,
    *,
    expected_version: int,
    actor: str,
    payment_ref: str,
    amount: Decimal | str,
    method: PaymentMethod | str = PaymentMethod.TRANSFER,
    paid_on: date | str | None = None,
) -> Written:
    """Record a full or partial payment (default: today, by transfer)."""
    day = today() if paid_on is None else _not_future(date_of(paid_on, "paid_on"), "paid_on")
    return PURCHASE_INVOICE.change(
        crm,
        invoice_id,
        expected_version,
        actor,
        lambda i: i.record_payment(
            payment_ref=payment_ref, amount=amount, paid_on=day, method=method, actor=actor
        ),
    )


def cancel_purchase_invoice(
    crm: CrmApplication, invoice_id: UUID, *, expected_version: int, actor: str, reason: str
) -> Written:
    """Void a registration that has no payment (it stays, marked cancelled)."""
    return PURCHASE_INVOICE.change(
        crm, invoice_id, expected_version, actor, lambda i: i.cancel(reason=reason, actor=actor)
    )


def purchase_invoices(crm: CrmApplication, after: int = 0) -> Iterator[tuple[int, PurchaseInvoice]]:
    """(log position of its registration, invoice) of every received invoice, in order."""
    for position, invoice_id in registered(crm, REGISTERED_TOPIC, after):
        yield position, get_purchase_invoice(crm, invoice_id)


def list_purchase_invoices(
    crm: CrmApplication,
    *,
    status: PurchaseStatus | str | None = None,
    due_before: date | None = None,
    supplier_id: UUID | None = None,
    limit: int = 50,
    after: int = 0,
) -> tuple[list[PurchaseInvoice], int | None]:
    """Up to `limit` received invoices in registration order that match every filter
    given (`due_before`: due date strictly earlier), and the cursor of the next page (the
    log position of the last one returned) or None."""
    try:
        wanted = None if status is None else PurchaseStatus(status)
    except ValueError:
        raise InvalidCommandError(f"unknown status {status!r}", field="status") from None

    def keep(invoice: PurchaseInvoice) -> bool:
        return (
            (wanted is None or invoice.status is wanted)
            and (due_before is None or invoice.due_date < due_before)
            and (supplier_id is None or invoice.supplier_id == supplier_id)
        )

    return page_of(purchase_invoices(crm, after), keep, limit=limit, after=after)


# -- payables ---------------------------------------------------------------------------


def bucket_of(days_past_due: int) -> str:
    """The ageing bucket of an amount `days_past_due` days after its due date."""
    if days_past_due < 0:
        return "not_due"
    if days_past_due <= 30:
        return "days_0_30"
    if days_past_due <= 60:
        return "days_31_60"
    if days_past_due <= 90:
        return "days_61_90"
    return "days_over_90"


def _row() -> dict[str, Any]:
    return {"invoice_count": 0, "outstanding": Decimal(0), **{b: Decimal(0) for b in BUCKETS}}


def _text(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "invoice_count": row["invoice_count"],
        "outstanding": taxes.money(row["outstanding"]),
        "buckets": {b: taxes.money(row[b]) for b in BUCKETS},
    }


def payables(crm: CrmApplication, *, as_of: date | None = None) -> dict[str, Any]:
    """What is owed to suppliers at the end of `as_of` (default today), per supplier and
    currency, aged by days past due (see the module docstring)."""
    day = today() if as_of is None else as_of
    rows: dict[tuple[UUID, str], dict[str, Any]] = {}
    totals: dict[str, dict[str, Any]] = {}
    for _, invoice in purchase_invoices(crm):
        if invoice.received_on > day:
            continue
        unpaid = invoice.outstanding_on(day)
        if unpaid <= 0:
            continue
        bucket = bucket_of((day - invoice.due_date).days)
        key = (invoice.supplier_id, invoice.currency)
        for row in (rows.setdefault(key, _row()), totals.setdefault(invoice.currency, _row())):
            row["invoice_count"] += 1
            row["outstanding"] += unpaid
            row[bucket] += unpaid
    suppliers = []
    for (supplier_id, currency), row in rows.items():
        supplier = get_supplier(crm, supplier_id)
        suppliers.append(
            {
                "supplier_id": str(supplier_id),
                "legal_name": supplier.legal_name,
                "currency": currency,
                **_text(row),
            }
        )
    suppliers.sort(key=lambda r: (r["legal_name"].casefold(), r["supplier_id"], r["currency"]))
    return {
        "as_of": day.isoformat(),
        "suppliers": suppliers,
        "totals": [{"currency": c, **_text(totals[c])} for c in sorted(totals)],
    }
