"""Payment use cases, called by the API: one function per use case.

An allocation moves two aggregates: the payment (its allocations, its credit) and the
invoice (what it has been paid). Both are saved in ONE ``crm.store`` call, so an
invoice's paid amount and the payments that paid it never disagree. The caller's
If-Match names the payment's version; when only an invoice moved meanwhile (another
payment allocated to it), the step is reloaded and redone (:mod:`crm_ledger.retry`), so
the outstanding amount checked is always the stored one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from crm_ledger.application import CrmApplication, Written
from crm_ledger.contact_family import survivor
from crm_ledger.domain.contact import Contact
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.invoice import Invoice, payment_amount, today
from crm_ledger.domain.payment import Payment
from crm_ledger.kinds import Kind
from crm_ledger.retry import ATTEMPTS, store_retrying

PAYMENT = Kind(Payment, "payment")

MAX_ALLOCATIONS = 100

Loader = Callable[[UUID], Invoice]


def get_payment(crm: CrmApplication, payment_id: UUID) -> Payment:
    """Return the payment or raise NotFoundError."""
    return PAYMENT.load(crm, payment_id)


def _invoice_id(value: object) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise InvalidCommandError("invoice_id must be a UUID", field="invoice_id") from None


def allocate(
    crm: CrmApplication, payment: Payment, invoice: Invoice, amount: Decimal | str, actor: str
) -> None:
    """`payment.allocate` to `invoice`, which may be billed to the payment's customer or
    to a contact merged with it into one survivor (before or after the payment)."""
    billed, payer = invoice.customer_id, payment.customer_id
    same: tuple[UUID, ...] = ()
    if billed is not None and billed != payer and survivor(crm, billed) == survivor(crm, payer):
        same = (billed,)
    payment.allocate(invoice, amount, actor=actor, same_customer=same)


def _retrying(
    crm: CrmApplication,
    *,
    actor: str,
    load_payment: Callable[[], Payment],
    step: Callable[[Payment, Loader], None],
) -> Written:
    """Run `step` on a fresh payment and the invoices it loads, store them all at once;
    on a conflict, reload and redo (a changed payment then fails its version check)."""

    def build() -> list[Aggregate]:
        payment = load_payment()
        loaded: dict[UUID, Invoice] = {}

        def load(invoice_id: UUID) -> Invoice:
            if invoice_id not in loaded:
                loaded[invoice_id] = crm.load(Invoice, invoice_id, "invoice")
            return loaded[invoice_id]

        step(payment, load)
        return [payment, *loaded.values()]

    return store_retrying(
        crm,
        build,
        actor=actor,
        exhausted=f"the invoices kept changing over {ATTEMPTS} attempts; "
        "nothing was written, retry",
    )


def _checked(crm: CrmApplication, payment_id: UUID, expected_version: int) -> Callable[[], Payment]:
    return lambda: PAYMENT.load_at(crm, payment_id, expected_version)


def record_payment(
    crm: CrmApplication,
    *,
    actor: str,
    customer_id: UUID,
    method: str,
    received_on: date | str,
    amount: Decimal | str,
    currency: str,
    reference: str | None = None,
    allocations: Iterable[Mapping[str, Any]] = (),
) -> Written:
    """Record a payment from a known contact, optionally allocated at once to invoices
    (all or nothing); what is not allocated stays as the customer's credit."""
    crm.load(Contact, customer_id, "contact")
    wanted = list(allocations)
    if len(wanted) > MAX_ALLOCATIONS:
        raise InvalidCommandError(
            f"at most {MAX_ALLOCATIONS} allocations per request", field="allocations"
        )

    def new() -> Payment:
        return Payment.record(
            customer_id=customer_id,
            method=method,
            received_on=received_on,
            amount=amount,
            currency=currency,
            reference=reference,
            actor=actor,
        )

    def step(payment: Payment, load: Loader) -> None:
        for i, item in enumerate(wanted):
            invoice = load(_invoice_id(item.get("invoice_id")))
            amount = payment_amount(item.get("amount"), f"allocations/{i}/amount")
            allocate(crm, payment, invoice, amount, actor)

    return _retrying(crm, actor=actor, load_payment=new, step=step)


def allocate_payment(
    crm: CrmApplication,
    payment_id: UUID,
    *,
    expected_version: int,
    actor: str,
    invoice_id: UUID,
    amount: Decimal | str,
) -> Written:
    """Allocate part of the payment's credit to an issued invoice of its customer (or of
    a contact merged with it into one survivor)."""

    def step(payment: Payment, load: Loader) -> None:
        allocate(crm, payment, load(invoice_id), amount, actor)

    return _retrying(
        crm, actor=actor, load_payment=_checked(crm, payment_id, expected_version), step=step
    )


def deallocate_payment(
    crm: CrmApplication,
    payment_id: UUID,
    invoice_id: UUID,
    *,
    expected_version: int,
    actor: str,
) -> Written:
    """Take back the payment's allocation to an invoice (it becomes credit again)."""

    def step(payment: Payment, load: Loader) -> None:
        payment.deallocate(load(invoice_id), actor=actor)

    return _retrying(
        crm, actor=actor, load_payment=_checked(crm, payment_id, expected_version), step=step
    )


def refund_payment(
    crm: CrmApplication,
    payment_id: UUID,
    *,
    expected_version: int,
    actor: str,
    amount: Decimal | str,
    reason: str,
    refunded_on: date | None = None,
) -> Written:
    """Refund part of the payment's unallocated credit (refunded today by default)."""
    day = today() if refunded_on is None else refunded_on
    return PAYMENT.change(
        crm,
        payment_id,
        expected_version,
        actor,
        lambda p: p.refund(amount, reason=reason, refunded_on=day, actor=actor),
    )


def void_payment(
    crm: CrmApplication, payment_id: UUID, *, expected_version: int, actor: str, reason: str
) -> Written:
    """Void a payment recorded in error: its allocations are taken back from every
    invoice in the same save."""

    def step(payment: Payment, load: Loader) -> None:
        invoices = [load(UUID(key)) for key in payment.allocations]
        payment.void(invoices, reason=reason, actor=actor)

    return _retrying(
        crm, actor=actor, load_payment=_checked(crm, payment_id, expected_version), step=step
    )
