"""The OpenAPI document describes the whole API: every /api/v1 route and method, its path
parameters, request body, success body and problem+json errors, under the bearer scheme."""

from __future__ import annotations

import re

import pytest

PROBLEM = "application/problem+json"


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or rule.endpoint == "api-docs.openapi_json":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((_openapi_path(rule.rule), method.lower()))
    return routes


@pytest.fixture(scope="module")
def document(app):
    from openapi_spec_validator import validate

    with app.test_client() as client:
        doc = client.get("/api/v1/openapi.json").get_json()
    validate(doc)
    return doc


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield path, method, item, operation


def _resolve(document, obj):
    while "$ref" in obj:
        kind, name = obj["$ref"].split("/")[-2:]
        obj = document["components"][kind][name]
    return obj


def test_every_api_route_and_method_is_in_the_document(app, document):
    routes = _routes(app)
    assert len(routes) > 60
    documented = {(path, method) for path, method, _item, _op in _operations(document)}
    assert sorted(routes - documented) == []
    assert sorted(documented - routes) == []


def test_every_operation_names_its_path_parameters(document):
    for path, method, item, operation in _operations(document):
        names = set(re.findall(r"{([^}]+)}", path))
        params = [*item.get("parameters", []), *operation.get("parameters", [])]
        declared = {p["name"] for p in params if p["in"] == "path"}
        assert declared == names, (method, path)
        for param in params:
            if param["in"] == "path" and param["schema"].get("type") == "integer":
                assert param["schema"]["maximum"] == 2**31 - 1, (method, path, param)


def test_every_operation_documents_its_success_body(document):
    for path, method, _item, operation in _operations(document):
        successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        assert successes, (method, path)
        for code, response in successes.items():
            response = _resolve(document, response)
            if code == "204":
                assert "content" not in response, (method, path)
                continue
            assert response.get("content"), (method, path, code)
            for media_type, content in response["content"].items():
                if media_type.endswith("json"):
                    assert content.get("schema"), (method, path, code, media_type)


def test_every_operation_documents_problem_json_errors(document):
    for path, method, _item, operation in _operations(document):
        responses = operation["responses"]
        # 400: a body or request line that cannot be read; 414 and 431: an address or headers over
        # the limits (the app's, or the server's own refusal before the app sees the request).
        expected = {"400", "401", "403", "404", "414", "431"}
        if method in ("post", "put", "patch", "delete"):
            expected |= {"409", "413"}  # any JSON body of a change is read, and may be too large
        if "requestBody" in operation:
            expected |= {"413", "422"}
        assert expected <= set(responses), (method, path, sorted(expected - set(responses)))
        assert "default" not in responses, (method, path)
        for code, response in responses.items():
            if code.startswith(("4", "5")):
                assert list(_resolve(document, response)["content"]) == [PROBLEM], (method, path, code)


def test_changes_document_their_request_body(document):
    bodiless = {
        ("post", "/api/v1/incidents/{incident_id}/stages/{run_id}/complete"),
        ("post", "/api/v1/checklist/{entry_id}/untick"),
        ("post", "/api/v1/notices/{notice_id}/ack"),
        ("post", "/api/v1/exercises/{exercise_id}/end"),  # ENDEX: nothing to say but "now"
    }
    for path, method, _item, operation in _operations(document):
        if method in ("post", "put", "patch") and (method, path) not in bodiless:
            body = operation.get("requestBody")
            assert body and body["content"]["application/json"]["schema"], (method, path)


def test_every_operation_requires_a_bearer_token(document):
    assert document["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert document["security"] == [{"bearerAuth": []}]
    for path, method, _item, operation in _operations(document):
        assert operation.get("security", document["security"]) == [{"bearerAuth": []}], (method, path)
