"""The application's mapper: seals personal values on the way to storage, opens them on
the way back (`crm_ledger.privacy.sealing`), with the keys of `seal_keys`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from crm_ledger.privacy.sealing import (
    SEALED_MEMBER,
    SEALED_TOPICS,
    SealError,
    erased_values,
    personal_values,
    put_back,
    seal,
    sealed_kid,
    unseal,
)
from crm_ledger.storage.seal_keys import SealKeys

PLAIN_JSON_ONLY = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
"""``orjson`` options refusing the values the transcoder writes in its own form (passed
through to no ``default``, they raise) but for ``UUID``, which personal values never
hold (see `crm_ledger.domain.contact.normalise`)."""


class SealingMapper(Mapper[Any]):
    """The library's mapper, sealing the personal values of the events in
    `SEALED_TOPICS`, each event with a key of its own. Until `keys` is set (the
    application sets it once its database is open) it maps as the library's does."""

    keys: SealKeys | None = None

    def prepare(self, events: Iterable[DomainEventProtocol[Any]]) -> None:
        """Make the keys `events` will seal with before their transaction (one round trip
        for the lot, and only when the pool made ahead runs short)."""
        if self.keys is not None:
            needed = sum(get_topic(type(e)) in SEALED_TOPICS for e in events)
            if needed:
                self.keys.reserve(needed)

    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        topic = get_topic(domain_event.__class__)
        if self.keys is None or topic not in SEALED_TOPICS:
            return super().to_stored_event(domain_event)
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        version = state.pop("originator_version")
        self.seal_state(state, str(originator_id), version, topic, self.encode_values)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=version,
            topic=topic,
            state=self.transcoder.encode(state),
        )

    def seal_state(
        self,
        state: dict[str, Any],
        subject: str,
        version: int,
        topic: str,
        encode: Callable[[Any], bytes],
    ) -> None:
        """Move the personal values of `state` (an event of `topic` of aggregate
        `subject`) into its sealed member, encoded with `encode` (the transcoder's, or
        any encoder writing JSON the transcoder decodes the same way)."""
        values = personal_values(topic, state)
        if not values or self.keys is None:
            put_back(state, values)
            return
        kid, key = self.keys.take()
        state[SEALED_MEMBER] = seal(
            kid, key, encode(values), list(values), subject=subject, version=version, topic=topic
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[Any]:
        domain_event = super().to_domain_event(stored_event)
        state = domain_event.__dict__
        sealed = state.pop(SEALED_MEMBER, None)
        if sealed is not None:
            subject = str(stored_event.originator_id)
            version, topic = stored_event.originator_version, stored_event.topic
            put_back(state, self._values(subject, version, topic, sealed, self._decode))
        return domain_event

    def _decode(self, plaintext: bytes) -> Any:
        """Sealed values as the transcoder would decode them (by ``orjson`` unless a value
        was written in the transcoder's own form)."""
        if b'"_type_"' in plaintext:
            return self.transcoder.decode(plaintext)
        return orjson.loads(plaintext)

    def encode_values(self, values: dict[str, Any]) -> bytes:
        """Personal values as the transcoder writes them: by ``orjson`` when they are
        plain JSON values (the same JSON, much faster), else by the transcoder."""
        try:
            return orjson.dumps(values, option=PLAIN_JSON_ONLY)
        except TypeError:  # orjson's JSONEncodeError is one: a value it must not write
            return self.transcoder.encode(values)

    def prefetch(self, states: Iterable[bytes]) -> None:
        """Read at once the keys the sealed ones of these stored states need (a batch a
        projection is about to map), rather than one query per event."""
        if self.keys is not None:
            kids = [kid for kid in map(sealed_kid, states) if kid is not None]
            if kids:
                self.keys.keys(kids)

    def open_json(
        self, subject: str, version: int, topic: str, sealed: dict[str, Any]
    ) -> dict[str, Any]:
        """The personal values of a sealed member as plain JSON (still in their
        transcoded form, as `crm_ledger.projections.contact_replay` reads states), or
        their erased forms once the key is gone."""
        return self._values(subject, version, topic, sealed, orjson.loads)

    def opened_state(self, stored_event: StoredEvent) -> tuple[dict[str, Any], list[str]]:
        """A stored event's state as plain JSON with its personal values in place (their
        erased forms once the key is gone), and the fields that were sealed (none for an
        event stored in clear)."""
        state = orjson.loads(stored_event.state)
        sealed = state.pop(SEALED_MEMBER, None)
        if sealed is None:
            return state, []
        subject = str(stored_event.originator_id)
        version, topic = stored_event.originator_version, stored_event.topic
        put_back(state, self.open_json(subject, version, topic, sealed))
        return state, list(sealed["fields"])

    def _values(
        self,
        subject: str,
        version: int,
        topic: str,
        sealed: dict[str, Any],
        decode: Callable[[bytes], Any],
    ) -> dict[str, Any]:
        """The values of `sealed` decoded with `decode`, or their erased forms once the
        key is gone."""
        key = None if self.keys is None else self.keys.key(str(sealed.get("kid")))
        if key is None:
            return erased_values(sealed["fields"])
        values = decode(unseal(key, sealed, subject=subject, version=version, topic=topic))
        if not isinstance(values, dict):
            raise SealError("sealed values are not an object")
        return values
