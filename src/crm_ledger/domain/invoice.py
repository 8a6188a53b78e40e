"""The Invoice aggregate: a draft that may change, then an issued invoice that never does.

Spanish anti-fraud law (Ley 11/2021, RD 1007/2023 "VERI*FACTU") makes issued invoices
unalterable: corrections happen only by new records. So:

* a **draft** (``Drafted``, ``Updated``) may change freely and has no number;
* ``issue`` fixes everything in one ``Issued`` event: number, date, lines, the customer's
  fiscal data, the tax breakdown and totals, and the VERI*FACTU *alta* record with its
  huella. After it, every command except ``cancel`` is refused with
  :class:`InvoiceIssuedError`;
* ``cancel`` appends an *anulación* record (``Cancelled``); the invoice stays, with its
  number, marked cancelled, never deleted;
* payments (:mod:`crm_ledger.domain.payment`) are recorded on the invoice too
  (``PaymentRecorded`` / ``PaymentRemoved``): they change what is owed, not the fiscal
  content, so they are accepted after issue (allocation only while issued and not
  cancelled; removal also once cancelled). ``paid``, ``outstanding`` and the payment
  status (open, partially paid, paid, overdue on a given day) derive from those events
  and the due date (set on the draft, else the issue date + ``DEFAULT_TERM_DAYS``);
* a correction is a NEW invoice: :meth:`Invoice.rectifying` drafts a rectifying invoice
  (R1..R5) that references the original, either **by differences** (its lines are the
  change; with no lines given, the negation of every original line: a full credit note)
  or **by substitution** (its lines replace the original's, whose amounts it records).

Simplified invoices (F2) and their rectifications (R5) need no customer tax id; full
invoices (F1) and R1..R4 do. An F2 is in EUR (refused in any other currency when drafted,
changed or issued) and totals, VAT included, at most the issuer's ``simplified_limit``
(400.00 by default, art. 4 RD 1619/2012; checked on issue). Amounts follow
:mod:`crm_ledger.domain.taxes`.

Corrections cap: the rectifications by differences (credit notes included) of an
invoice may not, together, take back more than its total (``gross_total``, the
VERI*FACTU ``ImporteTotal``). The original keeps the corrections issued against it
(``CorrectionRecorded``, ``CorrectionWithdrawn`` when such a correction is cancelled):
they change what was finally invoiced, not its fiscal content, so, like payments, they
are accepted after issue. :meth:`Invoice.rectifying` checks the cap when the draft is
made, and the issue use case again (recording the correction) when it is issued.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain import taxes, verifactu, verifactu_registro
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.invoicing_errors import (
    CorrectionLimitError,
    CustomerTaxIdRequiredError,
    InvoiceCancelledError,
    InvoiceIssuedError,
    InvoiceLinesRequiredError,
    InvoiceNotIssuedError,
    InvoiceOverpaymentError,
    PaymentAllocationNotFoundError,
    PaymentCurrencyMismatchError,
    PaymentCustomerMismatchError,
    RectificationTypeError,
    SimplifiedInvoiceCurrencyError,
    SimplifiedInvoiceLimitError,
    VerifactuRecordError,
)
from crm_ledger.domain.issuer import DEFAULT_SIMPLIFIED_LIMIT, MAX_LEGAL_NAME, Issuer, address_of
from crm_ledger.ledger.envelope import format_timestamp

ORDINARY_TYPES = ("F1", "F2")
RECTIFYING_TYPES = ("R1", "R2", "R3", "R4", "R5")
SIMPLIFIED_TYPES = frozenset({"F2", "R5"})
SIMPLIFIED_CURRENCY = "EUR"  # the simplified-invoice limit is a euro amount
LINE_KEYS = frozenset(
    {
        "description",
        "quantity",
        "unit_price",
        "discount",
        "vat_rate",
        "exemption",
        "surcharge",
        "withholding_rate",
        "product_id",
    }
)
CUSTOMER_KEYS = frozenset({"name", "tax_id", "address", "country"})
UPDATABLE = frozenset(
    {"series", "invoice_type", "customer_id", "customer", "lines", "currency", "notes", "due_date"}
)
MAX_LINES = 500
MAX_DESCRIPTION = 500
MAX_NOTES = 2000
MAX_REASON = 500
CURRENCY = re.compile(r"^[A-Z]{3}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
CUSTOMER_TAX_ID = re.compile(r"^[0-9A-Z]{1,20}$")
DEFAULT_TERM_DAYS = 30  # due date of an invoice issued without one
CENT = Decimal("0.01")


class InvoiceStatus(StrEnum):
    """Where an invoice stands."""

    DRAFT = "draft"
    ISSUED = "issued"
    CANCELLED = "cancelled"


class PaymentStatus(StrEnum):
    """How much of an issued invoice is paid, on a given day."""

    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    OVERDUE = "overdue"


class RectificationMethod(StrEnum):
    """How a rectifying invoice corrects the original (VERI*FACTU ``TipoRectificativa``)."""

    DIFFERENCES = "differences"  # "I": the lines are the change
    SUBSTITUTION = "substitution"  # "S": the lines replace the original's


# -- normalisation ----------------------------------------------------------------------


def _plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros (``"1.5"``, ``"0"``)."""
    return f"{value.normalize():f}" if value else "0"


