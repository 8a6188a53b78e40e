"""Errors of purchasing (suppliers, received invoices, payables), under ``DomainError``.

::

    DomainError
    ├── InvalidCommandError
    │   ├── InvalidIbanError                 not an IBAN (format or ISO 13616 mod-97 check)
    │   ├── PurchaseDateError                dates that contradict each other or the clock
    │   └── PurchaseLinesRequiredError       a received invoice has lines and a total > 0
    ├── SupplierError                        a command the supplier's state does not allow
    │   └── SupplierInactiveError            the supplier was deactivated
    └── PurchaseInvoiceError                 a command the invoice's state does not allow
        ├── PurchaseInvoiceDuplicateError    this supplier's invoice number is registered
        ├── PurchaseInvoiceStatusError       the command is not allowed in this status
        ├── PurchaseInvoicePaidError         a payment exists: no cancel
        ├── PaymentRefTakenError             the payment reference was already recorded
        └── OverpaymentError                 the payment exceeds what is outstanding
"""

from __future__ import annotations

from crm_ledger.domain.errors import DomainError, InvalidCommandError


class InvalidIbanError(InvalidCommandError):
    """Not an IBAN: wrong shape, or the ISO 13616 mod-97 check digits do not match."""

    title = "Invalid IBAN"
    code = "invalid_iban"


class PurchaseDateError(InvalidCommandError):
    """A received invoice's dates contradict each other (or lie in the future)."""

    title = "Invalid purchase date"
    code = "invalid_purchase_date"


class PurchaseLinesRequiredError(InvalidCommandError):
    """A received invoice has at least one line and a total above zero."""

    title = "Purchase lines required"
    code = "purchase_lines_required"


class SupplierError(DomainError):
    """A command that the supplier's current state does not allow."""

    title = "Supplier state conflict"
    code = "supplier_conflict"


class SupplierInactiveError(SupplierError):
    """The supplier was deactivated: no changes, no new invoices."""

    title = "Supplier inactive"
    code = "supplier_inactive"


class PurchaseInvoiceError(DomainError):
    """A command that the received invoice's current state does not allow."""

    title = "Purchase invoice state conflict"
    code = "purchase_invoice_conflict"


class PurchaseInvoiceDuplicateError(PurchaseInvoiceError):
    """The supplier's invoice with this number is already registered (``existing_id``)."""

    title = "Duplicate supplier invoice"
    code = "purchase_invoice_duplicate"

    def __init__(self, *, supplier_id: object, number: str, existing_id: object) -> None:
        self.supplier_id, self.number, self.existing_id = supplier_id, number, existing_id
        self.field = "number"
        super().__init__(
            f"invoice {number} of supplier {supplier_id} is already registered as "
            f"purchase invoice {existing_id}"
        )


class PurchaseInvoiceStatusError(PurchaseInvoiceError):
    """The command is not allowed in the invoice's current status."""

    title = "Purchase invoice status conflict"
    code = "purchase_invoice_status_conflict"


class PurchaseInvoicePaidError(PurchaseInvoiceError):
    """A payment was recorded against the invoice: it can no longer be cancelled."""

    title = "Purchase invoice paid"
    code = "purchase_invoice_paid"


class PaymentRefTakenError(PurchaseInvoiceError):
    """A payment with this reference is already recorded on the invoice."""

    title = "Payment reference taken"
    code = "payment_ref_taken"


class OverpaymentError(PurchaseInvoiceError):
    """The payment is more than the invoice's outstanding amount."""

    title = "Overpayment"
    code = "overpayment"
