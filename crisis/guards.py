"""Defences against hostile input shared by pages and the API.

- Row ids in URLs are bounded to the database's 32-bit keys, so `/issues/99999999999` is a 404
  instead of a database error.
- Text the database cannot store (NUL, unpaired UTF-16 surrogates) is refused up front, naming
  the field, before any view or service sees it.
- A body over CRISIS_MAX_CONTENT_LENGTH answers 413 with the limit, an address (path and query
  string) over CRISIS_MAX_URL_LENGTH 414: problem+json on the API, a page elsewhere. (What the server
  refuses before the app sees it, crisis.serving answers the same way.)
- A JSON body is read once, before any view, by the one reader (http.read_json): not JSON, nested
  deeper than 64 levels or a number no column holds is 400 naming the field, on every route.
- Numbers typed into forms are read by the fields below: ASCII digits within the column's range,
  else an error beside the field (never int() of thousands of digits, never 2**63 in a query).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Flask, current_app, render_template, request, url_for
from flask_babel import format_decimal
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, RequestURITooLarge
from werkzeug.routing import IntegerConverter
from wtforms import IntegerField, SelectField

from crisis.dbtypes import DB_INT_MAX
from crisis.errors import ValidationFailed
from crisis.http import JSONProvider, JSONRequest, problem, range_message, whole_number
from crisis.i18n import _
from crisis.richtext import http_href, markdown_text, user_text


def digits_up_to(limit: int) -> str:
    """A regular expression for the decimal numbers 0 … limit (leading zeros allowed)."""
    text = str(limit)
    options = [rf"0*\d{{1,{len(text) - 1}}}"] if len(text) > 1 else []
    for position, digit in enumerate(text):
        if digit != "0":
            rest = len(text) - position - 1
            options.append(f"0*{text[:position]}[0-{int(digit) - 1}]" + (rf"\d{{{rest}}}" if rest else ""))
    options.append(f"0*{text}")
    return "(?:" + "|".join(options) + ")"


class RowIdConverter(IntegerConverter):
    """`<int:…>` in every route: at most the largest value an `integer` key column holds. The
    limit is in the pattern itself, so a larger number matches no route (404) rather than a route
    of another method (werkzeug checks methods before converting)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", DB_INT_MAX)
        super().__init__(map, *args, **kwargs)
        if self.max is not None and not self.signed and self.min in (None, 0):
            self.regex = digits_up_to(self.max)


def parse_id(value: object) -> int | None:
    """A row id typed into a form or query string: ASCII digits, at most DB_INT_MAX, else None.
    (`str.isdigit` is true for "²", which `int` refuses, and a large number breaks the query.)"""
    text = str(value if value is not None else "").strip()
    if not text or not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    number = int(text)
    return number if number <= DB_INT_MAX else None


def id_arg(value: str) -> int:
    """For `request.args.get(name, type=id_arg)`: a row id, or the default."""
    number = parse_id(value)
    if number is None:
        raise ValueError(value)
    return number


class WholeNumberField(IntegerField):
    """A whole number typed into a form, within [minimum, maximum] (default: what an `integer`
    column holds). IntegerField reads "٣", "1_000" and any number of digits; this refuses them
    beside the field, in the reader's language."""

    def __init__(
        self, label: Any = None, validators: Any = None, *, minimum: int = 0, maximum: int = DB_INT_MAX, **kwargs: Any
    ) -> None:
        super().__init__(label, validators, **kwargs)
        self.minimum, self.maximum = minimum, maximum

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None  # empty: Optional() or DataRequired() decide
            return
        number = whole_number(str(valuelist[0]))
        if number is None or not self.minimum <= number <= self.maximum:
            self.data = None
            raise ValueError(range_message(self.minimum, self.maximum))
        self.data = number


class RowIdField(WholeNumberField):
    """The number of a record typed into a form: 1 … DB_INT_MAX."""

    def __init__(self, label: Any = None, validators: Any = None, **kwargs: Any) -> None:
        super().__init__(label, validators, minimum=1, maximum=DB_INT_MAX, **kwargs)


