"""A duty officer's day in a real browser (Debian's headless Chromium, driven by Playwright) on a
phone-sized screen, against `crisis run` as a newcomer starts it."""

from __future__ import annotations

import pytest

from tests.helpers import ROOT, crisis_env, invoke_crisis, serving

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.real_clock]

ARTIFACTS = ROOT / "test-artifacts" / "e2e"
PASSWORD = "piket-demo-2026"
PHONE = {"width": 360, "height": 780}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = crisis_env(CRISIS_INSTANCE_PATH=str(tmp_path_factory.mktemp("e2e")))
    assert invoke_crisis("db", "upgrade", env=env).returncode == 0
    assert invoke_crisis("seed", "demo", "--organisation-only", env=env).returncode == 0
    with serving(env) as url:
        yield url


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _sign_in(browser, base: str, email: str):
    context = browser.new_context(viewport=PHONE, locale="id-ID", timezone_id="Asia/Jakarta")
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit].primary")
    page.wait_for_url(f"{base}/")
    return page


def _close_required(page, stage) -> None:
    """Tick every open required item of a stage the user may tick (the page offers a tick button
    only on items of their role or below), adding an evidence link where one is expected. The forms
    answer through htmx: each waits for its item to change, not for a page load."""
    fold = stage.locator("details.stage-fold:not([open]) > summary")
    if fold.count():
        fold.click()
    while True:
        item = stage.locator("li.entry[data-required=yes][data-closed=no]:has(button.tick)").first
        if item.count() == 0:
            return
        entry = f"#{item.get_attribute('id')}"
        if item.get_attribute("data-evidence") == "yes":
            item.locator("details.entry-more summary").click()
            item.locator("input[name=evidence_url]").fill("https://semarangkota.go.id/berita/klarifikasi-pdam")
            item.locator("details.entry-more form").first.locator("button[type=submit]").click()
            page.wait_for_selector(f"{entry} a[href^='https://semarangkota.go.id/']")
            item = page.locator(entry)
        item.locator("button.tick").click()
        page.wait_for_selector(f"{entry}[data-closed=yes]")


