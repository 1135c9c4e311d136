"""The national situation room in a real browser (Debian's headless Chromium via Playwright),
against `crisis run` with the whole of Indonesia imported: a phone at 360 px shows every province
without sideways scrolling, a province opens its regencies, a number opens its list; on a desktop
the tiles lie roughly where the provinces do."""

from __future__ import annotations

import pytest

from tests.e2e.test_duty_officer_day import PHONE, _shot, _sign_in
from tests.helpers import crisis_env, invoke_crisis, serving

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.real_clock]

CENTRAL_HEAD = "kepala.pusat@demo.example"
CSP_WATCH = """document.addEventListener("securitypolicyviolation", (event) => {
  (window.cspViolations = window.cspViolations || []).push(event.violatedDirective + " " + event.blockedURI);
});"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = crisis_env(CRISIS_INSTANCE_PATH=str(tmp_path_factory.mktemp("e2e-situation")))
    assert invoke_crisis("db", "upgrade", env=env).returncode == 0
    assert invoke_crisis("seed", "demo", env=env).returncode == 0
    imported = invoke_crisis("units", "import-indonesia", env=env)
    assert imported.returncode == 0, imported.stderr
    with serving(env) as url:
        yield url


def _no_sideways_scrolling(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_central_head_reads_the_country_on_a_phone_and_opens_a_province(server, browser):
    page = _sign_in(browser, server, CENTRAL_HEAD)
    page.add_init_script(CSP_WATCH)
    page.goto(f"{server}/situation")
    tiles = page.locator("article.tile")
    codes = tiles.evaluate_all("(tiles) => tiles.map((t) => t.dataset.area)")
    assert len([c for c in codes if c.isdigit() and len(c) == 2]) == 38
    _no_sideways_scrolling(page)
    assert page.locator("article.tile[data-area='33']").is_visible()
    _shot(page, "situation-01-country-phone")

    page.locator("article.tile[data-area='33'] h2 a").click()
    page.wait_for_url("**/situation/*")
    regencies = page.locator("article.tile").evaluate_all("(tiles) => tiles.map((t) => t.dataset.area)")
    assert "33.74" in regencies and len([c for c in regencies if c.startswith("33.")]) == 35
    _no_sideways_scrolling(page)
    _shot(page, "situation-02-province-phone")

    page.locator("article.tile[data-area='33.74'] .tile-open a").click()
    page.wait_for_url("**/situation/area/*/open")
    assert "Kota Semarang" in page.locator("h1").inner_text()
    _no_sideways_scrolling(page)
    assert page.evaluate("window.cspViolations || []") == []


def test_on_a_desktop_the_tiles_lie_where_the_provinces_do(server, browser):
    page = _sign_in(browser, server, CENTRAL_HEAD)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{server}/situation")

    def box(code: str) -> dict:
        return page.locator(f"article.tile[data-area='{code}']").bounding_box()

    aceh, jakarta, bali, papua, north_kalimantan = box("11"), box("31"), box("51"), box("91"), box("65")
    assert aceh["x"] < jakarta["x"] < bali["x"] < papua["x"]  # west to east
    assert north_kalimantan["y"] < jakarta["y"]  # Borneo's north above Java
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    _shot(page, "situation-03-country-desktop")
