"""Every domain error has an explicit HTTP mapping (a new error class must add one)."""

from __future__ import annotations

import importlib
import pkgutil

import crm_ledger.domain
from crm_ledger.api.problems import DOMAIN_STATUS
from crm_ledger.domain.errors import DomainError


def all_subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    for sub in cls.__subclasses__():
        found |= {sub} | all_subclasses(sub)
    return found


def test_every_domain_error_is_mapped() -> None:
    """Import every domain module, then require an entry for every DomainError subclass."""
    for module in pkgutil.iter_modules(crm_ledger.domain.__path__):
        importlib.import_module(f"crm_ledger.domain.{module.name}")
    unmapped = sorted(c.__qualname__ for c in all_subclasses(DomainError) if c not in DOMAIN_STATUS)
    assert [] == unmapped


def test_every_domain_error_has_a_code_and_title() -> None:
    """Codes are unique, stable snake_case strings; titles are human text."""
    classes = all_subclasses(DomainError) | {DomainError}
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    assert all(code.replace("_", "").isalpha() and code.islower() for code in codes)
    assert all(c.title for c in classes)
