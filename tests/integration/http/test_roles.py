"""API key roles over HTTP: who may call what (``crm_ledger.api.permissions``).

* the table covers every route of the app (a new router cannot be open to all), every
  route is checked by ``authorize``, and the table keeps the policy: admin everywhere, the
  auditor reads everything and writes nothing, only admin and auditor read the ledger;
* each role, on a real app: a representative allowed and refused request per area, with
  the exact problem (403 ``forbidden_for_role``) and nothing written when refused;
* a sweep over every route of the app for every non-admin role: refused exactly when the
  table says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from crm_ledger.api import permissions
from crm_ledger.api.app import create_app
from crm_ledger.api.problems import TYPE_BASE
from crm_ledger.domain.api_key import Role
from crm_ledger.settings import Settings
from tests.integration.http.conftest import Api
from tests.integration.http.openapi_spec import operations

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
SOME_ID = "00000000-0000-4000-8000-000000000001"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The real app (SQLite behind it; its routes do not depend on the database)."""
    directory = tmp_path_factory.mktemp("roles")
    settings = Settings(database_url=f"sqlite:///{directory}/crm.db", data_dir=directory / "data")
    built = create_app(settings)
    yield built
    built.state.crm.close()


def api_routes(app: FastAPI) -> list[tuple[str, str, Any]]:
    """(METHOD, path, route context) of every API route of `app`, health included."""
    found = []
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            for method in sorted(context.methods or ()):
                found.append((method, str(context.path), context))
    return found


