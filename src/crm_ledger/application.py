"""The service layer: one method per use case, called by the API and the CLI.

Every write goes through ``save(..., actor=...)`` so the ledger recorder chains the
events with who caused them, inside the insert transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, BaseAggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Mapper,
    Notification,
    Recording,
    Transcoder,
    Transcoding,
)

from crm_ledger.domain.api_key import ApiKey
from crm_ledger.domain.contact import Contact, ContactKind
from crm_ledger.domain.errors import NotFoundError, OrganisationLinkError, VersionConflictError
from crm_ledger.ledger.envelope import format_timestamp
from crm_ledger.privacy.mapper import SealingMapper
from crm_ledger.settings import Settings
from crm_ledger.storage.chain import ensure_origin
from crm_ledger.storage.database import event_store_env
from crm_ledger.storage.group_commit import GroupCommitter
from crm_ledger.storage.ledger_store import LedgerStore, open_store
from crm_ledger.storage.seal_keys import SealKeys, seal_keys_ddl
from crm_ledger.storage.sql import Database
from crm_ledger.storage.transcoder import FastJSONTranscoder

A = TypeVar("A", bound=Aggregate)


def _conflict(first: Aggregate) -> VersionConflictError:
    """The error of a save that lost to a concurrent one (a unique version taken)."""
    return VersionConflictError(
        expected=first.version, actual=None, detail=f"{first.id} changed concurrently"
    )


TOKEN_PREFIX = "crm"


class DateAsISO(Transcoding):
    """Transcodes ``date`` as ISO 8601 (``datetime`` is handled by the library)."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class _Collected(ProcessingEvent[UUID]):
    """The library's ProcessingEvent, collecting from our aggregates without its
    ``isinstance`` checks against runtime-checkable Protocols (about a third of the CPU
    time of a save on Python 3.11); anything else goes through the library's code."""

    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        others = []
        for obj in objs:
            if isinstance(obj, BaseAggregate):
                self.events.extend(obj.collect_events())
                self.aggregates[obj.id] = obj
            elif obj is not None:
                others.append(obj)
        super().collect_events(*others, **kwargs)


@dataclass(frozen=True)
class Written:
    """The result of a command: the aggregate and the log position its events reached."""

    aggregate: Any
    position: int | None


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    key_id: UUID
    name: str
    role: str
    kind: str = "apikey"
    """``apikey`` (an integration's key) or ``user`` (a person's session; `key_id` is
    the account's id)."""

    @property
    def actor(self) -> str:
        """How this principal is named in events and ledger envelopes."""
        return f"{self.kind}:{self.key_id}"


def hash_secret(secret: str) -> str:
    """SHA-256 of an API key secret (keys are 256-bit random, so no slow hash is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[UUID, str] | None:
    """Split ``crm_<key id hex>_<secret>`` into its parts, or None if malformed."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    try:
        return UUID(hex=parts[1]), parts[2]
    except ValueError:
        return None


