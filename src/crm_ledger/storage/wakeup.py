"""Wake background loops when events are written: ``LISTEN`` on PostgreSQL.

Every transaction that stores events sends ``NOTIFY`` on the events table's channel (the
library's recorder, and `crm_ledger.storage.pg_append`). A `Wakeup` thread listens on a
connection of its own and sets the events it was given at each notification, so the
projection follower and the webhook dispatcher of a server process start work at once
instead of at their next poll, and can poll rarely while idle. If the connection breaks
(the database went away) it reconnects every second; the loops it wakes keep polling
meanwhile. On SQLite there is nothing to listen to (`wakeup_for` gives None).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg import sql

from crm_ledger.storage.sql import session_kwargs

log = logging.getLogger(__name__)

#: how long one wait for notifications lasts (and so how soon `stop` is seen)
LISTEN_SECONDS = 0.1


class Wakeup(threading.Thread):
    """Sets every event of `wake` whenever `channel` is notified (a daemon thread)."""

    def __init__(
        self, connect_kwargs: dict[str, Any], channel: str, wake: Sequence[threading.Event]
    ) -> None:
        super().__init__(name="events-wakeup", daemon=True)
        self.connect_kwargs = connect_kwargs
        self.channel = channel
        self.wake = list(wake)
        self.listening = threading.Event()  # set while a LISTEN is in place
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("events wakeup: %s; listening again in a second", exc)
                self._stopping.wait(1.0)

    def _listen(self) -> None:
        with psycopg.connect(autocommit=True, connect_timeout=5, **self.connect_kwargs) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self.listening.set()
            for event in self.wake:
                event.set()  # anything written while not listening is looked at now
            while not self._stopping.is_set():
                for _ in conn.notifies(timeout=LISTEN_SECONDS, stop_after=1):
                    for event in self.wake:
                        event.set()

    def stop(self) -> None:
        """Stop listening (within `LISTEN_SECONDS`)."""
        self._stopping.set()
        self.join(timeout=LISTEN_SECONDS + 5)


def wakeup_for(recorder: Any, wake: Sequence[threading.Event]) -> Wakeup | None:
    """A `Wakeup` (not started) on the channel of a PostgreSQL event store's `recorder`;
    None on SQLite."""
    datastore = getattr(recorder, "datastore", None)
    if not isinstance(datastore, PostgresDatastore):
        return None
    return Wakeup(session_kwargs(datastore), str(recorder.channel_name), wake)
