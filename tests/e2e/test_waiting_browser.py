"""What is waiting for me, search, and an observer's pages, in a real browser (Debian's headless
Chromium, driven by Playwright) against `crisis run` as a newcomer starts it: a draft statement shows
in the supervisor's header count and on "Menunggu saya", whose row leads straight to the statement;
the header's search finds the incident within the unit's scope; an observer is offered nothing that
answers 403."""

from __future__ import annotations

import re

import pytest

from tests.e2e.test_duty_officer_day import PHONE, _shot, _sign_in
from tests.helpers import crisis_env, invoke_crisis, serving

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.real_clock]

DESKTOP = {"width": 1366, "height": 900}
TITLE = "Hoaks: air PDAM Semarang tercemar bahan kimia"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = crisis_env(CRISIS_INSTANCE_PATH=str(tmp_path_factory.mktemp("e2e-waiting")))
    assert invoke_crisis("db", "upgrade", env=env).returncode == 0
    assert invoke_crisis("seed", "demo", "--organisation-only", env=env).returncode == 0
    with serving(env) as url:
        yield url


def _badge(page) -> int:
    badge = page.locator("header .waitinglink #waiting-count")
    return int(badge.inner_text()) if badge.count() else 0


def _no_sideways_scrolling(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.fixture(scope="module")
def drafted(server, browser):
    """An officer of Kota Semarang logs a hoax, escalates it and drafts a holding statement."""
    officer = _sign_in(browser, server, "petugas.kota-semarang@demo.example")
    officer.goto(f"{server}/issues/new")
    officer.fill("[name=title]", TITLE)
    officer.fill("[name=description]", "Pesan berantai WhatsApp menyebut air PDAM beracun.")
    officer.select_option("[name=channel]", "whatsapp")
    officer.fill("[name=evidence_urls]", "https://www.tiktok.com/@akun/video/123")
    officer.fill("[name=reach]", "120000")
    officer.fill("[name=engagement]", "9000")
    officer.select_option("[name=sentiment]", "negative")
    officer.select_option("[name=category]", "hoax")
    officer.locator("main form button[type=submit]").last.click()
    officer.wait_for_load_state()
    officer.locator("a[href$='/escalate']").first.click()
    officer.wait_for_url("**/escalate")
    officer.select_option("[name=severity]", "3")
    officer.locator("main form button[type=submit]").click()
    officer.wait_for_url("**/incidents/*")
    incident_url = officer.url
    officer.locator("#draft-statement > summary").click()  # the form is folded on a phone
    officer.select_option("#st-kind", "holding")
    officer.fill("#st-title", "Pernyataan sementara: air PDAM Kota Semarang")
    officer.fill("#st-body", "Kami memahami kekhawatiran warga. Hasil uji laboratorium sedang diverifikasi.")
    officer.locator("#draft-statement button[type=submit]").click()
    officer.wait_for_load_state()
    statement_id = int(officer.locator("#statements article.statement").first.get_attribute("id").split("-")[1])
    officer.context.close()
    return {"incident_url": incident_url, "statement_id": statement_id}


def test_a_draft_shows_in_the_supervisors_header_and_leads_straight_to_the_statement(server, browser, drafted):
    supervisor = _sign_in(browser, server, "supervisor.kota-semarang@demo.example")
    count = _badge(supervisor)
    assert count >= 1
    _no_sideways_scrolling(supervisor, PHONE["width"])
    supervisor.locator("header a.waitinglink").click()
    supervisor.wait_for_url("**/waiting")
    assert supervisor.locator("h1").inner_text() == "Menunggu saya"
    row = supervisor.locator(f"#waiting-statement-{drafted['statement_id']}")
    text = row.inner_text()
    assert "Adi Nugroho menyusun" in text and "menunggu persetujuan Anda" in text
    assert re.search(r"INS-\d{4}-\d{5}", text) and TITLE in text and "WIB" in text
    rows = supervisor.locator("main .waiting-list > li").count()
    assert rows == count  # the header counts what the page lists
    _no_sideways_scrolling(supervisor, PHONE["width"])
    _shot(supervisor, "waiting-01-phone")

    row.locator("a").click()
    supervisor.wait_for_url(f"{drafted['incident_url']}#statement-{drafted['statement_id']}")
    statement = supervisor.locator(f"#statement-{drafted['statement_id']}")
    assert statement.is_visible()
    statement.locator("form[action$='/approve'] button").click()
    supervisor.wait_for_load_state()
    supervisor.goto(f"{server}/waiting")
    assert supervisor.locator(f"#waiting-statement-{drafted['statement_id']}").count() == 0
    assert _badge(supervisor) == count - 1

    # The approvers were told in their inbox, with a link to the statement.
    supervisor.goto(f"{server}/inbox")
    told = supervisor.locator(f"a[href$='#statement-{drafted['statement_id']}']")
    assert told.count() == 1 and "menunggu persetujuan Anda" in told.inner_text()
    supervisor.context.close()


def test_the_waiting_page_on_a_desktop(server, browser, drafted):
    context = browser.new_context(viewport=DESKTOP, locale="id-ID", timezone_id="Asia/Jakarta")
    page = context.new_page()
    page.goto(f"{server}/login")
    page.fill("input[name=email]", "petugas.kota-semarang@demo.example")
    page.fill("input[name=password]", "piket-demo-2026")
    page.click("form button[type=submit].primary")
    page.wait_for_url(f"{server}/")
    page.locator("header a.waitinglink").click()
    page.wait_for_url("**/waiting")
    # The officer's own checklist items of the running stage, each linked to its item on the incident page.
    items = page.locator("#waiting-checklist li a")
    assert items.count() >= 1
    assert all(
        re.search(r"/incidents/\d+#entry-\d+$", href) for href in items.evaluate_all("els => els.map(e => e.href)")
    )
    # The header is one row on a desktop: search, the count and the inbox sit beside the menu.
    box = page.locator("header.topbar").bounding_box()
    assert box is not None and box["height"] < 120
    _no_sideways_scrolling(page, DESKTOP["width"])
    _shot(page, "waiting-02-desktop")
    context.close()


def test_the_header_search_finds_the_incident_only_within_the_units_scope(server, browser, drafted):
    officer = _sign_in(browser, server, "petugas.kota-semarang@demo.example")
    officer.fill("header #head-q", "pdam semarang")
    officer.press("header #head-q", "Enter")
    officer.wait_for_url("**/search?q=pdam+semarang")
    incidents = officer.locator("#search-incidents")
    assert TITLE in incidents.inner_text()
    incidents.locator("a").first.click()
    officer.wait_for_url(drafted["incident_url"])
    _shot(officer, "waiting-03-search")
    officer.context.close()

    elsewhere = _sign_in(browser, server, "petugas.kota-makassar@demo.example")
    elsewhere.fill("header #head-q", "pdam semarang")
    elsewhere.press("header #head-q", "Enter")
    elsewhere.wait_for_url("**/search?q=pdam+semarang")
    assert elsewhere.locator("#search-none").count() == 1
    assert TITLE not in elsewhere.locator("main").inner_text()
    elsewhere.context.close()


def test_an_observer_is_offered_nothing_that_answers_403(server, browser, drafted):
    observer = _sign_in(browser, server, "pemantau.pusat@demo.example")
    assert observer.locator("main a[href='/issues/new']").count() == 0
    pages = observer.locator("header nav.mainnav a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    pages += [drafted["incident_url"].removeprefix(server), "/waiting", "/search?q=pdam", "/inbox"]
    refused = []
    for path in pages:
        response = observer.goto(f"{server}{path}")
        assert response is not None and response.status == 200, path
        hrefs = observer.locator("main a[href^='/']").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        for href in dict.fromkeys(hrefs):
            if observer.request.get(f"{server}{href}").status == 403:
                refused.append(f"{path} -> {href}")
        # Every button of every form, pressed: none may be refused.
        actions = observer.locator("main form[method=post]").evaluate_all(
            "els => els.map(e => e.getAttribute('action') || location.pathname)"
        )
        for action in dict.fromkeys(actions):
            token = observer.locator("input[name=csrf_token]").first.get_attribute("value")
            answer = observer.request.post(f"{server}{action}", form={"csrf_token": token}, max_redirects=0)
            if answer.status == 403:
                refused.append(f"{path} -> POST {action}")
    assert refused == []
    observer.goto(drafted["incident_url"])
    assert observer.locator("#comments-form").count() == 0
    assert observer.locator("#draft-statement").count() == 0
    assert observer.locator("form[action$='/approve']").count() == 0
    observer.context.close()
