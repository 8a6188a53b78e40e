"""The OpenAPI document explains itself: summaries, and request examples that are valid.

* every operation has a summary or a description;
* every JSON request body has at least one example (``examples`` on the model, i.e.
  ``model_config = ConfigDict(json_schema_extra={"examples": [...]})``, or on the body
  itself with ``Body(examples=...)`` / ``openapi_examples``);
* every example of a request model is accepted by that model (parsed as JSON, the way a
  request is), so an example cannot drift from the fields it shows.

Every path is checked. ``EXCLUDED`` and ``AWAITING_EXAMPLES`` stay as hooks for work in
progress: an entry in ``AWAITING_EXAMPLES`` makes ``test_awaiting_examples_are_still_missing``
fail as soon as it gets its example, so it is removed then rather than forgotten.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest
from fastapi import Body, FastAPI
from pydantic import BaseModel, ConfigDict

from tests.integration.http.openapi_spec import build_openapi, operations, resolve

EXCLUDED = re.compile(r"^$")  # every path is checked
AWAITING_EXAMPLES: set[str] = set()


def in_scope(path: str) -> bool:
    return EXCLUDED.match(path) is None


def _json_media(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    content = (operation.get("requestBody") or {}).get("content", {})
    return {t: m for t, m in content.items() if t == "application/json" or t.endswith("+json")}


def body_examples(spec: dict[str, Any], media: dict[str, Any]) -> list[Any]:
    """Every example of a JSON body: on the media type (``example``, ``examples`` values),
    on the body schema (``Body(examples=...)`` sits next to the ``$ref``), and on the
    model behind it (for an optional body ``X | None``, on X)."""
    found = [media["example"]] if "example" in media else []
    found += [e.get("value") for e in (media.get("examples") or {}).values()]
    schema = media.get("schema", {})
    alternatives = [*schema.get("anyOf", []), *schema.get("oneOf", [])]
    for part in [schema, *alternatives]:
        for node in (part, resolve(spec, part)):
            found += node.get("examples") or []
            found += [node["example"]] if "example" in node else []
    return found


def written_summary(operation: dict[str, Any]) -> str:
    """The operation's summary unless FastAPI made it up from the function name
    (``create_deal`` -> ``Create Deal``, also the start of the operationId)."""
    summary = (operation.get("summary") or "").strip()
    made_up = summary.replace(" ", "_").lower()
    if made_up and operation.get("operationId", "").lower().startswith(made_up + "_"):
        return ""
    return summary


def missing_summaries(spec: dict[str, Any]) -> list[str]:
    """``METHOD path`` of every in-scope operation without a written summary or a
    description (the endpoint's docstring)."""
    return [
        f"{method} {path}"
        for method, path, op in operations(spec)
        if in_scope(path) and not written_summary(op) and not (op.get("description") or "").strip()
    ]


def missing_examples(spec: dict[str, Any]) -> list[str]:
    """``METHOD path`` of every in-scope operation whose JSON body has no example."""
    return [
        f"{method} {path}"
        for method, path, op in operations(spec)
        if in_scope(path) and any(not body_examples(spec, m) for m in _json_media(op).values())
    ]


def request_models() -> dict[str, type[BaseModel]]:
    """Pydantic models of the loaded ``crm_ledger.api.schemas`` modules, by class name."""
    found: dict[str, type[BaseModel]] = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("crm_ledger.api.schemas."):
            for value in vars(module).values():
                model = isinstance(value, type) and issubclass(value, BaseModel)
                if model and value.__module__ == name:
                    found[value.__name__] = value
    return found


def invalid_examples(spec: dict[str, Any], models: dict[str, type[BaseModel]]) -> list[str]:
    """Examples of in-scope request bodies that the body's model refuses."""
    problems = []
    for method, path, op in operations(spec):
        if not in_scope(path):
            continue
        for media in _json_media(op).values():
            schema = media.get("schema", {})
            refs = [s["$ref"] for s in [schema, *schema.get("anyOf", [])] if "$ref" in s]
            if len(refs) != 1:
                problems.append(f"{method} {path}: body is not one model: {schema}")
                continue
            component = refs[0].rsplit("/", 1)[-1]
            model = models.get(component.removesuffix("-Input"))
            if model is None:
                problems.append(f"{method} {path}: no model found for {component}")
                continue
            for example in body_examples(spec, media):
                try:
                    model.model_validate_json(json.dumps(example))
                except ValueError as exc:
                    problems.append(f"{method} {path}: {component} example refused: {exc}")
    return problems


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The OpenAPI document of the app (SQLite behind it; the schema does not depend on it)."""
    return build_openapi(tmp_path_factory.mktemp("openapi"))


def test_operations_are_found(spec: dict[str, Any]) -> None:
    """The checks see the resources they must (so they cannot pass on nothing)."""
    seen = {f"{m} {p}" for m, p, _ in operations(spec) if in_scope(p)}
    assert {
        "POST /deals",
        "POST /pipelines",
        "POST /leads",
        "PUT /price-lists/{price_list_id}/prices/{product_id}",
        "POST /activities",
        "GET /healthz",
    } <= seen
    bodies = [f"{m} {p}" for m, p, op in operations(spec) if in_scope(p) and _json_media(op)]
    assert len(bodies) >= 20, bodies


def test_every_operation_has_a_summary(spec: dict[str, Any]) -> None:
    """Every operation says what it does (summary or description)."""
    assert [] == missing_summaries(spec)


def test_every_json_body_has_an_example(spec: dict[str, Any]) -> None:
    """Every JSON request body shows at least one example (known gaps listed above)."""
    assert [] == [o for o in missing_examples(spec) if o not in AWAITING_EXAMPLES]


def test_awaiting_examples_are_still_missing(spec: dict[str, Any]) -> None:
    """An entry of AWAITING_EXAMPLES that got its example must leave the list."""
    assert AWAITING_EXAMPLES <= set(missing_examples(spec))


def test_request_examples_are_valid(spec: dict[str, Any]) -> None:
    """Every example of a request model is accepted by that model."""
    assert [] == invalid_examples(spec, request_models())


class Shown(BaseModel):
    """A body with an example on the model."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"n": "1"}]})

    n: str


class Wrong(BaseModel):
    """A body whose example has a member the model does not allow."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"x": "1"}]})

    n: str


class Bare(BaseModel):
    """A body without any example."""

    n: str


def test_the_checks_can_fail() -> None:
    """A missing summary, a body without example and an invalid example are caught; an
    example on the model, on the Body, or behind an optional body counts; exclusions hold."""
    app = FastAPI()

    @app.post("/a", summary="Has it")
    def a(body: Shown) -> None: ...

    @app.post("/b")
    def b(body: Bare) -> None: ...

    @app.post("/c", description="On the Body")
    def c(body: Bare = Body(examples=[{"n": "2"}])) -> None: ...  # noqa: B008

    @app.post("/c2", summary="On the media type")
    def c2(body: Bare = Body(openapi_examples={"one": {"value": {"n": "3"}}})) -> None: ...  # noqa: B008

    @app.post("/d", summary="Optional body")
    def d(body: Shown | None = None) -> None: ...

    @app.post("/e", summary="Wrong example")
    def e(body: Wrong) -> None: ...

    @app.post("/invoices", summary="Excluded")
    def f(body: Bare) -> None: ...

    @app.post("/contacts/{contact_id}/merge")
    def g(contact_id: str, body: Bare) -> None: ...

    spec = app.openapi()
    made_up = [f"{m} {p}" for m, p, op in operations(spec) if not written_summary(op)]
    assert ["POST /b", "POST /c", "POST /contacts/{contact_id}/merge"] == made_up  # not /c2
    assert "B" == spec["paths"]["/b"]["post"]["summary"]  # FastAPI's, from the name
    # /c has a description; nothing is excluded any more, so merge's made-up summary counts
    assert ["POST /b", "POST /contacts/{contact_id}/merge"] == missing_summaries(spec)
    assert ["POST /b", "POST /invoices", "POST /contacts/{contact_id}/merge"] == missing_examples(
        spec
    )
    models = {"Shown": Shown, "Wrong": Wrong, "Bare": Bare}
    problems = invalid_examples(spec, models)
    assert 1 == len(problems), problems
    assert problems[0].startswith("POST /e: Wrong example refused")
    assert "x\n  Extra inputs are not permitted" in problems[0]
