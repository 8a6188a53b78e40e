"""Errors of invoicing (issuers, series, invoices), under the one ``DomainError`` root.

::

    DomainError
    ├── NotFoundError
    │   ├── SeriesNotFoundError          the issuer has no series with that code
    │   └── PaymentAllocationNotFoundError  the payment is not allocated to that invoice
    ├── InvalidCommandError
    │   ├── SeriesPatternError           a numbering pattern that cannot number uniquely
    │   ├── CustomerTaxIdRequiredError   F1 and R1..R4 name the customer by tax id
    │   ├── InvoiceLinesRequiredError    an invoice is issued with at least one line
    │   ├── IssueDateError               a future date, or earlier than the series' last
    │   ├── RectificationTypeError       R5 rectifies simplified invoices, R1..R4 the rest
    │   ├── SimplifiedInvoiceLimitError  an F2 above the issuer's limit (400 EUR by default)
    │   ├── SimplifiedInvoiceCurrencyError an F2 in a currency other than EUR
    │   ├── VerifactuRecordError         a record that is malformed or not this invoice's
    │   ├── PaymentCustomerMismatchError a payment allocated to another customer's invoice
    │   └── PaymentCurrencyMismatchError a payment allocated to an invoice in another currency
    ├── IssuerError                      a command the issuer's state does not allow
    │   ├── SeriesExistsError            the series code is taken
    │   ├── ChainHeadMismatchError       the record does not link to the chain head
    │   └── ChainContendedError          the chain kept moving; retries exhausted
    ├── InvoiceError                     a command the invoice's state does not allow
    │   ├── InvoiceIssuedError           issued invoices are unalterable
    │   ├── InvoiceNotIssuedError        cancel / rectify / records / payments of a draft
    │   ├── InvoiceCancelledError        a cancelled invoice takes no further record
    │   ├── InvoiceOverpaymentError      an allocation above what the invoice still owes
    │   └── CorrectionLimitError         corrections that would exceed the original's total
    └── PaymentError                     a command the payment's state does not allow
        ├── PaymentVoidedError           a voided payment takes no further command
        ├── PaymentCreditExceededError   more than the payment's unallocated amount
        └── PaymentRefundedError         a payment partly refunded cannot be voided
"""

from __future__ import annotations

from crm_ledger.domain.errors import DomainError, InvalidCommandError, NotFoundError

UNALTERABLE_RULE = (
    "issued invoices are unalterable (Ley 11/2021 and RD 1007/2023, VERI*FACTU): "
    "correct it with a rectifying invoice or cancel it, never by editing"
)


class SeriesNotFoundError(NotFoundError):
    """The issuer has no series with that code."""

    title = "Series not found"
    code = "series_not_found"

    def __init__(self, series: str) -> None:
        self.series = series
        super().__init__(kind="series", id=series)


class SeriesPatternError(InvalidCommandError):
    """A pattern names ``{series}``, ``{year}`` and ``{number}`` and nothing else."""

    title = "Invalid numbering pattern"
    code = "invalid_series_pattern"


class CustomerTaxIdRequiredError(InvalidCommandError):
    """A full invoice (F1) or its rectification (R1..R4) names the customer by tax id."""

    title = "Customer tax id required"
    code = "customer_tax_id_required"


class InvoiceLinesRequiredError(InvalidCommandError):
    """An invoice is issued with at least one line."""

    title = "Invoice lines required"
    code = "invoice_lines_required"


class IssueDateError(InvalidCommandError):
    """The issue date is in the future or earlier than the series' last issued invoice."""

    title = "Invalid issue date"
    code = "invalid_issue_date"


class RectificationTypeError(InvalidCommandError):
    """R5 rectifies simplified invoices (F2, R5); R1..R4 rectify the others."""

    title = "Invalid rectification type"
    code = "invalid_rectification_type"


class VerifactuRecordError(InvalidCommandError):
    """The VERI*FACTU record is malformed or describes another invoice."""

    title = "Invalid VERI*FACTU record"
    code = "invalid_verifactu_record"


class IssuerError(DomainError):
    """A command that the issuer's current state does not allow."""

    title = "Issuer state conflict"
    code = "issuer_conflict"


class SeriesExistsError(IssuerError):
    """The issuer already has a series with that code."""

    title = "Series exists"
    code = "series_exists"


class ChainHeadMismatchError(IssuerError):
    """The record's previous huella is not the issuer's current chain head."""

    title = "VERI*FACTU chain head mismatch"
    code = "chain_head_mismatch"

    def __init__(self, *, expected: str, actual: str) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(
            f"the record links to {actual or '(genesis)'} but the chain head is "
            f"{expected or '(genesis)'}"
        )


class ChainContendedError(IssuerError):
    """Other issues kept moving the issuer's chain; nothing was written. Retry."""

    title = "Issuer busy"
    code = "chain_contended"


class InvoiceError(DomainError):
    """A command that the invoice's current state does not allow."""

    title = "Invoice state conflict"
    code = "invoice_conflict"


