"""The pipeline read model: one row per deal and one per pipeline stage, for the reports
of ``/pipeline/...`` (board, owners, slipping deals, stage ageing).

Only the events that change what the reports show are followed: a deal's creation,
field updates (title, amount, currency, expected close, owner), moves, wins, losses,
reopenings and product-line changes (each carries the new amount); a pipeline's creation
and stage changes. Any other deal event (e.g. ``ContactRelinked``, or one added later) is
never selected by topic, and would be ignored if it were given.

**Money.** Amounts are kept as integer *cents* (``amount_cents``, ``NULL`` when the deal
has no amount): ``SUM`` over integers is exact on both SQLite and PostgreSQL, and no
amount ever passes through a float. A weighted amount is ``amount x probability / 100``;
the reports compute it exactly in integer "cent-percents" (``cents x probability``),
add those up, and round **once** per reported figure to cents, half up. So a stage's
weighted total is the rounded weighted value of its total, and an owner's weighted total
(across stages of different probabilities) is rounded once, not per stage.

**Days.** ``entered_stage_at`` is the RFC 3339 time of the deal's creation or of its
last move (a reopened deal is back in the stage it was in, since it entered it); the
days a deal has been in its stage on a day ``as_of`` are whole UTC calendar days from the
date of ``entered_stage_at`` to ``as_of``, never below 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from eventsourcing.utils import get_topic

from crm_ledger.domain.deal import Deal
from crm_ledger.domain.pipeline import Pipeline
from crm_ledger.projections.base import Dispatching, Handler
from crm_ledger.storage.sql import Tx

DEALS = "proj_pipeline_deals"
STAGES = "proj_pipeline_stages"
SEP = "\x01"
CENT = Decimal("0.01")
OPEN, WON, LOST = "open", "won", "lost"

_DDL = (
    "CREATE TABLE IF NOT EXISTS proj_pipeline_stages ("
    " pipeline_id TEXT NOT NULL,"
    " stage_id TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " probability INTEGER NOT NULL,"
    " sort_order INTEGER NOT NULL,"
    " retired INTEGER NOT NULL,"
    " PRIMARY KEY (pipeline_id, stage_id))",
    "CREATE TABLE IF NOT EXISTS proj_pipeline_deals ("
    " id TEXT PRIMARY KEY,"
    " pipeline_id TEXT NOT NULL,"
    " stage_id TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " title TEXT NOT NULL,"
    " amount_cents {bigint},"
    " currency TEXT NOT NULL,"
    " owner TEXT,"
    " expected_close TEXT,"
    " close_key {bintext},"
    " entered_stage_at TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " closed_at TEXT)",
    "CREATE INDEX IF NOT EXISTS proj_pipeline_deals_board"
    " ON proj_pipeline_deals (pipeline_id, status, stage_id)",
    "CREATE INDEX IF NOT EXISTS proj_pipeline_deals_close"
    " ON proj_pipeline_deals (status, close_key)",
)

DEAL_EVENTS = (
    "Created",
    "Updated",
    "Moved",
    "Won",
    "Lost",
    "Reopened",
    "LineAdded",
    "LineUpdated",
    "LineRemoved",
)
PIPELINE_EVENTS = ("Created", "StageAdded", "StageRenamed", "StagesReordered", "StageRetired")


def _event_classes() -> list[tuple[str, type]]:
    """(``Deal.X`` / ``Pipeline.X``, class) for each followed event the domain defines."""
    found: list[tuple[str, type]] = []
    for owner, names in ((Deal, DEAL_EVENTS), (Pipeline, PIPELINE_EVENTS)):
        for name in names:
            cls = getattr(owner, name, None)
            if isinstance(cls, type):
                found.append((f"{owner.__name__}.{name}", cls))
    return found


def pipeline_topics() -> tuple[str, ...]:
    """Topics of the deal and pipeline events this read model follows."""
    return tuple(get_topic(cls) for _, cls in _event_classes())


def cents(text: object) -> int | None:
    """Money text (``"1234.50"``) as integer cents; None stays None."""
    if text is None:
        return None
    return int((Decimal(str(text)) * 100).to_integral_exact())


def money(value_cents: int) -> str:
    """Integer cents as money text (``123450`` -> ``"1234.50"``)."""
    return f"{Decimal(value_cents).scaleb(-2).quantize(CENT):f}"


def weighted_money(cent_percents: int) -> str:
    """``cents x probability`` (exact) as money text, rounded once to cents, half up."""
    return f"{(Decimal(cent_percents) / 10000).quantize(CENT, rounding=ROUND_HALF_UP):f}"


def close_key(expected_close: str | None, deal_id: str) -> str | None:
    """Keyset sort key of the slipping list: expected close date, then id."""
    return None if expected_close is None else f"{expected_close}{SEP}{deal_id}"


class PipelineProjection(Dispatching):
    """Maintains ``proj_pipeline_deals`` and ``proj_pipeline_stages``."""

    name = "pipeline"
    statements = _DDL

    def __init__(self) -> None:
        self.topics = pipeline_topics()
        handlers: dict[str, Handler] = {
            "Deal.Created": self._deal_created,
            "Deal.Updated": self._deal_updated,
            "Deal.Moved": self._deal_moved,
            "Deal.Won": self._deal_won,
            "Deal.Lost": self._deal_lost,
            "Deal.Reopened": self._deal_reopened,
            "Deal.LineAdded": self._deal_amount,
            "Deal.LineUpdated": self._deal_amount,
            "Deal.LineRemoved": self._deal_amount,
            "Pipeline.Created": self._pipeline_created,
            "Pipeline.StageAdded": self._stage_added,
            "Pipeline.StageRenamed": self._stage_renamed,
            "Pipeline.StagesReordered": self._stages_reordered,
            "Pipeline.StageRetired": self._stage_retired,
        }
        self._handlers: dict[type, Handler] = {cls: handlers[key] for key, cls in _event_classes()}

    # -- deals --------------------------------------------------------------------------

    def _deal_created(self, tx: Tx, event: Any) -> None:
        deal_id = str(event.originator_id)
        tx.execute(
            f"INSERT INTO {DEALS} (id, pipeline_id, stage_id, status, title, amount_cents,"
            " currency, owner, expected_close, close_key, entered_stage_at, created_at,"
            " closed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,NULL)",
            (
                deal_id,
                str(event.pipeline_id),
                str(event.stage_id),
                OPEN,
                event.title,
                cents(event.amount),
                event.currency,
                event.owner,
                event.expected_close,
                close_key(event.expected_close, deal_id),
                event.at,
                event.at,
            ),
        )

    def _deal_updated(self, tx: Tx, event: Any) -> None:
        changes: dict[str, Any] = dict(event.changes)
        deal_id = str(event.originator_id)
        columns: dict[str, Any] = {}
        if "title" in changes:
            columns["title"] = changes["title"]
        if "amount" in changes:
            columns["amount_cents"] = cents(changes["amount"])
        if "currency" in changes:
            columns["currency"] = changes["currency"]
        if "owner" in changes:
            columns["owner"] = changes["owner"]
        if "expected_close" in changes:
            columns["expected_close"] = changes["expected_close"]
            columns["close_key"] = close_key(changes["expected_close"], deal_id)
        self._set(tx, deal_id, columns)

    def _deal_amount(self, tx: Tx, event: Any) -> None:
        self._set(tx, str(event.originator_id), {"amount_cents": cents(event.amount)})

    def _deal_moved(self, tx: Tx, event: Any) -> None:
        columns = {"stage_id": str(event.stage_id), "entered_stage_at": event.at}
        self._set(tx, str(event.originator_id), columns)

    def _deal_won(self, tx: Tx, event: Any) -> None:
        self._set(tx, str(event.originator_id), {"status": WON, "closed_at": event.at})

    def _deal_lost(self, tx: Tx, event: Any) -> None:
        self._set(tx, str(event.originator_id), {"status": LOST, "closed_at": event.at})

    def _deal_reopened(self, tx: Tx, event: Any) -> None:
        self._set(tx, str(event.originator_id), {"status": OPEN, "closed_at": None})

    @staticmethod
    def _set(tx: Tx, deal_id: str, columns: dict[str, Any]) -> None:
        if not columns:
            return
        assignments = ", ".join(f"{name} = ?" for name in columns)
        tx.execute(f"UPDATE {DEALS} SET {assignments} WHERE id = ?", (*columns.values(), deal_id))

    # -- pipelines ----------------------------------------------------------------------

    def _pipeline_created(self, tx: Tx, event: Any) -> None:
        pipeline_id = str(event.originator_id)
        tx.executemany(
            f"INSERT INTO {STAGES} (pipeline_id, stage_id, name, probability, sort_order,"
            " retired) VALUES (?,?,?,?,?,?)",
            [
                (
                    pipeline_id,
                    s["stage_id"],
                    s["name"],
                    int(s["probability"]),
                    index,
                    1 if s["retired"] else 0,
                )
                for index, s in enumerate(event.stages)
            ],
        )

    def _stage_added(self, tx: Tx, event: Any) -> None:
        pipeline_id = str(event.originator_id)
        count = tx.scalar(f"SELECT COUNT(*) FROM {STAGES} WHERE pipeline_id = ?", (pipeline_id,))
        stage = event.stage
        tx.execute(
            f"INSERT INTO {STAGES} (pipeline_id, stage_id, name, probability, sort_order,"
            " retired) VALUES (?,?,?,?,?,?)",
            (
                pipeline_id,
                stage["stage_id"],
                stage["name"],
                int(stage["probability"]),
                int(count or 0),
                1 if stage["retired"] else 0,
            ),
        )

    def _stage_renamed(self, tx: Tx, event: Any) -> None:
        tx.execute(
            f"UPDATE {STAGES} SET name = ? WHERE pipeline_id = ? AND stage_id = ?",
            (event.name, str(event.originator_id), event.stage_id),
        )

    def _stages_reordered(self, tx: Tx, event: Any) -> None:
        pipeline_id = str(event.originator_id)
        tx.executemany(
            f"UPDATE {STAGES} SET sort_order = ? WHERE pipeline_id = ? AND stage_id = ?",
            [(index, pipeline_id, stage_id) for index, stage_id in enumerate(event.order)],
        )

    def _stage_retired(self, tx: Tx, event: Any) -> None:
        tx.execute(
            f"UPDATE {STAGES} SET retired = 1 WHERE pipeline_id = ? AND stage_id = ?",
            (str(event.originator_id), event.stage_id),
        )


# -- queries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """A stage as the reports show it."""

    stage_id: str
    name: str
    probability: int
    retired: bool


def stages_of(tx: Tx, pipeline_id: str) -> list[Stage]:
    """The pipeline's stages in board order (retired ones too); empty if it is unknown."""
    rows = tx.all(
        f"SELECT stage_id, name, probability, retired FROM {STAGES}"
        " WHERE pipeline_id = ? ORDER BY sort_order, stage_id",
        (pipeline_id,),
    )
    return [Stage(str(r[0]), str(r[1]), int(r[2]), bool(r[3])) for r in rows]


