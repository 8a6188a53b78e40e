"""`duplicate_pairs` (the duplicates report, one pass over a list) finds exactly the
pairs that `reasons_between` (the per-contact check) finds comparing every two contacts,
with the same reasons; a value shared by more than MAX_GROUP contacts pairs none."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_ledger.projections import contact_duplicates
from crm_ledger.projections.contact_duplicates import duplicate_pairs, reasons_between

# few values, spelled several ways, so that shared forms (and near misses) are common
NAMES = st.sampled_from(["Ana Ruiz", "ana  RUIZ", "Ana Ruíz", "Bea", "Cai Ltd", ""])
EMAILS = st.lists(st.sampled_from(["a@x.com", "A@X.com", "b@y.org", "ab@x.com"]), max_size=2)
PHONES = st.lists(st.sampled_from(["+34 600 111 222", "34600111222", "12345", "600111"]),
                  max_size=2)  # fmt: skip
TAX_IDS = st.sampled_from([None, "B-123", "b123", "X9"])
CONTACT = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["person", "organisation"]),
        "name": NAMES,
        "emails": EMAILS,
        "phones": PHONES,
        "tax_id": TAX_IDS,
    }
)


def brute_force(contacts: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    found = []
    for a, b in combinations(sorted(contacts, key=lambda c: c["id"]), 2):
        reasons = reasons_between(a, b)
        if reasons:
            found.append((a["id"], b["id"], reasons))
    found.sort(key=lambda p: (-len(p[2]), p[0], p[1]))
    return found


@given(st.lists(CONTACT, max_size=10), st.randoms(use_true_random=False))
def test_one_pass_finds_what_comparing_every_two_finds(
    drawn: list[dict[str, Any]], random: Any
) -> None:
    contacts = [{**c, "id": f"{n:032x}"} for n, c in enumerate(drawn)]
    listed = random.sample(contacts, len(contacts))  # a list comes in any order (by name)
    pairs, too_common = duplicate_pairs(listed)
    assert pairs == brute_force(contacts)
    assert too_common == {"email": 0, "phone": 0, "tax_id": 0, "name": 0}


def test_a_value_too_common_pairs_nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contact_duplicates, "MAX_GROUP", 2)
    switchboard = {"kind": "organisation", "emails": [], "phones": ["+34 900 000 000"]}
    three = [{**switchboard, "id": str(n), "name": f"Firm {n}", "tax_id": None} for n in "123"]
    three[2]["tax_id"] = three[1]["tax_id"] = "B1"
    pairs, too_common = duplicate_pairs(three)
    assert pairs == [("2", "3", ["tax_id"])]  # not by the phone all three share
    assert too_common == {"email": 0, "phone": 1, "tax_id": 0, "name": 0}
