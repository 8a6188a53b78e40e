"""The Issuer aggregate: who invoices, its numbering series and its VERI*FACTU chain head.

The issuer is the one aggregate every issue of its invoices goes through: taking a number
and appending the VERI*FACTU record both move its version, so two concurrent issues
cannot both be stored (the second conflicts on the issuer's version, reloads and redoes).
That is what keeps numbering gapless and strictly increasing per series and year, and the
huella chain single and linear, without any lock beyond the event store's optimistic
concurrency.

Numbering: each series has a pattern such as ``"{series}-{year}-{number:06d}"`` naming
all of ``{series}``, ``{year}`` and ``{number}`` (so no two series, years or numbers can
produce the same text) and a next number per year, starting at 1.

Chain: each appended record must link to the current head (``previous_huella`` equal to
the last huella, ``""`` before the first record). The full record is kept in the
``RecordAppended`` event, so the issuer's own history is the chain, in order. The last
record is also kept in memory, so :meth:`Issuer.head_break` can tell when the stored
head no longer matches its own record (a damaged chain: invoicing goes on from the
stored head and the use case raises an alarm).

Simplified invoices: the issuer's ``simplified_limit`` is the highest total (VAT
included, in EUR) of a simplified invoice (F2) it issues. Art. 4 RD 1619/2012 sets 400
EUR in general and 3,000 EUR for the activities it lists (retail, hospitality, ...), so
the limit is 400.00 unless set (``SimplifiedLimitSet``), and never above 3,000.00.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain import verifactu
from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.invoicing_errors import (
    ChainHeadMismatchError,
    IssueDateError,
    SeriesExistsError,
    SeriesNotFoundError,
    SeriesPatternError,
    VerifactuRecordError,
)
from crm_ledger.ledger.envelope import format_timestamp

MAX_LEGAL_NAME = 120  # XSD TextMax120Type (NombreRazon)
TAX_ID = re.compile(r"^[0-9A-Z]{9}$")
SERIES_CODE = re.compile(r"^[A-Z0-9]{1,10}$")
ADDRESS_KEYS = frozenset({"line1", "line2", "city", "region", "postal_code", "country"})
PATTERN_FIELDS = frozenset({"series", "year", "number"})
NUMBER_SPEC = re.compile(r"^(0[1-9][0-9]?)?d?$")
MAX_PATTERN = 40
MIN_YEAR, MAX_YEAR = 2000, 9999
DEFAULT_SIMPLIFIED_LIMIT = Decimal("400.00")  # art. 4.1 RD 1619/2012, VAT included
MAX_SIMPLIFIED_LIMIT = Decimal("3000.00")  # art. 4.2 RD 1619/2012, the listed activities
CENT = Decimal("0.01")


def tax_id_of(value: object, field: str = "tax_id") -> str:
    """A Spanish tax id (NIF) as 9 upper-case letters or digits, or InvalidCommandError."""
    text = value.strip().upper() if isinstance(value, str) else ""
    if not TAX_ID.fullmatch(text):
        raise InvalidCommandError(f"{field} must be 9 letters or digits (a NIF)", field=field)
    return text


def legal_name_of(value: object, field: str = "legal_name") -> str:
    """A legal name of 1 to 120 characters."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_LEGAL_NAME:
        raise InvalidCommandError(
            f"{field} must have 1 to {MAX_LEGAL_NAME} characters", field=field
        )
    return text


