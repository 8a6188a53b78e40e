"""Import contacts from a CSV file: streamed, in atomic batches, resumable.

The file is UTF-8 (a leading BOM is ignored), comma-separated, with a header line.
Columns, in any order (only ``kind`` and ``name`` are required; unknown columns make
the whole file unusable):

===================  ===============================================================
``kind``             ``person`` or ``organisation``
``name``             1 to 200 characters
``emails``           several separated by ``;``
``phones``           several separated by ``;``
``tags``             several separated by ``;``
``tax_id``           text
``owner``            text
``organisation_id``  id of an existing organisation (persons only)
``address.line1``    one postal address: ``address.line1``, ``address.line2``,
                     ``address.city``, ``address.region``, ``address.postal_code``,
                     ``address.country`` (ISO 3166-1 alpha-2); line1 and country are
                     required when any address cell is filled
``custom.<key>``     a custom field ``<key>`` with a text value
===================  ===============================================================

An empty cell means "not given". Each row is checked with exactly the rules of
``POST /contacts``. Rows are numbered as a spreadsheet shows them: the header is row 1,
the first contact row 2.

Resumable: the id of the contact of row ``n`` is ``uuid5(NAMESPACE, "<sha256 of the
file>:<n>")``. Each batch of rows is stored in one transaction; a rerun of the same file
after an interruption finds the batches already stored (their insert conflicts on the
ids) and skips those rows, so no row is ever stored twice.

Speed: the rows are read without building aggregates. `RowReader` checks the rows it is
sure about (the others go to the ``POST /contacts`` schema), `registered` /
`registration` apply ``Contact.register``'s rules, `RegistrationEncoder` writes the
exact stored ``Registered`` events, and `store_registrations` stores each batch with its
ledger entries in one transaction (binary COPY on PostgreSQL), while the next batch is
being read: by a thread, or for a large file by a process of its own
(`crm_ledger.import_storing`). The garbage collector runs less often meanwhile
(`fewer_collections`). Larger batches (``--batch-size 5000``) store faster.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import itertools
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from eventsourcing.persistence import StoredEvent
from pydantic import ValidationError

from crm_ledger.api.schemas.contacts import ContactCreate
from crm_ledger.application import CrmApplication
from crm_ledger.contact_registrations import RegistrationEncoder
from crm_ledger.contact_rows import IGNORED_COLUMNS, RowReader, registered
from crm_ledger.domain.contact import registration
from crm_ledger.domain.errors import DomainError
from crm_ledger.import_storing import Submit, batch_storing, worth_a_process

NAMESPACE = uuid.UUID("0f6c7d2e-5b1a-5e0c-9a8e-3c1d4b6f7a21")
LIST_SEPARATOR = ";"
SCALAR_COLUMNS = ("kind", "name", "tax_id", "owner", "organisation_id")
LIST_COLUMNS = ("emails", "phones", "tags")
ADDRESS_PREFIX = "address."
ADDRESS_PARTS = ("line1", "line2", "city", "region", "postal_code", "country")
CUSTOM_PREFIX = "custom."
REQUIRED = ("kind", "name")
CHUNK = 1 << 20
# A store thread waits for the server ~10 times per batch (lock, ids, COPY, commit...);
# each time the answer comes, it needs the GIL back from the thread building the next
# batch, which would hand it over only every 5 ms (sys.getswitchinterval()). Releasing
# it every few rows keeps that wait under ~1 ms. (Not when a process of its own stores.)
YIELD_EVERY = 16
# Each batch keeps thousands of fresh dicts and lists alive until it is stored, so with
# the default threshold (700 allocations) the cyclic collector ran ~14 times per batch
# and, every hundred runs, walked the whole heap: about a tenth of the import's time.
# The import makes no reference cycles worth collecting early.
GC_THRESHOLD = 100_000
# Batches sent to a storing process and not yet accounted: while that process starts
# (about half a second), the first few batches are built instead of waited for.
PROCESS_DEPTH = 8


class ImportFileError(Exception):
    """The file cannot be imported at all (unreadable, bad header, broken CSV)."""


@dataclass
class ImportSummary:
    """What an import did, row by row."""

    rows: int = 0
    imported: int = 0
    skipped: int = 0  # stored by an earlier run of the same file
    rejected: int = 0
    seconds: float = 0.0

    @property
    def line(self) -> str:
        """One human line."""
        rate = self.imported / self.seconds if self.seconds else 0.0
        return (
            f"{self.rows} rows: {self.imported} imported, {self.skipped} already imported, "
            f"{self.rejected} rejected in {self.seconds:.1f} s ({rate:,.0f} contacts/s)"
        )


def file_digest(path: Path) -> tuple[str, int]:
    """The file's SHA-256 (hex) and its number of line breaks, read in chunks."""
    digest = hashlib.sha256()
    lines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            lines += chunk.count(b"\n")
    return digest.hexdigest(), lines


