"""Every guard of the Supplier aggregate and the IBAN check (no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.purchasing_errors import (
    InvalidIbanError,
    SupplierError,
    SupplierInactiveError,
)
from crm_ledger.domain.supplier import Supplier, iban_of, supplier_snapshot

ACTOR = "user:test"
# Published examples (ECBS / national banks' IBAN registry examples).
VALID_IBANS = [
    ("GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432"),
    ("ES91 2100 0418 4502 0005 1332", "ES9121000418450200051332"),
    ("de89370400440532013000", "DE89370400440532013000"),
    ("FR14 2004 1010 0505 0001 3M02 606", "FR1420041010050500013M02606"),
    ("NL91ABNA0417164300", "NL91ABNA0417164300"),
]


def supplier(**fields: Any) -> Supplier:
    values: dict[str, Any] = {
        "contact_id": uuid4(),
        "legal_name": "Papelera Norte SL",
        "tax_id": "B76543210",
        **fields,
    }
    return Supplier.register(actor=ACTOR, **values)


def unchanged(s: Supplier, command: Callable[[], object], error: type) -> Any:
    """`command` raises exactly `error` and records nothing."""
    before = s.version
    with pytest.raises(error) as info:
        command()
    assert error is type(info.value)
    assert before == s.version
    return info.value


def replayed(aggregate: Any) -> Any:
    """The aggregate rebuilt from its own pending events (event bodies only assign)."""
    rebuilt = None
    for e in aggregate.collect_events():
        rebuilt = e.mutate(rebuilt)
    return rebuilt


def reference_check_digits(country: str, bban: str) -> str:
    """ISO 13616 check digits computed the textbook way: 98 - (BBAN + country + "00")
    mod 97, with letters as 10..35 (a naive reference, independent of the code)."""
    text = bban + country + "00"
    number = int("".join(str(int(c, 36)) for c in text))
    return f"{98 - number % 97:02d}"


# -- IBAN --------------------------------------------------------------------------------


@pytest.mark.parametrize(("given_text", "stored"), VALID_IBANS)
def test_valid_ibans_are_stored_in_electronic_form(given_text: str, stored: str) -> None:
    """Spaces dropped, upper case; published examples pass the mod-97 check."""
    assert stored == iban_of(given_text)


def test_reference_agrees_with_published_examples() -> None:
    """The naive reference recomputes the check digits of every published example."""
    for _, iban in VALID_IBANS:
        assert iban[2:4] == reference_check_digits(iban[:2], iban[4:])


@pytest.mark.parametrize(
    "bad",
    [
        "GB82WEST12345698765433",  # last digit changed
        "GB28WEST12345698765432",  # check digits swapped
        "ES9121000418450200051323",  # two digits transposed
        "ES91 2100 0418",  # too short
        "9121000418450200051332ES",  # no country code first
        "ES91-2100-0418-4502-0005-1332",  # punctuation
        "ES9121000418450200051332000000000000",  # too long
    ],
)
def test_invalid_ibans_are_refused(bad: str) -> None:
    """Wrong check digits, shape or length: InvalidIbanError naming iban."""
    with pytest.raises(InvalidIbanError) as info:
        iban_of(bad)
    assert "iban" == info.value.field


def test_no_iban() -> None:
    """None and blank text mean no IBAN."""
    assert (None, None) == (iban_of(None), iban_of("   "))


@given(
    country=st.sampled_from(["ES", "DE", "FR", "GB", "IT", "NL", "PT"]),
    bban=st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=11, max_size=30),
    position=st.integers(min_value=0),
    digit=st.integers(min_value=1, max_value=9),
)
def test_mod97_accepts_reference_ibans_and_catches_single_digit_changes(
    country: str, bban: str, position: int, digit: int
) -> None:
    """An IBAN built with the reference check digits is accepted; changing any one digit
    of it (by 1..9, mod 10) is refused (mod 97 detects every single substitution)."""
    iban = country + reference_check_digits(country, bban) + bban
    assert iban == iban_of(iban)
    digits = [i for i, c in enumerate(iban) if c.isdigit()]
    where = digits[position % len(digits)]
    changed = iban[:where] + str((int(iban[where]) + digit) % 10) + iban[where + 1 :]
    with pytest.raises(InvalidIbanError):
        iban_of(changed)


# -- register ----------------------------------------------------------------------------


def test_register_defaults_and_normalises() -> None:
    """Trimmed name, tax id without separators in upper case, 30 days, active, no IBAN;
    the event carries the actor."""
    s = supplier(legal_name="  Papelera Norte SL ", tax_id="b-7654.3210")
    assert ("Papelera Norte SL", "B76543210", 30, None, None, True) == (
        s.legal_name,
        s.tax_id,
        s.payment_terms_days,
        s.default_expense_category,
        s.iban,
        s.active,
    )
    (registered,) = s.collect_events()
    assert ACTOR == registered.actor  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"legal_name": " "}, "legal_name"),
        ({"legal_name": "x" * 121}, "legal_name"),
        ({"tax_id": ""}, "tax_id"),
        ({"tax_id": "B7654321*"}, "tax_id"),
        ({"tax_id": "X" * 21}, "tax_id"),
        ({"payment_terms_days": -1}, "payment_terms_days"),
        ({"payment_terms_days": 366}, "payment_terms_days"),
        ({"payment_terms_days": True}, "payment_terms_days"),
        ({"payment_terms_days": "30"}, "payment_terms_days"),
        ({"default_expense_category": "x" * 101}, "default_expense_category"),
        ({"iban": "ES0021000418450200051332"}, "iban"),
    ],
)
def test_register_refuses_bad_values(fields: dict[str, Any], field: str) -> None:
    """Each bad value is refused with the field it concerns."""
    with pytest.raises(InvalidCommandError) as info:
        supplier(**fields)
    assert field == info.value.field


def test_register_with_everything() -> None:
    """Terms 0 and 365 are the limits; the category is trimmed; the IBAN stored compact."""
    s = supplier(payment_terms_days=365, default_expense_category=" 629 ", iban=VALID_IBANS[1][0])
    assert (365, "629", VALID_IBANS[1][1]) == (
        s.payment_terms_days,
        s.default_expense_category,
        s.iban,
    )
    assert 0 == supplier(payment_terms_days=0).payment_terms_days


# -- update and deactivate -------------------------------------------------------------------


def test_update_changes_only_differing_fields() -> None:
    """One Updated event with just the changed, normalised fields; none when equal."""
    s = supplier(iban=VALID_IBANS[0][1])
    s.collect_events()
    s.update(actor=ACTOR, legal_name="Papelera Norte SL", tax_id="b76543210")
    assert [] == s.collect_events()
    s.update(actor=ACTOR, payment_terms_days=60, iban=None, default_expense_category="628")
    (updated,) = s.collect_events()
    assert {"payment_terms_days": 60, "iban": None, "default_expense_category": "628"} == (
        updated.changes  # type: ignore[attr-defined]
    )
    assert (60, None, "628") == (s.payment_terms_days, s.iban, s.default_expense_category)


def test_update_refuses_unknown_fields_and_bad_values() -> None:
    """Unknown field, bad IBAN, bad terms: refused, nothing recorded."""
    s = supplier()
    assert "contact_id" == unchanged(s, lambda: s.update(actor=ACTOR, contact_id=uuid4()),
                                     InvalidCommandError).field  # fmt: skip
    unchanged(s, lambda: s.update(actor=ACTOR, iban="GB82WEST12345698765433"), InvalidIbanError)
    unchanged(s, lambda: s.update(actor=ACTOR, payment_terms_days=400), InvalidCommandError)


def test_deactivate_then_everything_is_refused() -> None:
    """A deactivated supplier refuses updates and a second deactivation."""
    s = supplier()
    s.deactivate(actor=ACTOR)
    assert s.active is False
    unchanged(s, lambda: s.update(actor=ACTOR, legal_name="Other SL"), SupplierInactiveError)
    unchanged(s, lambda: s.deactivate(actor=ACTOR), SupplierInactiveError)
    with pytest.raises(SupplierInactiveError):
        s.check_active()
    assert issubclass(SupplierInactiveError, SupplierError)


def test_replays_to_the_same_state() -> None:
    """Rebuilt from its events, the supplier has the same public state."""
    s = supplier(iban=VALID_IBANS[0][0])
    s.update(actor=ACTOR, payment_terms_days=45)
    s.deactivate(actor=ACTOR)
    expected = supplier_snapshot(s)
    assert expected == supplier_snapshot(replayed(s))