def address_of(value: object, field: str = "address") -> dict[str, str]:
    """An address as ``{line1, line2, city, region, postal_code, country}`` text."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidCommandError(f"{field} must be an object", field=field)
    unknown = set(value) - ADDRESS_KEYS
    if unknown:
        raise InvalidCommandError(f"unknown address fields {sorted(unknown)}", field=field)
    if any(v is not None and not isinstance(v, str) for v in value.values()):
        raise InvalidCommandError(f"{field} values must be text", field=field)
    return {k: v.strip() for k, v in sorted(value.items()) if isinstance(v, str) and v.strip()}


def simplified_limit_of(value: object, field: str = "simplified_limit") -> Decimal:
    """A simplified-invoice limit: euros with at most 2 decimals, above 0, at most
    MAX_SIMPLIFIED_LIMIT (a Decimal, an int or decimal text; never a float)."""
    problem = f"{field} must be an amount above 0 and at most {MAX_SIMPLIFIED_LIMIT} EUR"
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise InvalidCommandError(problem, field=field)
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise InvalidCommandError(problem, field=field) from None
    if not amount.is_finite() or not 0 < amount <= MAX_SIMPLIFIED_LIMIT:
        raise InvalidCommandError(problem, field=field)
    if amount != amount.quantize(CENT):
        raise InvalidCommandError(f"{field} has at most 2 decimals", field=field)
    return amount.quantize(CENT)


def format_number(pattern: str, *, series: str, year: int, number: int) -> str:
    """The invoice number that `pattern` gives (patterns are validated on add_series)."""
    return pattern.format(series=series, year=year, number=number)


def check_pattern(pattern: object, code: str) -> str:
    """`pattern` if it numbers uniquely and yields a valid VERI*FACTU invoice number."""
    if not isinstance(pattern, str) or not 0 < len(pattern) <= MAX_PATTERN:
        raise SeriesPatternError(
            f"pattern must have 1 to {MAX_PATTERN} characters", field="pattern"
        )
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as error:
        raise SeriesPatternError(f"pattern is malformed: {error}", field="pattern") from None
    names: list[str] = []
    for literal, name, spec, conversion in parts:
        if not re.fullmatch(r"[\x21-\x7e]*", literal):
            raise SeriesPatternError(
                "pattern text must be printable ASCII without spaces", field="pattern"
            )
        if name is None:
            continue
        if name not in PATTERN_FIELDS or conversion:
            raise SeriesPatternError(
                "pattern may name only {series}, {year} and {number}", field="pattern"
            )
        if name == "number" and not NUMBER_SPEC.fullmatch(spec or ""):
            raise SeriesPatternError(
                "number may only be zero-padded, as in {number:06d}", field="pattern"
            )
        if name != "number" and spec:
            raise SeriesPatternError(f"{{{name}}} takes no format", field="pattern")
        names.append(name)
    if sorted(names) != sorted(PATTERN_FIELDS):
        raise SeriesPatternError(
            "pattern must name each of {series}, {year} and {number} exactly once",
            field="pattern",
        )
    sample = format_number(pattern, series=code, year=MAX_YEAR, number=10**9)
    try:  # the verifactu module is the authority on what an invoice number may be
        verifactu.build_anulacion(
            issuer_tax_id="A00000000",
            number=sample,
            issue_date=date(MIN_YEAR, 1, 1),
            previous_huella="",
            generated_at=datetime(MIN_YEAR, 1, 1, tzinfo=UTC),
        )
    except verifactu.VerifactuError as error:
        raise SeriesPatternError(
            f"pattern gives invalid numbers: {error}", field="pattern"
        ) from None
    return pattern


class Issuer(Aggregate):
    """A company that issues invoices: identity, series, and its VERI*FACTU chain head."""

    @event("Registered")
    def __init__(
        self, *, legal_name: str, tax_id: str, address: dict[str, str], actor: str
    ) -> None:
        self.legal_name = legal_name
        self.tax_id = tax_id
        self.address = address
        self.series: dict[str, dict[str, Any]] = {}
        self.last_huella = ""
        self.record_count = 0
        self.last_record: dict[str, Any] | None = None
        self.simplified_limit = DEFAULT_SIMPLIFIED_LIMIT
        self.created_by = actor

    @classmethod
    def register(
        cls,
        *,
        legal_name: str,
        tax_id: str,
        address: Mapping[str, Any] | None = None,
        simplified_limit: Decimal | str | None = None,
        actor: str,
    ) -> Issuer:
        """Register an issuer by legal name and NIF, with no series yet. A
        `simplified_limit` other than the default is recorded as a second event."""
        limit = None if simplified_limit is None else simplified_limit_of(simplified_limit)
        issuer = cls(
            legal_name=legal_name_of(legal_name),
            tax_id=tax_id_of(tax_id),
            address=address_of(address),
            actor=actor,
        )
        if limit is not None:
            issuer.set_simplified_limit(limit, actor=actor)
        return issuer

    # -- queries ----------------------------------------------------------------------

    def series_of(self, code: object) -> dict[str, Any]:
        """The series ``{pattern, next, last_date}`` or SeriesNotFoundError."""
        found = self.series.get(code) if isinstance(code, str) else None
        if found is None:
            raise SeriesNotFoundError(str(code))
        return found

    def next_number(self, code: str, year: int) -> int:
        """The number the next invoice of `code` in `year` will take."""
        return int(self.series_of(code)["next"].get(str(year), 1))

    def head_break(self) -> dict[str, Any] | None:
        """None if the chain head is the huella recomputed from the last record's fields;
        else what is wrong: ``{record_index, reason, expected, actual}``."""
        record = self.last_record
        if record is None:
            if self.last_huella == "" and self.record_count == 0:
                return None
            computed, reason = "", "head_without_record"
        else:
            try:
                computed, reason = verifactu.huella(record["fields"]), "huella_mismatch"
            except (KeyError, TypeError, verifactu.VerifactuError) as error:
                computed, reason = "", f"malformed: {error}"
            if computed == self.last_huella == record.get("huella"):
                return None
        return {
            "record_index": self.record_count,
            "reason": reason,
            "expected": computed,
            "actual": self.last_huella,
        }

    # -- commands ---------------------------------------------------------------------

    def set_simplified_limit(self, limit: object, *, actor: str) -> None:
        """Set the highest total (VAT included, EUR) of its simplified invoices: 400.00 in
        general, up to 3,000.00 for the activities of art. 4.2 RD 1619/2012 (the issuer
        answers for being one of them). No event if the limit does not change."""
        value = simplified_limit_of(limit)
        if value != self.simplified_limit:
            self._simplified_limit_set(limit=f"{value:f}", actor=actor)

    @event("SimplifiedLimitSet")
    def _simplified_limit_set(self, *, limit: str, actor: str) -> None:
        self.simplified_limit = Decimal(limit)

    def add_series(self, code: object, pattern: object, *, actor: str) -> None:
        """Open a numbering series (code: 1 to 10 upper-case letters or digits)."""
        text = code.strip() if isinstance(code, str) else ""
        if not SERIES_CODE.fullmatch(text):
            raise InvalidCommandError(
                "series code must be 1 to 10 upper-case letters or digits", field="code"
            )
        if text in self.series:
            raise SeriesExistsError(f"the issuer already has series {text}")
        self._series_added(code=text, pattern=check_pattern(pattern, text), actor=actor)

    @event("SeriesAdded")
    def _series_added(self, *, code: str, pattern: str, actor: str) -> None:
        self.series = {**self.series, code: {"pattern": pattern, "next": {}, "last_date": {}}}

    def take_number(self, series: str, year: int, *, actor: str, on: date | None = None) -> str:
        """Take the next number of `series` in `year` and return it formatted.

        Gapless and strictly increasing: the number is the year's counter, which only this
        method moves, by one. `on` (the issue date, in `year`) may not be earlier than the
        date of the series' last number that year.
        """
        found = self.series_of(series)
        if isinstance(year, bool) or not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR:
            raise InvalidCommandError(f"year must be {MIN_YEAR}..{MAX_YEAR}", field="year")
        day = None
        if on is not None:
            if on.year != year:
                raise IssueDateError(f"issue date {on} is not in {year}", field="issue_date")
            last = found["last_date"].get(str(year))
            if last is not None and on.isoformat() < last:
                raise IssueDateError(
                    f"series {series} already issued on {last}; numbers follow dates, so "
                    f"{on} cannot take the next number",
                    field="issue_date",
                )
            day = on.isoformat()
        number = self.next_number(series, year)
        text = format_number(found["pattern"], series=series, year=year, number=number)
        self._number_taken(
            series=series, year=year, number=number, invoice_number=text, on=day, actor=actor
        )
        return text

    @event("NumberTaken")
    def _number_taken(
        self,
        *,
        series: str,
        year: int,
        number: int,
        invoice_number: str,
        on: str | None,
        actor: str,
    ) -> None:
        current = self.series[series]
        last_date = dict(current["last_date"])
        if on is not None:
            last_date[str(year)] = on
        self.series = {
            **self.series,
            series: {
                **current,
                "next": {**current["next"], str(year): number + 1},
                "last_date": last_date,
            },
        }

    def append_record(self, record: Mapping[str, Any], *, invoice_id: UUID, actor: str) -> int:
        """Append a VERI*FACTU record that links to the current head; return its index
        (1 for the first record)."""
        try:
            fields = record["fields"]
            kind = verifactu.record_type(fields)
            computed = verifactu.huella(fields)
        except (KeyError, TypeError, verifactu.VerifactuError) as error:
            raise VerifactuRecordError(f"malformed record: {error}", field="record") from None
        if record.get("record_type") != kind or record.get("huella") != computed:
            raise VerifactuRecordError(
                "the record's type or huella does not match its fields", field="record"
            )
        issuer_field = "IDEmisorFactura" if kind == "alta" else "IDEmisorFacturaAnulada"
        if fields[issuer_field] != self.tax_id:
            raise VerifactuRecordError(
                f"the record names issuer {fields[issuer_field]}, not {self.tax_id}",
                field="record",
            )
        for link in (record.get("previous_huella"), fields["Huella"]):
            if link != self.last_huella:
                raise ChainHeadMismatchError(expected=self.last_huella, actual=str(link))
        index = self.record_count + 1
        self._record_appended(
            index=index,
            invoice_id=invoice_id,
            record={
                "record_type": kind,
                "fields": dict(fields),
                "huella": computed,
                "previous_huella": self.last_huella,
            },
            actor=actor,
        )
        return index

    @event("RecordAppended")
    def _record_appended(
        self, *, index: int, invoice_id: UUID, record: dict[str, Any], actor: str
    ) -> None:
        self.last_huella = record["huella"]
        self.record_count = index
        self.last_record = record


def issuer_snapshot(issuer: Issuer) -> dict[str, Any]:
    """The issuer's public, JSON-ready state."""
    return {
        "id": str(issuer.id),
        "version": issuer.version,
        "legal_name": issuer.legal_name,
        "tax_id": issuer.tax_id,
        "address": dict(issuer.address),
        "series": [
            {
                "code": code,
                "pattern": s["pattern"],
                "next_numbers": {year: int(n) for year, n in sorted(s["next"].items())},
            }
            for code, s in sorted(issuer.series.items())
        ],
        "chain": {"last_huella": issuer.last_huella, "count": issuer.record_count},
        "simplified_limit": f"{issuer.simplified_limit:f}",
        "created_at": format_timestamp(issuer.created_on),
        "modified_at": format_timestamp(issuer.modified_on),
    }
