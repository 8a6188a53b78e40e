"""The ConsentCatalogue aggregate: purposes, wording versions, and what a statement
records of the version it names."""

from __future__ import annotations

import hashlib
from uuid import uuid4

import pytest

from crm_ledger.domain.consent import ContactConsents
from crm_ledger.domain.consent_purpose import ConsentCatalogue, PurposeDefinedError
from crm_ledger.domain.errors import InvalidCommandError, NotFoundError

ACTOR = "user:ana"


def test_wordings_are_numbered_per_purpose_and_never_changed() -> None:
    catalogue = ConsentCatalogue.start(actor=ACTOR)
    catalogue.define(
        purpose="newsletter", title=" News ", description=None, wording="A", actor=ACTOR
    )
    catalogue.define(purpose="sms", title="SMS", description="internal", wording="B", actor=ACTOR)
    assert catalogue.publish(purpose="newsletter", wording="A2", actor=ACTOR) == 2
    first = catalogue.wording("newsletter", 1)
    assert (first["text"], first["sha256"]) == ("A", hashlib.sha256(b"A").hexdigest())
    assert catalogue.purpose("newsletter")["title"] == "News"
    assert [w["version"] for w in catalogue.purpose("sms")["wordings"]] == [1]
    with pytest.raises(PurposeDefinedError):
        catalogue.define(purpose="sms", title="x", description=None, wording="C", actor=ACTOR)
    with pytest.raises(InvalidCommandError):  # the current text again
        catalogue.publish(purpose="newsletter", wording="A2", actor=ACTOR)
    missing = (
        lambda: catalogue.wording("newsletter", 3),
        lambda: catalogue.wording("newsletter", 0),
        lambda: catalogue.publish(purpose="email", wording="x", actor=ACTOR),
    )
    for command in missing:
        with pytest.raises(NotFoundError):
            command()
    with pytest.raises(InvalidCommandError):
        catalogue.define(purpose="Bad", title="x", description=None, wording="x", actor=ACTOR)
    assert catalogue.wording("newsletter", 1) == first  # still as published


def test_a_statement_records_the_version_and_digest_it_names() -> None:
    catalogue = ConsentCatalogue.start(actor=ACTOR)
    catalogue.define(purpose="newsletter", title="News", description=None, wording="A", actor=ACTOR)
    consents = ContactConsents.open(contact_id=uuid4(), actor=ACTOR)
    shown = catalogue.wording("newsletter", 1)
    consents.state(purpose="newsletter", granted=True, source="web", wording=None, at=None,
                   actor=ACTOR, published=shown)  # fmt: skip
    (statement,) = consents.statements
    assert (statement["wording_version"], statement["wording_sha256"]) == (1, shown["sha256"])
    with pytest.raises(InvalidCommandError):  # a wording of its own as well
        consents.state(purpose="newsletter", granted=True, source="web", wording="A", at=None,
                       actor=ACTOR, published=shown)  # fmt: skip
