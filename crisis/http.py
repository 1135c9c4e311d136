"""Request helpers every page and API route uses: the viewer's language and zone, problem+json
answers, the one JSON reader of request bodies, and the fields API schemas share. Core: imports no
domain package."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Request, current_app, has_request_context, jsonify, render_template, request, session
from flask.json.provider import DefaultJSONProvider
from flask_babel import format_decimal
from flask_login import current_user
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from crisis.dbtypes import DB_INT_MAX
from crisis.errors import BODY, UnreadableInput, page_message, page_title
from crisis.i18n import _

PROBLEM_JSON = "application/problem+json"
# JSON bodies: no field nests deeper than a few levels, and the longest integer a column holds has
# 19 digits. Deeper or longer is refused while reading, before recursive code (the parser itself,
# schemas, JSON columns, renderers) or int() of thousands of digits (quadratic) ever sees it.
MAX_JSON_DEPTH = 64
MAX_NUMBER_LENGTH = 100


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
    return render_template(
        "errors/error.html", status=status, title=page_title(status), message=_page_text(error)
    ), status


def _page_text(error: HTTPException) -> str:
    """What an error page says, in the viewer's language: our own sentence where the description is
    werkzeug's English default, Flask-WTF's or Flask-Limiter's ('10 per 5 minute'); a description
    the app wrote itself (already translated) as it is."""
    from flask_wtf.csrf import CSRFError

    status = error.code or 500
    if status == 429:
        from crisis.extensions import limiter
        from crisis.ratelimit import retry_message

        try:
            current = limiter.current_limit
            reset_at = current.reset_at if current is not None else None
        except Exception:  # the limit's store is out of reach: the sentence without minutes
            reset_at = None
        return retry_message(reset_at)
    if isinstance(error, CSRFError):
        return _("The form had expired. Reload the page and send it again.")
    description = error.description
    if not isinstance(description, str) or not description or description == type(error).description:
        return page_message(status)
    return description


# --- refusals shown next to what they are about -------------------------------------------------


def _field_labels() -> dict[str, Any]:
    """What a field is called on the pages, for the fields services name in their refusals: a
    message begins with the label a person sees ("Evidence link: ..."), never with a key."""
    from crisis.i18n import lazy_gettext as _l

    return {
        "note": _l("Note"),
        "evidence_url": _l("Evidence link"),
        "evidence_urls": _l("Evidence links"),
        "reason": _l("Reason"),
        "summary": _l("Summary"),
        "went_well": _l("What went well"),
        "to_improve": _l("What to improve"),
        "stage_ratings": _l("Stage ratings"),
        "title": _l("Title"),
        "body": _l("Text"),
        "owner_id": _l("Owner"),
        "assignee_id": _l("Owner"),
        "due_on": _l("Due date"),
        "published_at": _l("Published at"),
        "url": _l("Address"),
        "severity": _l("Severity"),
        "commander_id": _l("Commander"),
        "playbook_key": _l("SOP"),
        "playbook": _l("SOP"),
        "starts_at": _l("Starts"),
        "ends_at": _l("Ends"),
        "user_id": _l("Officer"),
        "person": _l("Officer"),
        "role": _l("Role"),
        "unit_id": _l("Unit"),
        "unit": _l("Unit"),
        "name": _l("Name"),
        "email": _l("E-mail"),
        "channel": _l("Channel"),
        "channels": _l("Channel"),
        "status": _l("Status"),
        "zone": _l("Time zone"),
        "from": _l("From"),
        "to": _l("Until"),
        "month": _l("Month"),
        "language": _l("Language"),
        "password": _l("Password"),
        "new_password": _l("New password"),
        "current_password": _l("Current password"),
        "measure": _l("Measure"),
        "threshold_minutes": _l("Target"),
        "target_percent": _l("Target"),
        "comparison": _l("Target"),
        "yaml": _l("SOP"),
        "target_id": _l("Merge into issue number"),
    }


def error_sentence(field: str | None, message: str, labels: dict[str, Any] | None = None) -> str:
    """One refusal as a person reads it: the field's label, then the reason ('Evidence link: give
    an http:// or https:// address.'); a field without a label (or none) is the reason alone."""
    label = (labels or {}).get(field or "") or _field_labels().get(field or "")
    if not label:
        return str(message)
    return _("%(field)s: %(message)s", field=label, message=message)


