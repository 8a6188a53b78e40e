"""Recording that a list of contacts left the system (``GET /contacts:export``).

The download is recorded before it is sent: a `ContactsExport` event with the list's
filters, how many contacts it held, the log position the list reflected and the actor,
so no list of people leaves unrecorded (see `crm_ledger.domain.data_export`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_ledger.application import CrmApplication, Written
from crm_ledger.domain.data_export import ContactsExport


def record_export(
    crm: CrmApplication, filters: Mapping[str, Any], count: int, log_position: int, *, actor: str
) -> Written:
    """Store the record of one export of `count` contacts."""
    export = ContactsExport(
        filters=dict(filters), count=count, log_position=log_position, actor=actor
    )
    return Written(export, crm.store(export, actor=actor))