class RowIdSelectField(SelectField):
    """A choice of record (unit, person) by id: SelectField(coerce=int) passes any integer on,
    2**63 included, to the database. blank: the empty choice is allowed, and is None."""

    def __init__(self, label: Any = None, validators: Any = None, *, blank: bool = False, **kwargs: Any) -> None:
        self.blank = blank
        kwargs.setdefault("validate_choice", False)
        super().__init__(label, validators, coerce=_row_id_or_none, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        try:
            self.data = _row_id_or_none(valuelist[0])
        except ValueError:
            self.data = None
        if self.data is None and not (self.blank and valuelist[0] in ("", "None")):
            raise ValueError(_("Choose one of the options."))


def _row_id_or_none(value: Any) -> int | None:
    """A row id (or None for the empty choice) from a choice's value or the form; ValueError else."""
    if value in (None, "", "None"):
        return None
    number = value if isinstance(value, int) and not isinstance(value, bool) else parse_id(value)
    if number is None or number < 1:
        raise ValueError(value)
    return number


def _unstorable(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate such as "\ud800"
        return True
    return False


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            yield from _strings(str(key), name)
            yield from _strings(item, name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}" if path else str(index))


def _request_strings() -> Iterator[tuple[str, str]]:
    for key, value in (request.view_args or {}).items():
        yield from _strings(value, key)
    for key in request.args:
        yield from _strings(key, key)
        for value in request.args.getlist(key):
            yield from _strings(value, key)
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.is_json:
            yield from _strings(request.get_json(silent=True), "")
        else:
            for key in request.form:
                yield from _strings(key, key)
                for value in request.form.getlist(key):
                    yield from _strings(value, key)


def url_too_long(limit: int) -> str:
    return _(
        "The address is too long: at most %(n)s characters (path and query string) are accepted.",
        n=format_decimal(limit),
    )


def _address_length() -> int:
    """The address as the client sent it (gunicorn and werkzeug keep it), else as rebuilt."""
    environ = request.environ
    sent = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if sent:
        return len(sent)
    query = environ.get("QUERY_STRING", "")
    return len(quote(request.path)) + (len(query) + 1 if query else 0)


def refuse_long_address() -> None:
    """Before anything else, routing's 404 included: an address over MAX_URL_LENGTH is 414."""
    limit = current_app.config["MAX_URL_LENGTH"]
    if _address_length() > limit:
        raise RequestURITooLarge(url_too_long(limit))


def sign_in_url(back_to: str) -> str:
    """The sign-in page, coming back to `back_to` afterwards, unless that would make an address
    over the limit (the way back is dropped, rather than sending the browser to a 414)."""
    url = url_for("auth.login", next=back_to)
    return url if len(url) <= current_app.config["MAX_URL_LENGTH"] else url_for("auth.login")


def read_json_body() -> None:
    """Read a JSON body once, before any view, with the one reader: what it refuses is 400 naming
    the field on every route (webargs and request.get_json() take what was read here)."""
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.is_json and request.get_data(cache=True):
        request.get_json()


def reject_unstorable_text() -> None:
    """NUL characters and unpaired surrogates cannot be stored: name the field and change nothing."""
    for field, text in _request_strings():
        if _unstorable(text):
            message = _("Contains characters that cannot be stored (NUL or an unpaired surrogate).")
            if request.path.startswith("/api/"):
                raise ValidationFailed({field or "_schema": [message]})
            raise BadRequest(f"{field}: {message}" if field else message)


def too_large(error: RequestEntityTooLarge) -> Any:
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    message = _("The request is too large: at most %(size)s are accepted.", size=_size(limit))
    if request.path.startswith("/api/"):
        return problem(413, "Content Too Large", message)
    return render_template("errors/error.html", status=413, message=message), 413


def _size(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):g} MB"
    if limit >= 1024:
        return f"{limit / 1024:g} KB"
    return f"{limit} B"


def local_path(target: str | None, default: str) -> str:
    """`target` when it is a path on this site, else `default`: never an open redirect. Browsers read
    `/\\host` as `//host` and drop tabs and newlines, so those count as leaving the site too."""
    if not target or not target.startswith("/") or any(ch in target for ch in "\\\t\r\n"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return default
    return target


def init_url_map(app: Flask) -> None:
    """Before any route is added: `int` path segments are row ids."""
    app.url_map.converters["int"] = RowIdConverter


def init_app(app: Flask) -> None:
    app.json = JSONProvider(app)
    app.request_class = JSONRequest
    app.before_request(refuse_long_address)
    app.before_request(read_json_body)
    app.before_request(reject_unstorable_text)
    app.register_error_handler(RequestEntityTooLarge, too_large)
    app.jinja_env.filters["user_text"] = user_text
    app.jinja_env.filters["http_href"] = http_href
    app.jinja_env.filters["md"] = markdown_text  # user text in a Markdown document (not autoescaped)