def contact_id(digest: str, row: int) -> uuid.UUID:
    """The id of the contact imported from `row` of the file whose SHA-256 is `digest`."""
    return uuid.uuid5(NAMESPACE, f"{digest}:{row}")


class ContactIds:
    """`contact_id` for every row of one file, without rehashing the common prefix:
    ``uuid5`` is SHA-1 over the namespace bytes and the name, so the hash of
    ``NAMESPACE.bytes + "<digest>:"`` is computed once and copied per row."""

    # uuid.UUID(bytes=..., version=5) as integer operations: RFC 4122 variant, version 5.
    _CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
    _SET = (5 << 76) | (0x8000 << 48)

    def __init__(self, digest: str) -> None:
        self._prefix = hashlib.sha1(NAMESPACE.bytes + f"{digest}:".encode())

    def __call__(self, row: int) -> uuid.UUID:
        sha = self._prefix.copy()
        sha.update(str(row).encode())
        return uuid.UUID(int=(int.from_bytes(sha.digest()[:16]) & self._CLEAR) | self._SET)


def check_header(header: Sequence[str]) -> list[str]:
    """The column names, or ImportFileError naming what is wrong."""
    names = [h.strip() for h in header]
    known = {
        *SCALAR_COLUMNS,
        *LIST_COLUMNS,
        *(ADDRESS_PREFIX + p for p in ADDRESS_PARTS),
        *IGNORED_COLUMNS,
    }
    unknown = [n for n in names if n not in known and not _custom_key(n)]
    if unknown:
        raise ImportFileError(f"unknown column(s) {', '.join(map(repr, unknown))}")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ImportFileError(f"duplicated column(s) {', '.join(map(repr, duplicated))}")
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise ImportFileError(f"missing column(s) {', '.join(map(repr, missing))}")
    return names


def _custom_key(column: str) -> str:
    return column.removeprefix(CUSTOM_PREFIX) if column.startswith(CUSTOM_PREFIX) else ""


def row_fields(header: Sequence[str], values: Sequence[str]) -> dict[str, Any]:
    """The ``POST /contacts`` body that a row stands for (not validated yet)."""
    body: dict[str, Any] = {}
    address: dict[str, str] = {}
    custom: dict[str, str] = {}
    for column, raw in zip(header, values, strict=True):
        cell = raw.strip()
        if column in IGNORED_COLUMNS:
            continue
        if column in LIST_COLUMNS:
            body[column] = [p.strip() for p in cell.split(LIST_SEPARATOR) if p.strip()]
        elif not cell and column not in REQUIRED:
            continue
        elif column in SCALAR_COLUMNS:
            body[column] = cell
        elif column.startswith(ADDRESS_PREFIX):
            address[column.removeprefix(ADDRESS_PREFIX)] = cell
        else:
            custom[_custom_key(column)] = cell
    if address:
        body["addresses"] = [address]
    if custom:
        body["custom_fields"] = custom
    return body


def _where(loc: Sequence[Any]) -> str:
    return "/".join(str(p) for p in loc) or "row"


def _reason(exc: ValidationError) -> str:
    return "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False))


