"""The JSON API under /api/v1: OpenAPI 3 via flask-smorest, bearer tokens, problem+json errors."""

from __future__ import annotations

import http
from typing import Any

from apispec import BasePlugin
from flask import Flask, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException

from crisis.audit.api import blp as audit_blp
from crisis.auth.api import blp as auth_blp
from crisis.escalation.api import blp as escalation_blp
from crisis.exercises.api import blp as exercises_blp
from crisis.extensions import csrf, db
from crisis.http import PROBLEM_JSON, ProblemSchema, handle_http_error, problem
from crisis.incidents.api import blp as incidents_blp
from crisis.issues.api import blp as issues_blp
from crisis.playbooks.api import blp as playbooks_blp
from crisis.reports.api import blp as reports_blp
from crisis.reviews.api import blp as reviews_blp
from crisis.units.api import blp as units_blp


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """webargs nests errors by location and field; name each field by its dotted path."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = str(key) if key not in ("json", "query", "form", "path", "headers") or prefix else ""
            path = f"{prefix}.{name}" if prefix and name else (name or prefix)
            for field, errors in _flatten(value, path).items():
                flat.setdefault(field, []).extend(errors)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat[prefix or "_schema"] = list(messages)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            flat.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "_schema"] = [str(messages)]
    return flat


class ProblemResponses(BasePlugin):
    """Every operation documents the errors it can answer with, each as problem+json: 400 (a body
    that is not JSON, nests too deep or holds a number no field takes; a request line that is not
    HTTP), 401 (no or a bad token), 403 (the role does not allow it), 404 (out of reach or missing),
    414 (an address over CRISIS_MAX_URL_LENGTH, or over the server's request line), 431 (headers
    over the server's limits), 409 and 413 on changes (any JSON body of a change is read), and 422
    where there is input."""

    def operation_helper(self, path: str | None = None, operations: dict | None = None, **kwargs: Any) -> None:
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            statuses = [400, 401, 403, 404, 414, 431]
            if method in ("post", "put", "patch", "delete") or "requestBody" in operation:
                statuses += [409, 413]
            changes = method in ("post", "put", "patch", "delete")
            if changes or "requestBody" in operation or operation.get("parameters"):
                statuses.append(422)  # input the schema lets through and a rule refuses, named by field
            documented = {str(code) for code in responses}  # flask-smorest keys are ints, apispec's strings
            for status in statuses:
                if str(status) not in documented:
                    responses[str(status)] = http.HTTPStatus(status).name


class CrisisApi(Api):
    ERROR_SCHEMA = ProblemSchema
    # Every status is listed on its operation (ProblemResponses), so a check against the document
    # catches an answer nobody documented.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_responses(self) -> None:
        """flask-smorest's error responses, as application/problem+json (what handlers send)."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)

    def handle_http_exception(self, error: HTTPException) -> Any:
        if not request.path.startswith("/api/"):
            return handle_http_error(error)
        db.session.rollback()
        data = getattr(error, "data", None) or {}
        messages = data.get("errors") or data.get("messages")
        if messages:
            errors = _flatten(messages)
            first = next(iter(errors.items()))
            return problem(error.code or 422, error.name, f"{first[0]}: {first[1][0]}", errors)
        return handle_http_error(error)


def init_api(app: Flask) -> None:
    # One Api per app: its OpenAPI document belongs to that app alone.
    api = CrisisApi(app, spec_kwargs={"extra_plugins": [ProblemResponses()]})
    for blp in (
        units_blp,
        auth_blp,
        playbooks_blp,
        issues_blp,
        incidents_blp,
        escalation_blp,
        reviews_blp,
        reports_blp,
        audit_blp,
        exercises_blp,
    ):
        csrf.exempt(blp)
        api.register_blueprint(blp)