def test_officer_logs_escalates_runs_the_sop_and_the_supervisor_approves(server, browser):
    officer = _sign_in(browser, server, "petugas.kota-semarang@demo.example")
    assert officer.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    _shot(officer, "01-console")

    officer.goto(f"{server}/issues/new")
    officer.fill("[name=title]", "Hoaks: air PDAM Semarang tercemar bahan kimia")
    officer.fill("[name=description]", "Pesan berantai WhatsApp dan video TikTok menyebut air PDAM beracun.")
    officer.select_option("[name=channel]", "whatsapp")
    officer.fill("[name=evidence_urls]", "https://www.tiktok.com/@akun/video/123")
    officer.fill("[name=reach]", "120000")
    officer.fill("[name=engagement]", "9000")
    officer.select_option("[name=sentiment]", "negative")
    officer.select_option("[name=category]", "hoax")
    officer.locator("main form button[type=submit]").last.click()
    officer.wait_for_load_state()
    _shot(officer, "02-issue")

    officer.locator("a[href$='/escalate']").first.click()
    officer.wait_for_url("**/escalate")
    assert officer.locator("input[name=playbook_key][value=hoax-clarification]").is_checked()
    officer.select_option("[name=severity]", "3")
    officer.locator("main form button[type=submit]").click()
    officer.wait_for_url("**/incidents/*")
    incident_url = officer.url
    assert officer.locator(".countdown").count() >= 1
    _shot(officer, "03-incident-opened")

    first = officer.locator("li.stage-active").first
    _close_required(officer, first)
    # The provisional label is the supervisor's item: the officer's page offers no tick for it.
    assert first.locator("li.entry[data-closed=no]:not(:has(button.tick))").count() >= 1
    supervisor = _sign_in(browser, server, "supervisor.kota-semarang@demo.example")
    supervisor.goto(incident_url)
    _close_required(supervisor, supervisor.locator("li.stage-active").first)
    # At severity 3 the head activates the crisis communication team: the head's own item.
    head = _sign_in(browser, server, "kepala.kota-semarang@demo.example")
    head.goto(incident_url)
    _close_required(head, head.locator("li.stage-active").first)
    officer.reload()
    officer.locator("li.stage-active form[action$='/complete'] button").click()
    officer.wait_for_function("() => document.querySelectorAll('li.stage-completed').length === 1")

    officer.locator("#draft-statement > summary").click()
    officer.select_option("#st-kind", "holding")
    officer.fill("#st-title", "Pernyataan sementara: air PDAM Kota Semarang")
    officer.fill(
        "#st-body",
        "Kami memahami kekhawatiran warga. Hasil uji laboratorium sedang diverifikasi; "
        "pembaruan berikutnya pukul 14.00 WIB.",
    )
    officer.locator("#draft-statement button[type=submit]").click()
    officer.wait_for_load_state()
    assert officer.locator("#statements form[action$='/approve']").count() == 0  # no self-approval
    _shot(officer, "04-statement-drafted")

    supervisor.goto(incident_url)
    supervisor.locator("#statements form[action$='/approve'] button").click()
    supervisor.wait_for_load_state()
    # At severity 3 the SOP's chain ends with the head of the institution: the Sekda signs for the Wali Kota.
    leader = _sign_in(browser, server, "pimpinan.kota-semarang@demo.example")
    leader.goto(incident_url)
    # The supervisor's step is signed; the last one waits for the leader, whose button approves.
    assert leader.locator("#statements li.chain-signed").count() == 1
    assert leader.locator("#statements li.chain-waiting").count() == 1
    with leader.expect_navigation():
        leader.locator("#statements form[action$='/approve'] button").click()
    assert leader.locator("#statements form[action$='/approve']").count() == 0
    # Nothing is published before a spokesperson is designated: the head (the commander) speaks.
    supervisor.goto(incident_url)
    assert "SOP mensyaratkan juru bicara" in supervisor.locator("#statements p.warn").first.inner_text()
    head.goto(incident_url)
    head.locator("#spokesperson + dd details > summary").click()
    head.select_option("#spokesperson-id", label="Joko Santoso")
    with head.expect_navigation():
        head.locator("#spokesperson + dd form button[type=submit]").click()
    assert "Joko Santoso" in head.locator("#spokesperson + dd").inner_text()
    supervisor.goto(incident_url)
    assert supervisor.locator("#statements p.warn").count() == 0
    supervisor.locator("#statements details summary").first.click()
    supervisor.locator("#statements select[name=channel]").first.select_option("website")
    supervisor.locator("#statements input[name=url]").first.fill("https://semarangkota.go.id/siaran-pers/pdam")
    supervisor.locator("#statements form[action$='/publish'] button").first.click()
    supervisor.wait_for_load_state()
    assert "semarangkota.go.id/siaran-pers/pdam" in supervisor.locator("#statements").inner_text()

    # The head runs the remaining stages in order (their items include the head's own and the
    # commander's, which a head may also tick; a stage not started has no tick).
    head.goto(incident_url)
    while head.locator("li.stage-pending").count():
        completed = head.locator("li.stage-completed").count()
        _close_required(head, head.locator("li.stage-active").first)
        head.locator("li.stage-active form[action$='/complete'] button").click()  # htmx: the panel swaps
        head.wait_for_function(f"() => document.querySelectorAll('li.stage-completed').length === {completed + 1}")
    _close_required(head, head.locator("li.stage-active").first)
    supervisor.goto(incident_url)
    supervisor.locator("#lead-actions details").filter(has=supervisor.locator("form[action$='/resolve']")).locator(
        "summary"
    ).click()
    supervisor.locator("form[action$='/resolve'] button").click()
    supervisor.wait_for_load_state()
    assert supervisor.locator(".incident-head .state-resolved").count() == 1
    assert supervisor.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shot(supervisor, "05-incident-resolved")
    timeline = supervisor.locator("#timeline").text_content()  # folded under its summary
    assert "Insiden diselesaikan" in timeline or "Incident resolved" in timeline