def line_of(raw: object, index: int) -> dict[str, Any]:
    """The stored form of one line (errors name ``lines/<index>/<field>``)."""
    where = f"lines/{index}"
    if not isinstance(raw, Mapping):
        raise InvalidCommandError(f"{where} must be an object", field=where)
    unknown = set(raw) - LINE_KEYS
    if unknown:
        raise InvalidCommandError(f"unknown line fields {sorted(unknown)}", field=where)
    description = raw.get("description")
    text = description.strip() if isinstance(description, str) else ""
    if not text or len(text) > MAX_DESCRIPTION:
        raise InvalidCommandError(
            f"description must have 1 to {MAX_DESCRIPTION} characters",
            field=f"{where}/description",
        )
    try:
        tax = taxes.tax_line(raw)
    except InvalidCommandError as error:
        raise InvalidCommandError(error.detail, field=f"{where}/{error.field}") from None
    product = raw.get("product_id")
    try:
        product_id = None if product is None else str(UUID(str(product)))
    except ValueError:
        raise InvalidCommandError(
            "product_id must be a UUID", field=f"{where}/product_id"
        ) from None
    return {
        "description": text,
        "quantity": _plain(tax.quantity),
        "unit_price": _plain(tax.unit_price),
        "discount": _plain(tax.discount),
        "vat_rate": None if tax.vat_rate is None else taxes.rate_text(tax.vat_rate),
        "exemption": tax.exemption,
        "surcharge": tax.surcharge,
        "withholding_rate": _plain(tax.withholding_rate),
        "product_id": product_id,
    }


def lines_of(raw: object) -> list[dict[str, Any]]:
    """The stored form of a list of lines (0 to MAX_LINES; a draft may have none yet)."""
    if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Iterable):
        raise InvalidCommandError("lines must be a list", field="lines")
    items = list(raw)
    if len(items) > MAX_LINES:
        raise InvalidCommandError(f"an invoice has at most {MAX_LINES} lines", field="lines")
    return [line_of(item, i) for i, item in enumerate(items)]


def customer_of(raw: object) -> dict[str, Any]:
    """The customer's fiscal data: ``{name, tax_id, address, country}`` (each optional)."""
    if raw is None:
        return {"name": None, "tax_id": None, "address": {}, "country": None}
    if not isinstance(raw, Mapping):
        raise InvalidCommandError("customer must be an object", field="customer")
    unknown = set(raw) - CUSTOMER_KEYS
    if unknown:
        raise InvalidCommandError(f"unknown customer fields {sorted(unknown)}", field="customer")
    name, tax_id, country = raw.get("name"), raw.get("tax_id"), raw.get("country")
    for field, value in (("name", name), ("tax_id", tax_id), ("country", country)):
        if value is not None and not isinstance(value, str):
            raise InvalidCommandError(f"customer {field} must be text", field=f"customer/{field}")
    name = (name or "").strip() or None
    if name is not None and len(name) > MAX_LEGAL_NAME:
        raise InvalidCommandError(
            f"customer name has at most {MAX_LEGAL_NAME} characters", field="customer/name"
        )
    tax_id = re.sub(r"[\s.-]", "", tax_id or "").upper() or None
    if tax_id is not None and not CUSTOMER_TAX_ID.fullmatch(tax_id):
        raise InvalidCommandError(
            "customer tax_id must be 1 to 20 letters or digits", field="customer/tax_id"
        )
    country = (country or "").strip().upper() or None
    if country is not None and not COUNTRY.fullmatch(country):
        raise InvalidCommandError(
            "customer country must be an ISO 3166 alpha-2 code", field="customer/country"
        )
    return {
        "name": name,
        "tax_id": tax_id,
        "address": address_of(raw.get("address"), "customer/address"),
        "country": country,
    }


def _currency(value: object) -> str:
    if not isinstance(value, str) or not CURRENCY.fullmatch(value):
        raise InvalidCommandError("currency must be an ISO 4217 code such as EUR", field="currency")
    return value


