"""The OpenAPI schema is complete (summaries, response models, examples, security), and
schemathesis, generating requests from it against the real app with an admin key,
finds no 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.api.conftest import World

OPEN = {"/healthz", "/readyz"}
EXAMPLES = 30  # per operation


def _spec(world: World) -> dict[str, Any]:
    response = world.client.get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_operation_is_documented(world: World) -> None:
    spec = _spec(world)
    assert {"APIKeyHeader", "HTTPBearer"} <= set(spec["components"]["securitySchemes"])
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            assert op.get("summary"), where
            assert op.get("description"), where
            assert op.get("tags"), where
            ok = [c for c in op["responses"] if c.startswith("2")]
            assert ok, where
            for code in ok:
                content = op["responses"][code].get("content")
                if code != "204":
                    assert content, (where, code)
            if path not in OPEN:
                assert op.get("security"), f"{where} must need a key"
                assert ("401" in op["responses"] and "403" in op["responses"]) or \
                    path == "/metrics", where
            for code, response in op["responses"].items():
                if code[0] in "45" and path != "/metrics":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema["$ref"].endswith(("/ErrorResponse", "/Health")), (where, code)
            body = op.get("requestBody")
            if body and "application/json" in body["content"]:
                schema = _resolve(spec, body["content"]["application/json"]["schema"])
                assert schema.get("examples"), f"{where}: request body needs an example"


def test_response_models_carry_examples(world: World) -> None:
    spec = _spec(world)
    missing = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            response = op["responses"].get("200") or op["responses"].get("201") or \
                op["responses"].get("202")
            if not response or "application/json" not in response.get("content", {}):
                continue
            content = response["content"]["application/json"]
            schema = _resolve(spec, content.get("schema", {}))
            if not (schema.get("examples") or content.get("example") or content.get("examples")):
                # list wrappers show examples of their items
                items = schema.get("properties", {}).get("items", {}).get("items", {})
                if not _resolve(spec, items).get("examples") if items else True:
                    missing.append(f"{method.upper()} {path}")
    assert not missing, missing


def _operations() -> list[tuple[str, str]]:
    from api.app import create_app

    return [(method.upper(), path) for path, ops in create_app().openapi()["paths"].items()
            for method in ops]


@pytest.fixture(scope="module")
def api_schema(world: World) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", world.client.app)


@pytest.mark.parametrize(("method", "path"), _operations())
def test_no_server_errors(api_schema: Any, world: World, method: str, path: str) -> None:
    """Valid and invalid requests generated from the schema (a bounded number per
    operation, derandomized): never a 5xx, every error in the one shape."""
    operation = api_schema[path][method]
    headers = {"X-API-Key": world.keys["admin"]}
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                         operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def check(case: Any) -> None:
        response = case.call(headers=headers)
        assert response.status_code < 500, (case.method, case.formatted_path,
                                             response.text[:500])
        if response.status_code >= 400 and path != "/metrics":
            error = response.json()["error"]
            assert error["code"] and error["message"]

    check()


RESPONSE_EXAMPLES = 20  # per operation


@pytest.mark.parametrize(("method", "path"), _operations())
def test_responses_conform_to_the_schema(api_schema: Any, world: World, method: str,
                                         path: str) -> None:
    """Schemathesis with its response checks on: the status is documented, the content
    type and headers are the documented ones, and the body validates against the response
    schema (valid and invalid requests, admin key)."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_headers_conformance, response_schema_conformance]
    operation = api_schema[path][method]
    headers = {"X-API-Key": world.keys["admin"]}
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                         operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(max_examples=RESPONSE_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def check(case: Any) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=checks, headers=headers)

    check()
