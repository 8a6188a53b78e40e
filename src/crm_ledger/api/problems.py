"""RFC 9457 problem details: the one translation table from errors to HTTP.

Routes pick no status codes for failures: they raise, and the handlers here answer.
Every ``DomainError`` subclass must appear in ``DOMAIN_STATUS`` (a test enforces it).
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from crm_ledger.domain import document_errors as de
from crm_ledger.domain import errors as e
from crm_ledger.domain import invoicing_errors as ie
from crm_ledger.domain import purchasing_errors as pe
from crm_ledger.domain import sales_errors as se
from crm_ledger.domain import segment as sg
from crm_ledger.domain import webhook as wh
from crm_ledger.domain.api_key import ApiKeyRevokedError
from crm_ledger.domain.campaign import CampaignCodeTakenError, CampaignError
from crm_ledger.domain.case import CaseError
from crm_ledger.domain.consent_purpose import PurposeDefinedError
from crm_ledger.domain.user import UserError
from crm_ledger.users import (
    AccountLockedError,
    AuthenticationFailedError,
    ConfirmationFailedError,
)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "tag:crm-ledger,2026:problem/"

DOMAIN_STATUS: dict[type[e.DomainError], int] = {
    e.DomainError: 400,
    e.NotFoundError: 404,
    e.VersionConflictError: 412,
    e.PreconditionRequiredError: 428,
    e.InvalidCommandError: 422,
    e.ContactError: 409,
    e.ContactArchivedError: 409,
    e.ContactAlreadyArchivedError: 409,
    e.ContactNotArchivedError: 409,
    e.ContactKindChangeError: 422,
    e.OrganisationLinkError: 422,
    e.ContactMergedError: 409,
    e.ContactErasedError: 409,
    e.ContactMergeError: 422,
    e.ContactSelfMergeError: 422,
    e.ContactKindMismatchError: 422,
    ApiKeyRevokedError: 409,
    CaseError: 409,
    CampaignError: 409,
    CampaignCodeTakenError: 409,
    PurposeDefinedError: 409,
    UserError: 409,
    AuthenticationFailedError: 401,
    ConfirmationFailedError: 403,
    AccountLockedError: 429,
    se.StageNotFoundError: 404,
    se.StageOrderError: 422,
    se.DealAmountRequiredError: 422,
    se.PipelineError: 409,
    se.StageRetiredError: 409,
    se.StageInUseError: 409,
    se.PipelineEmptyError: 409,
    se.DealError: 409,
    se.DealClosedError: 409,
    se.DealNotClosedError: 409,
    se.DealCurrencyLockedError: 409,
    se.DealLineNotFoundError: 404,
    se.DealAmountFromLinesError: 409,
    se.PriceNotFoundError: 404,
    se.NoPriceError: 404,
    se.ValidityPeriodError: 422,
    se.ProductError: 409,
    se.SkuTakenError: 409,
    se.ProductInactiveError: 409,
    se.ProductActiveError: 409,
    se.PriceListError: 409,
    se.PriceListRetiredError: 409,
    se.LeadError: 409,
    se.LeadConvertedError: 409,
    se.LeadErasedError: 409,
    se.LeadStatusError: 409,
    se.PossibleDuplicateError: 409,
    se.ActivityLinkError: 422,
    se.ActivityError: 409,
    se.ActivityNotTaskError: 409,
    se.ActivityCompletedError: 409,
    se.ActivityNotCompletedError: 409,
    se.ActivityCancelledError: 409,
    ie.SeriesNotFoundError: 404,
    ie.SeriesPatternError: 422,
    ie.CustomerTaxIdRequiredError: 422,
    ie.InvoiceLinesRequiredError: 422,
    ie.IssueDateError: 422,
    ie.RectificationTypeError: 422,
    ie.VerifactuRecordError: 422,
    ie.IssuerError: 409,
    ie.SeriesExistsError: 409,
    ie.ChainHeadMismatchError: 409,
    ie.ChainContendedError: 409,
    ie.InvoiceError: 409,
    ie.InvoiceIssuedError: 409,
    ie.InvoiceNotIssuedError: 409,
    ie.InvoiceCancelledError: 409,
    ie.InvoiceOverpaymentError: 409,
    ie.PaymentAllocationNotFoundError: 404,
    ie.PaymentCustomerMismatchError: 422,
    ie.PaymentCurrencyMismatchError: 422,
    ie.PaymentError: 409,
    ie.PaymentVoidedError: 409,
    ie.PaymentCreditExceededError: 409,
    ie.PaymentRefundedError: 409,
    ie.SimplifiedInvoiceLimitError: 422,
    ie.SimplifiedInvoiceCurrencyError: 422,
    ie.CorrectionLimitError: 409,
    de.DocumentLinesRequiredError: 422,
    de.ValidUntilError: 422,
    de.DeliveryLineError: 422,
    de.QuoteError: 409,
    de.QuoteStatusError: 409,
    de.QuoteExpiredError: 409,
    de.OrderError: 409,
    de.OrderStatusError: 409,
    de.OverDeliveryError: 409,
    de.NothingToInvoiceError: 409,
    de.OverInvoicingError: 409,
    de.DeliveryNoteError: 409,
    de.DeliveryNoteSignedError: 409,
    de.DeliveryNoteInvoicedError: 409,
    pe.InvalidIbanError: 422,
    pe.PurchaseDateError: 422,
    pe.PurchaseLinesRequiredError: 422,
    pe.SupplierError: 409,
    pe.SupplierInactiveError: 409,
    pe.PurchaseInvoiceError: 409,
    pe.PurchaseInvoiceDuplicateError: 409,
    pe.PurchaseInvoiceStatusError: 409,
    pe.PurchaseInvoicePaidError: 409,
    pe.PaymentRefTakenError: 409,
    pe.OverpaymentError: 409,
    sg.SegmentFilterError: 422,
    sg.SegmentError: 409,
    sg.SegmentDeletedError: 410,
    wh.WebhookUrlError: 422,
    wh.WebhookError: 409,
    wh.WebhookDeletedError: 410,
}


class ProblemError(Exception):
    """An HTTP-level failure that is not a domain rule (auth, headers, limits)."""

    def __init__(
        self, status: int, code: str, title: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.headers = headers or {}


def problem_body(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    request_id: str | None = None,
    **extra: Any,
) -> bytes:
    """The JSON bytes of a problem document."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return orjson.dumps(body)


