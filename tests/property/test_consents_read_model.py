"""The consents read model agrees with the consents themselves, and with its rebuild.

Hypothesis draws histories of contacts, consent statements (times drawn from a few
values, so statements tie on ``at``, and later ones may be backdated) and merges (chains
of them too), with the read model catching up at random points. Then, for each purpose,
the contacts that ``GET /contacts?consent=`` would list (active and merged lists) must
be exactly those whose person's consent the use case `consent_view` shows as given (the
model: it reads the aggregates, not the read model), and a rebuild from position 0 must
give the same tables. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crm_ledger.application import CrmApplication
from crm_ledger.consents import consent_view, record_consent
from crm_ledger.contact_family import survivor
from crm_ledger.domain.errors import DomainError
from crm_ledger.projections.contact_search import ContactFilter, list_contacts
from tests.property.projection_helpers import (
    application,
    catch_up,
    positions,
    rebuild,
    table_contents,
)

ACTOR = "user:prop"
NAMES = ("contacts", "consents")
PURPOSES = ("email", "sms")
TIMES = (None, "2026-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00")
Command = tuple[Any, ...]

pick = st.integers(min_value=0, max_value=5)
commands: st.SearchStrategy[Command] = st.one_of(
    st.tuples(st.just("register")),
    st.tuples(
        st.just("state"), pick, st.sampled_from(PURPOSES), st.booleans(), st.sampled_from(TIMES)
    ),
    st.tuples(st.just("merge"), pick, pick),
    st.tuples(st.just("sync"), st.integers(min_value=1, max_value=5)),
)


class History:
    def __init__(self, crm: CrmApplication) -> None:
        self.crm = crm
        self.contacts: list[uuid.UUID] = []

    def run(self, command: Command) -> None:
        with suppress(DomainError):  # refused: nothing recorded
            getattr(self, f"do_{command[0]}")(*command[1:])

    def _contact(self, index: int) -> uuid.UUID | None:
        return self.contacts[index % len(self.contacts)] if self.contacts else None

    def do_register(self) -> None:
        written = self.crm.register_contact(actor=ACTOR, kind="person", name="Ana")
        self.contacts.append(written.aggregate.id)

    def do_state(self, index: int, purpose: str, granted: bool, at: str | None) -> None:
        if (contact := self._contact(index)) is not None:
            record_consent(
                self.crm,
                contact,
                purpose=purpose,
                granted=granted,
                source="form",
                actor=ACTOR,
                at=None if at is None else datetime.fromisoformat(at),
            )

    def do_merge(self, first: int, second: int) -> None:
        kept, gone = self._contact(first), self._contact(second)
        if kept is None or gone is None:
            return
        keeper, duplicate = self.crm.get_contact(kept), self.crm.get_contact(gone)
        keeper.merge(duplicate, actor=ACTOR)  # refused for itself, merged or archived ones
        self.crm.store(keeper, duplicate, actor=ACTOR)

    def do_sync(self, batch_size: int) -> None:
        catch_up(self.crm, NAMES, batch_size)


def listed(crm: CrmApplication, purpose: str, *, merged: bool) -> set[str]:
    with crm.db.transaction(write=False) as tx:
        items, more = list_contacts(
            tx, ContactFilter(merged=merged, consents=(purpose,)), limit=200
        )
    assert more is None
    return {item["id"] for item in items}


def expected(crm: CrmApplication, contacts: list[uuid.UUID], purpose: str) -> dict[bool, set[str]]:
    """From the aggregates: the contacts (by merged or not) whose person consents."""
    found: dict[bool, set[str]] = {False: set(), True: set()}
    for contact in contacts:
        person = survivor(crm, contact)
        state = consent_view(crm, person).purposes.get(purpose)
        if state is not None and state["granted"]:
            found[person != contact].add(str(contact))
    return found


MERGED_WITH_TIES: list[Command] = [
    ("register",),
    ("register",),
    ("register",),
    ("register",),
    ("state", 1, "email", True, TIMES[1]),
    ("state", 0, "email", False, TIMES[1]),  # same `at`, recorded later: it decides
    ("sync", 2),
    ("merge", 0, 1),  # 0 keeps its own, later, withdrawal
    ("state", 3, "email", True, TIMES[0]),
    ("state", 3, "email", False, TIMES[1]),  # backdated: evidence only
    ("state", 2, "sms", True, TIMES[2]),
    ("merge", 2, 0),  # a chain: 1 into 0 into 2; 2 takes 0's email withdrawal
    ("state", 1, "sms", False, None),  # for a merged contact: recorded on its survivor
    ("register",),
    ("state", 4, "sms", True, TIMES[1]),
    ("merge", 3, 4),  # 3 had no sms statement: it takes 4's consent
    ("state", 2, "email", True, None),  # 1 and 0 (merged into 2) are listed with it
]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=st.lists(commands, min_size=1, max_size=30),
    final_batch=st.integers(min_value=1, max_value=20),
    rebuild_batch=st.integers(min_value=1, max_value=10),
)
@example(history=MERGED_WITH_TIES, final_batch=1, rebuild_batch=1)
def test_the_read_model_lists_exactly_whom_the_consents_show(
    new_database: Callable[[], str],
    tmp_path: Path,
    history: list[Command],
    final_batch: int,
    rebuild_batch: int,
) -> None:
    with application(new_database(), tmp_path) as crm:
        runner = History(crm)
        for command in history:
            runner.run(command)
        catch_up(crm, NAMES, final_batch)
        for purpose in PURPOSES:
            want = expected(crm, runner.contacts, purpose)
            assert listed(crm, purpose, merged=False) == want[False]
            assert listed(crm, purpose, merged=True) == want[True]

        incremental = table_contents(crm, ("consents",))
        rebuild(crm, ("consents",), bulk=False, batch_size=rebuild_batch)
        assert table_contents(crm, ("consents",)) == incremental
        assert positions(crm)["consents"] == crm.head_position()


def test_the_order_of_statements_decides_not_the_order_of_recording(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A backdated statement recorded last does not decide; of equal times, the one
    recorded last does (the known answers behind the property above)."""
    with application(sqlite_url, tmp_path) as crm:
        runner = History(crm)
        runner.run(("register",))
        runner.run(("state", 0, "email", False, TIMES[2]))
        runner.run(("state", 0, "email", True, TIMES[1]))  # backdated: evidence only
        runner.run(("state", 0, "sms", True, TIMES[1]))
        runner.run(("state", 0, "sms", False, TIMES[1]))  # tie on `at`: recorded later
        catch_up(crm, NAMES, 3)
        assert listed(crm, "email", merged=False) == set()
        assert listed(crm, "sms", merged=False) == set()
        runner.run(("state", 0, "sms", True, TIMES[0]))  # now: the latest
        runner.run(("state", 0, "sms", False, TIMES[1]))  # backdated again
        catch_up(crm, NAMES, 3)
        assert listed(crm, "sms", merged=False) == {str(runner.contacts[0])}
