"""The incident page under pressure, in a real browser (Debian's headless Chromium, driven by
Playwright) against `crisis run` with the demo a newcomer gets from `make run` (`seed demo`): a
one-row header on a phone and a desktop, a short incident page with a sticky bar (the current stage,
its countdown, the next action) and the commander's actions near the top, and ticks, refusals and
stage completions that change only their part of the page (htmx), never reloading it.

The README's screenshots come from here: every run writes them to test-artifacts/screenshots;
`CRISIS_UPDATE_SCREENSHOTS=1` also copies them to docs/screenshots."""

from __future__ import annotations

import os
import shutil

import pytest

from crisis.seed import AWAITING_TITLE, OVERDUE_TITLE
from tests.e2e.test_duty_officer_day import PASSWORD, PHONE
from tests.helpers import ROOT, crisis_env, invoke_crisis, serving

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.real_clock]

DESKTOP = {"width": 1366, "height": 900}
SHOTS = ROOT / "test-artifacts" / "screenshots"
README_SHOTS = ROOT / "docs" / "screenshots"
HEAD_SEMARANG = "kepala.kota-semarang@demo.example"  # commander of the overdue incident
HEAD_MAKASSAR = "kepala.kota-makassar@demo.example"  # commander of the incident with a statement to approve
HEAD_JATENG = "kepala.jateng@demo.example"  # a province head: reviews and the dashboard of Jawa Tengah
# The incident page at 360 px before this layout: every stage, the notices, the timeline and the
# statement form open, measured on this demo's overdue incident (11,869 px), ~13,000 px on others.
CSP_WATCH = """document.addEventListener("securitypolicyviolation", (event) => {
  (window.cspViolations = window.cspViolations || []).push(event.violatedDirective + " " + event.blockedURI + " " + event.sourceFile + " " + (event.target.outerHTML || "").slice(0, 300));
});"""
UNFOLD = """() => document.querySelectorAll("details.stage-fold, details.fold").forEach((d) => { d.open = true; })"""
HEIGHT = "document.documentElement.scrollHeight"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = crisis_env(CRISIS_INSTANCE_PATH=str(tmp_path_factory.mktemp("e2e-phone")))
    assert invoke_crisis("db", "upgrade", env=env).returncode == 0
    seeded = invoke_crisis("seed", "demo", "--if-empty", env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert "2 running incidents" in seeded.stdout
    with serving(env) as url:
        yield url


def _open(browser, base: str, email: str, viewport: dict[str, int]):
    context = browser.new_context(viewport=viewport, locale="id-ID", timezone_id="Asia/Jakarta")
    page = context.new_page()
    page.add_init_script(CSP_WATCH)
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit].primary")
    page.wait_for_url(f"{base}/")
    return page


def _shot(page, name: str, full_page: bool = True, readme: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if readme and os.environ.get("CRISIS_UPDATE_SCREENSHOTS") == "1":
        README_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, README_SHOTS / path.name)


def _incident(page, base: str, title: str) -> str:
    page.goto(f"{base}/incidents")
    row = page.locator("main tr").filter(has_text=title)
    row.locator("a[href*='/incidents/']").first.click()
    page.wait_for_url("**/incidents/*")
    return page.url


def _no_csp_violations(page) -> None:
    violations = page.evaluate("window.cspViolations || []")
    assert violations == [], violations[:5]


def _header_is_one_row(page) -> None:
    box = page.locator("header.topbar").bounding_box()
    assert box["height"] < 80, box
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_the_demo_desk_screens_for_the_readme(server, browser, size, viewport):
    """Console, incident, review and dashboard of the living demo, at phone and desktop size."""
    page = _open(browser, server, HEAD_JATENG, viewport)
    _shot(page, f"{size}-console", full_page=False, readme=True)
    _incident(page, server, OVERDUE_TITLE)
    assert page.locator("#stagebar").is_visible()
    _shot(page, f"{size}-incident", full_page=False, readme=True)
    page.goto(f"{server}/incidents?state=closed")  # closed: its review approved
    closed = page.locator("main tr a[href*='/incidents/']").first.get_attribute("href")
    page.goto(f"{server}{closed}/review")
    assert page.locator(".review-state-approved").count() == 1
    _shot(page, f"{size}-review", full_page=False, readme=True)
    page.goto(f"{server}/evaluation")
    page.wait_for_function("""() => window.Chart && [...document.querySelectorAll("canvas[data-chart]")]
        .every((canvas) => window.Chart.getChart(canvas))""")
    _shot(page, f"{size}-dashboard", full_page=False, readme=True)
    # "Waiting for me" (issue 18) is another change's page: taken too once it is served.
    if page.goto(f"{server}/waiting").status == 200:
        _shot(page, f"{size}-waiting", full_page=False, readme=True)
    _header_is_one_row(page)
    _no_csp_violations(page)
    page.context.close()