def problem_response(
    request: Request | None,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A problem response for `request`."""
    request_id = getattr(request.state, "request_id", None) if request is not None else None
    instance = request.url.path if request is not None else None
    return Response(
        problem_body(
            status, code, title, detail, instance=instance, request_id=request_id, **extra
        ),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def status_of(exc: e.DomainError) -> int:
    """The HTTP status of a domain error (explicit entry, else nearest base)."""
    for cls in type(exc).__mro__:
        if cls in DOMAIN_STATUS:
            return DOMAIN_STATUS[cls]
    return 400


def _pointer(loc: tuple[Any, ...]) -> dict[str, str]:
    where, *rest = loc or ("body",)
    path = "".join(f"/{str(p).replace('~', '~0').replace('/', '~1')}" for p in rest)
    if where == "body":
        return {"pointer": path or "/"}
    if where == "header":
        return {"header": str(rest[0]) if rest else ""}
    return {"parameter": str(rest[0]) if rest else str(where)}


def install(app: FastAPI) -> None:
    """Register the exception handlers on `app`."""

    @app.exception_handler(e.DomainError)
    async def domain_error(request: Request, exc: e.DomainError) -> Response:
        extra: dict[str, Any] = {}
        field = getattr(exc, "field", None)
        if field:
            extra["errors"] = [{"pointer": f"/{field}", "detail": exc.detail}]
        return problem_response(request, status_of(exc), exc.code, exc.title, exc.detail, **extra)

    @app.exception_handler(ProblemError)
    async def api_problem(request: Request, exc: ProblemError) -> Response:
        return problem_response(request, exc.status, exc.code, exc.title, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(err.get("type") == "json_invalid" for err in errors):
            return problem_response(
                request,
                400,
                "malformed_json",
                "Malformed JSON",
                "the request body is not valid JSON",
            )
        items = [
            {**_pointer(tuple(err.get("loc", ()))), "detail": err.get("msg", "")} for err in errors
        ]
        return problem_response(
            request,
            422,
            "validation_failed",
            "Validation failed",
            f"{len(items)} invalid field(s)",
            errors=items,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem_response(
            request,
            exc.status_code,
            code,
            str(exc.detail),
            str(exc.detail),
            dict(exc.headers or {}),
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def database_down(request: Request, _exc: Exception) -> Response:
        return problem_response(
            request,
            503,
            "database_unavailable",
            "Database unavailable",
            "the database cannot be reached; retry later",
            {"Retry-After": "2"},
        )
