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

from collections.abc import Sequence

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


# -- catalog: products and price lists --------------------------------------------------
#
#   NotFoundError
#   ├── PriceNotFoundError      the price list has no price for that product
#   └── NoPriceError            no valid price list prices the product for that request
#   InvalidCommandError
#   └── ValidityPeriodError     a price list's valid_until is before its valid_from
#   ProductError                a command the product's state does not allow
#   ├── SkuTakenError           another product already has that SKU
#   ├── ProductInactiveError    the product is inactive (no changes, no prices)
#   └── ProductActiveError      activating a product that is active
#   PriceListError              a command the price list's state does not allow
#   └── PriceListRetiredError   the price list is retired (no changes)


class PriceNotFoundError(NotFoundError):
    """The price list has no price for that product."""

    title = "Price not found"
    code = "price_not_found"

    def __init__(self, *, price_list_id: str, product_id: str) -> None:
        self.price_list_id, self.product_id = price_list_id, product_id
        super().__init__(kind="price for product", id=f"{product_id} in price list {price_list_id}")


class NoPriceError(NotFoundError):
    """No active price list valid on the date prices the product in the currency."""

    title = "No price"
    code = "no_price"

    def __init__(self, *, product_id: str, currency: str, on: str, quantity: str) -> None:
        self.product_id, self.currency, self.on, self.quantity = product_id, currency, on, quantity
        DomainError.__init__(
            self,
            f"no active {currency} price list valid on {on} prices product {product_id} "
            f"for quantity {quantity}",
        )
        self.kind, self.id = "price", product_id


class ValidityPeriodError(InvalidCommandError):
    """A validity period ends on or after the day it starts."""

    title = "Invalid validity period"
    code = "invalid_validity_period"


class ProductError(DomainError):
    """A command that the product's current state does not allow."""

    title = "Product state conflict"
    code = "product_conflict"


class SkuTakenError(ProductError):
    """Another product already has that SKU (SKUs compare case-insensitively)."""

    title = "SKU taken"
    code = "sku_taken"

    def __init__(self, sku: str) -> None:
        self.sku = sku
        super().__init__(f"another product already has SKU {sku}")


class ProductInactiveError(ProductError):
    """The product is inactive: activate it first."""

    title = "Product inactive"
    code = "product_inactive"


class ProductActiveError(ProductError):
    """Only an inactive product can be activated."""

    title = "Product active"
    code = "product_active"


class PriceListError(DomainError):
    """A command that the price list's current state does not allow."""

    title = "Price list state conflict"
    code = "price_list_conflict"


class PriceListRetiredError(PriceListError):
    """The price list is retired: it takes no changes and prices nothing."""

    title = "Price list retired"
    code = "price_list_retired"


# -- leads ------------------------------------------------------------------------------
#   DomainError
#   ├── LeadError                    a command the lead's state does not allow
#   │   ├── LeadConvertedError       the lead is converted: frozen, every change refused
#   │   └── LeadStatusError          the command is not allowed from the current status
#   └── PossibleDuplicateError       contacts with the same email / tax id / phone exist


class LeadError(DomainError):
    """A command that the lead's current state does not allow."""

    title = "Lead state conflict"
    code = "lead_conflict"


class LeadConvertedError(LeadError):
    """The lead is converted; it can no longer change."""

    title = "Lead converted"
    code = "lead_converted"


class LeadErasedError(LeadError):
    """The lead's personal data was erased; it can no longer change."""

    title = "Lead erased"
    code = "lead_erased"


class LeadStatusError(LeadError):
    """`command` is not allowed while the lead is `status`."""

    title = "Lead status does not allow this"
    code = "lead_status_conflict"

    def __init__(self, *, lead_id: object, status: str, command: str) -> None:
        self.status, self.command = status, command
        super().__init__(f"lead {lead_id} is {status}: {command} is not allowed")


class PossibleDuplicateError(DomainError):
    """Contacts with the same email, tax id or phone exist (`matches`, as ``{contact_id,
    name, matched_on}``), or open leads with the same email (`lead_matches`, as
    ``{lead_id, name, matched_on}``). Repeat with ``force`` to proceed anyway."""

    title = "Possible duplicate contacts"
    code = "possible_duplicates"

    def __init__(
        self,
        matches: list[dict[str, object]],
        lead_matches: Sequence[dict[str, object]] = (),
    ) -> None:
        self.matches = matches
        self.lead_matches = list(lead_matches)
        found = f"{len(matches)} existing contact(s) share an email, tax id or phone"
        if self.lead_matches:
            found += f" and {len(self.lead_matches)} open lead(s) an email"
        super().__init__(f"{found}; repeat with force=true to proceed anyway")


# -- activities -------------------------------------------------------------------------
#   InvalidCommandError
#   └── ActivityLinkError            links are 1..20 {type: contact|deal|lead, id: uuid}
#   ActivityError                    a command the activity's state does not allow
#   ├── ActivityNotTaskError         complete/reopen/reassign on a call, email, meeting, note
#   ├── ActivityCompletedError       completing twice, or cancelling a completed task
#   ├── ActivityNotCompletedError    reopening a task that is not completed
#   └── ActivityCancelledError       any change to a cancelled activity


class ActivityLinkError(InvalidCommandError):
    """An activity is linked to 1 to 20 contacts, deals or leads, each ``{type, id}``."""

    title = "Invalid activity link"
    code = "invalid_activity_link"


class ActivityError(DomainError):
    """A command that the activity's current state does not allow."""

    title = "Activity state conflict"
    code = "activity_conflict"


class ActivityNotTaskError(ActivityError):
    """Only a task can be completed, reopened or reassigned."""

    title = "Activity is not a task"
    code = "activity_not_task"


class ActivityCompletedError(ActivityError):
    """The task is already completed (reopen it first)."""

    title = "Task already completed"
    code = "activity_completed"


class ActivityNotCompletedError(ActivityError):
    """Only a completed task can be reopened."""

    title = "Task not completed"
    code = "activity_not_completed"


class ActivityCancelledError(ActivityError):
    """The activity is cancelled and no longer changes."""

    title = "Activity cancelled"
    code = "activity_cancelled"


# -- deal lines -------------------------------------------------------------------------
#   NotFoundError
#   └── DealLineNotFoundError        the deal has no line with that id
#   DealError
#   └── DealAmountFromLinesError     setting the amount of a deal that has lines
#   (a currency change while lines exist is DealCurrencyLockedError; a line change on a
#   won or lost deal is DealClosedError)


class DealLineNotFoundError(NotFoundError):
    """The deal has no line with that id."""

    title = "Deal line not found"
    code = "deal_line_not_found"

    def __init__(self, line_id: str) -> None:
        self.line_id = line_id
        super().__init__(kind="deal line", id=line_id)


class DealAmountFromLinesError(DealError):
    """While a deal has lines its amount is the sum of their totals: change the lines."""

    title = "Deal amount comes from its lines"
    code = "deal_amount_from_lines"