class _Sums:
    """Count, cents and cent-percents per currency."""

    def __init__(self) -> None:
        self.by_currency: dict[str, list[int]] = {}

    def add(self, currency: str, count: int, amount_cents: int, probability: int) -> None:
        entry = self.by_currency.setdefault(currency, [0, 0, 0])
        entry[0] += count
        entry[1] += amount_cents
        entry[2] += amount_cents * probability

    @property
    def count(self) -> int:
        return sum(v[0] for v in self.by_currency.values())

    def totals(self, *, weighted: bool = True) -> list[dict[str, Any]]:
        rows = []
        for currency in sorted(self.by_currency):
            count, amount_cents, cent_percents = self.by_currency[currency]
            row: dict[str, Any] = {"currency": currency, "count": count}
            row["amount"] = money(amount_cents)
            if weighted:
                row["weighted"] = weighted_money(cent_percents)
            rows.append(row)
        return rows


def _int(value: Any) -> int:
    """An integer SQL result (PostgreSQL's ``SUM(bigint)`` is a ``Decimal``)."""
    if isinstance(value, float):
        raise TypeError("a float reached a money sum")
    return int(value or 0)


def _grouped(tx: Tx, pipeline_id: str) -> list[tuple[Any, ...]]:
    """(owner, stage_id, status, currency, count, cents) groups of the pipeline's deals.

    Every column is named once: PostgreSQL rows come back as dicts keyed by name."""
    return tx.all(
        "SELECT owner, stage_id, status, currency, COUNT(*), SUM(COALESCE(amount_cents, 0))"
        f" FROM {DEALS} WHERE pipeline_id = ? GROUP BY owner, stage_id, status, currency",
        (pipeline_id,),
    )


