"""Hostile bodies, numbers and forms (issue 17): JSON nested without end, numbers with thousands of
digits or beyond every integer column, the same in query strings and in the forms of the pages.
Each is refused with 400 or 422 naming the field (problem+json on the API, the error beside the
field on a page) and changes nothing; none is a 500.

The tables are checked against the app itself: every integer field of every request body in the
OpenAPI document, every integer query parameter, every integer field of every form."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from typing import Any

import pytest
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DecimalField, FloatField, IntegerField, SelectField

import crisis
from crisis.guards import RowIdSelectField, WholeNumberField
from crisis.http import MAX_JSON_DEPTH
from tests.conftest import form_post
from tests.security.test_input_limits import NOW, SHIFT_ENDS, SHIFT_STARTS, _form, issue_body, records, snapshot

__all__ = ["records"]  # the fixture, shared with test_input_limits

PROBLEM = "application/problem+json"
FIVE_THOUSAND_DIGITS = "9" * 5000
UNREADABLE_NUMBERS = [FIVE_THOUSAND_DIGITS, "-" + FIVE_THOUSAND_DIGITS, "1e400", "-1e400", "NaN", "Infinity"]
OVERFLOWING = [2**63, -(2**63) - 1, 2**31, 10**30]


@pytest.fixture(autouse=True)
def frozen_clock(clock):
    clock.now = NOW


@pytest.fixture
def ids(db, records):
    """The records, with the monitored issue's version and the issue that repeats it."""
    from crisis.issues.models import Issue

    issue = db.session.get(Issue, records["issue_id"])
    duplicate = db.session.scalars(
        select(Issue.id).where(Issue.unit_id == issue.unit_id, Issue.id != issue.id, Issue.state == "new")
    ).first()
    return {**records, "issue_version": issue.version, "issue_b": duplicate}


@pytest.fixture(scope="module")
def document(app):
    with app.test_client() as client:
        return client.get("/api/v1/openapi.json").get_json()


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _integer_fields(document: dict, schema: dict, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where integers go in a body, as paths of keys (0 for an array's first item)."""
    found = []
    for name, prop in _resolve(document, schema).get("properties", {}).items():
        prop = _resolve(document, prop)
        if prop.get("readOnly"):
            continue
        if prop.get("type") == "integer":
            found.append((*path, name))
        elif prop.get("type") == "array":
            found.extend(_integer_fields(document, _resolve(document, prop.get("items", {})), (*path, name, 0)))
        elif "properties" in prop:
            found.extend(_integer_fields(document, prop, (*path, name)))
    return found


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and method != "parameters":
                yield method, path, operation


def body_fields(document: dict) -> set[tuple[str, str, tuple[Any, ...]]]:
    fields = set()
    for method, path, operation in _operations(document):
        body = operation.get("requestBody")
        if body:
            schema = body["content"]["application/json"]["schema"]
            fields |= {(method, path, where) for where in _integer_fields(document, schema)}
    return fields


def query_fields(document: dict) -> set[tuple[str, str, str]]:
    return {
        (method, path, parameter["name"])
        for method, path, operation in _operations(document)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and parameter["schema"].get("type") == "integer"
    }


def dotted(where: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in where)


def _placed(body: Any, where: tuple[Any, ...], value: Any) -> Any:
    """`body` with `value` at `where` (an array gets its first item, made from the base's if any)."""
    if not where:
        return value
    head, rest = where[0], where[1:]
    if isinstance(head, int):
        items = list(body) if isinstance(body, list) and body else [{}]
        return [_placed(items[0], rest, value), *items[1:]]
    body = dict(body or {})
    body[head] = _placed(body.get(head), rest, value)
    return body


def _raw_json(body: Any, where: tuple[Any, ...], literal: str) -> str:
    """The body as JSON text with `literal` (not valid Python JSON output, e.g. 5000 digits) at `where`."""
    return json.dumps(_placed(body, where, "__LITERAL__")).replace('"__LITERAL__"', literal)


# --- 1. nesting without end -----------------------------------------------------------------


def _changes(document: dict) -> list[tuple[str, str]]:
    return sorted(
        (method, re.sub(r"{[^}]+}", "1", path))
        for method, path, _operation in _operations(document)
        if method in ("post", "put", "patch", "delete")
    )


def test_json_nested_100000_deep_is_400_problem_json_on_every_route_that_takes_a_body(client, document, token_for):
    headers = token_for("admin", "PUSAT")
    deep = "[" * 100_000 + "]" * 100_000
    routes = _changes(document)
    assert len(routes) > 40
    for method, path in routes:
        response = client.open(path, method=method, data=deep, content_type="application/json", headers=headers)
        assert response.status_code == 400, (method, path, response.status_code, response.get_data(as_text=True)[:300])
        assert response.mimetype == PROBLEM, (method, path)
        assert str(MAX_JSON_DEPTH) in response.get_json()["detail"], response.get_json()


def _nested(depth: int) -> str:
    return "[" * depth + '"dalam"' + "]" * depth


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 200, 900, 5000, 100_000])
def test_json_nested_beyond_the_limit_inside_a_field_names_the_field(client, db, token_for, records, depth):
    """The body counts as one level: {"description": [[...]]} nests depth + 1 deep."""
    headers = token_for("officer", "KOTA-SEMARANG")
    before = snapshot(db)
    text = _raw_json(issue_body(), ("description",), _nested(depth))
    response = client.post("/api/v1/issues", data=text, content_type="application/json", headers=headers)
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert list(body["errors"]) == ["description"], body
    assert str(MAX_JSON_DEPTH) in body["detail"]
    assert snapshot(db) == before


