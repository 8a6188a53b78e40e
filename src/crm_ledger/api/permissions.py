"""Who may call what: one table from a route to the roles of API key allowed to call it.

Every route is checked by ``authorize``, a dependency that ``install`` puts on the app's
router before any router is included, so a route added later is checked too. The rule of
a route is its exact entry in ``ROUTES`` if it has one, else its resource's ``AREAS`` entry
(the resource is the path's first segment: ``/contacts:batch`` and
``/contacts/{contact_id}/timeline`` belong to ``contacts``). A route that is in neither is
open to ``admin`` only (fail closed); a test checks that every route of the app has a rule.

* ``admin`` may do everything;
* ``auditor`` reads everything (GET), the ledger included, and changes nothing (but, as
  every role, its own session and second factor under ``/auth``);
* ``sales`` does CRM work (contacts, leads, deals, activities, service cases,
  pipelines, segments, quotes, orders, delivery notes) and reads the catalog and invoices;
* ``accountant`` does invoicing and purchasing (issuers, invoices, payments, suppliers,
  received invoices, drafting invoices from orders and delivery notes) and reads
  contacts, the catalog and the sales documents it invoices;
* only ``admin`` and ``auditor`` read ``/ledger``; only ``admin`` changes the catalog
  (products, price lists);
* every role reads ``/changes``, whose items are filtered by their record's area;
* only ``admin`` sets up ``/webhooks`` (where the change feed is sent, and as which
  role); the auditor reads them.

A refusal is 403 ``forbidden_for_role``; ``/healthz``, ``/readyz`` and ``/auth/login`` need
no key. API keys are managed with the CLI (``crm-ledger api-keys``), not over HTTP; people's
accounts by admins at ``/users`` (or ``crm-ledger users``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from starlette.routing import Route

from crm_ledger.api.deps import authenticate
from crm_ledger.api.problems import ProblemError
from crm_ledger.domain.api_key import Role

ADMIN, SALES, ACCOUNTANT, AUDITOR = Role.ADMIN, Role.SALES, Role.ACCOUNTANT, Role.AUDITOR
READ_METHODS = frozenset({"GET", "HEAD"})
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/auth/login"})
OPENAPI_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def reads(*roles: Role) -> frozenset[Role]:
    """Readers: the roles named, plus admin and auditor (they read everything)."""
    return frozenset({ADMIN, AUDITOR, *roles})


def writes(*roles: Role) -> frozenset[Role]:
    """Writers: the roles named, plus admin (the auditor never writes)."""
    return frozenset({ADMIN, *roles})


@dataclass(frozen=True)
class Area:
    """Who may read (GET, HEAD) and who may change (POST, PUT, PATCH, DELETE) a resource."""

    read: frozenset[Role]
    write: frozenset[Role]


AREAS: dict[str, Area] = {
    # CRM work: sales
    "contacts": Area(reads(SALES, ACCOUNTANT), writes(SALES)),
    "segments": Area(reads(SALES), writes(SALES)),
    "leads": Area(reads(SALES), writes(SALES)),
    "deals": Area(reads(SALES), writes(SALES)),
    "activities": Area(reads(SALES), writes(SALES)),
    "cases": Area(reads(SALES), writes(SALES)),
    "nps": Area(reads(SALES), writes()),
    "campaigns": Area(reads(SALES), writes(SALES)),
    "consent-purposes": Area(reads(SALES, ACCOUNTANT), writes()),
    # accounts of people who log in: admin manages them, the auditor reads them
    "users": Area(reads(), writes()),
    "pipelines": Area(reads(SALES), writes(SALES)),
    "pipeline": Area(reads(SALES), writes()),
    "quotes": Area(reads(SALES, ACCOUNTANT), writes(SALES)),
    "orders": Area(reads(SALES, ACCOUNTANT), writes(SALES)),
    "delivery-notes": Area(reads(SALES, ACCOUNTANT), writes(SALES)),
    # the catalog: everyone reads it, only admin changes it
    "products": Area(reads(SALES, ACCOUNTANT), writes()),
    "price-lists": Area(reads(SALES, ACCOUNTANT), writes()),
    # invoicing and purchasing: accountant
    "issuers": Area(reads(ACCOUNTANT), writes(ACCOUNTANT)),
    "invoices": Area(reads(SALES, ACCOUNTANT), writes(ACCOUNTANT)),
    "payments": Area(reads(ACCOUNTANT), writes(ACCOUNTANT)),
    "alarms": Area(reads(ACCOUNTANT), writes()),
    "suppliers": Area(reads(ACCOUNTANT), writes(ACCOUNTANT)),
    "purchase-invoices": Area(reads(ACCOUNTANT), writes(ACCOUNTANT)),
    "payables": Area(reads(ACCOUNTANT), writes()),
    # the change feed: every reader; each item is filtered by its record's area
    "changes": Area(reads(SALES, ACCOUNTANT), writes()),
    # reports: per route below
    "reports": Area(reads(), writes()),
    # the signed ledger: admin and auditor only
    "ledger": Area(reads(), writes()),
    # where the change feed is sent: admin sets it up, the auditor sees it
    "webhooks": Area(reads(), writes()),
}

EVERYONE = frozenset(Role)

ROUTES: dict[tuple[str, str], frozenset[Role]] = {
    # one's own session and second factor, whatever the role
    ("POST", "/auth/logout"): EVERYONE,
    ("GET", "/auth/me"): EVERYONE,
    ("POST", "/auth/totp"): EVERYONE,
    ("POST", "/auth/totp/confirm"): EVERYONE,
    ("POST", "/auth/totp/disable"): EVERYONE,
    ("POST", "/auth/password"): EVERYONE,
    # a customer's credit comes from its payments: read as payments are
    ("GET", "/contacts/{contact_id}/credit"): reads(ACCOUNTANT),
    # everything about a person, payments and invoices included: admin (and the auditor)
    ("GET", "/contacts/{contact_id}/personal-data"): reads(),
    # erasing a person's data (a contact's, a lead's): admin only
    ("POST", "/contacts/{contact_id}/erasure"): writes(),
    ("POST", "/leads/{lead_id}/erasure"): writes(),
    # drafting an invoice from a sales document is invoicing
    ("POST", "/orders/{order_id}/invoice"): writes(ACCOUNTANT),
    ("POST", "/delivery-notes/{note_id}/invoice"): writes(ACCOUNTANT),
    ("GET", "/reports/revenue"): reads(SALES, ACCOUNTANT),
    ("GET", "/reports/forecast"): reads(SALES),
    ("GET", "/reports/win-rate"): reads(SALES),
    ("GET", "/reports/receivables"): reads(ACCOUNTANT),
    ("GET", "/reports/customers"): reads(SALES, ACCOUNTANT),
    ("GET", "/reports/activity"): reads(SALES),
    ("GET", "/reports/service"): reads(SALES),
    ("GET", "/reports/nps"): reads(SALES),
}

UNLISTED: frozenset[Role] = frozenset({ADMIN})


def resource_of(path: str) -> str:
    """The resource a route template belongs to: its first segment (``/contacts:batch``
    -> ``contacts``)."""
    return path.lstrip("/").split("/", 1)[0].split(":", 1)[0]


def rule_for(method: str, path: str) -> frozenset[Role] | None:
    """The roles the table allows to call `method` `path` (a route template), or None
    when the table has no rule for it."""
    method = method.upper()
    exact = ROUTES.get((method, path))
    if exact is not None:
        return exact
    area = AREAS.get(resource_of(path))
    if area is None:
        return None
    return area.read if method in READ_METHODS else area.write


def allowed_roles(method: str, path: str) -> frozenset[Role]:
    """Who may call `method` `path`: its rule, else admin only (fail closed)."""
    rule = rule_for(method, path)
    return UNLISTED if rule is None else rule


def forbidden(role: str, method: str, path: str) -> ProblemError:
    """403 ``forbidden_for_role``: `role` may not call `method` `path`."""
    allowed = ", ".join(sorted(allowed_roles(method, path)))
    return ProblemError(
        403,
        "forbidden_for_role",
        "Forbidden for this role",
        f"the {role} role may not {method} {path} (allowed: {allowed})",
    )


def route_path(request: Request) -> str:
    """The template of the route that matched `request` (its path when none did)."""
    route = request.scope.get("route")
    return route.path if isinstance(route, APIRoute) else request.url.path


async def authorize(request: Request) -> None:
    """Authenticate the caller (401) and refuse a role the table does not allow (403);
    public paths pass without a key (``async``, as `authenticate`)."""
    path = route_path(request)
    if path in PUBLIC_PATHS:
        return
    principal = await authenticate(request)
    method = request.method.upper()
    if principal.role not in allowed_roles(method, path):
        raise forbidden(principal.role, method, path)


ROLES_DESCRIPTION = """\
* Each API key has a role (`admin`, `sales`, `accountant`, `auditor`); an operation's
  `x-roles` lists the roles that may call it, others get 403 `forbidden_for_role`.
  `auditor` reads everything and changes nothing; only `admin` and `auditor` read `/ledger`.
"""


def annotate(schema: dict[str, Any]) -> dict[str, Any]:
    """Add ``x-roles`` (the roles allowed) to every operation of an OpenAPI `schema`
    except the public ones."""
    for path, item in schema.get("paths", {}).items():
        if path in PUBLIC_PATHS:
            continue
        for method, operation in item.items():
            if method in OPENAPI_METHODS:
                operation["x-roles"] = sorted(r.value for r in allowed_roles(method, path))
    return schema


def install(app: FastAPI) -> None:
    """Check every route of `app` with ``authorize`` and document the roles in its OpenAPI
    document. Call it before including any router."""
    if any(isinstance(r, APIRoute) or not isinstance(r, Route) for r in app.routes):
        raise RuntimeError("install permissions before including routers")
    app.router.dependencies.append(Depends(authorize))
    app.description = (app.description or "").rstrip("\n") + "\n" + ROLES_DESCRIPTION
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = annotate(original())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
