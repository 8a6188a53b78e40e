"""A run of consecutive stored entries, one column per `Entry` field.

The verifier checks a batch in bulk (`crm_ledger.ledger.batch_check`) when the source
could read every entry of the batch cleanly into `Columns`; otherwise, or when the bulk
check finds anything at all off, it goes through the batch entry by entry.

Columns hold exactly the values the source's per-entry reader would have produced, with
exact types (``int`` is never a ``bool``, text is ``str``, bytes are ``bytes``): a
source that is not sure leaves `EntryBatch.columns` at None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from crm_ledger.ledger.envelope import Entry


def only(kind: type, values: Sequence[object]) -> bool:
    """True when every value has exactly type `kind` (and there is at least one)."""
    return set(map(type, values)) == {kind}


@dataclass(frozen=True, slots=True)
class Columns:
    """The fields of consecutive entries, column by column (see `Entry`)."""

    leaf_index: tuple[int, ...]
    seq: tuple[int, ...]
    canonical: tuple[bytes, ...]
    leaf_hash: tuple[bytes, ...]
    originator_id: tuple[str, ...]
    originator_version: tuple[int, ...]
    topic: tuple[str, ...]
    state: tuple[bytes, ...]

    def __len__(self) -> int:
        return len(self.leaf_index)

    def entry(self, position: int) -> Entry:
        """The entry at `position` within the batch."""
        return Entry(*(column[position] for column in self.as_tuples()))

    def as_tuples(self) -> tuple[tuple[Any, ...], ...]:
        """The eight columns, in the order of `Entry`'s fields."""
        return (
            self.leaf_index,
            self.seq,
            self.canonical,
            self.leaf_hash,
            self.originator_id,
            self.originator_version,
            self.topic,
            self.state,
        )

    def entries(self) -> list[Entry]:
        """Every entry of the batch, in order."""
        return list(map(Entry, *self.as_tuples()))

    @classmethod
    def of(cls, entries: Sequence[Entry]) -> Columns | None:
        """The columns of `entries`, or None unless every field has its exact type."""
        if not entries:
            return None
        index, seq, canonical, leaf, originator, version, topic, state = zip(*entries, strict=True)
        if not (
            only(int, index + seq + version)
            and only(bytes, canonical + leaf + state)
            and only(str, originator + topic)
        ):
            return None
        return cls(index, seq, canonical, leaf, originator, version, topic, state)


class EntryBatch:
    """Consecutive entries: as `Columns` when read cleanly, and always one by one.

    `columns` may be given as a function, called once when they are first asked for;
    `read` gives the entries one by one, and is only called when there are no columns
    (columns hold exactly the values `read` gives). `lines`: the bundle lines the batch
    was read from, when it was (``entries.jsonl``'s newline-terminated lines), for the
    verifier's C check (`crm_ledger.ledger.native`). `watch`: topics a consumer wants
    entries of; `watched`: set by the verifier when its C check confirmed the lines, the
    positions of those naming a watched topic.
    """

    __slots__ = ("_columns", "_columns_of", "_entries", "_read", "lines", "watch", "watched")

    def __init__(
        self,
        columns: Columns | Callable[[], Columns | None] | None,
        read: Callable[[], list[Entry]],
        *,
        lines: bytes | None = None,
    ) -> None:
        self._columns: Columns | None = None
        self._columns_of: Callable[[], Columns | None] | None = None
        if callable(columns):
            self._columns_of = columns
        else:
            self._columns = columns
        self._read = read
        self._entries: list[Entry] | None = None
        self.lines = lines
        self.watch: tuple[bytes, ...] = ()
        self.watched: tuple[int, ...] | None = None

    @classmethod
    def of(cls, entries: list[Entry]) -> EntryBatch:
        """A batch of already-read entries (columns when their types are exact)."""
        return cls(Columns.of(entries), lambda: entries)

    @property
    def columns(self) -> Columns | None:
        """The batch as columns, or None unless every entry was read cleanly."""
        if self._columns_of is not None:
            self._columns, self._columns_of = self._columns_of(), None
        return self._columns

    def entries(self) -> list[Entry]:
        """The entries one by one, exactly as the source's per-entry reader gives them."""
        if self._entries is None:
            columns = self.columns
            self._entries = self._read() if columns is None else columns.entries()
        return self._entries