def test_json_as_deep_as_the_limit_is_read_as_usual(client, token_for, records):
    """At the limit the body is read and the schema answers (a list is not a description: 422)."""
    headers = token_for("officer", "KOTA-SEMARANG")
    text = _raw_json(issue_body(), ("description",), _nested(MAX_JSON_DEPTH - 1))
    response = client.post("/api/v1/issues", data=text, content_type="application/json", headers=headers)
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    assert list(response.get_json()["errors"]) == ["description"]


@pytest.mark.parametrize(
    "text",
    ["{", '{"title": "x",}', "[1, 2", '"unterminated', '{"a": NaN}', '{"a": -Infinity}', "\xff\xfe{"],
    ids=["open", "trailing comma", "open list", "open string", "NaN", "-Infinity", "bad bytes"],
)
def test_a_body_that_is_not_json_is_400_problem_json_even_where_no_body_is_read(client, token_for, records, text):
    headers = token_for("head", "KOTA-SEMARANG")
    for path in ("/api/v1/issues", f"/api/v1/incidents/{records['incident_id']}/resolve"):
        response = client.post(path, data=text.encode("latin-1"), content_type="application/json", headers=headers)
        assert response.status_code == 400, (path, response.get_data(as_text=True)[:300])
        assert response.mimetype == PROBLEM
        assert response.get_json()["detail"], response.get_json()


