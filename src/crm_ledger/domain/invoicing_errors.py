"""Errors of invoicing (issuers, series, invoices), under the one ``DomainError`` root.

::

    DomainError
    ├── NotFoundError
    │   └── SeriesNotFoundError          the issuer has no series with that code
    ├── InvalidCommandError
    │   ├── SeriesPatternError           a numbering pattern that cannot number uniquely
    │   ├── CustomerTaxIdRequiredError   F1 and R1..R4 name the customer by tax id
    │   ├── InvoiceLinesRequiredError    an invoice is issued with at least one line
    │   ├── IssueDateError               a future date, or earlier than the series' last
    │   ├── RectificationTypeError       R5 rectifies simplified invoices, R1..R4 the rest
    │   └── VerifactuRecordError         a record that is malformed or not this invoice's
    ├── IssuerError                      a command the issuer's state does not allow
    │   ├── SeriesExistsError            the series code is taken
    │   ├── ChainHeadMismatchError       the record does not link to the chain head
    │   └── ChainContendedError          the chain kept moving; retries exhausted
    └── InvoiceError                     a command the invoice's state does not allow
        ├── InvoiceIssuedError           issued invoices are unalterable
        ├── InvoiceNotIssuedError        cancel / rectify / records of a draft
        └── InvoiceCancelledError        a cancelled invoice takes no further record
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
