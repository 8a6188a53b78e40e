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
"""

from __future__ import annotations

import csv
import hashlib
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from crm_ledger.api.schemas.contacts import ContactCreate
from crm_ledger.application import CrmApplication
from crm_ledger.contact_batch import Prepared, prepare_contacts
from crm_ledger.domain.errors import VersionConflictError

NAMESPACE = uuid.UUID("0f6c7d2e-5b1a-5e0c-9a8e-3c1d4b6f7a21")
LIST_SEPARATOR = ";"
SCALAR_COLUMNS = ("kind", "name", "tax_id", "owner", "organisation_id")
LIST_COLUMNS = ("emails", "phones", "tags")
ADDRESS_PREFIX = "address."
ADDRESS_PARTS = ("line1", "line2", "city", "region", "postal_code", "country")
CUSTOM_PREFIX = "custom."
REQUIRED = ("kind", "name")
CHUNK = 1 << 20


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


@dataclass(frozen=True)
class Rejection:
    """A row that was not imported, and why."""

    row: int
    reason: str
    values: list[str]


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


def check_header(header: Sequence[str]) -> list[str]:
    """The column names, or ImportFileError naming what is wrong."""
    names = [h.strip() for h in header]
    known = {*SCALAR_COLUMNS, *LIST_COLUMNS, *(ADDRESS_PREFIX + p for p in ADDRESS_PARTS)}
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


def _store_new(
    crm: CrmApplication,
    prepared: Prepared,
    fields: Sequence[dict[str, Any]],
    ids: Sequence[uuid.UUID],
    actor: str,
) -> int:
    """Store the prepared contacts not stored yet, atomically; return how many were new."""
    try:
        crm.store(*prepared.contacts, actor=actor)
        return len(prepared.contacts)
    except VersionConflictError:
        pass  # some (usually all) were stored by an earlier run of the same file
    # The failed save has taken the aggregates' pending events: register the rest again.
    todo = [
        index
        for index, contact in zip(prepared.indexes, prepared.contacts, strict=True)
        if not crm.recorder.select_events(contact.id, limit=1)
    ]
    if not todo:
        return 0
    again = prepare_contacts(
        crm, [fields[i] for i in todo], actor=actor, ids=[ids[i] for i in todo]
    )
    crm.store(*again.contacts, actor=actor)
    return len(again.contacts)


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
) -> ImportSummary:
    """Import `path`, writing rejected rows to the CSV report `rejects` (overwritten).

    `progress` is called with the number of rows done after each batch; `summary` (a new
    one by default) is updated as batches are stored, so it is meaningful even when the
    import is interrupted. ImportFileError when the file cannot be read as a contacts
    CSV: what was stored before the failing point stays, and a rerun resumes.
    """
    started = time.perf_counter()
    digest = digest or file_digest(path)[0]
    summary = summary if summary is not None else ImportSummary()
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            records = _records(handle)
            first = next(records, None)
            if first is None:
                raise ImportFileError("the file is empty: a header line is needed")
            header = check_header(first[1])
            with rejects.open("w", encoding="utf-8", newline="") as report:
                writer = csv.writer(report)
                writer.writerow(["row", "reason", *header])

                def reject(rejection: Rejection) -> None:
                    writer.writerow([rejection.row, rejection.reason, *rejection.values])

                batch: list[tuple[int, list[str]]] = []
                for record in records:
                    batch.append(record)
                    if len(batch) >= batch_size:
                        _import_batch(crm, header, batch, digest, actor, summary, reject)
                        batch = []
                        report.flush()
                        if progress is not None:
                            progress(summary.rows)
                _import_batch(crm, header, batch, digest, actor, summary, reject)
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"the file is not UTF-8: {exc}") from None
    finally:
        summary.seconds = time.perf_counter() - started
    if progress is not None:
        progress(summary.rows)
    return summary


def _import_batch(
    crm: CrmApplication,
    header: list[str],
    rows: list[tuple[int, list[str]]],
    digest: str,
    actor: str,
    summary: ImportSummary,
    reject: Callable[[Rejection], None],
) -> None:
    """Check every row of the batch, store the valid ones in one transaction."""
    rejections: list[Rejection] = []
    valid: list[tuple[int, list[str]]] = []
    fields: list[dict[str, Any]] = []
    for number, values in rows:
        if len(values) != len(header):
            reason = f"the row has {len(values)} cells, the header {len(header)}"
            rejections.append(Rejection(number, reason, values))
            continue
        try:
            fields.append(ContactCreate.model_validate(row_fields(header, values)).fields())
        except ValidationError as exc:
            rejections.append(Rejection(number, _reason(exc), values))
            continue
        valid.append((number, values))
    ids = [contact_id(digest, number) for number, _ in valid]
    prepared = prepare_contacts(crm, fields, actor=actor, ids=ids)
    for problem in prepared.problems:
        number, values = valid[problem.index]
        rejections.append(Rejection(number, f"{problem.field or 'row'}: {problem.detail}", values))
    imported = _store_new(crm, prepared, fields, ids, actor) if prepared.contacts else 0
    summary.rows += len(rows)
    summary.imported += imported
    summary.skipped += len(prepared.contacts) - imported
    summary.rejected += len(rejections)
    for rejection in sorted(rejections, key=lambda r: r.row):
        reject(rejection)