def _notes(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_NOTES:
        raise InvalidCommandError(f"notes must be text of at most {MAX_NOTES}", field="notes")
    return value.strip() or None


def _due_date(value: object) -> str | None:
    """A due date as ISO text (a ``date`` or ``YYYY-MM-DD``), or None for the default."""
    if value is None:
        return None
    if isinstance(value, datetime) or not isinstance(value, (date, str)):
        raise InvalidCommandError("due_date must be a date", field="due_date")
    try:
        day = value if isinstance(value, date) else date.fromisoformat(value)
    except ValueError:
        raise InvalidCommandError("due_date must be YYYY-MM-DD", field="due_date") from None
    return day.isoformat()


def payment_amount(value: object, field: str = "amount") -> Decimal:
    """A positive amount of money with at most 2 decimals (Decimal, int or decimal text)."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise InvalidCommandError(f"{field} must be a decimal amount", field=field)
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise InvalidCommandError(f"{field} must be a decimal amount", field=field) from None
    if not amount.is_finite() or amount <= 0 or amount.adjusted() >= 12:
        raise InvalidCommandError(f"{field} must be above zero, below 10^12", field=field)
    if amount != amount.quantize(CENT):
        raise InvalidCommandError(f"{field} has at most 2 decimals", field=field)
    return amount.quantize(CENT)


def money(value: Decimal) -> str:
    """Money as stored and shown: two decimals (``"12.50"``)."""
    return f"{value.quantize(CENT) + 0:f}"


RATE_QUANTUM = Decimal("0.000001")
RECORD_CURRENCY = "EUR"  # VERI*FACTU records state amounts in euros


def exchange_rate_of(currency: str, rate: object) -> Decimal | None:
    """The euros per unit of `currency` an invoice is issued at: required (above zero, at
    most 6 decimals) for an invoice in another currency, absent for one in EUR."""
    if currency == RECORD_CURRENCY:
        if rate is not None and Decimal(str(rate)) != 1:
            raise InvalidCommandError(
                "an invoice in EUR takes no exchange rate", field="exchange_rate"
            )
        return None
    if rate is None:
        raise InvalidCommandError(
            f"an invoice in {currency} is issued with exchange_rate (EUR per 1 {currency})",
            field="exchange_rate",
        )
    try:
        value = Decimal(str(rate))
    except InvalidOperation:
        raise InvalidCommandError(
            "exchange_rate must be a decimal", field="exchange_rate"
        ) from None
    if not value.is_finite() or value <= 0 or value != value.quantize(RATE_QUANTUM):
        raise InvalidCommandError(
            "exchange_rate must be above zero with at most 6 decimals", field="exchange_rate"
        )
    return value


def in_euros(amount: Decimal, rate: Decimal | None) -> Decimal:
    """`amount` converted at `rate` (None: already euros), rounded half up to cents."""
    return amount if rate is None else (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def _ordinary_type(value: object) -> str:
    if value not in ORDINARY_TYPES:
        raise InvalidCommandError(
            "invoice_type of a new invoice is F1 (full) or F2 (simplified); rectifying "
            "invoices come from POST /invoices/{id}/rectify",
            field="invoice_type",
        )
    return str(value)


def _customer_id(value: object) -> UUID | None:
    if value is None or isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise InvalidCommandError("customer_id must be a UUID", field="customer_id") from None


def _check_simplified_currency(invoice_type: str, currency: str) -> None:
    """An F2 is in EUR (its limit is a euro amount; no conversion is made here)."""
    if invoice_type == "F2" and currency != SIMPLIFIED_CURRENCY:
        raise SimplifiedInvoiceCurrencyError(currency=currency)


def negated(lines: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The lines with every quantity negated: a credit for exactly their amounts."""
    result = []
    for line in lines:
        quantity = -Decimal(line["quantity"])
        result.append({**line, "quantity": _plain(quantity)})
    return result


# -- the aggregate ----------------------------------------------------------------------


class Invoice(Aggregate):
    """A sales invoice: a draft until issued, unalterable after."""

    @event("Drafted")
    def __init__(
        self,
        *,
        issuer_id: UUID,
        series: str,
        invoice_type: str,
        customer_id: UUID | None,
        customer: dict[str, Any],
        lines: list[dict[str, Any]],
        currency: str,
        notes: str | None,
        rectifies: dict[str, Any] | None,
        actor: str,
    ) -> None:
        self.issuer_id = issuer_id
        self.series = series
        self.invoice_type = invoice_type
        self.customer_id = customer_id
        self.customer = customer
        self.lines = lines
        self.currency = currency
        self.notes = notes
        self.rectifies = rectifies
        self.status_value = InvoiceStatus.DRAFT.value
        self.number: str | None = None
        self.issue_date_text: str | None = None
        self.issued_totals: dict[str, Any] | None = None
        self.record: dict[str, Any] | None = None
        self.cancellation: dict[str, Any] | None = None
        self.cancel_reason: str | None = None
        self.due_date: str | None = None
        self.payments: dict[str, str] = {}
        self.corrections: dict[str, str] = {}
        self.created_by = actor

    @classmethod
    def draft(
        cls,
        *,
        issuer: Issuer,
        series: str,
        actor: str,
        invoice_type: str = "F1",
        customer_id: UUID | str | None = None,
        customer: Mapping[str, Any] | None = None,
        lines: Iterable[Mapping[str, Any]] = (),
        currency: str = "EUR",
        notes: str | None = None,
        due_date: date | str | None = None,
    ) -> Invoice:
        """Draft an ordinary invoice (F1 full, F2 simplified) in one of `issuer`'s series.
        A `due_date` is recorded as a second event (``Updated``) of the new draft."""
        issuer.series_of(series)
        due = _due_date(due_date)
        kind, money_code = _ordinary_type(invoice_type), _currency(currency)
        _check_simplified_currency(kind, money_code)
        invoice = cls(
            issuer_id=issuer.id,
            series=series,
            invoice_type=kind,
            customer_id=_customer_id(customer_id),
            customer=customer_of(customer),
            lines=lines_of(lines),
            currency=money_code,
            notes=_notes(notes),
            rectifies=None,
            actor=actor,
        )
        if due is not None:
            invoice._updated(changes={"due_date": due}, actor=actor)
        return invoice

    @classmethod
    def rectifying(
        cls,
        original: Invoice,
        *,
        issuer: Issuer,
        invoice_type: str,
        method: RectificationMethod | str,
        reason: str,
        actor: str,
        lines: Iterable[Mapping[str, Any]] | None = None,
        series: str | None = None,
        notes: str | None = None,
    ) -> Invoice:
        """Draft a NEW rectifying invoice that references the issued `original`.

        By differences with no `lines`: every original line negated (a full credit note).
        By substitution: `lines` (required) replace the original's; the original's base
        and taxes are recorded so the pair can be reported. A rectification by
        differences may not take back more than what remains of the original's total
        after the corrections already issued (CorrectionLimitError).
        """
        if original.status is InvoiceStatus.DRAFT:
            raise InvoiceNotIssuedError(
                f"invoice {original.id} is a draft: change it instead of rectifying it"
            )
        if original.status is InvoiceStatus.CANCELLED:
            raise InvoiceCancelledError(
                f"invoice {original.number} is cancelled: it cannot be rectified"
            )
        if issuer.id != original.issuer_id:
            raise InvalidCommandError("the issuer is not the original's issuer", field="issuer")
        simplified = original.invoice_type in SIMPLIFIED_TYPES
        allowed = ("R5",) if simplified else RECTIFYING_TYPES[:4]
        if invoice_type not in allowed:
            raise RectificationTypeError(
                f"a rectification of {original.invoice_type} is one of {', '.join(allowed)}",
                field="invoice_type",
            )
        try:
            how = RectificationMethod(method)
        except ValueError:
            raise InvalidCommandError(
                "method is differences or substitution", field="method"
            ) from None
        why = reason.strip() if isinstance(reason, str) else ""
        if not why or len(why) > MAX_REASON:
            raise InvalidCommandError(
                f"reason must have 1 to {MAX_REASON} characters", field="reason"
            )
        if lines is None:
            if how is RectificationMethod.SUBSTITUTION:
                raise InvoiceLinesRequiredError(
                    "a rectification by substitution lists the replacing lines", field="lines"
                )
            new_lines = negated(original.lines)
        else:
            new_lines = lines_of(lines)
        if how is RectificationMethod.DIFFERENCES:
            change = taxes.compute(taxes.tax_line(line) for line in new_lines)
            original.check_correction(change.gross_total)
        code = original.series if series is None else series
        issuer.series_of(code)
        totals = original.issued_totals or {}
        return cls(
            issuer_id=issuer.id,
            series=code,
            invoice_type=invoice_type,
            customer_id=original.customer_id,
            customer=dict(original.customer),
            lines=new_lines,
            currency=original.currency,
            notes=_notes(notes),
            rectifies={
                "invoice_id": str(original.id),
                "number": original.number,
                "issue_date": original.issue_date_text,
                "invoice_type": original.invoice_type,
                "method": how.value,
                "reason": why,
                "base": totals.get("base_total"),
                "tax": totals.get("vat_total"),
                "surcharge": totals.get("surcharge_total"),
                "exchange_rate": getattr(original, "exchange_rate", None),
            },
            actor=actor,
        )

    # -- queries ----------------------------------------------------------------------

    @property
    def status(self) -> InvoiceStatus:
        """Draft, issued or cancelled."""
        return InvoiceStatus(self.status_value)

    @property
    def issue_date(self) -> date | None:
        """The date of issue (None while a draft)."""
        text = self.issue_date_text
        return None if text is None else date.fromisoformat(text)

    def totals(self) -> taxes.InvoiceTotals:
        """The tax breakdown and totals of the current lines."""
        return taxes.compute(taxes.tax_line(line) for line in self.lines)

    def issued_as(self) -> tuple[str, date]:
        """The number and issue date of an issued invoice (InvoiceNotIssuedError if draft)."""
        day = self.issue_date
        if self.number is None or day is None:
            raise InvoiceNotIssuedError(f"invoice {self.id} is a draft: it has no number yet")
        return self.number, day

    def _refuse_if_issued(self, command: str) -> None:
        if self.status is not InvoiceStatus.DRAFT:
            raise InvoiceIssuedError(invoice_id=self.id, number=self.number, command=command)

    # -- commands: drafts ---------------------------------------------------------------

    def update(self, *, issuer: Issuer, actor: str, **changes: Any) -> None:
        """Change some of series, invoice_type, customer_id, customer, lines, currency,
        notes, due_date of a draft (no event if nothing differs). Refused once issued."""
        self._refuse_if_issued("update")
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise InvalidCommandError(f"unknown fields {sorted(unknown)}", field=sorted(unknown)[0])
        if issuer.id != self.issuer_id:
            raise InvalidCommandError("the issuer is not the invoice's issuer", field="issuer")
        if self.rectifies is not None:
            fixed = {"invoice_type", "customer_id", "customer", "currency"} & set(changes)
            if fixed:
                raise InvalidCommandError(
                    f"a rectifying invoice keeps the original's {sorted(fixed)[0]}",
                    field=sorted(fixed)[0],
                )
        new: dict[str, Any] = {}
        for field, value in changes.items():
            if field == "series":
                issuer.series_of(value)
                new[field] = value
            elif field == "invoice_type":
                new[field] = _ordinary_type(value)
            elif field == "customer_id":
                customer_id = _customer_id(value)
                new[field] = None if customer_id is None else str(customer_id)
            elif field == "customer":
                new[field] = customer_of(value)
            elif field == "lines":
                new[field] = lines_of(value)
            elif field == "currency":
                new[field] = _currency(value)
            elif field == "due_date":
                new[field] = _due_date(value)
            else:
                new[field] = _notes(value)
        _check_simplified_currency(
            new.get("invoice_type", self.invoice_type), new.get("currency", self.currency)
        )
        current = {f: getattr(self, f) for f in new}
        if current.get("customer_id") is not None:
            current["customer_id"] = str(current["customer_id"])
        differing = {f: v for f, v in new.items() if v != current[f]}
        if differing:
            self._updated(changes=differing, actor=actor)

    @event("Updated")
    def _updated(self, *, changes: dict[str, Any], actor: str) -> None:
        for field, value in changes.items():
            if field == "customer_id":
                value = None if value is None else UUID(value)
            setattr(self, field, value)

    # -- commands: issue and cancel -------------------------------------------------------

    def check_issuable(
        self, *, simplified_limit: Decimal = DEFAULT_SIMPLIFIED_LIMIT
    ) -> taxes.InvoiceTotals:
        """The totals the invoice would be issued with, or the rule that stops it (an F2
        totals at most `simplified_limit`, the issuer's, VAT included, in EUR)."""
        self._refuse_if_issued("issue")
        if not self.lines:
            raise InvoiceLinesRequiredError("an invoice needs at least one line", field="lines")
        if self.invoice_type not in SIMPLIFIED_TYPES and not (
            self.customer.get("tax_id") and self.customer.get("name")
        ):
            raise CustomerTaxIdRequiredError(
                f"a {self.invoice_type} invoice names the customer by name and tax id "
                "(only simplified invoices, F2 and R5, may omit them)",
                field="customer/tax_id",
            )
        _check_simplified_currency(self.invoice_type, self.currency)
        totals = self.totals()
        if self.invoice_type == "F2" and totals.gross_total > simplified_limit:
            raise SimplifiedInvoiceLimitError(
                total=money(totals.gross_total), limit=money(simplified_limit)
            )
        return totals

    def alta_fields(
        self,
        *,
        issuer_tax_id: str,
        number: str,
        issue_date: date,
        previous_huella: str,
        generated_at: datetime,
        simplified_limit: Decimal = DEFAULT_SIMPLIFIED_LIMIT,
        exchange_rate: Decimal | None = None,
    ) -> dict[str, str]:
        """The VERI*FACTU alta fields for issuing this draft as `number` on `issue_date`
        (amounts in euros: converted at `exchange_rate` for an invoice in another currency)."""
        totals = self.check_issuable(simplified_limit=simplified_limit)
        rate = exchange_rate_of(self.currency, exchange_rate)
        return verifactu.build_alta(
            issuer_tax_id=issuer_tax_id,
            number=number,
            issue_date=issue_date,
            invoice_type=self.invoice_type,
            tax_total=in_euros(totals.tax_total, rate),
            total=in_euros(totals.gross_total, rate),
            previous_huella=previous_huella,
            generated_at=generated_at,
        )

    def alta_registro(
        self,
        record: Mapping[str, Any],
        *,
        issuer_name: str,
        previous: Mapping[str, Any] | None,
        system: verifactu_registro.SoftwareSystem,
        exchange_rate: Decimal | None = None,
    ) -> dict[str, Any]:
        """The whole ``RegistroAlta`` (XML-ready) for `record`, this draft's alta, chained
        after `previous` (the issuer's last record; None for its first)."""
        fields = record["fields"]
        totals = self.totals()
        rate = exchange_rate_of(self.currency, exchange_rate)
        return verifactu_registro.alta(
            fields=fields,
            huella=record["huella"],
            invoice_id=str(self.id),
            issuer_name=issuer_name,
            customer=self.customer,
            operation=verifactu_registro.description(self.notes, self.lines),
            details=verifactu_registro.breakdown(
                totals.as_dict()["rates"],
                exchange_rate=rate,
                tax_total=Decimal(fields["CuotaTotal"]),
                gross_total=Decimal(fields["ImporteTotal"]),
            ),
            rectifies=self.rectifies,
            previous=previous,
            system=system,
        )

    def anulacion_registro(
        self,
        record: Mapping[str, Any],
        *,
        previous: Mapping[str, Any] | None,
        system: verifactu_registro.SoftwareSystem,
    ) -> dict[str, Any]:
        """The whole ``RegistroAnulacion`` (XML-ready) for `record`, chained after
        `previous`."""
        return verifactu_registro.anulacion(
            fields=record["fields"],
            huella=record["huella"],
            invoice_id=str(self.id),
            previous=previous,
            system=system,
        )

    def issue(
        self,
        *,
        number: str,
        issue_date: date,
        record: Mapping[str, Any],
        actor: str,
        simplified_limit: Decimal = DEFAULT_SIMPLIFIED_LIMIT,
        exchange_rate: Decimal | None = None,
    ) -> None:
        """Issue the draft: number, date, lines, customer, totals, the exchange rate (for
        an invoice not in EUR) and the alta record are fixed in one event. `record` must be
        the alta of exactly this invoice; an F2 may total at most `simplified_limit`."""
        totals = self.check_issuable(simplified_limit=simplified_limit)
        rate = exchange_rate_of(self.currency, exchange_rate)
        expected = {
            "NumSerieFactura": number,
            "FechaExpedicionFactura": verifactu.date_text(issue_date),
            "TipoFactura": self.invoice_type,
            "CuotaTotal": verifactu.amount_text(in_euros(totals.tax_total, rate)),
            "ImporteTotal": verifactu.amount_text(in_euros(totals.gross_total, rate)),
        }
        _check_record(record, "alta", expected)
        self._issued(
            number=number,
            issue_date=issue_date.isoformat(),
            invoice_type=self.invoice_type,
            lines=[dict(line) for line in self.lines],
            customer=dict(self.customer),
            totals=totals.as_dict(),
            record=_record_copy(record),
            actor=actor,
            exchange_rate=None if rate is None else f"{rate:f}",
        )

    @event("Issued")
    def _issued(
        self,
        *,
        number: str,
        issue_date: str,
        invoice_type: str,
        lines: list[dict[str, Any]],
        customer: dict[str, Any],
        totals: dict[str, Any],
        record: dict[str, Any],
        actor: str,
        exchange_rate: str | None = None,
    ) -> None:
        self.status_value = InvoiceStatus.ISSUED.value
        self.exchange_rate = exchange_rate
        self.number = number
        self.issue_date_text = issue_date
        self.invoice_type = invoice_type
        self.lines = lines
        self.customer = customer
        self.issued_totals = totals
        self.record = record

    def check_cancellable(self) -> None:
        """Only an issued, not yet cancelled invoice can be cancelled."""
        if self.status is InvoiceStatus.DRAFT:
            raise InvoiceNotIssuedError(f"invoice {self.id} is a draft: nothing to cancel")
        if self.status is InvoiceStatus.CANCELLED:
            raise InvoiceCancelledError(f"invoice {self.number} is already cancelled")

    def anulacion_fields(
        self, *, issuer_tax_id: str, previous_huella: str, generated_at: datetime
    ) -> dict[str, str]:
        """The VERI*FACTU anulación fields that cancel this invoice."""
        self.check_cancellable()
        number, day = self.issued_as()
        return verifactu.build_anulacion(
            issuer_tax_id=issuer_tax_id,
            number=number,
            issue_date=day,
            previous_huella=previous_huella,
            generated_at=generated_at,
        )

    def cancel(self, *, record: Mapping[str, Any], reason: str | None, actor: str) -> None:
        """Cancel the issued invoice with its anulación record (it stays, marked cancelled)."""
        self.check_cancellable()
        number, day = self.issued_as()
        why = reason.strip() if isinstance(reason, str) else ""
        if len(why) > MAX_REASON:
            raise InvalidCommandError(f"reason has at most {MAX_REASON} characters", field="reason")
        expected = {
            "NumSerieFacturaAnulada": number,
            "FechaExpedicionFacturaAnulada": verifactu.date_text(day),
        }
        _check_record(record, "anulacion", expected)
        self._cancelled(record=_record_copy(record), reason=why or None, actor=actor)

    @event("Cancelled")
    def _cancelled(self, *, record: dict[str, Any], reason: str | None, actor: str) -> None:
        self.status_value = InvoiceStatus.CANCELLED.value
        self.cancellation = record
        self.cancel_reason = reason

    # -- corrections (what rectifications by differences took back or added) ----------

    def corrected_total(self) -> Decimal:
        """The issued total (``gross_total``) plus every correction recorded against it."""
        totals = self.issued_totals or self.totals().as_dict()
        recorded = sum((Decimal(a) for a in self.corrections.values()), Decimal("0.00"))
        return Decimal(totals["gross_total"]) + recorded

    def correction_room(self) -> Decimal:
        """How much of the original's total corrections may still take back (0 when all
        of it is taken back). For a negative original (itself a credit), how much may
        still be added back towards 0."""
        totals = self.issued_totals or self.totals().as_dict()
        sign = -1 if Decimal(totals["gross_total"]) < 0 else 1
        return max(sign * self.corrected_total(), Decimal("0.00"))

    def check_correction(self, amount: Decimal) -> None:
        """Refuse a correction by differences of `amount` (its ``gross_total``) that would
        make the cumulative corrections exceed the original's total."""
        if self.number is None:
            raise InvoiceNotIssuedError(f"invoice {self.id} is a draft: nothing to correct")
        totals = self.issued_totals or {}
        original = Decimal(totals.get("gross_total", "0"))
        sign = -1 if original < 0 else 1
        if sign * (self.corrected_total() + amount) < 0:
            raise CorrectionLimitError(
                number=self.number,
                total=money(original),
                remaining=money(self.correction_room()),
                amount=money(amount),
            )

    def record_correction(
        self, *, invoice_id: UUID, number: str, amount: Decimal, actor: str
    ) -> None:
        """Record the issued rectification `number` (by differences, of `amount`) against
        this invoice, within the cap (CorrectionLimitError); once per rectification."""
        key = str(invoice_id)
        if key in self.corrections:
            raise InvalidCommandError(
                f"correction {number} is already recorded on invoice {self.number}",
                field="invoice_id",
            )
        self.check_correction(amount)
        self._correction_recorded(invoice_id=key, number=number, amount=money(amount), actor=actor)

    @event("CorrectionRecorded")
    def _correction_recorded(
        self, *, invoice_id: str, number: str, amount: str, actor: str
    ) -> None:
        self.corrections = {**self.corrections, invoice_id: amount}

    def withdraw_correction(self, *, invoice_id: UUID, actor: str) -> None:
        """Forget the correction of the rectification `invoice_id` (it was cancelled); no
        event if none is recorded."""
        key = str(invoice_id)
        if key in self.corrections:
            self._correction_withdrawn(invoice_id=key, amount=self.corrections[key], actor=actor)

    @event("CorrectionWithdrawn")
    def _correction_withdrawn(self, *, invoice_id: str, amount: str, actor: str) -> None:
        self.corrections = {k: v for k, v in self.corrections.items() if k != invoice_id}

    # -- payments (what is owed, not the fiscal content) -------------------------------

    def due_on(self) -> date | None:
        """The due date: the one set on the draft, else issue date + DEFAULT_TERM_DAYS
        (None for a draft without one)."""
        if self.due_date is not None:
            return date.fromisoformat(self.due_date)
        day = self.issue_date
        return None if day is None else day + timedelta(days=DEFAULT_TERM_DAYS)

    def total_due(self) -> Decimal:
        """The amount the customer pays: the issued ``total`` (after withholding)."""
        totals = self.issued_totals or self.totals().as_dict()
        return Decimal(totals["total"])

    def paid(self) -> Decimal:
        """The sum of the payments allocated to this invoice."""
        return sum((Decimal(a) for a in self.payments.values()), Decimal("0.00"))

    def outstanding(self) -> Decimal:
        """What is still owed (negative only for a credit note)."""
        return self.total_due() - self.paid()

    def payment_status(self, as_of: date) -> PaymentStatus | None:
        """Open, partially paid, paid, or overdue (unpaid after the due date) on `as_of`;
        None while a draft or once cancelled (nothing is owed)."""
        if self.status is not InvoiceStatus.ISSUED:
            return None
        return judge_payment(self.outstanding(), self.paid(), self.due_on(), as_of)

    def record_payment(
        self,
        *,
        payment_id: UUID,
        customer_id: UUID,
        currency: str,
        amount: Decimal,
        actor: str,
        same_customer: Collection[UUID] = (),
    ) -> None:
        """Allocate `amount` of payment `payment_id` to this invoice: only an issued, not
        cancelled invoice of the same customer and currency, never above what is owed.

        `same_customer`: other contacts that are the payment's customer too (merged into
        the same surviving contact), whose invoices it may pay."""
        if self.status is InvoiceStatus.DRAFT:
            raise InvoiceNotIssuedError(f"invoice {self.id} is a draft: nothing is owed yet")
        if self.status is InvoiceStatus.CANCELLED:
            raise InvoiceCancelledError(f"invoice {self.number} is cancelled: nothing is owed")
        if self.customer_id != customer_id and self.customer_id not in same_customer:
            raise PaymentCustomerMismatchError(
                f"invoice {self.number} is not billed to customer {customer_id}",
                field="invoice_id",
            )
        if self.currency != currency:
            raise PaymentCurrencyMismatchError(
                f"invoice {self.number} is in {self.currency}, the payment in {currency}",
                field="invoice_id",
            )
        value = payment_amount(amount)
        outstanding = self.outstanding()
        if value > outstanding:
            raise InvoiceOverpaymentError(
                number=self.number,
                outstanding=money(max(outstanding, Decimal(0))),
                amount=money(value),
            )
        key = str(payment_id)
        total = Decimal(self.payments.get(key, "0")) + value
        self._payment_recorded(
            payment_id=key, amount=money(value), allocated=money(total), actor=actor
        )

    @event("PaymentRecorded")
    def _payment_recorded(
        self, *, payment_id: str, amount: str, allocated: str, actor: str
    ) -> None:
        self.payments = {**self.payments, payment_id: allocated}

    def remove_payment(self, *, payment_id: UUID, actor: str) -> Decimal:
        """Take back everything payment `payment_id` allocated here (also once cancelled,
        so the money returns to the customer's credit); return the amount."""
        key = str(payment_id)
        if key not in self.payments:
            raise PaymentAllocationNotFoundError(payment_id=key, invoice_id=str(self.id))
        amount = self.payments[key]
        self._payment_removed(payment_id=key, amount=amount, actor=actor)
        return Decimal(amount)

    @event("PaymentRemoved")
    def _payment_removed(self, *, payment_id: str, amount: str, actor: str) -> None:
        self.payments = {k: v for k, v in self.payments.items() if k != payment_id}


def _check_record(record: Mapping[str, Any], kind: str, expected: Mapping[str, Any]) -> None:
    try:
        fields = record["fields"]
        actual_kind = verifactu.record_type(fields)
        computed = verifactu.huella(fields)
    except (KeyError, TypeError, verifactu.VerifactuError) as error:
        raise VerifactuRecordError(f"malformed record: {error}", field="record") from None
    if actual_kind != kind or record.get("record_type") != kind:
        raise VerifactuRecordError(f"expected an {kind} record", field="record")
    if record.get("huella") != computed or record.get("previous_huella") != fields["Huella"]:
        raise VerifactuRecordError("the record's huella does not match its fields", field="record")
    for name, value in expected.items():
        if fields[name] != value:
            raise VerifactuRecordError(
                f"the record says {name}={fields[name]}, the invoice {value}", field="record"
            )
    if "registro" in record:
        try:
            verifactu_registro.check(record["registro"], fields, computed)
        except verifactu.VerifactuError as error:
            raise VerifactuRecordError(str(error), field="record") from None


def _record_copy(record: Mapping[str, Any]) -> dict[str, Any]:
    copy = {
        "record_type": record["record_type"],
        "fields": dict(record["fields"]),
        "huella": record["huella"],
        "previous_huella": record["previous_huella"],
    }
    if "registro" in record:
        copy["registro"] = record["registro"]
    return copy


# -- views ------------------------------------------------------------------------------


def judge_payment(
    outstanding: Decimal | int, paid: Decimal | int, due: date | None, as_of: date
) -> PaymentStatus:
    """The payment status of an issued invoice on `as_of`: paid (nothing outstanding),
    overdue (after `due`), partially paid, or open (amounts in any one unit)."""
    if outstanding <= 0:
        return PaymentStatus.PAID
    if due is not None and as_of > due:
        return PaymentStatus.OVERDUE
    return PaymentStatus.PARTIALLY_PAID if paid > 0 else PaymentStatus.OPEN


def today() -> date:
    """Today in Spain (the default day payment status is judged on)."""
    return verifactu.spanish_time(datetime.now(UTC)).date()


def invoice_snapshot(invoice: Invoice, *, as_of: date | None = None) -> dict[str, Any]:
    """The invoice's public, JSON-ready state (money as decimal strings); the payment
    status is judged on `as_of` (default: today in Spain)."""
    totals = invoice.issued_totals or invoice.totals().as_dict()
    due = invoice.due_on()
    status = invoice.payment_status(today() if as_of is None else as_of)
    return {
        "id": str(invoice.id),
        "version": invoice.version,
        "issuer_id": str(invoice.issuer_id),
        "series": invoice.series,
        "invoice_type": invoice.invoice_type,
        "status": invoice.status_value,
        "number": invoice.number,
        "issue_date": invoice.issue_date_text,
        "customer_id": None if invoice.customer_id is None else str(invoice.customer_id),
        "customer": dict(invoice.customer),
        "lines": [
            {**line, "base": base}
            for line, base in zip(invoice.lines, totals["line_bases"], strict=True)
        ],
        "currency": invoice.currency,
        "exchange_rate": getattr(invoice, "exchange_rate", None),
        "notes": invoice.notes,
        "totals": {k: v for k, v in totals.items() if k != "line_bases"},
        "rectifies": None if invoice.rectifies is None else dict(invoice.rectifies),
        "huella": None if invoice.record is None else invoice.record["huella"],
        "cancellation": None
        if invoice.cancellation is None
        else {"reason": invoice.cancel_reason, "huella": invoice.cancellation["huella"]},
        "due_date": None if due is None else due.isoformat(),
        "paid": money(invoice.paid()),
        "outstanding": money(invoice.outstanding()),
        "payment_status": None if status is None else status.value,
        "payments": [{"payment_id": k, "amount": v} for k, v in invoice.payments.items()],
        "created_at": format_timestamp(invoice.created_on),
        "modified_at": format_timestamp(invoice.modified_on),
    }


def verifactu_view(invoice: Invoice, *, production: bool = False) -> dict[str, Any]:
    """The alta record of an issued invoice, its QR URL, and its anulación if cancelled."""
    number, day = invoice.issued_as()
    if invoice.record is None:
        raise InvoiceNotIssuedError(f"invoice {number} has no VERI*FACTU record")
    fields = invoice.record["fields"]
    return {
        **invoice.record,
        "qr_url": verifactu.qr_url(
            issuer_tax_id=fields["IDEmisorFactura"],
            number=fields["NumSerieFactura"],
            issue_date=day,
            total=Decimal(fields["ImporteTotal"]),
            production=production,
        ),
        "cancellation": None if invoice.cancellation is None else dict(invoice.cancellation),
    }
