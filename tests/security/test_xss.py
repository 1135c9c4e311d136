"""Script-injection payloads typed into every user-written field, through the API and through the
forms, come out of every page that shows them as text: no script runs, no handler, no
javascript: link. Links people write are clickable only when they are http(s)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crisis.richtext import user_text
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

PAYLOADS = [
    "<script>alert('xss-{n}')</script>",
    "<img src=x onerror=alert('xss-{n}')>",
    "\"><svg onload=alert('xss-{n}')>",
    "<a href=\"javascript:alert('xss-{n}')\">klik</a>",
    "javascript:alert('xss-{n}')",
    "<iframe src=\"data:text/html,<script>alert('xss-{n}')</script>\"></iframe>",
    "</textarea><script>alert('xss-{n}')</script>",
    "{{{{7*7}}}} <!-- xss-{n} --> <style>body{{display:none}}</style>",
]
ALLOWED_SCRIPT_PREFIX = "/static/"
FORBIDDEN_TAGS = {"iframe", "object", "embed", "frame", "frameset", "applet", "base", "svg", "math", "style", "link"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background"}


class ExecutableMarkup(HTMLParser):
    """Everything in a page that could run: scripts other than our own files, event handlers,
    script URLs, and the tags that embed other documents or styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            src = values.get("src") or ""
            if not src.startswith(ALLOWED_SCRIPT_PREFIX):
                self.found.append(f"<script src={src!r}>")
            self._in_script = True
        if tag in FORBIDDEN_TAGS and not (
            tag == "link"
            and values.get("rel") == "stylesheet"
            and (values.get("href") or "").startswith(ALLOWED_SCRIPT_PREFIX)
        ):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in URL_ATTRIBUTES and value:
                scheme = value.strip().split(":", 1)[0].lower() if ":" in value else ""
                if scheme in ("javascript", "vbscript", "data") and not (tag == "img" and name == "src"):
                    self.found.append(f"<{tag} {name}={value!r}>")
            if name == "style" and value and ("expression" in value or "url(" in value):
                self.found.append(f"<{tag} style={value!r}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append(f"inline script: {data.strip()[:80]!r}")


def executable_markup(page: str) -> list[str]:
    parser = ExecutableMarkup()
    parser.feed(page)
    parser.close()
    return parser.found


@pytest.fixture(autouse=True)
def frozen_clock(clock):
    clock.now = NOW


def test_the_scanner_sees_what_would_run():
    # The check itself must be able to fail.
    assert executable_markup("<p>aman</p><script src='/static/js/app.js'></script>") == []
    for payload in PAYLOADS[:4] + PAYLOADS[5:6]:
        assert executable_markup(payload.format(n=1)), payload


def test_user_text_escapes_markup_and_links_only_http():
    for payload in PAYLOADS:
        rendered = str(user_text(payload.format(n=1)))
        assert executable_markup(rendered) == [], rendered
    linked = str(user_text("lihat https://example.go.id/klarifikasi?a=1&b=2.\nbaris dua"))
    assert '<a href="https://example.go.id/klarifikasi?a=1&amp;b=2" rel="noopener noreferrer nofollow">' in linked
    assert "\nbaris dua" in linked
    assert "<a" not in str(user_text("javascript:alert(1) data:text/html,x ftp://example.com/x"))


def test_a_stored_script_link_is_never_an_href(login_as, db, org):
    """A link written around today's checks (an old row, a manual fix in the database) stays inert."""
    from crisis.incidents.models import ChecklistEntry
    from crisis.issues.models import IssueEvidence

    ids = world.build(db.session, org, "KOTA-SEMARANG", admin=org["users"][("JATENG", "admin")], now=FIXED_NOW)
    evidence = db.session.query(IssueEvidence).filter_by(issue_id=ids["issue_id"][0]).first()
    evidence.url = "javascript:alert('xss-evidence')"
    db.session.get(ChecklistEntry, ids["entry_id"][0]).evidence_url = "data:text/html,<script>alert(1)</script>"
    db.session.commit()
    client = login_as("officer", "KOTA-SEMARANG")
    for path in (f"/issues/{ids['issue_id'][0]}", f"/incidents/{ids['incident_id'][0]}"):
        page = client.get(path).get_data(as_text=True)
        assert executable_markup(page) == [], path
    assert "xss-evidence" in client.get(f"/issues/{ids['issue_id'][0]}").get_data(as_text=True)


def _payload(n: int) -> str:
    return PAYLOADS[n % len(PAYLOADS)].format(n=n)


def test_payloads_sent_through_the_api_are_inert_on_every_page(client, db, org, token_for, login_as):
    ids = world.build(db.session, org, "KOTA-SEMARANG", admin=org["users"][("JATENG", "admin")], now=FIXED_NOW)
    db.session.commit()
    officer, head, admin = (
        token_for("officer", "KOTA-SEMARANG"),
        token_for("head", "KOTA-SEMARANG"),
        token_for("admin", "JATENG"),
    )
    issue_id, incident_id, review_id = ids["issue_id"][0], ids["incident_id"][0], ids["review_id"][0]
    resolved_id, unit_id = ids["incident_id"][1], ids["unit_id"][0]
    counter = iter(range(1000))

    def send(method: str, path: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
        response = client.open(path, method=method, json=body, headers=headers)
        assert response.status_code < 300, (path, response.get_data(as_text=True)[:400])
        return response.get_json()

    created = send(
        "post",
        "/api/v1/issues",
        officer,
        {
            "title": "Hoaks " + _payload(next(counter)),
            "description": _payload(next(counter)),
            "channel": "x",
            "category": "hoax",
            "first_seen_at": (NOW - timedelta(hours=1)).isoformat(),
            "evidence_urls": ["https://x.com/warga/status/77"],
            "source_person": _payload(next(counter)),
            "source_contact": _payload(next(counter)),
        },
    )
    send("post", f"/api/v1/issues/{issue_id}/notes", officer, {"body": _payload(next(counter))})
    send(
        "post",
        f"/api/v1/issues/{issue_id}/evidence",
        officer,
        {"url": "https://example.com/bukti?q=%3Cscript%3E", "note": _payload(next(counter))},
    )
    send("post", f"/api/v1/issues/{created['id']}/dismiss", officer, {"reason": _payload(next(counter))})
    send("post", f"/api/v1/incidents/{incident_id}/comments", officer, {"body": _payload(next(counter))})
    statement = send(
        "post",
        f"/api/v1/incidents/{incident_id}/statements",
        officer,
        {"kind": "clarification", "title": _payload(next(counter)), "body": _payload(next(counter))},
    )
    entries = ids["entry_id"]
    send("post", f"/api/v1/checklist/{entries[1]}/tick", officer, {"note": _payload(next(counter))})
    send("post", f"/api/v1/checklist/{entries[2]}/waive", head, {"reason": _payload(next(counter))})
    send(
        "patch",
        f"/api/v1/reviews/{review_id}",
        head,
        {
            "summary": _payload(next(counter)),
            "went_well": _payload(next(counter)),
            "to_improve": _payload(next(counter)),
        },
    )
    send(
        "post",
        f"/api/v1/reviews/{review_id}/action-items",
        head,
        {"title": _payload(next(counter)), "owner_id": org["users"][("KOTA-SEMARANG", "officer")].id, "due_on": DUE_ON},
    )
    send("patch", f"/api/v1/units/{unit_id}", admin, {"name": "Kota " + _payload(next(counter))})
    send("patch", f"/api/v1/users/{ids['user_id'][2]}", admin, {"name": _payload(next(counter))})
    send(
        "post",
        "/api/v1/duty-shifts",
        head,
        {
            "unit_id": unit_id,
            "user_id": org["users"][("KOTA-SEMARANG", "officer")].id,
            "starts_at": SHIFT_STARTS.isoformat(),
            "ends_at": SHIFT_ENDS.isoformat(),
            "note": _payload(next(counter)),
        },
    )
    send("post", "/api/v1/tokens", officer, {"name": _payload(next(counter))})
    written = next(counter)

    pages = {
        "officer": [
            "/",
            "/issues",
            f"/issues/{issue_id}",
            f"/issues/{created['id']}",
            f"/incidents/{incident_id}",
            f"/incidents/{incident_id}/live",
            "/incidents",
            f"/units/{unit_id}/roster",
            "/account/tokens",
            "/inbox",
            "/reviews",
        ],
        "head": [f"/incidents/{resolved_id}/review", f"/incidents/{resolved_id}/review.html", "/evaluation"],
    }
    seen = 0
    for role, paths in pages.items():
        signed_in = login_as(role, "KOTA-SEMARANG")
        for path in paths:
            response = signed_in.get(path)
            assert response.status_code == 200, path
            page = response.get_data(as_text=True)
            assert executable_markup(page) == [], path
            seen += page.count("xss-")
        signed_in.post("/logout", data={"csrf_token": _csrf(signed_in)})
    admin_client = login_as("admin", "JATENG")
    for path in ("/admin/units", "/admin/users", f"/admin/users/{ids['user_id'][2]}/edit"):
        page = admin_client.get(path).get_data(as_text=True)
        assert executable_markup(page) == [], path
        seen += page.count("xss-")
    # The payloads were on the pages (as text), so the scan looked at them; they are stored as written.
    assert seen >= written
    assert "<" in statement["title"] and "xss-" in statement["body"]


def _csrf(client: Any) -> str:
    import re

    page = client.get("/account/tokens").get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    return match.group(1) if match else ""


def test_payloads_sent_through_the_forms_are_inert(login_as, db, org):
    ids = world.build(db.session, org, "KOTA-SEMARANG", admin=org["users"][("JATENG", "admin")], now=FIXED_NOW)
    db.session.commit()
    client = login_as("officer", "KOTA-SEMARANG")
    issue_id, incident_id = ids["issue_id"][0], ids["incident_id"][0]
    response = form_post(
        client,
        "/issues/new",
        {
            "title": "Hoaks " + _payload(0),
            "description": _payload(1) + " https://example.go.id/info",
            "channel": "tiktok",
            "category": "hoax",
            "evidence_urls": "https://www.tiktok.com/@warga/video/9",
            "first_seen_at": SEEN_LOCAL,
            "reach": "10",
            "engagement": "1",
            "sentiment": "negative",
            "unit_id": str(org["units"]["KOTA-SEMARANG"].id),
            "source_person": _payload(2),
        },
        page="/issues/new",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    new_issue = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    form_post(client, f"/issues/{issue_id}/notes", {"body": _payload(3)}, page=f"/issues/{issue_id}")
    page = f"/incidents/{incident_id}"
    form_post(client, f"{page}/comment", {"body": _payload(4) + "\nhttps://example.go.id/rilis"}, page=page)
    form_post(client, f"{page}/entries/{ids['entry_id'][1]}/tick", {"note": _payload(5)}, page=page)
    statement = ids["statement_id"][1]
    form_post(client, f"{page}/statements/{statement}/edit", {"title": _payload(6), "body": _payload(7)}, page=page)
    form_post(client, "/account/tokens", {"name": _payload(1)}, page="/account/tokens")

    for path in ("/issues", f"/issues/{new_issue}", f"/issues/{issue_id}", page, f"{page}/live", "/account/tokens"):
        body = client.get(path).get_data(as_text=True)
        assert executable_markup(body) == [], path
        assert "xss-" in body, path
    detail = client.get(f"/issues/{new_issue}").get_data(as_text=True)
    assert '<a href="https://example.go.id/info" rel="noopener noreferrer nofollow">' in detail
    incident_page = client.get(page).get_data(as_text=True)
    assert '<a href="https://example.go.id/rilis" rel="noopener noreferrer nofollow">' in incident_page
    assert "&lt;script&gt;alert(&#39;xss-0&#39;)&lt;/script&gt;" in client.get("/issues").get_data(as_text=True)
