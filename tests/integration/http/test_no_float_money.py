"""Money never passes through a binary float: not on the wire, not in the domain.

* **OpenAPI**: every money-like property or parameter of the app's OpenAPI document (its
  name has a word such as ``amount``, ``price``, ``total``, ``cost``, ``tax``,
  ``discount``, ``quantity`` or ``percent``, and none such as ``id``, ``category``,
  ``date`` or ``count``) is a decimal *string*: never typed ``number`` (nor ``integer``),
  and no example gives it a JSON number.
* **Source**: the domain modules (``src/crm_ledger/domain/*.py``, where every amount,
  price, tax and total is decided) contain no ``float(...)`` call, no float literal
  (``0.1``, ``1e3``) and no ``float`` annotation. ``isinstance(x, float)`` (refusing a
  float) is allowed. The use-case modules are not scanned: they hold timing settings
  such as retry back-offs in seconds, which are floats and not money.

Failures name the JSON pointer of the schema, or file:line of the source.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from tests.integration.http.openapi_spec import build_openapi, resolve

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "src" / "crm_ledger"

MONEY_WORDS = frozenset(
    {
        "amount",
        "price",
        "total",
        "subtotal",
        "cost",
        "tax",
        "vat",
        "discount",
        "surcharge",
        "withholding",
        "fee",
        "balance",
        "paid",
        "outstanding",
        "revenue",
        "net",
        "gross",
        "value",
        "quantity",
        "percent",
        "rate",
    }
)
NOT_MONEY_WORDS = frozenset(
    {"id", "ids", "category", "date", "at", "name", "count", "code", "version", "number"}
    | {"type", "kind", "index", "size", "year", "days", "status", "reason", "list", "lists"}
)


def money_like(name: str) -> bool:
    """Whether a property or parameter called `name` holds money (or another decimal)."""
    words = set(name.lower().replace("-", "_").split("_"))
    return bool(words & MONEY_WORDS) and not words & NOT_MONEY_WORDS


def json_types(spec: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> set[str]:
    """Every JSON type a value of `schema` may have (through refs, anyOf, oneOf, allOf)."""
    assert depth < 20, schema
    schema = resolve(spec, schema)
    found: set[str] = set()
    declared = schema.get("type")
    if isinstance(declared, str):
        found.add(declared)
    elif isinstance(declared, list):
        found.update(declared)
    for key in ("anyOf", "oneOf", "allOf"):
        for part in schema.get(key, []):
            found |= json_types(spec, part, depth + 1)
    values = [*schema.get("enum", []), *([schema["const"]] if "const" in schema else [])]
    found.update("number" for v in values if isinstance(v, float))
    found.update("integer" for v in values if isinstance(v, int) and not isinstance(v, bool))
    return found


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def number_examples(value: object, pointer: str) -> Iterator[str]:
    """Money-like members given a JSON number inside an example value."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and money_like(key) and is_number(item):
                yield f"{pointer}/{key}: example gives {item!r}, a JSON number"
            yield from number_examples(item, f"{pointer}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from number_examples(item, f"{pointer}/{i}")


def check_money_schema(spec: dict[str, Any], name: str, schema: Any, pointer: str) -> list[str]:
    """Problems of one money-like property/parameter schema."""
    problems = []
    numeric = json_types(spec, schema) & {"number", "integer"}
    if numeric:
        problems.append(
            f"{pointer} ({name}) is typed {' and '.join(sorted(numeric))}:"
            " money is a decimal string"
        )
    for key in ("examples", "example"):
        given = schema.get(key)
        samples = given if key == "examples" and isinstance(given, list) else [given]
        if key in schema and any(is_number(v) for v in samples):
            problems.append(f"{pointer} ({name}) has a JSON number in its {key}: {given!r}")
    return problems


def float_money(spec: dict[str, Any]) -> list[str]:
    """Every money-like property or parameter of `spec` that could carry a float."""
    problems: list[str] = []

    def walk(node: Any, pointer: str) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{pointer}/{i}")
            return
        if not isinstance(node, dict):
            return
        for name, schema in (node.get("properties") or {}).items():
            if money_like(name) and isinstance(schema, dict):
                problems.extend(check_money_schema(spec, name, schema, f"{pointer}/properties"))
        parameter = isinstance(node.get("name"), str) and node.get("in") and "schema" in node
        if parameter and money_like(node["name"]):
            problems.extend(check_money_schema(spec, node["name"], node["schema"], pointer))
        for key in ("examples", "example"):  # object examples: {"total": 12.5} is caught
            if key in node:
                problems.extend(number_examples(node[key], f"{pointer}/{key}"))
        for key, item in node.items():
            walk(item, f"{pointer}/{key}")

    walk(spec, "#")
    return sorted(set(problems))


# -- source -------------------------------------------------------------------------


def _mentions_float(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name) and node.id == "float":
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str):  # "float | None"
            try:
                if _mentions_float(ast.parse(node.value, mode="eval").body):
                    return True
            except SyntaxError:
                continue
    return False


