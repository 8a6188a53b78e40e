"""Redo a multi-aggregate step when a concurrent writer moved one of its aggregates.

A step that loads several aggregates, changes them and stores them in ONE ``crm.store``
call fails with VersionConflictError when any of them was stored meanwhile by another
request. When the caller's If-Match only names the first aggregate, the others moving is
not the caller's mistake: the step is rebuilt from fresh state and stored again, after a
short random backoff, a bounded number of times.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

from eventsourcing.domain import Aggregate

from crm_ledger.application import CrmApplication, Written
from crm_ledger.domain.errors import VersionConflictError

ATTEMPTS = 10
BACKOFF_SECONDS = 0.005


def store_retrying(
    crm: CrmApplication,
    build: Callable[[], Sequence[Aggregate]],
    *,
    actor: str,
    exhausted: str | Exception,
    attempts: int = ATTEMPTS,
) -> Written:
    """Store what `build` returns (the first aggregate is the command's result), calling
    `build` again from fresh state when the store meets a concurrent change; raise
    `exhausted` after `attempts` conflicts (a text: a VersionConflictError saying it).
    Errors raised by `build` itself (a failed guard, a version check against the
    caller's If-Match) are not retried."""
    for attempt in range(attempts):
        aggregates = build()
        try:
            return Written(aggregates[0], crm.store(*aggregates, actor=actor))
        except VersionConflictError:
            time.sleep(random.uniform(0, BACKOFF_SECONDS * (attempt + 1)))
    if isinstance(exhausted, str):
        raise VersionConflictError(expected=None, actual=None, detail=exhausted)
    raise exhausted
