"""Limits on what comes in: request size, field lengths that match the database columns, links
that are http(s) only, text the database cannot store, ids beyond the key columns, redirects that
stay on the site. Every refusal names the field (or the limit) and changes nothing."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import String, text

from tests.conftest import FIXED_NOW, form_post
from tests.security import world

NOW = FIXED_NOW + timedelta(hours=1)
SEMARANG = ZoneInfo("Asia/Jakarta")  # Kota Semarang's zone, and its people's
# Planned from the clock, in Semarang's own calendar: a due date 24 days ahead, a day shift 5 days
# ahead (inside the roster page's days) and a first sighting two hours ago as a form shows it.
DUE_ON = (NOW.astimezone(SEMARANG).date() + timedelta(days=24)).isoformat()
SHIFT_DAY = NOW.astimezone(SEMARANG).date() + timedelta(days=5)
# An evening after the officer's demo day shift (07:00-19:00): a person's shifts may not overlap.
SHIFT_STARTS, SHIFT_ENDS = (datetime.combine(SHIFT_DAY, time(hour), SEMARANG) for hour in (19, 23))
SEEN_LOCAL = f"{(NOW - timedelta(hours=2)).astimezone(SEMARANG):%Y-%m-%dT%H:%M}"
# Written by every authenticated API request (last use of the token) and by the audit trail.
VOLATILE_TABLES = {"api_token", "audit_event"}


@pytest.fixture(autouse=True)
def frozen_clock(clock):
    clock.now = NOW


@pytest.fixture
def records(db, org, built_once):
    ids = built_once(
        "security world of Kota Semarang",
        lambda: world.build(db.session, org, "KOTA-SEMARANG", admin=org["users"][("JATENG", "admin")], now=FIXED_NOW),
    )
    picked = {name: values[0] for name, values in ids.items()}
    picked["entry_id"] = ids["entry_id"][1]  # the first item is ticked already
    picked["draft_id"] = ids["statement_id"][1]  # the first statement is published
    return picked


def snapshot(db) -> dict[str, str]:
    """A fingerprint of every row of every table: equal snapshots mean nothing was written."""
    db.session.rollback()
    prints = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if table.name not in VOLATILE_TABLES:
                prints[table.name] = conn.execute(
                    text(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{table.name}\" t")
                ).scalar()
    return prints


def issue_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "title": "Hoaks bansos Rp 3 juta beredar",
        "description": "Pesan berantai.",
        "channel": "x",
        "category": "hoax",
        "first_seen_at": (NOW - timedelta(hours=1)).isoformat(),
        "reach": 1000,
        "engagement": 10,
        "evidence_urls": ["https://x.com/warga/status/1"],
    }
    body.update(overrides)
    return body


def _schema(document: dict, ref_or_schema: dict) -> dict:
    while "$ref" in ref_or_schema:
        ref_or_schema = document["components"]["schemas"][ref_or_schema["$ref"].rsplit("/", 1)[1]]
    return ref_or_schema


# --- the document states every limit ---------------------------------------------------------


def _strings(document: dict, schema: dict, path: str):
    schema = _schema(document, schema)
    for name, prop in schema.get("properties", {}).items():
        prop = _schema(document, prop)
        if prop.get("readOnly"):
            continue
        if prop.get("type") == "string":
            yield f"{path}.{name}", prop
        elif prop.get("type") == "array" and _schema(document, prop.get("items", {})).get("type") == "string":
            yield f"{path}.{name}[]", _schema(document, prop["items"])
        elif prop.get("type") == "object" and "properties" in prop:
            yield from _strings(document, prop, f"{path}.{name}")


def test_every_text_field_of_every_request_body_has_a_maximum_length(client):
    document = client.get("/api/v1/openapi.json").get_json()
    unbounded = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if not body:
                continue
            schema = body["content"]["application/json"]["schema"]
            for name, prop in _strings(document, schema, f"{method.upper()} {path}"):
                if "enum" in prop or prop.get("format") in ("date", "date-time") or "pattern" in prop:
                    continue
                if "maxLength" not in prop:
                    unbounded.append(name)
    assert unbounded == []


COLUMNS = [
    ("IssueIn", "title", "crisis.issues.models:Issue.title"),
    ("IssueIn", "source_person", "crisis.issues.models:Issue.source_person"),
    ("IssueIn", "source_contact", "crisis.issues.models:Issue.source_contact"),
    ("EvidenceIn", "url", "crisis.issues.models:IssueEvidence.url"),
    ("EvidenceIn", "note", "crisis.issues.models:IssueEvidence.note"),
    ("UnitIn", "code", "crisis.units.models:Unit.code"),
    ("UnitIn", "name", "crisis.units.models:Unit.name"),
    ("UnitIn", "timezone", "crisis.units.models:Unit.timezone"),
    ("UserIn", "email", "crisis.auth.models:User.email"),
    ("UserIn", "name", "crisis.auth.models:User.name"),
    ("TokenIn", "name", "crisis.auth.models:ApiToken.name"),
    ("ShiftIn", "note", "crisis.units.models:DutyShift.note"),
    ("WebhookIn", "name", "crisis.notify.models:WebhookEndpoint.name"),
    ("WebhookIn", "url", "crisis.notify.models:WebhookEndpoint.url"),
    ("TickIn", "evidence_url", "crisis.incidents.models:ChecklistEntry.evidence_url"),
    ("StatementIn", "title", "crisis.incidents.models:Statement.title"),
    ("PublicationIn", "channel", "crisis.incidents.models:Publication.channel"),
    ("PublicationIn", "url", "crisis.incidents.models:Publication.url"),
    ("ActionItemIn", "title", "crisis.reviews.models:ActionItem.title"),
    ("EscalateIn", "playbook_key", "crisis.playbooks.models:Playbook.key"),
]


def test_documented_lengths_fit_the_database_columns(client):
    import importlib

    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    for schema_name, field, column_ref in COLUMNS:
        module, attribute = column_ref.split(":")
        model, column = attribute.split(".")
        column_type = getattr(importlib.import_module(module), model).__table__.c[column].type
        assert isinstance(column_type, String) and column_type.length, column_ref
        documented = schemas[schema_name]["properties"][field]["maxLength"]
        assert documented <= column_type.length, (schema_name, field, documented, column_type.length)


# --- too long: 422 naming the field, nothing written -----------------------------------------

LONG = [
    # (role, unit, method, path, body, field, limit)
    ("officer", "KOTA-SEMARANG", "post", "/api/v1/issues", "issue:title", "title", 300),
    ("officer", "KOTA-SEMARANG", "post", "/api/v1/issues", "issue:description", "description", 10000),
    ("officer", "KOTA-SEMARANG", "post", "/api/v1/issues", "issue:source_person", "source_person", 200),
    ("officer", "KOTA-SEMARANG", "post", "/api/v1/issues", "issue:source_contact", "source_contact", 200),
    ("officer", "KOTA-SEMARANG", "post", "/api/v1/issues/{issue_id}/notes", "body", "body", 10000),
    ("officer", "KOTA-SEMARANG", "post", "/api/v1/issues/{issue_id}/evidence", "evidence:note", "note", 500),
    ("officer", "KOTA-SEMARANG", "post", "/api/v1/issues/{issue_id}/dismiss", "reason", "reason", 2000),
    ("officer", "KOTA-SEMARANG", "post", "/api/v1/incidents/{incident_id}/comments", "body", "body", 5000),
    ("officer", "KOTA-SEMARANG", "post", "/api/v1/incidents/{incident_id}/statements", "statement:title", "title", 300),
    ("officer", "KOTA-SEMARANG", "post", "/api/v1/incidents/{incident_id}/statements", "statement:body", "body", 20000),
    ("officer", "KOTA-SEMARANG", "post", "/api/v1/checklist/{entry_id}/tick", "note", "note", 5000),
    ("head", "KOTA-SEMARANG", "post", "/api/v1/checklist/{entry_id}/waive", "reason", "reason", 5000),
    ("head", "KOTA-SEMARANG", "post", "/api/v1/incidents/{incident_id}/cancel", "reason", "reason", 5000),
    (
        "officer",
        "KOTA-SEMARANG",
        "post",
        "/api/v1/statements/{statement_id}/publish",
        "publication:channel",
        "channel",
        32,
    ),
    ("head", "KOTA-SEMARANG", "patch", "/api/v1/reviews/{review_id}", "summary", "summary", 20000),
    ("head", "KOTA-SEMARANG", "post", "/api/v1/reviews/{review_id}/action-items", "action:title", "title", 500),
    ("admin", "JATENG", "post", "/api/v1/units", "unit:name", "name", 200),
    ("admin", "JATENG", "post", "/api/v1/units", "unit:code", "code", 32),
    ("admin", "JATENG", "post", "/api/v1/users", "user:name", "name", 200),
    ("admin", "JATENG", "post", "/api/v1/users", "user:email", "email", 254),
    ("officer", "KOTA-SEMARANG", "post", "/api/v1/tokens", "name", "name", 100),
    ("admin", "JATENG", "post", "/api/v1/units/{unit_id}/webhooks", "webhook:name", "name", 100),
    ("head", "KOTA-SEMARANG", "post", "/api/v1/duty-shifts", "shift:note", "note", 200),
]


# Fields with a format as well as a length: "x" * limit is refused for its form, not its length.
FORMATTED = {"channel", "code", "email"}


def _body(kind: str, field: str, value: Any, org: dict, records: dict) -> dict[str, Any]:
    unit = org["units"]["KOTA-SEMARANG"]
    base: dict[str, Any] = {
        "issue": issue_body(),
        "statement": {"kind": "holding", "title": "Pernyataan", "body": "Isi."},
        "evidence": {"url": "https://example.com/bukti-baru"},
        "publication": {"channel": "website", "url": "https://example.go.id/a"},
        "action": {
            "title": "Perbarui FAQ",
            "owner_id": org["users"][("KOTA-SEMARANG", "officer")].id,
            "due_on": DUE_ON,
        },
        "unit": {"code": "KAB-X", "name": "Kabupaten X", "kind": "regency", "parent_id": org["units"]["JATENG"].id},
        "user": {
            "email": "baru@demo.example",
            "name": "Orang Baru",
            "password": "Kata-sandi-panjang-2026",
            "unit_id": unit.id,
            "role": "officer",
        },
        "webhook": {"name": "Piket", "url": "https://hooks.example.com/x"},
        "shift": {
            "unit_id": unit.id,
            "user_id": org["users"][("KOTA-SEMARANG", "officer")].id,
            "starts_at": SHIFT_STARTS.isoformat(),
            "ends_at": SHIFT_ENDS.isoformat(),
        },
    }.get(kind.split(":")[0], {})
    return {**base, field: value}


@pytest.mark.parametrize(
    ("role", "unit", "method", "path", "kind", "field", "limit"), LONG, ids=[f"{c[2]} {c[3]} {c[5]}" for c in LONG]
)
def test_a_value_one_over_the_limit_is_refused_naming_the_field(
    client, db, org, token_for, records, role, unit, method, path, kind, field, limit
):
    headers = token_for(role, unit)
    url = path.format(**records)
    if field == "email":
        too_long, just_right = "a" * (limit - 12) + "@demo.example", ""
    else:
        too_long, just_right = "x" * (limit + 1), "x" * limit
    before = snapshot(db)
    refused = client.open(url, method=method, json=_body(kind, field, too_long, org, records), headers=headers)
    assert refused.status_code == 422, refused.get_data(as_text=True)[:500]
    assert refused.mimetype == "application/problem+json"
    assert field in refused.get_json()["errors"], refused.get_json()
    assert snapshot(db) == before
    if field not in FORMATTED:  # the limit itself is accepted
        accepted = client.open(url, method=method, json=_body(kind, field, just_right, org, records), headers=headers)
        assert accepted.status_code < 300, accepted.get_data(as_text=True)[:500]


def test_a_too_long_search_is_refused(client, token_for, records):
    response = client.get("/api/v1/issues", query_string={"q": "x" * 201}, headers=token_for("officer", "JATENG"))
    assert response.status_code == 422 and "q" in response.get_json()["errors"]


WEB_LONG = [
    # (role, unit, path, page, data, field, limit)
    ("officer", "KOTA-SEMARANG", "/issues/new", "/issues/new", "issue", "title", 300),
    ("officer", "KOTA-SEMARANG", "/issues/new", "/issues/new", "issue", "source_person", 200),
    ("officer", "KOTA-SEMARANG", "/issues/{issue_id}/notes", "/issues/{issue_id}", "", "body", 10000),
    ("officer", "KOTA-SEMARANG", "/issues/{issue_id}/evidence", "/issues/{issue_id}", "evidence", "evidence_note", 500),
    ("officer", "KOTA-SEMARANG", "/account/tokens", "/account/tokens", "", "name", 100),
    ("head", "KOTA-SEMARANG", "/units/{unit_id}/roster", "/units/{unit_id}/roster", "shift", "note", 200),
    ("admin", "JATENG", "/admin/units/new", "/admin/units/new", "unit", "name", 200),
    ("officer", "KOTA-SEMARANG", "/incidents/{incident_id}/comment", "/incidents/{incident_id}", "", "body", 5000),
    (
        "officer",
        "KOTA-SEMARANG",
        "/incidents/{incident_id}/entries/{entry_id}/tick",
        "/incidents/{incident_id}",
        "",
        "note",
        5000,
    ),
    (
        "officer",
        "KOTA-SEMARANG",
        "/incidents/{incident_id}/statements/{draft_id}/edit",
        "/incidents/{incident_id}",
        "statement",
        "body",
        20000,
    ),
    ("head", "KOTA-SEMARANG", "/reviews/{review_id}/edit", "/incidents/{incident_id}/review", "", "summary", 20000),
    (
        "head",
        "KOTA-SEMARANG",
        "/reviews/{review_id}/actions",
        "/incidents/{incident_id}/review",
        "action",
        "title",
        500,
    ),
]


def _form(kind: str, org: dict) -> dict[str, Any]:
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    return {
        "issue": {
            "title": "Video antrean BPJS RSUD viral",
            "channel": "tiktok",
            "category": "service_failure",
            "evidence_urls": "https://www.tiktok.com/@warga/video/77",
            "first_seen_at": SEEN_LOCAL,
            "reach": "100",
            "engagement": "10",
            "sentiment": "negative",
            "unit_id": str(org["units"]["KOTA-SEMARANG"].id),
        },
        "evidence": {"url": "https://example.com/bukti-baru"},
        "shift": {
            "user_id": str(officer.id),
            "starts_at": f"{SHIFT_STARTS:%Y-%m-%dT%H:%M}",
            "ends_at": f"{SHIFT_ENDS:%Y-%m-%dT%H:%M}",
        },
        "unit": {
            "code": "KAB-X",
            "kind": "regency",
            "parent_id": str(org["units"]["JATENG"].id),
            "timezone": "Asia/Jakarta",
        },
        "action": {"owner_id": str(officer.id), "due_on": DUE_ON},
        "statement": {"title": "Pernyataan awal"},
    }.get(kind, {})


@pytest.mark.parametrize(
    ("role", "unit", "path", "page", "kind", "field", "limit"), WEB_LONG, ids=[f"{c[2]} {c[5]}" for c in WEB_LONG]
)
def test_a_form_value_one_over_the_limit_shows_an_error_and_changes_nothing(
    login_as, db, org, records, role, unit, path, page, kind, field, limit
):
    client = login_as(role, unit)
    url, page_url = path.format(**records), page.format(**records)
    before = snapshot(db)
    response = form_post(client, url, {**_form(kind, org), field: "x" * (limit + 1)}, page=page_url)
    assert response.status_code in (200, 302, 400, 422), response.status_code
    shown = (
        client.get(page_url).get_data(as_text=True) if response.status_code == 302 else response.get_data(as_text=True)
    )
    if response.status_code == 302:  # pages of raw forms: a message about the field, named by its label
        flashes = re.findall(r"flash-err[^>]*>[^<]*", shown)
        assert f'data-field="{field}"' in shown and f">{field}: " not in shown, flashes
    else:  # form pages: the error stands next to the field
        assert re.search(rf'id="{field}"[^>]*>\s*(?:</textarea>\s*)?<div class="field-errors"', shown) or (
            "field-errors" in shown
        ), shown[:2000]
    assert snapshot(db) == before


# --- links: http and https only ----------------------------------------------------------------

BAD_LINKS = [
    "javascript:alert(document.domain)",
    "data:text/html,<script>alert(1)</script>",
    "ftp://example.com/bukti.txt",
    "JaVaScRiPt:alert(1)",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
]
LINK_FIELDS = [
    ("officer", "KOTA-SEMARANG", "post", "/api/v1/issues", "evidence_urls"),
    ("officer", "KOTA-SEMARANG", "post", "/api/v1/issues/{issue_id}/evidence", "url"),
    ("officer", "KOTA-SEMARANG", "post", "/api/v1/checklist/{entry_id}/tick", "evidence_url"),
    ("officer", "KOTA-SEMARANG", "patch", "/api/v1/checklist/{entry_id}", "evidence_url"),
    ("officer", "KOTA-SEMARANG", "post", "/api/v1/statements/{statement_id}/publish", "url"),
    ("admin", "JATENG", "post", "/api/v1/units/{unit_id}/webhooks", "url"),
]


@pytest.mark.parametrize(
    ("role", "unit", "method", "path", "field"), LINK_FIELDS, ids=[f"{c[2]} {c[3]} {c[4]}" for c in LINK_FIELDS]
)
def test_only_http_and_https_links_are_accepted_through_the_api(
    client, db, org, token_for, records, role, unit, method, path, field
):
    headers = token_for(role, unit)
    url = path.format(**records)
    base = {
        "/api/v1/issues": issue_body(),
        "/api/v1/units/{unit_id}/webhooks": {"name": "Piket"},
        "/api/v1/statements/{statement_id}/publish": {"channel": "website"},
    }.get(path, {})
    before = snapshot(db)
    for link in BAD_LINKS:
        value = [link] if field == "evidence_urls" else link
        response = client.open(url, method=method, json={**base, field: value}, headers=headers)
        assert response.status_code == 422, (link, response.get_data(as_text=True)[:300])
        messages = " ".join(response.get_json()["errors"][field])
        assert "http://" in messages and "https://" in messages, messages
    assert snapshot(db) == before


def test_only_http_and_https_links_are_accepted_through_the_forms(login_as, db, org, records):
    client = login_as("officer", "KOTA-SEMARANG")
    before = snapshot(db)
    for link in BAD_LINKS:
        new = form_post(client, "/issues/new", {**_form("issue", org), "evidence_urls": link}, page="/issues/new")
        assert new.status_code == 200 and "http://" in new.get_data(as_text=True)
        evidence = form_post(
            client, f"/issues/{records['issue_id']}/evidence", {"url": link}, page=f"/issues/{records['issue_id']}"
        )
        assert evidence.status_code == 200 and "field-errors" in evidence.get_data(as_text=True)
        page = f"/incidents/{records['incident_id']}"
        form_post(client, f"{page}/entries/{records['entry_id']}/tick", {"evidence_url": link}, page=page)
        assert "flash-error" in client.get(page).get_data(as_text=True)
    assert snapshot(db) == before


# --- size, unstorable text, ids, redirects -----------------------------------------------------


def test_a_request_over_the_size_limit_gets_413_problem_json(app, client, db, token_for, records):
    limit = app.config["MAX_CONTENT_LENGTH"]
    headers = token_for("officer", "KOTA-SEMARANG")
    before = snapshot(db)
    response = client.post("/api/v1/issues", json=issue_body(description="x" * (limit + 1)), headers=headers)
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 413 and "2 MB" in body["detail"], body
    assert snapshot(db) == before


def test_a_form_over_the_size_limit_gets_a_413_page(app, login_as, db, org, records):
    client = login_as("officer", "KOTA-SEMARANG")
    limit = app.config["MAX_CONTENT_LENGTH"]
    before = snapshot(db)
    response = form_post(
        client, "/issues/new", {**_form("issue", org), "description": "x" * (limit + 1)}, page="/issues/new"
    )
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "2 MB" in response.get_data(as_text=True)
    assert snapshot(db) == before


def test_nul_and_unpaired_surrogates_are_refused_naming_the_field(client, db, org, token_for, records, login_as):
    headers = token_for("officer", "KOTA-SEMARANG")
    web = login_as("officer", "KOTA-SEMARANG")
    before = snapshot(db)
    for bad in ("judul\x00hoaks", "judul \ud800 hoaks"):
        response = client.post("/api/v1/issues", json=issue_body(title=bad), headers=headers)
        assert response.status_code == 422, response.get_data(as_text=True)
        assert list(response.get_json()["errors"]) == ["title"]
    response = client.get("/api/v1/issues", query_string={"q": "a\x00b"}, headers=headers)
    assert response.status_code == 422 and "q" in response.get_json()["errors"]
    page = form_post(
        web, f"/issues/{records['issue_id']}/notes", {"body": "catatan\x00"}, page=f"/issues/{records['issue_id']}"
    )
    assert page.status_code == 400 and "body" in page.get_data(as_text=True)
    assert snapshot(db) == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/issues/2147483648",
        "/api/v1/issues/99999999999999999999",
        "/api/v1/incidents/2147483648/timeline",
        "/api/v1/units/4294967296",
    ],
)
def test_ids_beyond_the_key_columns_are_404(client, token_for, org, path):
    response = client.get(path, headers=token_for("admin", "PUSAT"))
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    # Not 405 either: a number beyond the limit matches no route, whatever the method.
    assert client.patch(path, json={}, headers=token_for("admin", "PUSAT")).status_code == 404


@pytest.mark.parametrize(("field", "value"), [("unit_id", 2**31), ("unit_id", 10**20), ("unit_id", 0)])
def test_ids_beyond_the_key_columns_in_a_body_are_422_naming_the_field(client, token_for, org, field, value):
    response = client.post(
        "/api/v1/issues", json=issue_body(**{field: value}), headers=token_for("officer", "KOTA-SEMARANG")
    )
    assert response.status_code == 422 and field in response.get_json()["errors"]


@pytest.mark.parametrize("query", ["?unit=99999999999", "?unit=%C2%B2", "?severity=99999999999"])
def test_pages_ignore_ids_beyond_the_key_columns(login_as, query):
    client = login_as("officer", "KOTA-SEMARANG")
    for page in ("/", "/incidents", "/issues"):
        assert client.get(page + query).status_code in (200, 400), page + query


@pytest.mark.parametrize(
    "target",
    ["//evil.example/", "/\\evil.example/", "https://evil.example/", "/\t/evil.example", "javascript:alert(1)"],
)
def test_redirects_after_a_form_stay_on_the_site(login_as, db, org, records, target):
    client = login_as("head", "KOTA-SEMARANG")
    response = form_post(client, f"/inbox/{records['notice_id']}/ack", {"next": target}, page="/inbox")
    assert response.status_code == 302
    assert response.headers["Location"] in ("/inbox", "http://localhost/inbox"), response.headers["Location"]