def float_uses(source: str, filename: str) -> list[str]:
    """``file:line: what`` for every float call, literal or annotation in `source`."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        what = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            what = "float() call" if node.func.id == "float" else None
        elif isinstance(node, ast.Constant) and isinstance(node.value, float):
            what = f"float literal {node.value!r}"
        elif isinstance(node, ast.arg | ast.AnnAssign) and _mentions_float(node.annotation):
            what = "float annotation"
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _mentions_float(
            node.returns
        ):
            what = f"float return annotation of {node.name}()"
        line = getattr(node, "lineno", 0)
        if what:
            found.append((line, f"{filename}:{line}: {what}"))
    return [text for _, text in sorted(found)]


def money_modules() -> list[Path]:
    """The domain modules."""
    return sorted(PACKAGE.glob("domain/*.py"))


# -- tests --------------------------------------------------------------------------


class FloatLine(BaseModel):
    """A request model that gets money wrong (for the self-test)."""

    unit_price: float
    tax_rate: float | None = None
    quantity: int
    tax_id: str


class FloatTotals(BaseModel):
    """A response model whose example gives a JSON number (for the self-test)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"total": 12.5, "net": "10.00"}]})

    total: str


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The OpenAPI document of the app (SQLite behind it; the schema does not depend on it)."""
    return build_openapi(tmp_path_factory.mktemp("openapi"))


def test_money_properties_are_found(spec: dict[str, Any]) -> None:
    """The scan sees the money members it must check (so it cannot pass on nothing)."""
    components = spec["components"]["schemas"]
    seen = {
        (model, name)
        for model, schema in components.items()
        for name in schema.get("properties", {})
        if money_like(name)
    }
    assert {("DealCreate", "amount"), ("DealPublic", "amount"), ("PriceSet", "unit_price")} <= seen
    assert {("ProductCreate", "cost"), ("PriceSet", "discount_percent")} <= seen
    for name in ("tax_id", "tax_category", "due_date", "total_count", "price_list_id"):
        assert not money_like(name), name


def test_openapi_has_no_float_money(spec: dict[str, Any]) -> None:
    """No money-like property or parameter is a JSON number, or has one as an example."""
    assert [] == float_money(spec)


def test_money_modules_use_no_float() -> None:
    """No float call, literal or annotation in the domain modules."""
    modules = money_modules()
    names = {p.name for p in modules}
    assert {"deal.py", "product.py", "price_list.py", "lead.py"} <= names
    problems = []
    for path in modules:
        problems += float_uses(path.read_text(), str(path.relative_to(ROOT)))
    assert [] == problems


def test_the_checks_can_fail() -> None:
    """A float amount in a request model, a number example and float source are all caught."""

    app = FastAPI()

    @app.post("/lines")
    def add_line(body: FloatLine, min_amount: float = 0) -> FloatTotals:
        return FloatTotals(total=str(body.unit_price))

    problems = float_money(app.openapi())
    text = "\n".join(problems)
    assert "(unit_price) is typed number" in text
    assert "(tax_rate) is typed number" in text
    assert "(quantity) is typed integer" in text
    assert "(min_amount) is typed number" in text
    assert "/examples/0/total: example gives 12.5" in text
    assert "tax_id" not in text
    assert 5 == len(problems), problems

    source = (
        "from decimal import Decimal\n"
        "def total(a: float, b: 'float | None') -> float:\n"
        "    x: float = float(a)\n"
        "    return Decimal(0.1) + 1e3\n"
        "def ok(v: object) -> bool:\n"
        "    return isinstance(v, float) or v == Decimal('0.1')\n"
    )
    assert [
        "m.py:2: float annotation",
        "m.py:2: float annotation",
        "m.py:2: float return annotation of total()",
        "m.py:3: float annotation",
        "m.py:3: float() call",
        "m.py:4: float literal 0.1",
        "m.py:4: float literal 1000.0",
    ] == float_uses(source, "m.py")
