"""The Pipeline aggregate: an ordered list of sales stages.

A stage is a plain dict ``{stage_id, name, probability, forecast_category, retired}``;
``stage_id`` is a UUID string chosen at command time and carried by the event. Retired
stages stay in the list (old deals and history still name them) but take no new deals.
Whether a stage still holds open deals is not known here: the service checks that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from crm_ledger.domain.errors import InvalidCommandError
from crm_ledger.domain.sales_errors import (
    PipelineEmptyError,
    StageNotFoundError,
    StageOrderError,
    StageRetiredError,
)
from crm_ledger.ledger.envelope import format_timestamp

MAX_NAME = 200
MAX_STAGE_NAME = 100
MAX_STAGES = 50


class ForecastCategory(StrEnum):
    """Where a stage's deals count in a forecast."""

    PIPELINE = "pipeline"
    BEST_CASE = "best_case"
    COMMIT = "commit"
    CLOSED = "closed"


def _text(value: object, field: str, limit: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > limit:
        raise InvalidCommandError(f"{field} must have 1 to {limit} characters", field=field)
    return text


def stage_id_of(value: object) -> str:
    """The canonical form of a stage id (a UUID string); StageNotFoundError if malformed."""
    try:
        return str(value if isinstance(value, UUID) else UUID(str(value)))
    except ValueError:
        raise StageNotFoundError(str(value)) from None


def new_stage(
    *, name: object, probability: object, forecast_category: object, stage_id: str
) -> dict[str, Any]:
    """A checked, normalised stage (InvalidCommandError when a value is invalid)."""
    if isinstance(probability, bool) or not isinstance(probability, int):
        raise InvalidCommandError("probability must be an integer", field="probability")
    if not 0 <= probability <= 100:
        raise InvalidCommandError("probability must be 0 to 100 (percent)", field="probability")
    try:
        category = ForecastCategory(str(forecast_category)).value
    except ValueError:
        allowed = ", ".join(c.value for c in ForecastCategory)
        raise InvalidCommandError(
            f"forecast_category must be one of {allowed}", field="forecast_category"
        ) from None
    return {
        "stage_id": stage_id_of(stage_id),
        "name": _text(name, "name", MAX_STAGE_NAME),
        "probability": probability,
        "forecast_category": category,
        "retired": False,
    }


def _check_unique(names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        key = name.casefold()
        if key in seen:
            raise InvalidCommandError(f"two active stages are named {name!r}", field="stages")
        seen.add(key)


class Pipeline(Aggregate):
    """A named, ordered list of stages that deals move through."""

    @event("Created")
    def __init__(self, *, name: str, stages: list[dict[str, Any]], actor: str) -> None:
        self.name = name
        self.stages = stages
        self.created_by = actor

    @classmethod
    def create(cls, *, name: str, stages: Iterable[Mapping[str, Any]], actor: str) -> Pipeline:
        """Create a pipeline with 1 to 50 stages (ids are assigned here)."""
        checked = [
            new_stage(
                name=s.get("name"),
                probability=s.get("probability"),
                forecast_category=s.get("forecast_category"),
                stage_id=str(s.get("stage_id") or uuid4()),
            )
            for s in stages
        ]
        if not 1 <= len(checked) <= MAX_STAGES:
            raise InvalidCommandError(f"a pipeline needs 1 to {MAX_STAGES} stages", field="stages")
        _check_unique(s["name"] for s in checked)
        if len({s["stage_id"] for s in checked}) != len(checked):
            raise InvalidCommandError("stage ids must be unique", field="stages")
        return cls(name=_text(name, "name", MAX_NAME), stages=checked, actor=actor)

    # -- queries ----------------------------------------------------------------------

    def stage(self, stage_id: object) -> dict[str, Any]:
        """The stage with `stage_id` (retired or not); StageNotFoundError otherwise."""
        wanted = stage_id_of(stage_id)
        for stage in self.stages:
            if stage["stage_id"] == wanted:
                return stage
        raise StageNotFoundError(wanted)

    def active_stage(self, stage_id: object) -> dict[str, Any]:
        """The stage with `stage_id`; StageRetiredError when it is retired."""
        stage = self.stage(stage_id)
        if stage["retired"]:
            raise StageRetiredError(f"stage {stage['stage_id']} ({stage['name']}) is retired")
        return stage

    @property
    def active_stage_ids(self) -> list[str]:
        """The ids of the active stages, in order."""
        return [s["stage_id"] for s in self.stages if not s["retired"]]

    def _active_names(self, *, besides: str | None = None) -> list[str]:
        return [s["name"] for s in self.stages if not s["retired"] and s["stage_id"] != besides]

    # -- commands ---------------------------------------------------------------------

    def add_stage(
        self,
        *,
        name: str,
        probability: int,
        forecast_category: str,
        actor: str,
        stage_id: str | None = None,
    ) -> str:
        """Append a stage; return its id."""
        stage = new_stage(
            name=name,
            probability=probability,
            forecast_category=forecast_category,
            stage_id=stage_id or str(uuid4()),
        )
        if len(self.stages) >= MAX_STAGES:
            raise InvalidCommandError(f"a pipeline has at most {MAX_STAGES} stages", field="stages")
        if any(s["stage_id"] == stage["stage_id"] for s in self.stages):
            raise InvalidCommandError("stage ids must be unique", field="stage_id")
        _check_unique([*self._active_names(), stage["name"]])
        self._stage_added(stage=stage, actor=actor)
        return str(stage["stage_id"])

    @event("StageAdded")
    def _stage_added(self, *, stage: dict[str, Any], actor: str) -> None:
        self.stages = [*self.stages, stage]

    def rename_stage(self, stage_id: object, *, name: str, actor: str) -> None:
        """Rename an active stage (same name: no event)."""
        stage = self.active_stage(stage_id)
        new_name = _text(name, "name", MAX_STAGE_NAME)
        if new_name == stage["name"]:
            return
        _check_unique([*self._active_names(besides=stage["stage_id"]), new_name])
        self._stage_renamed(stage_id=stage["stage_id"], name=new_name, actor=actor)

    @event("StageRenamed")
    def _stage_renamed(self, *, stage_id: str, name: str, actor: str) -> None:
        self.stages = [{**s, "name": name} if s["stage_id"] == stage_id else s for s in self.stages]

    def reorder_stages(self, stage_ids: Iterable[object], *, actor: str) -> None:
        """Put the active stages in the given order (retired stages keep the tail).

        `stage_ids` must be a permutation of the active stage ids; same order: no event.
        """
        try:
            wanted = [str(UUID(str(i))) for i in stage_ids]
        except ValueError:
            raise StageOrderError("stage ids must be UUIDs", field="stage_ids") from None
        active = self.active_stage_ids
        if len(wanted) != len(active) or set(wanted) != set(active):
            raise StageOrderError(
                "stage_ids must list every active stage exactly once", field="stage_ids"
            )
        if wanted == active:
            return
        retired = [s["stage_id"] for s in self.stages if s["retired"]]
        self._stages_reordered(order=[*wanted, *retired], actor=actor)

    @event("StagesReordered")
    def _stages_reordered(self, *, order: list[str], actor: str) -> None:
        self.stages = sorted(self.stages, key=lambda s: order.index(s["stage_id"]))

    def retire_stage(self, stage_id: object, *, actor: str) -> None:
        """Retire an active stage (the service first checks that it holds no open deal)."""
        stage = self.active_stage(stage_id)
        if self.active_stage_ids == [stage["stage_id"]]:
            raise PipelineEmptyError(f"stage {stage['stage_id']} is the last active stage")
        self._stage_retired(stage_id=stage["stage_id"], actor=actor)

    @event("StageRetired")
    def _stage_retired(self, *, stage_id: str, actor: str) -> None:
        self.stages = [
            {**s, "retired": True} if s["stage_id"] == stage_id else s for s in self.stages
        ]


def pipeline_snapshot(pipeline: Pipeline) -> dict[str, Any]:
    """The pipeline's public, JSON-ready state."""
    return {
        "id": str(pipeline.id),
        "version": pipeline.version,
        "name": pipeline.name,
        "stages": [dict(s) for s in pipeline.stages],
        "created_at": format_timestamp(pipeline.created_on),
        "modified_at": format_timestamp(pipeline.modified_on),
    }