def refusal_messages(error: Any, *, target: str = "", labels: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """Every message of a refused action (ValidationFailed, Conflict and their kin), each with what
    it is about: `target` is the id of the element the action was on (a checklist item, a stage, a
    form's section), `field` the name of the input at fault. static/js/app.js moves each one there,
    marks the input invalid, points aria-describedby at it and puts the focus there; without script
    they stay at the top with a link to the element."""
    errors = getattr(error, "errors", None) or {}
    if not errors:
        return [{"text": str(getattr(error, "message", error)), "target": target, "field": "", "message": ""}]
    refused = []
    for field, messages in errors.items():
        for message in messages:
            shown_field = field if field and field != BODY else ""
            refused.append(
                {
                    "text": error_sentence(shown_field, message, labels),
                    "target": target,
                    "field": shown_field,
                    "message": str(message),
                }
            )
    return refused


def flash_refusal(error: Any, *, target: str = "", labels: dict[str, Any] | None = None) -> None:
    """The messages of a refused action (`refusal_messages`) as flashes, for the page after a redirect."""
    from flask import flash

    for message in refusal_messages(error, target=target, labels=labels):
        flash(message, "error")


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


def row_id(**kwargs: Any) -> WholeNumber:
    """The id of a row: 1 … 2³¹−1, what a PostgreSQL `integer` key holds (larger is 422, not a database error)."""
    return WholeNumber(1, DB_INT_MAX, **kwargs)


def bounded_int(minimum: int = 0, maximum: int = DB_INT_MAX, **kwargs: Any) -> WholeNumber:
    """A count, version, severity or limit that fits the `integer` column it is compared with or stored in."""
    return WholeNumber(minimum, maximum, **kwargs)


# --- the one JSON reader ------------------------------------------------------------------------


class _Refused:
    """A number left unread while parsing; its place in the body is named afterwards."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def read_json(data: str | bytes) -> Any:
    """A JSON document as every request body is read (app.json.loads): nested at most MAX_JSON_DEPTH
    levels, numbers of at most MAX_NUMBER_LENGTH characters and finite, no NaN or Infinity (not
    JSON). Refusals raise UnreadableInput (400) naming each field by its dotted path; text that is
    not JSON at all raises json.JSONDecodeError or UnicodeDecodeError, as json.loads does."""
    text = data.decode(json.detect_encoding(data), "surrogatepass") if isinstance(data, bytes) else data
    refused: list[_Refused] = []

    def refuse(message: str) -> _Refused:
        marker = _Refused(message)
        refused.append(marker)
        return marker

    def integer(literal: str) -> Any:
        if len(literal) > MAX_NUMBER_LENGTH:
            return refuse(_("A number of more than %(n)d digits: no field holds one.", n=MAX_NUMBER_LENGTH))
        return int(literal)

    def real(literal: str) -> Any:
        if len(literal) > MAX_NUMBER_LENGTH:
            return refuse(_("A number of more than %(n)d digits: no field holds one.", n=MAX_NUMBER_LENGTH))
        value = float(literal)
        if not math.isfinite(value):
            return refuse(_("A number too large to read: no field holds one."))
        return value

    def constant(name: str) -> Any:
        return refuse(_("%(name)s is not a JSON number; send a number.", name=name))

    try:
        value = json.loads(text, parse_int=integer, parse_float=real, parse_constant=constant)
    except RecursionError:  # thousands of levels: the parser gave up before any field was read
        raise UnreadableInput({_deep_member(text) or BODY: [_too_deep()]}) from None
    if refused or text.count("[") + text.count("{") > MAX_JSON_DEPTH:
        errors = _refusals(value)
        if errors:
            raise UnreadableInput(errors)
    return value


def _too_deep() -> str:
    return _("Nested more than %(n)d levels deep: no field takes that.", n=MAX_JSON_DEPTH)


def _refusals(value: Any) -> dict[str, list[str]]:
    """Each refused number at its dotted path, and each place nested too deep at the field it is in,
    in the order of the document. Iterative: the value may be a few hundred levels deep."""
    errors: dict[str, list[str]] = {}
    stack: list[tuple[Any, tuple[Any, ...], int]] = [(value, (), 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, _Refused):
            errors.setdefault(_dotted(path), []).append(item.message)
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                field = _dotted(path[: max((i + 1 for i, p in enumerate(path) if isinstance(p, str)), default=0)])
                if _too_deep() not in errors.get(field, []):
                    errors.setdefault(field, []).append(_too_deep())
                continue
            children = item.items() if isinstance(item, dict) else enumerate(item)
            stack.extend((child, (*path, key), depth + 1) for key, child in reversed(list(children)))
    return errors


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path) or BODY


_SPACE = re.compile(r"[ \t\n\r]*")


def _deep_member(text: str) -> str | None:
    """The member of a top-level object whose value the parser gave up on, if the body is one."""
    decoder = json.JSONDecoder(parse_int=lambda literal: 0, parse_constant=lambda name: 0)
    index = _SPACE.match(text).end()
    if not text.startswith("{", index):
        return None
    index += 1
    while True:
        key = None
        try:
            key, index = decoder.raw_decode(text, _SPACE.match(text, index).end())
            index = _SPACE.match(text, index).end()
            if not isinstance(key, str) or not text.startswith(":", index):
                return None
            _value, index = decoder.raw_decode(text, _SPACE.match(text, index + 1).end())
        except RecursionError:
            return key if isinstance(key, str) else None
        except ValueError:
            return None
        index = _SPACE.match(text, index).end()
        if not text.startswith(",", index):
            return None
        index += 1


def not_json(error: ValueError) -> UnreadableInput:
    """Text sent as JSON that is not: where it goes wrong, in the reader's language."""
    if isinstance(error, json.JSONDecodeError):
        message = _(
            "The body is not valid JSON (line %(line)d, column %(column)d).", line=error.lineno, column=error.colno
        )
    else:
        message = _("The body is not valid JSON: it is not UTF-8 text.")
    return UnreadableInput({BODY: [message]})


class JSONProvider(DefaultJSONProvider):
    """app.json: request.get_json() reads with read_json."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return read_json(s)


class JSONRequest(Request):
    """A body that is not JSON answers 400 in the reader's language (Flask's is a bare 400)."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:
            return super().on_json_loading_failed(e)
        raise not_json(e) from e


