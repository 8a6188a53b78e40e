"""Errors of the commercial documents before an invoice (quotes, sales orders, delivery
notes), under the one ``DomainError`` root.

::

    DomainError
    ├── InvalidCommandError
    │   ├── DocumentLinesRequiredError     a quote is sent, or an order made, with no lines
    │   ├── ValidUntilError                a quote valid until a day already past
    │   └── DeliveryLineError              a delivered line number the order does not have
    ├── QuoteError                         a command the quote's state does not allow
    │   ├── QuoteStatusError               not allowed from the quote's current status
    │   └── QuoteExpiredError              sending or accepting after valid_until
    ├── OrderError                         a command the sales order's state does not allow
    │   ├── OrderStatusError               not allowed from the order's current status
    │   ├── OverDeliveryError              more delivered than ordered (less already delivered)
    │   ├── NothingToInvoiceError          no delivered quantity is left to invoice
    │   └── OverInvoicingError             more invoiced than delivered
    └── DeliveryNoteError                  a command the delivery note's state does not allow
        ├── DeliveryNoteSignedError        a delivery note is signed once
        └── DeliveryNoteInvoicedError      a delivery note is invoiced once
"""

from __future__ import annotations

from crm_ledger.domain.errors import DomainError, InvalidCommandError


class DocumentLinesRequiredError(InvalidCommandError):
    """A quote is sent, and a sales order made, with at least one line."""

    title = "Document lines required"
    code = "document_lines_required"


class ValidUntilError(InvalidCommandError):
    """A quote's valid_until is today or later."""

    title = "Invalid validity date"
    code = "invalid_valid_until"


class DeliveryLineError(InvalidCommandError):
    """A delivery names line numbers of the order (1..n), each once, with quantity > 0."""

    title = "Invalid delivery line"
    code = "invalid_delivery_line"


class QuoteError(DomainError):
    """A command that the quote's current state does not allow."""

    title = "Quote state conflict"
    code = "quote_conflict"


class QuoteStatusError(QuoteError):
    """`command` is not allowed while the quote is `status`."""

    title = "Quote status does not allow this"
    code = "quote_status_conflict"

    def __init__(self, *, quote_id: object, status: str, command: str) -> None:
        self.status, self.command = status, command
        super().__init__(f"quote {quote_id} is {status}: {command} is not allowed")


class QuoteExpiredError(QuoteError):
    """The quote's validity ended (valid_until is before today): revise it first."""

    title = "Quote expired"
    code = "quote_expired"


class OrderError(DomainError):
    """A command that the sales order's current state does not allow."""

    title = "Sales order state conflict"
    code = "order_conflict"


class OrderStatusError(OrderError):
    """`command` is not allowed while the order is `status`."""

    title = "Sales order status does not allow this"
    code = "order_status_conflict"

    def __init__(self, *, order_id: object, status: str, command: str) -> None:
        self.status, self.command = status, command
        super().__init__(f"sales order {order_id} is {status}: {command} is not allowed")


class OverDeliveryError(OrderError):
    """A line would be delivered beyond its ordered quantity."""

    title = "Over-delivery"
    code = "over_delivery"

    def __init__(self, *, line_no: int, ordered: str, delivered: str, requested: str) -> None:
        self.line_no = line_no
        self.ordered, self.delivered, self.requested = ordered, delivered, requested
        super().__init__(
            f"line {line_no}: ordered {ordered}, already delivered {delivered}, "
            f"cannot deliver {requested} more"
        )


class NothingToInvoiceError(OrderError):
    """Every delivered quantity is already invoiced."""

    title = "Nothing to invoice"
    code = "nothing_to_invoice"


class OverInvoicingError(OrderError):
    """A line would be invoiced beyond its delivered quantity."""

    title = "Over-invoicing"
    code = "over_invoicing"


class DeliveryNoteError(DomainError):
    """A command that the delivery note's current state does not allow."""

    title = "Delivery note state conflict"
    code = "delivery_note_conflict"


class DeliveryNoteSignedError(DeliveryNoteError):
    """The delivery note is already signed."""

    title = "Delivery note signed"
    code = "delivery_note_signed"


class DeliveryNoteInvoicedError(DeliveryNoteError):
    """The delivery note is already invoiced."""

    title = "Delivery note invoiced"
    code = "delivery_note_invoiced"
