"""Alarm use cases: raise one beside the write that found the problem, and list them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from crm_ledger.application import CrmApplication
from crm_ledger.domain.alarm import Alarm, AlarmKind
from crm_ledger.domain.issuer import Issuer

RAISED_TOPIC = f"{Alarm.__module__}:{Alarm.__qualname__}.Raised"


def chain_head_alarm(issuer: Issuer, *, actor: str, during: str) -> Alarm | None:
    """An alarm if `issuer`'s VERI*FACTU head does not match its own last record (the
    write goes on from the stored head; store the alarm with it), else None."""
    broken = issuer.head_break()
    if broken is None:
        return None
    return Alarm.raise_alarm(
        kind=AlarmKind.VERIFACTU_CHAIN_HEAD,
        detail=(
            f"issuer {issuer.id}: the VERI*FACTU chain head does not match record "
            f"{broken['record_index']} ({broken['reason']}); {during} continued from the "
            "stored head. Run `crm-ledger verify` and report the incident."
        ),
        context={"issuer_id": str(issuer.id), "during": during, **broken},
        actor=actor,
    )


def list_alarms(
    crm: CrmApplication, *, after: int = 0, limit: int = 100
) -> tuple[list[Alarm], int | None]:
    """Alarms in the order raised, after log position `after`; and the cursor of the
    next page (None on the last)."""
    batch = crm.recorder.select_notifications(
        after, limit + 1, topics=[RAISED_TOPIC], inclusive_of_start=False
    )
    page = batch[:limit]
    alarms = [crm.load(Alarm, UUID(str(n.originator_id)), "alarm") for n in page]
    following = page[-1].id if len(batch) > limit else None
    return alarms, following


def get_alarm(crm: CrmApplication, alarm_id: UUID) -> Any:
    """Return the alarm or raise NotFoundError."""
    return crm.load(Alarm, alarm_id, "alarm")