def board(tx: Tx, pipeline_id: str, stages: list[Stage]) -> dict[str, Any]:
    """Open deals per stage (count and totals per currency: amount and weighted), in
    stage order, plus won and lost totals. A retired stage is listed only while it
    holds open deals; a deal without an amount counts with 0."""
    probability = {s.stage_id: s.probability for s in stages}
    per_stage: dict[str, _Sums] = {s.stage_id: _Sums() for s in stages}
    closed = {WON: _Sums(), LOST: _Sums()}
    for _, stage_id, status, currency, count, total in _grouped(tx, pipeline_id):
        if status == OPEN:
            sums = per_stage.setdefault(str(stage_id), _Sums())
            sums.add(str(currency), _int(count), _int(total), probability.get(str(stage_id), 0))
        else:
            closed[str(status)].add(str(currency), _int(count), _int(total), 0)
    rows = []
    for stage in stages:
        sums = per_stage[stage.stage_id]
        if stage.retired and not sums.count:
            continue
        rows.append(
            {
                "stage_id": stage.stage_id,
                "name": stage.name,
                "probability": stage.probability,
                "retired": stage.retired,
                "count": sums.count,
                "totals": sums.totals(),
            }
        )
    return {
        "pipeline_id": pipeline_id,
        "stages": rows,
        "won": {"count": closed[WON].count, "totals": closed[WON].totals(weighted=False)},
        "lost": {"count": closed[LOST].count, "totals": closed[LOST].totals(weighted=False)},
    }


