"""Contact registrations stored in bulk, without building aggregates.

A bulk import only needs the ``Contact.Registered`` events; ``Contact.register`` plus
``Application.save`` (aggregate, event dataclass, mutate, ``collect_events``' protocol
checks, the JSON transcoder's callbacks) cost ~10x more than the event itself. Here:

* the event's arguments come from ``crm_ledger.domain.contact.registration``, the very
  function ``Contact.register`` checks and normalises them with (same errors);
* `RegistrationEncoder` turns them into the `StoredEvent` the library's mapper would
  store for that event: same topic, originator version 1, and byte-identical state (the
  transcoder's JSON, written by orjson, which escapes every code point as ``json`` does
  with ``ensure_ascii=False``; any value it cannot write goes through the transcoder);
* `store_registrations` stores a batch in one transaction with its ledger entries: on
  SQLite by ``recorder.insert_events(events, actor=...)``, the very call
  ``EventStore.put`` makes; on PostgreSQL by `copy_events` (binary COPY), which takes
  the same table lock and has the same `ChainWriter` extend the ledger in that
  transaction.

``tests/integration/test_contact_registrations.py`` compares the stored bytes with the
normal write path's for the same input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    IntegrityError,
    JSONTranscoder,
    Mapper,
    StoredEvent,
)
from eventsourcing.utils import get_topic

from crm_ledger.application import CrmApplication
from crm_ledger.domain.contact import Contact
from crm_ledger.privacy.mapper import SealingMapper
from crm_ledger.storage.bulk_insert import copy_events
from crm_ledger.storage.postgres_recorder import LedgerPostgresRecorder

REGISTERED: Any = Contact.Registered  # type: ignore[attr-defined]  # made by @event
REGISTERED_TOPIC = get_topic(REGISTERED)
CONTACT_TOPIC = get_topic(Contact)
# Values orjson would write differently from the transcoder (datetimes, dataclasses,
# subclasses of str/int/dict/list) are passed to `default`, which refuses them: such a
# state goes through the transcoder. The only UUID a state holds is organisation_id,
# replaced by its transcoding before encoding.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class RegistrationEncoder:
    """Builds stored ``Contact.Registered`` events as `mapper` would map them."""

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        transcoder = mapper.transcoder
        # Only the library's plain JSON mapping is reproduced; anything else (a cipher,
        # a compressor, another transcoder, a versioned event class) is left to it.
        self.supported = (
            isinstance(transcoder, JSONTranscoder)
            and mapper.compressor is None
            and mapper.cipher is None
            and getattr(REGISTERED, "class_version", 1) == 1
            and UUID in transcoder.types
            and datetime in transcoder.types
        )
        if self.supported:
            assert isinstance(transcoder, JSONTranscoder)
            self._uuid = transcoder.types[UUID]
            self._datetime_name = transcoder.types[datetime].name
            self._iso = (  # the library's DatetimeAsISO.encode is isoformat(): skip a call
                datetime.isoformat
                if type(transcoder.types[datetime]) is DatetimeAsISO
                else transcoder.types[datetime].encode
            )

    def stored_event(
        self, contact_id: UUID, arguments: Mapping[str, Any], timestamp: datetime | None = None
    ) -> StoredEvent:
        """The stored event registering `contact_id` with `arguments` (`registration`'s
        result); `timestamp` defaults to now, as the library's event would have."""
        if timestamp is None:
            timestamp = REGISTERED.create_timestamp()
        if not self.supported:
            return self.mapper.to_stored_event(
                REGISTERED(
                    originator_id=contact_id,
                    originator_version=Contact.INITIAL_VERSION,
                    timestamp=timestamp,
                    originator_topic=CONTACT_TOPIC,
                    **arguments,
                )
            )
        state: dict[str, Any] = {
            "timestamp": {"_type_": self._datetime_name, "_data_": self._iso(timestamp)},
            "originator_topic": CONTACT_TOPIC,
            **arguments,
        }
        organisation_id = arguments["organisation_id"]
        if organisation_id is not None:
            state["organisation_id"] = {
                "_type_": self._uuid.name,
                "_data_": self._uuid.encode(organisation_id),
            }
        if isinstance(self.mapper, SealingMapper):
            self.mapper.seal_state(
                state,
                str(contact_id),
                Contact.INITIAL_VERSION,
                REGISTERED_TOPIC,
                self.mapper.encode_values,
            )
        try:
            data = orjson.dumps(state, option=_ORJSON_OPTIONS)
        except (orjson.JSONEncodeError, TypeError):  # e.g. an integer beyond 64 bits
            state["timestamp"], state["organisation_id"] = timestamp, organisation_id
            data = self.mapper.transcoder.encode(state)
        return StoredEvent(
            originator_id=contact_id,
            originator_version=Contact.INITIAL_VERSION,
            topic=REGISTERED_TOPIC,
            state=data,
        )

    def prepare(self, count: int) -> None:
        """Make the keys `count` registrations will be sealed with, at once."""
        if isinstance(self.mapper, SealingMapper) and self.mapper.keys is not None:
            self.mapper.keys.reserve(count)


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def stored_ids(crm: CrmApplication, ids: Sequence[UUID]) -> set[UUID]:
    """Which of `ids` have events stored already (one query per 500 ids)."""
    table = crm.recorder.events_table_name  # type: ignore[attr-defined]
    found: set[UUID] = set()
    with crm.db.transaction(write=False) as tx:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            if tx.dialect == "postgres":
                rows = tx.all(
                    f"SELECT originator_id FROM {table} WHERE originator_id = ANY(?)",
                    (list(chunk),),
                )
            else:  # the library stores UUIDs as hex text there
                marks = ", ".join("?" * len(chunk))
                rows = tx.all(
                    f"SELECT originator_id FROM {table} WHERE originator_id IN ({marks})",
                    [i.hex for i in chunk],
                )
            found.update(r[0] if isinstance(r[0], UUID) else UUID(str(r[0])) for r in rows)
    return found


def _insert(crm: CrmApplication, events: Sequence[StoredEvent], actor: str) -> None:
    recorder = crm.recorder
    if isinstance(recorder, LedgerPostgresRecorder):
        copy_events(recorder, events, actor)
    else:
        recorder.insert_events(events, actor=actor)


def store_registrations(
    crm: CrmApplication, events: Sequence[StoredEvent], *, actor: str, attempts: int = 3
) -> int:
    """Store the registrations of `events` not stored yet, all in one transaction (with
    their ledger entries); return how many were new.

    The insert conflicts when an earlier run (or a concurrent one) stored some of them;
    then nothing of it was written, and the ones still missing are inserted again.
    """
    todo = list(events)
    for _ in range(attempts):
        if not todo:
            return 0
        try:
            _insert(crm, todo, actor)
        except IntegrityError:
            stored = stored_ids(crm, [_uuid(e.originator_id) for e in todo])
            todo = [e for e in todo if e.originator_id not in stored]
            continue
        return len(todo)
    raise IntegrityError(f"registrations kept conflicting after {attempts} attempts")