class _BodyParser(FlaskParser):
    """webargs reads the body the request has already read (guards.read_json_body), not again."""

    def _raw_load_json(self, req: Any) -> Any:
        if not webargs_core.is_json(req.mimetype) or not req.get_data(cache=True):
            return ma.missing
        return req.get_json()


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, reading JSON bodies with read_json."""

    ARGUMENTS_PARSER = _BodyParser()


# --- integer fields -----------------------------------------------------------------------------

_WHOLE = re.compile(r"[+-]?[0-9]{1,20}")  # ASCII only: int() also reads "٣" and "1_000"


def whole_number(value: Any) -> int | None:
    """An integer from JSON (an int, or a float with nothing after the point) or from text (ASCII
    digits, at most 20), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        return int(value)
    return None


def range_message(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        low, high = format_decimal(minimum), format_decimal(maximum)
        return _("Give a whole number from %(low)s to %(high)s.", low=low, high=high)
    if minimum is not None:
        return _("Give a whole number of at least %(low)s.", low=format_decimal(minimum))
    if maximum is not None:
        return _("Give a whole number of at most %(high)s.", high=format_decimal(maximum))
    return _("Give a whole number.")


class _Range(ma.validate.Range):
    """marshmallow's Range (apispec documents it as minimum and maximum), refusing in the reader's language."""

    def _format_error(self, value: Any, message: str) -> str:
        return range_message(self.min, self.max)


class WholeNumber(ma.fields.Integer):
    """An integer field: what whole_number() reads, within [minimum, maximum] when given; refusals
    are sentences in the reader's language that give the range."""

    def __init__(self, minimum: int | None = None, maximum: int | None = None, **kwargs: Any) -> None:
        if minimum is not None or maximum is not None:
            given = kwargs.get("validate") or []
            kwargs["validate"] = [_Range(min=minimum, max=maximum), *(given if isinstance(given, list) else [given])]
        super().__init__(**kwargs)

    def _validated(self, value: Any) -> int:
        number = whole_number(value)
        if number is None:
            raise ma.ValidationError(_("Give a whole number."))
        return number
