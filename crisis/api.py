"""The JSON API under /api/v1: OpenAPI 3 via flask-smorest, bearer tokens, problem+json errors."""

from __future__ import annotations

from functools import wraps
from typing import Any

import marshmallow as ma
from flask import Flask, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, Unauthorized

from crisis.extensions import csrf, db
from crisis.web import handle_http_error, problem


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details; `errors` maps each field to its messages."""

    type = ma.fields.String()
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))


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


class CrisisApi(Api):
    ERROR_SCHEMA = ProblemSchema

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


def bearer_user() -> Any:
    """The user behind `Authorization: Bearer <token>`, or 401. Cookies never authenticate the
    API, so the API needs no CSRF token."""
    from crisis.auth import service as auth

    if "crisis.api_user" in request.environ:
        return request.environ["crisis.api_user"]
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    user = None
    if scheme.lower() == "bearer" and token:
        user = auth.user_for_token(session=db.session, plaintext=token.strip())
    if user is None:
        raise Unauthorized("A valid personal API token is required: Authorization: Bearer <token>.")
    request.environ["crisis.api_user"] = user
    return user


def authenticated(view: Any) -> Any:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bearer_user()
        return view(*args, **kwargs)

    return wrapper


def init_api(app: Flask) -> None:
    from crisis.auth.api import blp as auth_blp
    from crisis.escalation.api import blp as escalation_blp
    from crisis.incidents.api import blp as incidents_blp
    from crisis.issues.api import blp as issues_blp
    from crisis.playbooks.api import blp as playbooks_blp
    from crisis.reports.api import blp as reports_blp
    from crisis.reviews.api import blp as reviews_blp
    from crisis.units.api import blp as units_blp

    # One Api per app: its OpenAPI document belongs to that app alone.
    api = CrisisApi(app)
    for blp in (
        units_blp,
        auth_blp,
        playbooks_blp,
        issues_blp,
        incidents_blp,
        escalation_blp,
        reviews_blp,
        reports_blp,
    ):
        csrf.exempt(blp)
        api.register_blueprint(blp)