class CrmApplication(Application[UUID]):
    """crm_ledger's eventsourcing application (events + ledger in one database)."""

    name = "crm"
    env = {"AGGREGATE_CACHE_MAXSIZE": "10000", "AGGREGATE_CACHE_FASTFORWARD": "y"}

    def __init__(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.env_override = dict(env or {})  # for another process opening the same store
        super().__init__(env={**event_store_env(settings), **self.env_override})
        self.db = Database(self.recorder.datastore)  # type: ignore[attr-defined]
        self.recorder.group.enabled = settings.group_commit  # type: ignore[attr-defined]
        with self.db.transaction() as tx:
            self.origin = ensure_origin(tx)
        self.db.create(seal_keys_ddl(self.db.dialect))
        self.seal_keys = SealKeys(self.db)
        assert isinstance(self.mapper, SealingMapper)
        self.mapper.keys = self.seal_keys

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """`Application.save` (eventsourcing 9.5) with the faster `_Collected`."""
        processing_event = self._collected(objs, kwargs)
        return self._saved(processing_event, self._record(processing_event))

    async def save_async(self, *objs: Any, actor: str) -> list[Recording[UUID]]:
        """`save` from a coroutine: the events join the recorder's group commit without a
        thread of their own (`GroupCommitter.insert_async`)."""
        processing_event = self._collected(objs, {"actor": actor})
        events = processing_event.events
        stored = list(map(self.mapper.to_stored_event, events))
        group: GroupCommitter = self.recorder.group  # type: ignore[attr-defined]
        ids = await group.insert_async(stored, actor)
        recordings = [
            Recording(
                event,
                Notification(
                    originator_id=s.originator_id,
                    originator_version=s.originator_version,
                    topic=s.topic,
                    state=s.state,
                    id=n_id,
                ),
            )
            for event, s, n_id in zip(events, stored, ids or (), strict=False)
        ]
        if self.repository.cache and not self.repository.fastforward:  # as `_record` does
            for aggregate_id, aggregate in processing_event.aggregates.items():
                self.repository.cache.put(aggregate_id, aggregate)
        return self._saved(processing_event, recordings)

    def _collected(self, objs: tuple[Any, ...], kwargs: dict[str, Any]) -> _Collected:
        """The events of `objs` to save, their sealing keys made ready."""
        processing_event = _Collected()
        processing_event.collect_events(*objs, **kwargs)
        self.mapper.prepare(processing_event.events)  # type: ignore[attr-defined]
        return processing_event

    def _saved(
        self, processing_event: _Collected, recordings: list[Recording[UUID]]
    ) -> list[Recording[UUID]]:
        """What follows a save once its events are stored; returns `recordings`."""
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # deprecated in the library, kept as it is
        return recordings

    def close(self) -> None:
        with contextlib.suppress(Exception):  # best effort: unused keys are harmless
            self.seal_keys.release()
        close_writer = getattr(self.recorder, "close", None)
        if close_writer is not None:  # the PostgreSQL recorder's own writer connection
            close_writer()
        super().close()

    def construct_mapper(self) -> Mapper[UUID]:
        """The library's mapper, sealing personal data (`crm_ledger.privacy`)."""
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=SealingMapper
        )

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON transcoder, encoding faster (`FastJSONTranscoder`)."""
        transcoder = FastJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # -- generic helpers ------------------------------------------------------------

    def load(self, cls: type[A], aggregate_id: UUID, kind: str, *, copy: bool = True) -> A:
        """Return the aggregate or raise NotFoundError (also when it is another type);
        without `copy`, to read only (see `peek`)."""
        aggregate = self.peek(aggregate_id, kind, copy=copy)
        if not isinstance(aggregate, cls):
            raise NotFoundError(kind=kind, id=str(aggregate_id))
        return aggregate

    def peek(self, aggregate_id: UUID, kind: str, *, copy: bool = False) -> Aggregate:
        """The aggregate with this id, of whatever class (NotFoundError if none), to
        read only: without `copy` it is the repository's cached object itself, not the
        deep copy a command gets (which costs more than the rest of a check such as
        "does the linked contact exist": ~190 µs for a contact). Never change it."""
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id, deepcopy_from_cache=copy)
        except AggregateNotFoundError:
            raise NotFoundError(kind=kind, id=str(aggregate_id)) from None
        return aggregate

    def load_at(self, cls: type[A], aggregate_id: UUID, kind: str, expected_version: int) -> A:
        """`load`, then VersionConflictError unless it is still at the version the caller saw."""
        aggregate = self.load(cls, aggregate_id, kind)
        if aggregate.version != expected_version:
            raise VersionConflictError(expected=expected_version, actual=aggregate.version)
        return aggregate

    def check_organisation(self, organisation_id: UUID) -> None:
        """A person may only be linked to an organisation that exists and was not merged."""
        organisation = self.load(Contact, organisation_id, "organisation", copy=False)
        organisation.check_not_merged()
        if organisation.kind is not ContactKind.ORGANISATION:
            raise OrganisationLinkError(
                "a person can only belong to an organisation", field="organisation_id"
            )

    def store(self, *aggregates: Aggregate, actor: str) -> int | None:
        """Save `aggregates` atomically; return the last log position written."""
        try:
            recordings = self.save(*aggregates, actor=actor)
        except IntegrityError as exc:
            raise _conflict(aggregates[0]) from exc
        return recordings[-1].notification.id if recordings else None

    async def store_async(self, *aggregates: Aggregate, actor: str) -> int | None:
        """`store` from a coroutine (`save_async`)."""
        try:
            recordings = await self.save_async(*aggregates, actor=actor)
        except IntegrityError as exc:
            raise _conflict(aggregates[0]) from exc
        return recordings[-1].notification.id if recordings else None

    def change(
        self,
        cls: type[A],
        aggregate_id: UUID,
        kind: str,
        expected_version: int,
        actor: str,
        command: Callable[[A], None],
    ) -> Written:
        """Load, check the version the caller saw, run `command`, save."""
        aggregate = self.load_at(cls, aggregate_id, kind, expected_version)
        command(aggregate)
        return Written(aggregate, self.store(aggregate, actor=actor))

    def ledger_store(self) -> LedgerStore:
        """A reader of this application's ledger (entries, tree, checkpoints)."""
        return open_store(self.db, self.recorder.events_table_name)  # type: ignore[attr-defined]

    def head_position(self) -> int:
        """The highest notification id written so far (0 when empty)."""
        return int(self.recorder.max_notification_id() or 0)

    # -- contacts -------------------------------------------------------------------

    def register_contact(self, *, actor: str, **fields: Any) -> Written:
        """Register a person or organisation."""
        organisation_id = fields.get("organisation_id")
        if organisation_id is not None:
            self.check_organisation(organisation_id)
        contact = Contact.register(actor=actor, **fields)
        return Written(contact, self.store(contact, actor=actor))

    async def register_contact_async(self, *, actor: str, **fields: Any) -> Written:
        """`register_contact` from a coroutine: the organisation check (a read) runs on a
        worker thread, the save joins the group commit from the event loop."""
        organisation_id = fields.get("organisation_id")
        if organisation_id is not None:
            await asyncio.to_thread(self.check_organisation, organisation_id)
        contact = Contact.register(actor=actor, **fields)
        return Written(contact, await self.store_async(contact, actor=actor))

    def get_contact(self, contact_id: UUID) -> Contact:
        """Return the contact or raise NotFoundError."""
        return self.load(Contact, contact_id, "contact")

    def update_contact(
        self, contact_id: UUID, *, expected_version: int, actor: str, changes: dict[str, Any]
    ) -> Written:
        """Apply a partial update."""
        organisation_id = changes.get("organisation_id")
        if organisation_id is not None:
            self.check_organisation(organisation_id)
        return self.change(
            Contact,
            contact_id,
            "contact",
            expected_version,
            actor,
            lambda c: c.update(actor=actor, **changes),
        )

    def archive_contact(self, contact_id: UUID, *, expected_version: int, actor: str) -> Written:
        """Archive a contact (kept, hidden from default lists)."""
        return self.change(
            Contact,
            contact_id,
            "contact",
            expected_version,
            actor,
            lambda c: c.archive(actor=actor),
        )

    def restore_contact(self, contact_id: UUID, *, expected_version: int, actor: str) -> Written:
        """Restore an archived contact."""
        return self.change(
            Contact,
            contact_id,
            "contact",
            expected_version,
            actor,
            lambda c: c.restore(actor=actor),
        )

    def add_contact_note(
        self, contact_id: UUID, *, expected_version: int, actor: str, text: str
    ) -> Written:
        """Add a note to a contact."""
        at = format_timestamp(datetime.now(UTC))
        return self.change(
            Contact,
            contact_id,
            "contact",
            expected_version,
            actor,
            lambda c: c.add_note(actor=actor, text=text, note_id=uuid4(), at=at),
        )

    def history(self, aggregate_id: UUID) -> Iterator[Any]:
        """The aggregate's domain events, oldest first."""
        return iter(self.events.get(aggregate_id))

    # -- API keys -------------------------------------------------------------------

    def issue_api_key(self, *, name: str, role: str, actor: str) -> tuple[ApiKey, str]:
        """Issue an API key; return it and the token (shown once, never stored)."""
        secret = secrets.token_urlsafe(32)
        key = ApiKey.issue(name=name, role=role, secret_sha256=hash_secret(secret), actor=actor)
        self.store(key, actor=actor)
        return key, f"{TOKEN_PREFIX}_{key.id.hex}_{secret}"

    def authenticate(self, token: str) -> Principal | None:
        """Return the principal for a bearer token, or None if unknown or revoked."""
        parts = split_token(token)
        if parts is None:
            return None
        key_id, secret = parts
        try:
            key: Aggregate = self.repository.get(key_id)
        except AggregateNotFoundError:
            return None
        if not isinstance(key, ApiKey) or key.revoked:
            return None
        if not secrets.compare_digest(key.secret_sha256, hash_secret(secret)):
            return None
        return Principal(key_id=key.id, name=key.name, role=key.role)

    def api_keys(self) -> list[ApiKey]:
        """Every API key ever issued, oldest first."""
        topic = f"{ApiKey.__module__}:{ApiKey.__qualname__}.Issued"
        ids = [UUID(str(n.originator_id)) for n in self.notifications_of([topic])]
        return [self.load(ApiKey, i, "api key") for i in ids]

    def notifications_of(self, topics: list[str]) -> Iterator[Notification]:
        """Every stored event of `topics`, in log order (read 1,000 at a time)."""
        start = 0
        while True:
            batch = self.recorder.select_notifications(
                start, 1000, topics=topics, inclusive_of_start=False
            )
            if not batch:
                return
            yield from batch
            start = batch[-1].id
