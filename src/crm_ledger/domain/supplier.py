"""The Supplier aggregate: a contact the company buys from, with its payment details.

A supplier links to a contact (an organisation or a person; whether it exists is checked
by the service) and keeps what purchasing needs: the legal name and tax id its invoices
carry, the payment terms in days (the default due date of its invoices is the issue date
plus these days), a default expense category for its invoice lines, and an optional IBAN
to pay it, validated with the ISO 13616 mod-97 check. A deactivated supplier refuses
every change and every new invoice; its invoices already registered can still be paid.
"""

from __future__ import annotations

import re
import string
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.changes import changed_fields, check_known
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.issuer import legal_name_of
from crm_ledger.domain.purchasing_errors import InvalidIbanError, SupplierInactiveError
from crm_ledger.ledger.envelope import format_timestamp

TAX_ID = re.compile(r"^[0-9A-Z]{1,20}$")
IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
MAX_TERMS_DAYS = 365
MAX_CATEGORY = 100
UPDATABLE = frozenset(
    {"legal_name", "tax_id", "payment_terms_days", "default_expense_category", "iban"}
)


def tax_id_of(value: object) -> str:
    """A tax id as 1 to 20 upper-case letters or digits (spaces, dots and dashes dropped)."""
    text = re.sub(r"[\s.-]", "", value).upper() if isinstance(value, str) else ""
    if not TAX_ID.fullmatch(text):
        raise InvalidCommandError("tax_id must be 1 to 20 letters or digits", field="tax_id")
    return text


def iban_checksum_ok(iban: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to numbers
    (A=10 .. Z=35); the number modulo 97 is 1 for a valid IBAN."""
    moved = iban[4:] + iban[:4]
    digits = "".join(str(string.ascii_uppercase.index(c) + 10) if c.isalpha() else c for c in moved)
    return int(digits) % 97 == 1


def iban_of(value: object) -> str | None:
    """An IBAN in its electronic form (upper case, no spaces), None for none; the shape
    and the mod-97 check digits are verified (InvalidIbanError)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidIbanError("iban must be text", field="iban")
    text = re.sub(r"\s", "", value).upper()
    if not text:
        return None
    if not IBAN.fullmatch(text):
        raise InvalidIbanError(
            "iban must be a country code, 2 check digits and 11 to 30 letters or digits",
            field="iban",
        )
    if not iban_checksum_ok(text):
        raise InvalidIbanError("iban check digits do not match (ISO 13616 mod 97)", field="iban")
    return text


def terms_of(value: object) -> int:
    """Payment terms: whole days from 0 to 365."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidCommandError(
            "payment_terms_days must be a whole number of days", field="payment_terms_days"
        )
    if not 0 <= value <= MAX_TERMS_DAYS:
        raise InvalidCommandError(
            f"payment_terms_days must be from 0 to {MAX_TERMS_DAYS}", field="payment_terms_days"
        )
    return value


def category_of(value: object, field: str = "default_expense_category") -> str | None:
    """An expense category (e.g. an account code such as ``"629"``) or None."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value.strip()) > MAX_CATEGORY:
        raise InvalidCommandError(
            f"{field} must be text of at most {MAX_CATEGORY} characters", field=field
        )
    return value.strip() or None


def normalise(field: str, value: Any) -> Any:
    """The stored form of `value` for the updatable `field` (InvalidCommandError if invalid)."""
    if field == "legal_name":
        return legal_name_of(value)
    if field == "tax_id":
        return tax_id_of(value)
    if field == "payment_terms_days":
        return terms_of(value)
    if field == "default_expense_category":
        return category_of(value)
    if field == "iban":
        return iban_of(value)
    raise InvalidCommandError(f"unknown field {field!r}", field=field)


class Supplier(Aggregate):
    """Someone the company buys from: fiscal identity, payment terms and bank account."""

    @event("Registered")
    def __init__(
        self,
        *,
        contact_id: UUID,
        legal_name: str,
        tax_id: str,
        payment_terms_days: int,
        default_expense_category: str | None,
        iban: str | None,
        actor: str,
    ) -> None:
        self.contact_id = contact_id
        self.legal_name = legal_name
        self.tax_id = tax_id
        self.payment_terms_days = payment_terms_days
        self.default_expense_category = default_expense_category
        self.iban = iban
        self.active = True
        self.created_by = actor

    @classmethod
    def register(
        cls,
        *,
        contact_id: UUID,
        legal_name: str,
        tax_id: str,
        actor: str,
        payment_terms_days: int = 30,
        default_expense_category: str | None = None,
        iban: str | None = None,
    ) -> Supplier:
        """A new, active supplier (every value normalised and checked first)."""
        return cls(
            contact_id=contact_id,
            legal_name=legal_name_of(legal_name),
            tax_id=tax_id_of(tax_id),
            payment_terms_days=terms_of(payment_terms_days),
            default_expense_category=category_of(default_expense_category),
            iban=iban_of(iban),
            actor=actor,
        )

    def check_active(self) -> None:
        """Raise SupplierInactiveError unless the supplier is active."""
        if not self.active:
            raise SupplierInactiveError(f"supplier {self.legal_name} is inactive")

    def update(self, *, actor: str, **changes: Any) -> None:
        """Change some of legal_name, tax_id, payment_terms_days, default_expense_category,
        iban (no event when nothing differs). An inactive supplier is not changed."""
        check_known(changes, UPDATABLE)
        self.check_active()
        differing = changed_fields(changes, normalise, lambda f: getattr(self, f))
        if differing:
            self._updated(changes=differing, actor=actor)

    @event("Updated")
    def _updated(self, *, changes: dict[str, Any], actor: str) -> None:
        for field, value in changes.items():
            setattr(self, field, value)

    def deactivate(self, *, actor: str) -> None:
        """Stop buying from the supplier (it stays, with its invoices and history)."""
        self.check_active()
        self._deactivated(actor=actor)

    @event("Deactivated")
    def _deactivated(self, *, actor: str) -> None:
        self.active = False


def supplier_snapshot(supplier: Supplier) -> dict[str, Any]:
    """The supplier's public, JSON-ready state."""
    return {
        "id": str(supplier.id),
        "version": supplier.version,
        "contact_id": str(supplier.contact_id),
        "legal_name": supplier.legal_name,
        "tax_id": supplier.tax_id,
        "payment_terms_days": supplier.payment_terms_days,
        "default_expense_category": supplier.default_expense_category,
        "iban": supplier.iban,
        "active": supplier.active,
        "created_at": format_timestamp(supplier.created_on),
        "modified_at": format_timestamp(supplier.modified_on),
    }