def test_a_deep_json_body_sent_to_a_page_is_a_400_page(client):
    response = client.post("/login", data="[" * 50_000, content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == "text/html"


# --- 2. numbers: too long to read, or beyond the column -------------------------------------

# A body each route accepts, built from the records; the field under test replaces its value.
BASES: dict[tuple[str, str], Any] = {
    ("post", "/api/v1/issues"): lambda r, o: issue_body(),
    ("post", "/api/v1/issues/batch"): lambda r, o: {"issues": [issue_body()]},
    ("patch", "/api/v1/issues/{issue_id}"): lambda r, o: {"version": r["issue_version"], "title": "Judul diperbaiki"},
    ("post", "/api/v1/issues/{issue_id}/notes"): lambda r, o: {"body": "Tayangan naik."},
    ("post", "/api/v1/issues/{issue_id}/evidence"): lambda r, o: {"url": "https://example.com/bukti-lain"},
    ("post", "/api/v1/issues/{issue_id}/merge"): lambda r, o: {"target_id": r["issue_b"]},
    ("post", "/api/v1/issues/{issue_id}/escalate"): lambda r, o: {
        "playbook_key": "hoax-clarification",
        "severity": 3,
        "commander_id": o["users"][("KOTA-SEMARANG", "head")].id,
    },
    ("post", "/api/v1/users"): lambda r, o: {
        "email": "orang.baru@demo.example",
        "name": "Orang Baru",
        "password": "Kata-sandi-panjang-2026",
        "unit_id": o["units"]["KOTA-SEMARANG"].id,
        "role": "officer",
    },
    ("post", "/api/v1/users/{user_id}/memberships"): lambda r, o: {
        "unit_id": o["units"]["KAB-BANYUMAS"].id,
        "role": "observer",
    },
    ("post", "/api/v1/units"): lambda r, o: {
        "code": "KAB-BARU",
        "name": "Kabupaten Baru",
        "kind": "regency",
        "parent_id": o["units"]["JATENG"].id,
        "timezone": "Asia/Jakarta",
    },
    ("patch", "/api/v1/units/{unit_id}"): lambda r, o: {"name": "Kota Semarang"},
    ("post", "/api/v1/duty-shifts"): lambda r, o: {
        "unit_id": o["units"]["KOTA-SEMARANG"].id,
        "user_id": o["users"][("KOTA-SEMARANG", "officer")].id,
        "starts_at": SHIFT_STARTS.isoformat(),
        "ends_at": SHIFT_ENDS.isoformat(),
    },
    ("post", "/api/v1/incidents/{incident_id}/severity"): lambda r, o: {"severity": 2, "reason": "Sebaran melambat."},
    ("post", "/api/v1/incidents/{incident_id}/involved"): lambda r, o: {"unit_id": o["units"]["KAB-BANYUMAS"].id},
    ("post", "/api/v1/incidents/{incident_id}/handover"): lambda r, o: {"to": "parent"},
    ("post", "/api/v1/incidents/{incident_id}/spokesperson"): lambda r, o: {
        "spokesperson_id": o["users"][("KOTA-SEMARANG", "head")].id
    },
    ("post", "/api/v1/incidents/{incident_id}/emergency-status"): lambda r, o: {"status": "response"},
    ("put", "/api/v1/units/{unit_id}/kpi-targets"): lambda r, o: {
        "measure": "time_to_holding_statement",
        "target_percent": 80,
        "threshold_minutes": 60,
    },
    ("post", "/api/v1/reviews/{review_id}/action-items"): lambda r, o: {
        "title": "Perbarui FAQ",
        "owner_id": o["users"][("KOTA-SEMARANG", "officer")].id,
        "due_on": (NOW.date().replace(day=1)).isoformat(),
    },
    ("post", "/api/v1/statements/{statement_id}/return"): lambda r, o: {"reason": "Angka belum dikonfirmasi."},
    ("post", "/api/v1/incidents/{incident_id}/media-queries"): lambda r, o: {
        "journalist": "Rina",
        "outlet": "Kompas TV",
        "outlet_type": "national_tv",
        "channel": "phone",
        "question": "Benarkah?",
    },
    ("patch", "/api/v1/media-queries/{query_id}"): lambda r, o: {"action": "assign"},
    ("post", "/api/v1/statements/{statement_id}/shared-publications"): lambda r, o: {
        "unit_id": o["units"]["KAB-BANYUMAS"].id,
        "channel": "instagram",
    },
    ("post", "/api/v1/exercises"): lambda r, o: {
        "scenario": "hoax-pdam-water",
        "unit_id": o["units"]["KOTA-SEMARANG"].id,
        "other_unit_ids": [o["units"]["JATENG"].id],
        "commander_id": o["users"][("KOTA-SEMARANG", "head")].id,
    },
}


def _url(path: str, records: dict[str, Any]) -> str:
    return path.format(**{**records, "statement_id": records["statement_id"]})


def test_every_integer_field_of_every_request_body_is_probed(document):
    """A new integer field on a route without a base body in BASES still gets the empty body; a new
    route appears here first."""
    routes = {(method, path) for method, path, _where in body_fields(document)}
    assert len(body_fields(document)) >= 40
    assert routes - set(BASES) <= {
        ("post", "/api/v1/issues/{issue_id}/monitor"),
        ("post", "/api/v1/issues/{issue_id}/dismiss"),
        ("post", "/api/v1/checklist/{entry_id}/waive"),
        ("patch", "/api/v1/checklist/{entry_id}"),
        ("post", "/api/v1/incidents/{incident_id}/resolve"),
        ("post", "/api/v1/incidents/{incident_id}/cancel"),
        ("patch", "/api/v1/statements/{statement_id}"),
        ("post", "/api/v1/statements/{statement_id}/approve"),
        ("patch", "/api/v1/reviews/{review_id}"),
        ("post", "/api/v1/reviews/{review_id}/submit"),
        ("post", "/api/v1/reviews/{review_id}/approve"),
    }, "add a base body for the new route to BASES"


def test_numbers_no_integer_column_holds_are_refused_naming_the_field_in_every_body(
    client, db, org, token_for, ids, document
):
    """Central admin: every field is refused for its value, before any role is asked about."""
    headers = token_for("admin", "PUSAT")
    before = snapshot(db)
    wrong = []
    for method, path, where in sorted(body_fields(document), key=str):
        base = BASES.get((method, path), lambda r, o: {})(ids, org)
        url, field = _url(path, ids), dotted(where)
        for literal in UNREADABLE_NUMBERS:
            response = client.open(
                url,
                method=method,
                data=_raw_json(base, where, literal),
                content_type="application/json",
                headers=headers,
            )
            if (
                response.status_code != 400
                or response.mimetype != PROBLEM
                or field not in response.get_json()["errors"]
            ):
                wrong.append(f"{method} {url} {field}={literal[:12]}: {response.status_code} {response.data[:200]!r}")
        for number in OVERFLOWING:
            response = client.open(url, method=method, json=_placed(base, where, number), headers=headers)
            if (
                response.status_code != 422
                or response.mimetype != PROBLEM
                or field not in response.get_json()["errors"]
            ):
                wrong.append(f"{method} {url} {field}={number}: {response.status_code} {response.data[:200]!r}")
    assert wrong == [], "\n".join(wrong)
    assert snapshot(db) == before


def test_the_refusal_of_an_unreadable_number_is_a_sentence_in_the_readers_language(client, token_for, records):
    headers = token_for("officer", "KOTA-SEMARANG")
    text = _raw_json(issue_body(), ("engagement",), FIVE_THOUSAND_DIGITS)
    indonesian = client.post("/api/v1/issues", data=text, content_type="application/json", headers=headers)
    english = client.post(
        "/api/v1/issues", data=text, content_type="application/json", headers={**headers, "Accept-Language": "en"}
    )
    assert indonesian.get_json()["errors"]["engagement"] != english.get_json()["errors"]["engagement"]
    assert "digit" in indonesian.get_json()["errors"]["engagement"][0]  # "digit" is Indonesian too
    assert english.get_json()["detail"].startswith("engagement: ")


def test_numbers_in_query_strings_beyond_any_column_are_refused_naming_the_parameter(
    client, token_for, records, document
):
    headers = token_for("admin", "PUSAT")
    wrong = []
    fields = query_fields(document)
    assert len(fields) >= 8
    for method, path, name in sorted(fields):
        url = path.replace("{table}", "counts")
        for value in (FIVE_THOUSAND_DIGITS, str(2**63), str(-(2**63) - 1), "1e400", "NaN", "٣", "1_000"):
            response = client.open(url, method=method, query_string={name: value}, headers=headers)
            errors = response.get_json().get("errors", {}) if response.mimetype == PROBLEM else {}
            if response.status_code != 422 or name not in errors:
                wrong.append(f"{method} {url}?{name}={value[:12]}: {response.status_code} {response.data[:200]!r}")
    assert wrong == [], "\n".join(wrong)


def test_refusals_of_integer_fields_are_in_the_readers_language(client, token_for):
    headers = token_for("admin", "PUSAT")
    indonesian = client.get("/api/v1/issues", query_string={"limit": "banyak"}, headers=headers).get_json()
    english = client.get(
        "/api/v1/issues", query_string={"limit": str(2**63)}, headers={**headers, "Accept-Language": "en"}
    ).get_json()
    assert indonesian["errors"]["limit"] == ["Masukkan bilangan bulat."], indonesian
    assert english["errors"]["limit"] == ["Give a whole number from 1 to 500."], english


# --- the forms of the pages -----------------------------------------------------------------


def _form_classes() -> list[type[FlaskForm]]:
    for module in pkgutil.walk_packages(crisis.__path__, "crisis."):
        if module.name.endswith(".forms"):
            importlib.import_module(module.name)

    def subclasses(cls: type) -> list[type]:
        return [cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))]

    return [cls for cls in subclasses(FlaskForm) if cls.__module__.startswith("crisis.")]