def _records(handle: TextIO) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for every record, the header first; blank lines are skipped."""
    reader = csv.reader(handle, strict=True)
    try:
        for number, values in enumerate(reader, start=1):
            if values:
                yield number, values
    except csv.Error as exc:
        raise ImportFileError(f"malformed CSV at line {reader.line_num}: {exc}") from None


@contextmanager
def fewer_collections(threshold: int = GC_THRESHOLD) -> Iterator[None]:
    """Run the cyclic garbage collector's youngest generation only every `threshold`
    allocations (at least) inside the block, then restore the process's setting."""
    old = gc.get_threshold()
    gc.set_threshold(max(threshold, old[0]), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def import_contacts(
    crm: CrmApplication,
    path: Path,
    *,
    actor: str,
    rejects: Path,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
    digest: str | None = None,
    summary: ImportSummary | None = None,
    store_process: bool | None = None,
) -> ImportSummary:
    """Import `path`, writing rejected rows to the CSV report `rejects` (overwritten).

    `progress` is called with the number of rows done after each batch; `summary` (a new
    one by default) is updated as batches are stored, so it is meaningful even when the
    import is interrupted. ImportFileError when the file cannot be read as a contacts
    CSV: what was stored before the failing point stays, and a rerun resumes.
    `store_process`: store the batches in a process of their own (True), in a thread
    (False), or as `crm_ledger.import_storing.worth_a_process` judges (None).
    """
    started = time.perf_counter()
    digest = digest or file_digest(path)[0]
    summary = summary if summary is not None else ImportSummary()
    try:
        with fewer_collections(), path.open(encoding="utf-8-sig", newline="") as handle:
            records = _records(handle)
            first = next(records, None)
            if first is None:
                raise ImportFileError("the file is empty: a header line is needed")
            batches = _Batches(crm, check_header(first[1]), digest, actor, summary)
            if store_process is None:
                store_process = worth_a_process(crm, path)
            with rejects.open("w", encoding="utf-8", newline="") as report:
                writer = csv.writer(report)
                writer.writerow(["row", "reason", *batches.header])
                with batch_storing(crm, in_process=store_process) as store:
                    batches.pipeline(
                        _chunks(records, batch_size),
                        store,
                        writer,
                        report,
                        progress,
                        in_process=store_process,
                    )
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"the file is not UTF-8: {exc}") from None
    finally:
        summary.seconds = time.perf_counter() - started
    if progress is not None:
        progress(summary.rows)
    return summary