def owners(tx: Tx, pipeline_id: str, stages: list[Stage]) -> dict[str, Any]:
    """Open deals per owner (count and totals per currency: amount and weighted by each
    deal's stage probability, rounded once), owners by name, no owner last."""
    probability = {s.stage_id: s.probability for s in stages}
    per_owner: dict[str | None, _Sums] = {}
    for owner, stage_id, status, currency, count, total in _grouped(tx, pipeline_id):
        if status != OPEN:
            continue
        sums = per_owner.setdefault(None if owner is None else str(owner), _Sums())
        sums.add(str(currency), _int(count), _int(total), probability.get(str(stage_id), 0))
    order = sorted(per_owner, key=lambda o: (o is None, o or ""))
    return {
        "pipeline_id": pipeline_id,
        "owners": [
            {"owner": o, "count": per_owner[o].count, "totals": per_owner[o].totals()}
            for o in order
        ],
    }


def days_between(start: str, as_of: date) -> int:
    """Whole days from the UTC date of the RFC 3339 time `start` to `as_of` (0 if after)."""
    return max(0, (as_of - date.fromisoformat(start[:10])).days)


def ageing(tx: Tx, pipeline_id: str, stages: list[Stage], as_of: date) -> dict[str, Any]:
    """Per stage, its open deals: count, average days in the stage (one decimal, half up;
    None when empty) and the most days."""
    days: dict[str, list[int]] = {s.stage_id: [] for s in stages}
    rows = tx.all(
        f"SELECT stage_id, entered_stage_at FROM {DEALS} WHERE pipeline_id = ? AND status = ?",
        (pipeline_id, OPEN),
    )
    for stage_id, entered in rows:
        days.setdefault(str(stage_id), []).append(days_between(str(entered), as_of))
    result = []
    for stage in stages:
        ages = days[stage.stage_id]
        if stage.retired and not ages:
            continue
        average = (
            None
            if not ages
            else f"{(Decimal(sum(ages)) / len(ages)).quantize(Decimal('0.1'), ROUND_HALF_UP):f}"
        )
        result.append(
            {
                "stage_id": stage.stage_id,
                "name": stage.name,
                "count": len(ages),
                "average_days": average,
                "max_days": max(ages) if ages else None,
            }
        )
    return {"pipeline_id": pipeline_id, "as_of": as_of.isoformat(), "stages": result}


@dataclass(frozen=True)
class SlippingFilter:
    """Filters of ``GET /pipeline/slipping``: open deals expected to close before
    `as_of`, optionally of one pipeline or owner."""

    as_of: date
    pipeline_id: str | None = None
    owner: str | None = None


def slipping(
    tx: Tx, filters: SlippingFilter, *, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of slipping deals, oldest expected close first, and the sort key to pass
    as `after` for the next page (or None)."""
    where = ["d.status = ?", "d.close_key < ?"]
    params: list[Any] = [OPEN, f"{filters.as_of.isoformat()}{SEP}"]
    if filters.pipeline_id is not None:
        where.append("d.pipeline_id = ?")
        params.append(filters.pipeline_id)
    if filters.owner is not None:
        where.append("d.owner = ?")
        params.append(filters.owner)
    if after is not None:
        where.append("d.close_key > ?")
        params.append(after)
    rows = tx.all(
        "SELECT d.id, d.title, d.pipeline_id, d.stage_id, s.name, d.owner, d.amount_cents,"
        f" d.currency, d.expected_close, d.close_key FROM {DEALS} d LEFT JOIN {STAGES} s"
        " ON s.pipeline_id = d.pipeline_id AND s.stage_id = d.stage_id"
        f" WHERE {' AND '.join(where)} ORDER BY d.close_key LIMIT ?",
        (*params, limit + 1),
    )
    items = [
        {
            "deal_id": r[0],
            "title": r[1],
            "pipeline_id": r[2],
            "stage_id": r[3],
            "stage_name": r[4],
            "owner": r[5],
            "amount": None if r[6] is None else money(_int(r[6])),
            "currency": r[7],
            "expected_close": r[8],
            "days_overdue": (filters.as_of - date.fromisoformat(str(r[8]))).days,
        }
        for r in rows[:limit]
    ]
    next_key = str(rows[limit - 1][9]) if len(rows) > limit else None
    return items, next_key