def test_every_number_a_form_reads_is_a_whole_number_or_a_row_id_field():
    """An IntegerField reads "٣" and "1_000" and any number of digits; a SelectField(coerce=int)
    passes 2**63 to the database. The form fields of crisis.guards do neither."""
    plain = []
    forms = _form_classes()
    assert len(forms) >= 8
    for form in forms:
        for name, unbound in vars(form).items():  # a form's own fields; inherited ones are its parent's
            field_class = getattr(unbound, "field_class", None)
            if field_class is None:
                continue
            if issubclass(field_class, (IntegerField, DecimalField, FloatField)) and not issubclass(
                field_class, WholeNumberField
            ):
                plain.append(f"{form.__name__}.{name}: {field_class.__name__}")
            coerced = unbound.kwargs.get("coerce", str) is not str
            if issubclass(field_class, SelectField) and coerced and not issubclass(field_class, RowIdSelectField):
                plain.append(f"{form.__name__}.{name}: {field_class.__name__}(coerce=...)")
    assert plain == [], plain


FORM_NUMBERS = [
    # (role, unit, path, page, form, field)
    ("officer", "KOTA-SEMARANG", "/issues/new", "/issues/new", "issue", "reach"),
    ("officer", "KOTA-SEMARANG", "/issues/new", "/issues/new", "issue", "engagement"),
    ("officer", "KOTA-SEMARANG", "/issues/new", "/issues/new", "issue", "unit_id"),
    ("officer", "KOTA-SEMARANG", "/issues/{issue_id}/edit", "/issues/{issue_id}/edit", "issue_edit", "engagement"),
    ("officer", "KOTA-SEMARANG", "/issues/{issue_id}/notes", "/issues/{issue_id}", "note", "reach"),
    ("officer", "KOTA-SEMARANG", "/issues/{issue_id}/merge", "/issues/{issue_id}", "", "target_id"),
    ("head", "KOTA-SEMARANG", "/units/{unit_id}/roster", "/units/{unit_id}/roster", "shift", "user_id"),
    ("admin", "PUSAT", "/admin/users/new", "/admin/users/new", "user", "unit_id"),
    ("admin", "PUSAT", "/admin/users/{user_id}/memberships", "/admin/users/{user_id}/edit", "role", "unit_id"),
    ("admin", "PUSAT", "/admin/units/new", "/admin/units/new", "unit", "parent_id"),
]
FORM_VALUES = [FIVE_THOUSAND_DIGITS, str(2**63), str(-(2**63) - 1), "٣", "1_000", "1e400"]


