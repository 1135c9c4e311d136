"""Request helpers every page and API route uses: the viewer's language and zone, problem+json
answers, and the fields API schemas share. Core: imports no domain package."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app, has_request_context, jsonify, render_template, request, session
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from crisis.dbtypes import DB_INT_MAX

PROBLEM_JSON = "application/problem+json"


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # command line and workers: the default language
        return languages[0]
    if current_user and current_user.is_authenticated:
        return current_user.language
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or languages[0]


def select_timezone() -> str:
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_TIMEZONE"]
    if current_user and current_user.is_authenticated:
        return current_user.timezone
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def viewer_zone() -> str:
    return select_timezone()


def problem(status: int, title: str, detail: str = "", errors: dict[str, list[str]] | None = None, **extra: Any) -> Any:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def wants_json() -> bool:
    return request.path.startswith("/api/")


def handle_http_error(error: HTTPException) -> Any:
    status = error.code or 500
    if wants_json():
        detail = error.description or ""
        response = problem(status, error.name, detail if isinstance(detail, str) else "")
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response
    return render_template("errors/error.html", status=status, message=error.description), status


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details; `errors` maps each field to its messages. Extension members
    (such as `current` on a 409) are allowed, as the RFC says."""

    class Meta:
        unknown = ma.INCLUDE

    type = ma.fields.String()
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))


def row_id(**kwargs: Any) -> ma.fields.Integer:
    """The id of a row: 1 … 2³¹−1, what a PostgreSQL `integer` key holds (larger is 422, not a database error)."""
    return ma.fields.Integer(validate=ma.validate.Range(min=1, max=DB_INT_MAX), **kwargs)


def bounded_int(minimum: int = 0, maximum: int = DB_INT_MAX, **kwargs: Any) -> ma.fields.Integer:
    """A count, version or limit that fits the `integer` column it is compared with or stored in."""
    return ma.fields.Integer(validate=ma.validate.Range(min=minimum, max=maximum), **kwargs)
