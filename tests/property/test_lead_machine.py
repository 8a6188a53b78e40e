"""A Hypothesis state machine for Lead: a small model predicts every command's outcome.

The model knows nothing of the domain code: from the status table below and the input
it predicts either the exact exception class (and then that nothing changed) or the new
state and version. Deleting any guard in ``domain/lead.py`` makes a prediction fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.lead import Lead
from crm_ledger.domain.sales_errors import LeadConvertedError, LeadStatusError

ACTOR = "user:machine"
AT = "2026-01-01T00:00:00.000000Z"

# The whole transition table, written independently of the implementation:
# command -> the statuses it is allowed from, and the status it leads to.
ALLOWED_FROM = {
    "mark_contacted": ({"new"}, "contacted"),
    "qualify": ({"new", "contacted"}, "qualified"),
    "disqualify": ({"new", "contacted", "qualified"}, "disqualified"),
    "reopen": ({"disqualified"}, "new"),
    "convert": ({"new", "contacted", "qualified"}, "converted"),
}

reasons = st.sampled_from(["", "   ", "no budget", " spam "])
scores = st.one_of(
    st.integers(min_value=-3, max_value=103), st.sampled_from([True, 50.0, "50", None])
)
names = st.sampled_from(["Ana", " Ana ", "Bea", "", "  "])
owners = st.sampled_from([None, "", "luis", " luis ", "marta"])


class LeadMachine(RuleBasedStateMachine):
    """One lead driven by random commands."""

    def __init__(self) -> None:
        super().__init__()
        self.lead = Lead.register(name="Ana", score=10, actor=ACTOR)
        self.events: list[Any] = list(self.lead.collect_events())
        self.model: dict[str, Any] = {
            "version": 1,
            "status": "new",
            "reason": None,
            "score": 10,
            "name": "Ana",
            "owner": None,
            "contact_id": None,
        }

    # -- the comparison -----------------------------------------------------------------

    def observed(self) -> dict[str, Any]:
        lead = self.lead
        conversion = lead.conversion
        return {
            "version": lead.version,
            "status": lead.status_value,
            "reason": lead.disqualified_reason,
            "score": lead.score,
            "name": lead.name,
            "owner": lead.owner,
            "contact_id": None if conversion is None else conversion["contact_id"],
        }

    def outcome(
        self, command: Callable[[], object], error: type[Exception] | None, **changes: Any
    ) -> None:
        """Run `command`: it raises exactly `error` (nothing changes), or the model moves
        to `changes` with one more version (no changes given: no event, same version)."""
        if error is not None:
            with pytest.raises(error) as info:
                command()
            assert error is type(info.value)
        else:
            command()
            if changes:
                self.model = {**self.model, **changes, "version": self.model["version"] + 1}
        new_events = self.lead.collect_events()
        assert all(e.actor == ACTOR for e in new_events)
        self.events.extend(new_events)
        assert self.model == self.observed()

    def transition(self, name: str, command: Callable[[], object], **extra: Any) -> None:
        """Predict a status command from the table alone."""
        allowed, target = ALLOWED_FROM[name]
        if self.model["status"] == "converted":
            self.outcome(command, LeadConvertedError)
        elif self.model["status"] not in allowed:
            self.outcome(command, LeadStatusError)
        else:
            self.outcome(command, None, status=target, **extra)

    @property
    def frozen(self) -> bool:
        return self.model["status"] == "converted"

    # -- rules --------------------------------------------------------------------------

    @rule()
    def mark_contacted(self) -> None:
        self.transition("mark_contacted", lambda: self.lead.mark_contacted(at=AT, actor=ACTOR))

    @rule()
    def qualify(self) -> None:
        self.transition("qualify", lambda: self.lead.qualify(at=AT, actor=ACTOR))

    @rule(reason=reasons)
    def disqualify(self, reason: str) -> None:
        command = lambda: self.lead.disqualify(reason=reason, at=AT, actor=ACTOR)  # noqa: E731
        allowed, _ = ALLOWED_FROM["disqualify"]
        if not self.frozen and self.model["status"] in allowed and not reason.strip():
            self.outcome(command, InvalidCommandError)
        else:
            self.transition("disqualify", command, reason=reason.strip())

    @rule()
    def reopen(self) -> None:
        self.transition("reopen", lambda: self.lead.reopen(actor=ACTOR), reason=None)

    @rule()
    def convert(self) -> None:
        contact_id = uuid4()
        command = lambda: self.lead.record_conversion(  # noqa: E731
            contact_id=contact_id, organisation_id=None, deal_id=None, at=AT, actor=ACTOR
        )
        self.transition("convert", command, contact_id=contact_id)

    @rule(score=scores)
    def set_score(self, score: object) -> None:
        command = lambda: self.lead.set_score(score, actor=ACTOR)  # noqa: E731
        valid = type(score) is int and 0 <= score <= 100
        if self.frozen:
            self.outcome(command, LeadConvertedError)
        elif not valid:
            self.outcome(command, InvalidCommandError)
        elif score == self.model["score"]:
            self.outcome(command, None)
        else:
            self.outcome(command, None, score=score)

    @rule(name=names, owner=owners)
    def update(self, name: str, owner: str | None) -> None:
        command = lambda: self.lead.update(actor=ACTOR, name=name, owner=owner)  # noqa: E731
        new_owner = (owner or "").strip() or None
        if self.frozen:
            self.outcome(command, LeadConvertedError)
        elif not name.strip():
            self.outcome(command, InvalidCommandError)
        else:
            changes = {}
            if name.strip() != self.model["name"]:
                changes["name"] = name.strip()
            if new_owner != self.model["owner"]:
                changes["owner"] = new_owner
            self.outcome(command, None, **changes)

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def replay_gives_the_same_lead(self) -> None:
        """Every recorded event replayed from scratch rebuilds the same lead."""
        rebuilt = None
        for e in self.events:
            rebuilt = e.mutate(rebuilt)
        assert isinstance(rebuilt, Lead)
        assert self.lead.__dict__ == rebuilt.__dict__

    @invariant()
    def conversion_is_recorded_exactly_when_converted(self) -> None:
        contact_id = self.lead.conversion and self.lead.conversion["contact_id"]
        assert (self.lead.status_value == "converted") == isinstance(contact_id, UUID)


LeadMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLeadMachine = LeadMachine.TestCase
