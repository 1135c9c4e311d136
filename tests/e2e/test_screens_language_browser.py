"""What a person reads on the incident page and the inbox, as Chromium shows it (Playwright): the
timeline and the notices are sentences with names; a failure says what it means and when the app
tries again; the technical error stays folded away until an administrator opens it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crisis.notify.models import Notice
from tests.e2e.test_duty_officer_day import ARTIFACTS, PHONE
from tests.engine.drive import tick
from tests.factories import open_incident
from tests.test_screens_language import KEYS, _next_try, _signed_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

M = timedelta(minutes=1)


def _shown(browser, app, html: str, name: str):
    """The page as a phone shows it: the app's own stylesheet, the HTML the app served."""
    context = browser.new_context(viewport=PHONE, locale="id-ID", timezone_id="Asia/Jakarta")
    page = context.new_page()
    css = Path(app.static_folder, "css", "app.css")
    page.set_content(re.sub(r'<link rel="stylesheet"[^>]*>', "", html))
    if css.exists():
        page.add_style_tag(content=css.read_text())
    # The incident page folds its notifications and timeline on a phone: read them opened.
    page.evaluate("() => document.querySelectorAll('details.fold').forEach((fold) => { fold.open = true; })")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    return context, page


def test_the_incident_page_reads_as_sentences_and_a_failure_says_when_it_is_tried_again(browser, app, db, org):
    app.config.update(SMTP_PORT=1)  # nothing listens: the mail server "does not answer"
    try:
        incident = open_incident(db.session, org, now=app.extensions["clock"]())
        db.session.commit()
        tick(db.session, incident.stage_runs[0].started_at + 15 * M)
    finally:
        app.config.update(SMTP_PORT=25)
    notice = db.session.scalar(select(Notice).where(Notice.channel == "email"))
    stage = incident.playbook_snapshot["stages"][0]["title"]["id"]
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]

    officer = _signed_in(app, org, "officer", "KOTA-SEMARANG")
    context, page = _shown(
        browser, app, officer.get(f"/incidents/{incident.id}").get_data(as_text=True), "sentences-officer"
    )
    timeline = page.locator("#timeline").inner_text()
    assert (
        f"Eskalasi tahap {stage}, langkah 1: dikirim ke supervisor Diskominfo Kota Semarang ({supervisor.name})"
        in timeline
    )
    notices = page.locator("#notices").inner_text()
    assert "Server e-mail tidak menjawab" in notices and _next_try(notice.next_attempt_at) in notices
    assert not KEYS.search(timeline) and not KEYS.search(notices)
    assert "Rincian teknis" not in notices  # officers get the meaning, not the exception
    context.close()

    admin = _signed_in(app, org, "admin", "JATENG")
    context, page = _shown(
        browser, app, admin.get(f"/incidents/{incident.id}").get_data(as_text=True), "sentences-admin"
    )
    row = page.locator("#notices tr.notice-queued").first
    assert "ConnectionRefusedError" not in row.inner_text()  # folded away until opened
    row.locator("details summary").click()
    assert "ConnectionRefusedError" in row.inner_text()
    context.close()


def test_without_a_mail_server_the_inbox_says_email_is_not_set_up(browser, app, db, org):
    app.config.update(SMTP_HOST=None)
    try:
        incident = open_incident(db.session, org, now=app.extensions["clock"]())
        db.session.commit()
        tick(db.session, incident.stage_runs[0].started_at + 15 * M)
        supervisor = _signed_in(app, org, "supervisor", "KOTA-SEMARANG")
        context, page = _shown(browser, app, supervisor.get("/inbox").get_data(as_text=True), "sentences-inbox")
    finally:
        app.config.update(SMTP_HOST="127.0.0.1")
    stage = incident.playbook_snapshot["stages"][0]["title"]["id"]
    text = page.locator("main").inner_text()
    assert f"Eskalasi tahap {stage}, langkah 1" in text
    assert "E-mail belum diatur di server ini" in text and "CRISIS_SMTP_HOST" in text
    assert not KEYS.search(page.locator("table").inner_text())
    context.close()