def _forms(kind: str, org: dict, records: dict) -> dict[str, Any]:
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    return {
        "issue_edit": {
            **_form("issue", org),
            "version": str(records["issue_version"]),
        },
        "note": {"body": "Tayangan naik."},
        "user": {
            "email": "orang.baru@demo.example",
            "name": "Orang Baru",
            "password": "Kata-sandi-panjang-2026",
            "language": "id",
            "role": "officer",
        },
        "role": {"role": "observer"},
        "shift": {**_form("shift", org), "user_id": str(officer.id)},
    }.get(kind) or _form(kind, org)


@pytest.mark.parametrize(
    ("role", "unit", "path", "page", "kind", "field"), FORM_NUMBERS, ids=[f"{c[2]} {c[5]}" for c in FORM_NUMBERS]
)
def test_a_number_no_column_holds_in_a_form_shows_an_error_and_changes_nothing(
    login_as, db, org, ids, role, unit, path, page, kind, field
):
    client = login_as(role, unit)
    ids = {**ids, "user_id": org["users"][("KOTA-SEMARANG", "officer")].id}
    url, page_url = path.format(**ids), page.format(**ids)
    before = snapshot(db)
    for value in FORM_VALUES:
        data = {**_forms(kind, org, ids), field: value}
        response = form_post(client, url, data, page=page_url)
        assert response.status_code in (200, 302), (value[:12], response.status_code)
        shown = (
            client.get(page_url).get_data(as_text=True)
            if response.status_code == 302
            else response.get_data(as_text=True)
        )
        if response.status_code == 302:  # pages of raw forms: a message about the field, named by its label
            flashes = re.findall(r"flash-err[^<]*<", shown)
            assert f'data-field="{field}"' in shown and f">{field}: " not in shown, (value[:12], flashes)
        else:  # form pages: the error stands next to the field
            assert re.search(rf'id="{field}-msg" class="field-errors"[^>]*>\s*<p>', shown), (value[:12], shown[:3000])
    assert snapshot(db) == before


