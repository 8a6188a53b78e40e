"""Errors of the sales domain (pipelines and deals), under the one ``DomainError`` root.

::

    DomainError
    ├── NotFoundError
    │   └── StageNotFoundError        the pipeline has no stage with that id
    ├── InvalidCommandError
    │   ├── StageOrderError           a reorder that is not a permutation of the active stages
    │   └── DealAmountRequiredError   a deal can be won only with an amount above zero
    ├── PipelineError                 a command the pipeline's state does not allow
    │   ├── StageRetiredError         the stage is retired (no deals enter it, no changes)
    │   ├── StageInUseError           retiring a stage that still holds open deals
    │   └── PipelineEmptyError        retiring the last active stage
    └── DealError                     a command the deal's state does not allow
        ├── DealClosedError           the deal is won or lost; reopen it first
        ├── DealNotClosedError        reopening a deal that is open
        └── DealCurrencyLockedError   the currency is fixed once an amount above zero is set
"""

from __future__ import annotations

from crm_ledger.domain.errors import DomainError, InvalidCommandError, NotFoundError


class StageNotFoundError(NotFoundError):
    """The pipeline has no stage with that id."""

    title = "Stage not found"
    code = "stage_not_found"

    def __init__(self, stage_id: str) -> None:
        self.stage_id = stage_id
        super().__init__(kind="stage", id=stage_id)


class StageOrderError(InvalidCommandError):
    """A new stage order must list every active stage exactly once."""

    title = "Invalid stage order"
    code = "invalid_stage_order"


class DealAmountRequiredError(InvalidCommandError):
    """A deal is won only with an amount above zero."""

    title = "Deal amount required"
    code = "deal_amount_required"


class PipelineError(DomainError):
    """A command that the pipeline's current state does not allow."""

    title = "Pipeline state conflict"
    code = "pipeline_conflict"


class StageRetiredError(PipelineError):
    """The stage is retired: deals cannot enter it and it cannot change."""

    title = "Stage retired"
    code = "stage_retired"


class StageInUseError(PipelineError):
    """The stage still holds open deals; `open_deals` says how many."""

    title = "Stage in use"
    code = "stage_in_use"

    def __init__(self, *, stage_id: str, open_deals: int) -> None:
        self.stage_id, self.open_deals = stage_id, open_deals
        super().__init__(
            f"stage {stage_id} still holds {open_deals} open deal(s); move or close them first"
        )


class PipelineEmptyError(PipelineError):
    """A pipeline keeps at least one active stage."""

    title = "Pipeline needs an active stage"
    code = "pipeline_empty"


class DealError(DomainError):
    """A command that the deal's current state does not allow."""

    title = "Deal state conflict"
    code = "deal_conflict"


class DealClosedError(DealError):
    """The deal is won or lost; reopen it first."""

    title = "Deal closed"
    code = "deal_closed"


class DealNotClosedError(DealError):
    """Only a won or lost deal can be reopened."""

    title = "Deal not closed"
    code = "deal_not_closed"


class DealCurrencyLockedError(DealError):
    """The currency can change only while the amount is unset or zero."""

    title = "Deal currency locked"
    code = "deal_currency_locked"