def guarded_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(METHOD, path) of every API route that needs a key."""
    return [(m, p) for m, p, _ in api_routes(app) if p not in permissions.PUBLIC_PATHS]


# --- the table ------------------------------------------------------------------------


def test_the_app_has_the_routes_expected(app: FastAPI) -> None:
    """The checks below see the whole API (so they cannot pass on nothing)."""
    routes = guarded_routes(app)
    assert len(routes) >= 130, len(routes)
    assert {
        ("POST", "/contacts"),
        ("POST", "/invoices/{invoice_id}/issue"),
        ("GET", "/ledger/keys"),
        ("GET", "/payables"),
    } <= set(routes)
    assert {("GET", "/healthz"), ("GET", "/readyz")} <= {(m, p) for m, p, _ in api_routes(app)}


def test_every_route_has_a_rule(app: FastAPI) -> None:
    """Every route needing a key has a rule in the table (no fallback to admin only)."""
    assert [] == [f"{m} {p}" for m, p in guarded_routes(app) if permissions.rule_for(m, p) is None]


def test_the_table_names_only_routes_that_exist(app: FastAPI) -> None:
    """No stale rule: every exact entry is a route, every area has a route."""
    routes = set(guarded_routes(app))
    resources = {permissions.resource_of(p) for _, p in routes}
    assert [] == [key for key in permissions.ROUTES if key not in routes]
    assert [] == [area for area in permissions.AREAS if area not in resources]


def unchecked_routes(app: FastAPI) -> list[str]:
    """``METHOD path`` of every API route whose first dependency is not ``authorize``."""
    return [
        f"{method} {path}"
        for method, path, context in api_routes(app)
        if not context.dependant.dependencies
        or context.dependant.dependencies[0].call is not permissions.authorize
    ]


def test_every_route_is_checked_by_authorize(app: FastAPI) -> None:
    """``authorize`` is a dependency of every API route, health included (it lets the
    public paths through), and runs first."""
    assert [] == unchecked_routes(app)


def test_the_route_checks_can_fail() -> None:
    """A router included without ``install`` is caught; ``install`` after a router is
    refused; a route outside the table has no rule and is open to admin only."""
    router = APIRouter(prefix="/gadgets")

    @router.get("/{gadget_id}")
    def read_gadget(gadget_id: str) -> str:
        return gadget_id

    bare = FastAPI()
    bare.include_router(router)
    assert ["GET /gadgets/{gadget_id}"] == unchecked_routes(bare)
    with pytest.raises(RuntimeError, match="before including routers"):
        permissions.install(bare)
    guarded = FastAPI()
    permissions.install(guarded)
    guarded.include_router(router)
    assert [] == unchecked_routes(guarded)
    assert permissions.rule_for("GET", "/gadgets/{gadget_id}") is None
    assert {Role.ADMIN} == permissions.allowed_roles("GET", "/gadgets/{gadget_id}")


def test_route_templates_are_the_full_paths(app: FastAPI) -> None:
    """``authorize`` looks a route up by its own template: routers are included without a
    prefix of their own, so that template is the path the table names."""
    assert [] == [
        f"{m} {p}" for m, p, context in api_routes(app) if context.original_route.path != p
    ]


def test_the_table_keeps_the_policy(app: FastAPI) -> None:
    """Admin may call everything; the auditor exactly every read (and, like everyone, its
    own session and second factor under ``/auth``); the ledger is read by admin and
    auditor only; sales never issues, cancels or rectifies an invoice."""
    wrong = []
    for method, path in guarded_routes(app):
        roles = permissions.allowed_roles(method, path)
        if Role.ADMIN not in roles:
            wrong.append(f"admin refused {method} {path}")
        if path.startswith("/auth/"):
            if roles != set(Role):
                wrong.append(f"{method} {path} (one's own session) not open to every role")
            continue
        if (Role.AUDITOR in roles) != (method in permissions.READ_METHODS):
            wrong.append(f"auditor {sorted(roles)} on {method} {path}")
        if path.startswith("/ledger") and roles != {Role.ADMIN, Role.AUDITOR}:
            wrong.append(f"ledger {method} {path} open to {sorted(roles)}")
        if path.startswith("/invoices") and method in WRITES and Role.SALES in roles:
            wrong.append(f"sales may {method} {path}")
    assert [] == wrong


def test_openapi_names_the_roles_of_every_operation(app: FastAPI) -> None:
    """Every operation needing a key lists its roles in ``x-roles``; health has none."""
    spec = app.openapi()
    documented = {(m, p): op.get("x-roles") for m, p, op in operations(spec)}
    assert documented[("GET", "/healthz")] is None
    assert ["admin", "auditor"] == documented[("GET", "/ledger/keys")]
    assert ["accountant", "admin"] == documented[("POST", "/invoices/{invoice_id}/issue")]
    expected = {
        (m, p): sorted(r.value for r in permissions.allowed_roles(m, p))
        for m, p in guarded_routes(app)
    }
    assert expected == {key: documented.get(key) for key in expected}
    assert "forbidden_for_role" in spec["info"]["description"]


# --- each role on a real app --------------------------------------------------------


class Keys:
    """One client per role, all on the same app."""

    def __init__(self, api: Api) -> None:
        self.admin = api
        self.by_role: dict[str, Api] = {"admin": api}
        for role in ("sales", "accountant", "auditor"):
            _, token = api.crm.issue_api_key(name=f"{role} key", role=role, actor="system:tests")
            self.by_role[role] = Api(api.client, api.crm, token)

    def __getitem__(self, role: str) -> Api:
        return self.by_role[role]


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert status == response.status_code, response.text
    return dict(response.json())


def refused(response: Any, role: str, method: str, template: str) -> dict[str, Any]:
    """`response` is the 403 problem refusing `role` the route `method` `template`."""
    assert 403 == response.status_code, response.text
    assert "application/problem+json" == response.headers["content-type"]
    body = dict(response.json())
    assert "forbidden_for_role" == body["code"]
    assert TYPE_BASE + "forbidden_for_role" == body["type"]
    assert 403 == body["status"]
    assert f"the {role} role may not {method} {template}" in body["detail"]
    return body


def match(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


def setup_records(admin: Api) -> dict[str, Any]:
    """A customer, an issuer and a draft invoice, made by admin."""
    customer = ok(
        admin.post(
            "/contacts",
            json={
                "kind": "organisation",
                "name": "Cliente SA",
                "tax_id": "A87654321",
                "addresses": [{"line1": "Gran Via 2", "city": "Madrid", "country": "ES"}],
            },
        ),
        201,
    )
    issuer = ok(
        admin.post(
            "/issuers",
            json={
                "legal_name": "Acme Soluciones SL",
                "tax_id": "B12345678",
                "address": {"line1": "Calle Mayor 1", "city": "Madrid", "country": "ES"},
                "series": [{"code": "A", "pattern": "{series}-{year}-{number:06d}"}],
            },
        ),
        201,
    )
    return {"customer": customer, "issuer": issuer}


def draft_body(records: dict[str, Any]) -> dict[str, Any]:
    return {
        "issuer_id": records["issuer"]["id"],
        "series": "A",
        "customer_id": records["customer"]["id"],
        "lines": [{"description": "Widget", "quantity": "2", "unit_price": "10", "vat_rate": "21"}],
    }


def test_contacts_sales_writes_accountant_reads_auditor_refused(api: Api) -> None:
    """Contacts: sales registers and edits, the accountant only reads, the auditor only
    reads; a refused write writes nothing, and 403 comes before 428 and 422."""
    keys = Keys(api)
    contact = ok(keys["sales"].post("/contacts", json={"kind": "person", "name": "Ana"}), 201)
    url = f"/contacts/{contact['id']}"
    ok(keys["sales"].patch(url, json={"name": "Ana B"}, headers=match(contact["version"])))
    for role in ("accountant", "auditor"):
        assert "Ana B" == ok(keys[role].get(url))["name"]
        before = api.event_count()
        new = {"kind": "person", "name": "X"}
        refused(keys[role].post("/contacts", json=new), role, "POST", "/contacts")
        refused(keys[role].patch(url, json={"name": "Y"}), role, "PATCH", "/contacts/{contact_id}")
        refused(keys[role].post("/contacts", json={"kind": 7}), role, "POST", "/contacts")
        assert before == api.event_count()
    assert "Ana B" == ok(api.get(url))["name"]


def test_invoices_accountant_issues_sales_reads_only(api: Api) -> None:
    """Invoices: the accountant drafts and issues; sales and auditor read the invoice but
    may not draft, issue or cancel it."""
    keys = Keys(api)
    records = setup_records(api)
    refused(keys["sales"].post("/invoices", json=draft_body(records)), "sales", "POST", "/invoices")
    draft = ok(keys["accountant"].post("/invoices", json=draft_body(records)), 201)
    url = f"/invoices/{draft['id']}"
    for role in ("sales", "auditor"):
        refused(
            keys[role].post(url + "/issue", headers=match(draft["version"])),
            role,
            "POST",
            "/invoices/{invoice_id}/issue",
        )
        assert "draft" == ok(keys[role].get(url))["status"]
    issued = ok(keys["accountant"].post(url + "/issue", headers=match(draft["version"])))
    assert "issued" == issued["status"]
    for role in ("sales", "auditor"):
        refused(
            keys[role].post(url + "/cancel", json={"reason": "x"}, headers=match(2)),
            role,
            "POST",
            "/invoices/{invoice_id}/cancel",
        )
        assert "issued" == ok(keys[role].get(url))["status"]
    ok(keys["accountant"].get(f"/issuers/{records['issuer']['id']}/verifactu/records"))
    refused(
        keys["sales"].get(f"/issuers/{records['issuer']['id']}"),
        "sales",
        "GET",
        "/issuers/{issuer_id}",
    )


def test_ledger_is_read_by_admin_and_auditor_only(api: Api) -> None:
    """The ledger: admin and auditor read it; sales and accountant get 403."""
    keys = Keys(api)
    api.post("/contacts", json={"kind": "person", "name": "P"})
    api.client.app.state.checkpoints.cut(force=True)  # type: ignore[attr-defined]
    for role in ("admin", "auditor"):
        assert ok(keys[role].get("/ledger/checkpoints/latest"))["size"] >= 1
        assert 200 == keys[role].get("/ledger/keys").status_code
        ok(keys[role].get("/ledger/entries/0"))
    for role in ("sales", "accountant"):
        refused(keys[role].get("/ledger/keys"), role, "GET", "/ledger/keys")
        refused(keys[role].get("/ledger/entries/0"), role, "GET", "/ledger/entries/{leaf_index}")


def test_auditor_reads_everything_and_writes_nothing(api: Api) -> None:
    """The auditor: GET on contacts, invoices, purchasing, reports, alarms answers; every
    kind of write (POST, PUT, PATCH, DELETE) is refused with the exact problem."""
    keys = Keys(api)
    auditor = keys["auditor"]
    records = setup_records(api)
    product = ok(api.post("/products", json={"sku": "W-1", "name": "Widget"}), 201)
    for url in (
        "/contacts",
        f"/contacts/{records['customer']['id']}/history",
        f"/issuers/{records['issuer']['id']}",
        "/products",
        "/suppliers",
        "/payables",
        "/alarms",
        "/reports/receivables",
        "/reports/forecast",
    ):
        assert 200 == auditor.get(url).status_code, url
    new = {"kind": "person", "name": "A"}
    body = refused(auditor.post("/contacts", json=new), "auditor", "POST", "/contacts")
    assert "/contacts" == body["instance"]
    assert body["detail"].endswith("(allowed: admin, sales)")
    refused(
        auditor.request("DELETE", f"/segments/{SOME_ID}", headers=match(1)),
        "auditor",
        "DELETE",
        "/segments/{segment_id}",
    )
    refused(
        auditor.request("PUT", f"/price-lists/{SOME_ID}/validity", json={}),
        "auditor",
        "PUT",
        "/price-lists/{price_list_id}/validity",
    )
    refused(
        auditor.patch(f"/products/{product['id']}", json={"name": "Z"}, headers=match(1)),
        "auditor",
        "PATCH",
        "/products/{product_id}",
    )


def test_sales_and_accountant_areas(api: Api) -> None:
    """Sales: CRM work, reads the catalog, may not change it nor touch purchasing.
    Accountant: purchasing and receivables, not deals, leads or the sales forecast."""
    keys = Keys(api)
    sales, accountant = keys["sales"], keys["accountant"]
    records = setup_records(api)
    stages = [{"name": "Qualified", "probability": 20, "forecast_category": "pipeline"}]
    ok(sales.post("/leads", json={"name": "Lead L", "source": "web"}), 201)
    ok(sales.post("/pipelines", json={"name": "Main", "stages": stages}), 201)
    ok(sales.get("/products"))
    ok(sales.get("/reports/forecast"))
    refused(sales.post("/products", json={"sku": "S", "name": "S"}), "sales", "POST", "/products")
    refused(sales.get("/suppliers"), "sales", "GET", "/suppliers")
    refused(sales.get("/reports/receivables"), "sales", "GET", "/reports/receivables")
    refused(
        sales.post(f"/orders/{SOME_ID}/invoice", headers=match(1)),
        "sales",
        "POST",
        "/orders/{order_id}/invoice",
    )

    supplier = {
        "contact_id": records["customer"]["id"],
        "legal_name": "Proveedor SL",
        "tax_id": "B76543210",
    }
    ok(accountant.post("/suppliers", json=supplier), 201)
    ok(accountant.get("/reports/receivables"))
    ok(accountant.get("/products"))
    refused(accountant.get("/leads"), "accountant", "GET", "/leads")
    refused(accountant.get("/reports/forecast"), "accountant", "GET", "/reports/forecast")
    refused(accountant.post("/deals", json={"title": "D"}), "accountant", "POST", "/deals")
    refused(
        accountant.post("/leads", json={"name": "L"}),
        "accountant",
        "POST",
        "/leads",
    )


def test_without_a_key_401_and_health_stays_open(api: Api) -> None:
    """No key is still 401 (not 403); the health endpoints need none."""
    assert 401 == api.client.get("/contacts").status_code
    assert 401 == api.client.get("/ledger/keys").status_code
    assert 200 == api.client.get("/healthz").status_code
    assert 200 == api.client.get("/readyz").status_code


# --- every route, every role ---------------------------------------------------------


def concrete(path: str) -> str:
    """`path` with every parameter filled in (an id that names nothing)."""
    return re.sub(r"\{(\w+)\}", lambda m: "0" if m.group(1) == "leaf_index" else SOME_ID, path)


def test_every_route_refuses_exactly_the_roles_the_table_refuses(api: Api) -> None:
    """Each non-admin role calls every route of the app (an id that names nothing, no
    body): 403 ``forbidden_for_role`` exactly when the table leaves the role out."""
    keys = Keys(api)
    app = api.client.app
    assert isinstance(app, FastAPI)
    wrong = []
    checked = 0
    for method, path in guarded_routes(app):
        allowed = permissions.allowed_roles(method, path)
        for role in ("sales", "accountant", "auditor"):
            response = keys[role].request(method, concrete(path), headers=match(1))
            checked += 1
            denied = response.status_code == 403
            if response.status_code == 401:
                wrong.append(f"{role} {method} {path}: 401")
            code = response.json().get("code") if denied else None
            if (role in allowed) == denied or (denied and code != "forbidden_for_role"):
                wrong.append(f"{role} {method} {path}: {response.status_code} {code}")
    assert checked >= 3 * 130
    assert [] == wrong