class InvoiceIssuedError(InvoiceError):
    """Issued invoices are unalterable: corrections only by new records."""

    title = "Invoice issued"
    code = "invoice_issued"

    def __init__(self, *, invoice_id: object, number: str | None, command: str) -> None:
        self.invoice_id, self.number, self.command = invoice_id, number, command
        super().__init__(
            f"invoice {number or invoice_id} is issued; {command} refused: " + UNALTERABLE_RULE
        )


class InvoiceNotIssuedError(InvoiceError):
    """Only an issued invoice can be cancelled, rectified or shown as a VERI*FACTU record."""

    title = "Invoice not issued"
    code = "invoice_not_issued"


class InvoiceCancelledError(InvoiceError):
    """The invoice is cancelled (an anulación record exists); it takes no further record."""

    title = "Invoice cancelled"
    code = "invoice_cancelled"


# -- payments ---------------------------------------------------------------------------


class PaymentAllocationNotFoundError(NotFoundError):
    """The payment has no allocation to that invoice."""

    title = "Allocation not found"
    code = "payment_allocation_not_found"

    def __init__(self, *, payment_id: str, invoice_id: str) -> None:
        self.payment_id, self.invoice_id = payment_id, invoice_id
        super().__init__(kind="allocation to invoice", id=f"{invoice_id} on payment {payment_id}")


class PaymentCustomerMismatchError(InvalidCommandError):
    """A payment settles only invoices billed to the customer who paid."""

    title = "Invoice of another customer"
    code = "payment_customer_mismatch"


class PaymentCurrencyMismatchError(InvalidCommandError):
    """A payment settles only invoices in its own currency."""

    title = "Invoice in another currency"
    code = "payment_currency_mismatch"


class InvoiceOverpaymentError(InvoiceError):
    """An allocation may not exceed what the invoice still owes (the rest stays credit)."""

    title = "Invoice overpaid"
    code = "invoice_overpayment"

    def __init__(self, *, number: str | None, outstanding: str, amount: str) -> None:
        self.number, self.outstanding, self.amount = number, outstanding, amount
        super().__init__(
            f"invoice {number} still owes {outstanding}; {amount} cannot be allocated to it "
            "(keep the rest as the customer's credit)"
        )


class PaymentError(DomainError):
    """A command that the payment's current state does not allow."""

    title = "Payment state conflict"
    code = "payment_conflict"


class PaymentVoidedError(PaymentError):
    """The payment was voided; it takes no further command."""

    title = "Payment voided"
    code = "payment_voided"


class PaymentCreditExceededError(PaymentError):
    """An allocation or refund above the payment's unallocated amount (its credit)."""

    title = "Payment credit exceeded"
    code = "payment_credit_exceeded"

    def __init__(self, *, available: str, amount: str, command: str) -> None:
        self.available, self.amount, self.command = available, amount, command
        super().__init__(f"the payment has {available} unallocated; {command} of {amount} refused")


class PaymentRefundedError(PaymentError):
    """Money already refunded cannot be un-received: a refunded payment is not voided."""

    title = "Payment refunded"
    code = "payment_refunded"


# -- simplified invoices and corrections ------------------------------------------------


class SimplifiedInvoiceLimitError(InvalidCommandError):
    """A simplified invoice (F2) totals at most the issuer's limit, VAT included: 400 EUR
    in general, up to 3,000 EUR in the sectors of art. 4 RD 1619/2012."""

    title = "Simplified invoice over its limit"
    code = "simplified_invoice_limit"

    def __init__(self, *, total: str, limit: str) -> None:
        self.total, self.limit = total, limit
        super().__init__(
            f"a simplified invoice (F2) may total at most {limit} EUR including VAT "
            f"(art. 4 RD 1619/2012); this one totals {total}: issue a full invoice (F1) "
            "naming the customer instead",
            field="invoice_type",
        )


class SimplifiedInvoiceCurrencyError(InvalidCommandError):
    """A simplified invoice (F2) is in EUR (its limit is a euro amount)."""

    title = "Simplified invoice not in EUR"
    code = "simplified_invoice_currency"

    def __init__(self, *, currency: str) -> None:
        self.currency = currency
        super().__init__(
            f"a simplified invoice (F2) is issued in EUR, not {currency} (its legal limit is "
            "a euro amount): issue a full invoice (F1) or bill in EUR",
            field="currency",
        )


class CorrectionLimitError(InvoiceError):
    """Rectifications by differences (credit notes) may not, together, take back more than
    the original invoice's total."""

    title = "Correction above the original's total"
    code = "correction_limit_exceeded"

    def __init__(self, *, number: str | None, total: str, remaining: str, amount: str) -> None:
        self.number, self.total, self.remaining, self.amount = number, total, remaining, amount
        super().__init__(
            f"invoice {number} totals {total} and only {remaining} of it remains to be "
            f"corrected; a correction of {amount} would make the cumulative corrections "
            "exceed the original's total"
        )