# --- 3. addresses too long ------------------------------------------------------------------


def test_an_address_over_the_limit_is_414_problem_json_on_the_api(app, client, token_for):
    limit = app.config["MAX_URL_LENGTH"]
    headers = token_for("officer", "KOTA-SEMARANG")
    for url in (
        "/api/v1/issues?q=" + "x" * limit,
        "/api/v1/issues/" + "1" * limit,  # no route matches: still 414, not 404
        "/api/v1/issues?" + "&".join(f"unit_id={n}" for n in range(limit // 8)),
    ):
        for method in ("GET", "POST", "DELETE"):
            response = client.open(url, method=method, headers=headers)
            assert response.status_code == 414, (method, url[:40], response.status_code)
            assert response.mimetype == PROBLEM
            body = response.get_json()
            assert body["status"] == 414 and "8.000" in body["detail"], body
    english = client.get("/api/v1/issues?q=" + "x" * limit, headers={**headers, "Accept-Language": "en"})
    assert "8,000" in english.get_json()["detail"]


def test_an_address_at_the_limit_is_served(app, client, token_for):
    limit = app.config["MAX_URL_LENGTH"]
    headers = token_for("officer", "KOTA-SEMARANG")
    url = "/api/v1/issues?q=" + "x" * (limit - len("/api/v1/issues?q="))
    assert len(url) == limit
    response = client.get(url, headers=headers)
    assert response.status_code == 422 and "q" in response.get_json()["errors"]  # the search is too long


def test_an_address_over_the_limit_on_a_page_is_a_414_page(app, login_as):
    client = login_as("officer", "KOTA-SEMARANG")
    response = client.get("/issues?q=" + "x" * app.config["MAX_URL_LENGTH"])
    assert response.status_code == 414
    assert response.mimetype == "text/html"
    assert "8.000" in response.get_data(as_text=True)


def test_the_sign_in_redirect_never_makes_an_address_over_the_limit(app, client, org):
    """A long address (under the limit) opened signed out: the way back is dropped rather than
    sending the browser to a sign-in address the server refuses."""
    limit = app.config["MAX_URL_LENGTH"]
    short = client.get("/issues?q=hoaks")
    assert short.status_code == 302 and "next=" in short.headers["Location"]
    long = client.get("/issues?q=" + "%2F" * ((limit - 20) // 3))
    assert long.status_code == 302
    assert len(long.headers["Location"]) <= limit, len(long.headers["Location"])
    assert client.get(long.headers["Location"]).status_code == 200


def _raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.fixture
def embedded_server(app, db):
    """`crisis run`'s server (werkzeug, the embedded mode) on a loopback port, in a thread."""
    import threading

    from werkzeug.serving import make_server

    from crisis.serving import ProblemRequestHandler

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=ProblemRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    thread.join(timeout=10)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /api/v1/issues?q=" + b"x" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"x" * 70_000 + b"\r\n\r\n", 431),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(120)) + b"\r\n", 431),
        (b"GARBAGE\r\n\r\n", 400),
    ],
    ids=["request line", "header line", "header count", "not HTTP"],
)
def test_the_embedded_servers_own_refusals_are_problem_json(embedded_server, request_bytes, status):
    got, headers, body = _raw_exchange(embedded_server, request_bytes)
    assert got == status, body[:300]
    assert headers["content-type"] == PROBLEM, headers
    problem = json.loads(body)
    assert problem["status"] == status and problem["detail"], problem


def test_the_embedded_server_still_serves(embedded_server):
    got, _headers, body = _raw_exchange(
        embedded_server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert got == 200, body