class _Batches:
    """Checks rows and stores each batch's valid ones in one transaction."""

    def __init__(
        self,
        crm: CrmApplication,
        header: list[str],
        digest: str,
        actor: str,
        summary: ImportSummary,
    ) -> None:
        self.crm = crm
        self.header = header
        self.actor = actor
        self.summary = summary
        self.reader = RowReader(header)
        self.ids = ContactIds(digest)
        self.encoder = RegistrationEncoder(crm.mapper)
        self.links: dict[uuid.UUID, str | None] = {}  # organisation -> why it can't be linked
        self.yielding = True  # hand the GIL to a store thread every YIELD_EVERY rows (pipeline)

    def pipeline(
        self,
        chunks: Iterable[list[tuple[int, list[str]]]],
        store: Submit,
        writer: Any,
        report: TextIO,
        progress: Callable[[int], None] | None,
        *,
        in_process: bool = False,
    ) -> None:
        """Build batches while earlier ones are being stored (by `store`, one batch at a
        time, so the batches commit in file order), with at most one batch sent and not
        yet accounted, or `PROCESS_DEPTH` when `store` is a process of its own
        (`in_process`, which also stops the building from yielding the GIL). Each
        stored batch is accounted in file order (the summary, then the rejects report,
        then `progress`); an interruption waits for the batches sent and counts those
        that committed, so the summary stays exact."""
        depth = PROCESS_DEPTH if in_process else 1
        self.yielding = not in_process
        flights: deque[tuple[_Built, Future[int]]] = deque()

        def settle_first() -> None:
            self._account(*flights[0], writer, report)
            flights.popleft()
            if progress is not None:
                progress(self.summary.rows)

        try:
            for chunk in chunks:
                built = self.build(chunk)
                while flights and (len(flights) >= depth or flights[0][1].done()):
                    settle_first()
                flights.append((built, self.store(store, built)))
            while flights:
                settle_first()
        finally:
            for built, stored in flights:
                if stored.exception() is None:
                    self._account(built, stored, writer, report)  # it committed: count it

    def build(self, rows: list[tuple[int, list[str]]]) -> _Built:
        """Check the rows; the stored events of the valid ones, the others' report lines."""
        built = _Built(rows=len(rows))
        self.links = {}  # organisations are looked up again for each batch
        valid: list[tuple[uuid.UUID, dict[str, Any]]] = []
        for number, values in rows:
            if self.yielding and not number % YIELD_EVERY:
                time.sleep(0)  # lets the store thread take the GIL at once (see YIELD_EVERY)
            try:
                arguments = self._arguments(values)
            except _RejectedError as exc:
                built.rejected.append([number, exc.reason, *values])
                continue
            valid.append((self.ids(number), arguments))
        self.encoder.prepare(len(valid))  # their keys, in one transaction
        built.events = [self.encoder.stored_event(c, arguments) for c, arguments in valid]
        return built

    def store(self, store: Submit, built: _Built) -> Future[int]:
        """Send the batch's registrations to `store` (one transaction); the future
        answers how many were new."""
        if built.events:
            return store(built.events, self.actor)
        nothing: Future[int] = Future()
        nothing.set_result(0)
        return nothing

    def _account(self, built: _Built, stored: Future[int], writer: Any, report: TextIO) -> None:
        imported = stored.result()
        if built.counted:  # an interruption can arrive between counting and moving on
            return
        built.counted = True
        self.summary.rows += built.rows
        self.summary.imported += imported
        self.summary.skipped += len(built.events) - imported
        self.summary.rejected += len(built.rejected)
        writer.writerows(built.rejected)
        report.flush()

    def _arguments(self, values: list[str]) -> dict[str, Any]:
        """The row's ``Contact.Registered`` arguments (the rules of ``POST /contacts``:
        the schema, then those of ``prepare_contacts``), or _RejectedError."""
        if len(values) != len(self.header):
            raise _RejectedError(f"the row has {len(values)} cells, the header {len(self.header)}")
        fields = self.reader.fields(values)
        fast = fields is not None
        if fields is None:  # not surely valid: the schema decides and words the reason
            try:
                fields = ContactCreate.model_validate(row_fields(self.header, values)).fields()
            except ValidationError as exc:
                raise _RejectedError(_reason(exc)) from None
        organisation_id = fields.get("organisation_id")
        if organisation_id is not None:
            if organisation_id not in self.links:
                self.links[organisation_id] = self._link_problem(organisation_id)
            problem = self.links[organisation_id]
            if problem is not None:
                raise _RejectedError(f"organisation_id: {problem}")
        arguments = registered(fields, self.actor) if fast else None
        if arguments is not None:
            return arguments
        try:
            return registration(actor=self.actor, **fields)
        except DomainError as exc:
            raise _RejectedError(f"{getattr(exc, 'field', None) or 'row'}: {exc.detail}") from None

    def _link_problem(self, organisation_id: uuid.UUID) -> str | None:
        """Why a person may not be linked to `organisation_id` (None: it may)."""
        try:
            self.crm.check_organisation(organisation_id)
        except DomainError as exc:
            return exc.detail
        return None


@dataclass
class _Built:
    """A checked batch: its stored events to write and its rejected rows' report lines."""

    rows: int
    events: list[StoredEvent] = field(default_factory=list)
    rejected: list[list[Any]] = field(default_factory=list)
    counted: bool = False  # in the summary and the report already


def _chunks(
    records: Iterator[tuple[int, list[str]]], size: int
) -> Iterator[list[tuple[int, list[str]]]]:
    """The records in lists of `size` (the last one shorter, never empty)."""
    while chunk := list(itertools.islice(records, size)):
        yield chunk


class _RejectedError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