def test_the_phone_header_is_one_row_and_the_menu_opens_behind_a_button(server, browser):
    page = _open(browser, server, HEAD_SEMARANG, PHONE)
    _header_is_one_row(page)
    links = page.locator("nav.mainnav a")
    assert not links.first.is_visible()  # folded behind the button
    assert page.locator("header .inboxlink").is_visible()
    _shot(page, "phone-menu-closed", full_page=False)
    page.locator("label.nav-button").click()
    assert links.first.is_visible() and page.locator("nav.mainnav a[href='/evaluation']").is_visible()
    page.locator("nav.mainnav a[href='/incidents']").click()
    page.wait_for_url("**/incidents")
    _header_is_one_row(page)
    _no_csp_violations(page)
    page.context.close()


def test_the_desktop_header_shows_every_link_in_one_row(server, browser):
    page = _open(browser, server, HEAD_SEMARANG, DESKTOP)
    _header_is_one_row(page)
    assert not page.locator("label.nav-button").is_visible()
    assert page.locator("nav.mainnav a[href='/evaluation']").is_visible()
    assert page.locator("header .usermenu summary").is_visible()
    _shot(page, "desktop-header", full_page=False)
    _no_csp_violations(page)
    page.context.close()


def test_a_commander_on_a_phone_sees_a_short_page_and_ticks_without_a_reload(server, browser):
    page = _open(browser, server, HEAD_SEMARANG, PHONE)
    _incident(page, server, OVERDUE_TITLE)
    compact = page.evaluate(HEIGHT)
    page.evaluate(UNFOLD)
    unfolded = page.evaluate(HEIGHT)  # the page as it was: every part open
    assert compact < unfolded / 3 and compact < 13_000 / 3, (compact, unfolded)
    page.reload()

    # The sticky bar: the overdue stage, its countdown, the next required item; always on screen.
    bar = page.locator("#stagebar")
    assert "overdue" in bar.get_attribute("class")
    assert "Verifikasi" in bar.inner_text() and "overdue" in bar.locator(".countdown").get_attribute("class")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert bar.bounding_box()["y"] == 0 and bar.is_visible()
    page.evaluate("window.scrollTo(0, 0)")
    # The commander's actions come before the stages, not at the bottom.
    assert page.locator("#lead-actions").bounding_box()["y"] < page.locator("#stages").bounding_box()["y"]
    assert page.locator("li.stage-completed details.stage-fold:not([open])").count() == 1
    _shot(page, "phone-incident-whole")

    # A tick through htmx: the window (and its marker) survives; the entry and the bar change.
    page.evaluate("window.sameWindow = true")
    events = page.locator("#timeline li").count()
    next_link = bar.locator(".stagebar-next a[href^='#entry-']")
    entry_id = next_link.get_attribute("href").lstrip("#")
    page.locator(f"#{entry_id} button.tick").click()
    page.wait_for_selector(f"#{entry_id}[data-closed=yes]")
    assert page.evaluate("window.sameWindow") is True
    assert page.locator(f"#{entry_id}").get_attribute("data-closed") == "yes"
    assert page.locator("#stagebar .stagebar-next a[href^='#entry-']").get_attribute("href") != f"#{entry_id}"
    assert page.locator("#timeline li").count() == events + 1  # the timeline (folded) has the tick too

    # Every required item ticked: the bar offers to complete the stage; completing swaps the panel.
    while page.locator("#stagebar .stagebar-next a[href^='#entry-']").count():
        entry_id = page.locator("#stagebar .stagebar-next a[href^='#entry-']").get_attribute("href").lstrip("#")
        page.locator(f"#{entry_id} button.tick").click()
        page.wait_for_selector(f"#{entry_id}[data-closed=yes]")
    page.locator("#stagebar form[action$='/complete'] button").click()
    page.wait_for_function("() => document.querySelectorAll('li.stage-completed').length === 2")
    assert page.evaluate("window.sameWindow") is True
    assert "Publikasi" in page.locator("#stagebar").inner_text()
    _no_csp_violations(page)
    page.context.close()


def test_a_refused_tick_shows_why_next_to_the_item_without_a_reload(server, browser):
    page = _open(browser, server, HEAD_MAKASSAR, PHONE)
    _incident(page, server, AWAITING_TITLE)
    page.evaluate("window.sameWindow = true")
    item = page.locator("li.stage-active li.entry[data-evidence=yes][data-closed=no]").first
    entry_id = item.get_attribute("id")
    item.locator("button.tick").click()
    problem = page.locator(f"#{entry_id} .placed-error")  # placed under the field at fault
    problem.wait_for()
    assert "bukti" in problem.inner_text().lower()
    assert page.locator(f"#{entry_id}").get_attribute("data-closed") == "no"
    assert page.evaluate("window.sameWindow") is True
    assert page.locator(".flash-error").count() == 0  # the reason is by the item, not at the top
    # The statement an officer drafted waits for this head's approval.
    assert page.locator("#statements form[action$='/approve']").count() == 1
    _no_csp_violations(page)
    page.context.close()
