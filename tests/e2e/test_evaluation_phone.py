"""A unit head's evaluation on a phone, in a real browser (Debian's headless Chromium, driven by
Playwright) at 360x780, against `crisis run` as a newcomer starts it, with a generated history:
the charts draw from the vendored Chart.js under the CSP, the page never scrolls sideways, a period
filter, a CSV download, and a review written, submitted and approved."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from babel.dates import format_date

from tests.e2e.test_duty_officer_day import PHONE, _shot, _sign_in
from tests.helpers import crisis_env, invoke_crisis, serving

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.real_clock]

HEAD = "kepala.jateng@demo.example"  # a province head: Jawa Tengah and the regencies below it
CSP_WATCH = """document.addEventListener("securitypolicyviolation", (event) => {
  (window.cspViolations = window.cspViolations || []).push(event.violatedDirective + " " + event.blockedURI);
});"""
PAINTED = """() => [...document.querySelectorAll("canvas[data-chart]")].map((canvas) => {
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted += 1;
  return painted;
})"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = crisis_env(CRISIS_INSTANCE_PATH=str(tmp_path_factory.mktemp("e2e-evaluation")))
    assert invoke_crisis("db", "upgrade", env=env).returncode == 0
    assert invoke_crisis("seed", "demo", "--organisation-only", env=env).returncode == 0
    seeded = invoke_crisis("seed", "history", "--incidents", "80", "--months", "3", "--seed", "7", env=env)
    assert seeded.returncode == 0, seeded.stderr
    with serving(env) as url:
        yield url


def _no_sideways_scrolling(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def _charts_drawn(page, base: str) -> None:
    """Three canvases, each a Chart.js chart with painted pixels, from the vendored script only."""
    page.wait_for_function("""() => window.Chart && [...document.querySelectorAll("canvas[data-chart]")]
        .every((canvas) => window.Chart.getChart(canvas))""")
    painted = page.evaluate(PAINTED)
    assert len(painted) == 3 and all(n > 200 for n in painted), painted
    scripts = page.evaluate("[...document.scripts].map((s) => s.src || 'inline')")
    assert f"{base}/static/vendor/chart/chart.umd.min.js" in scripts
    assert all(src.startswith(f"{base}/static/") for src in scripts), scripts


def test_a_unit_head_evaluates_on_a_phone_and_approves_a_review(server, browser):
    page = _sign_in(browser, server, HEAD)
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    page.add_init_script(CSP_WATCH)

    page.goto(f"{server}/evaluation")
    _charts_drawn(page, server)
    assert (
        "JATENG" in page.locator("#per-unit").inner_text() or "KOTA-SEMARANG" in page.locator("#per-unit").inner_text()
    )
    _no_sideways_scrolling(page)
    _shot(page, "eval-01-dashboard")

    # The last 30 days only: the period shows in the heading, and the weekly charts shrink to it.
    last = date.today()
    first = last - timedelta(days=29)
    page.locator("details.filterbox summary").click()
    page.fill("#f-from", first.isoformat())
    page.fill("#f-to", last.isoformat())
    page.locator("form.eval-filters button[type=submit]").click()
    page.wait_for_url(f"**/evaluation?from={first.isoformat()}**")
    heading = page.locator("header.pagehead").inner_text()  # the period as the reader writes dates
    assert format_date(first, "d MMM yyyy", locale=page.evaluate("document.documentElement.lang")) in heading
    _charts_drawn(page, server)
    weeks = json.loads(page.locator("canvas[data-chart]").first.get_attribute("data-chart"))["data"]["labels"]
    assert 4 <= len(weeks) <= 6
    _no_sideways_scrolling(page)
    _shot(page, "eval-02-last-30-days")

    with page.expect_download() as download_info:
        page.locator("#per-unit a.csv").click()
    download = download_info.value
    assert f"from={first.isoformat()}" in download.url and download.suggested_filename == "evaluation-per_unit.csv"
    rows = Path(download.path()).read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("unit,incidents,tta_median_seconds,") and len(rows) >= 2
    assert {row.split(",")[0] for row in rows[1:]} <= {"JATENG", "KOTA-SEMARANG", "KAB-BANYUMAS"}

    # A review in progress, written, submitted and approved by the head: the incident closes.
    page.locator("header.pagehead a[href='/reviews']").click()
    page.wait_for_url("**/reviews")
    page.locator("main table a[href$='/review']").first.click()
    page.wait_for_url("**/incidents/*/review")
    assert page.locator(".review-state-draft").count() == 1
    page.fill("#rv-summary", "Hoaks ditangani dalam hari yang sama; klarifikasi terbit sebelum sore.")
    page.fill("#rv-well", "Verifikasi dengan instansi teknis cepat.")
    page.fill("#rv-improve", "Pernyataan sementara perlu templat yang siap pakai.")
    page.locator("form[action$='/edit'] button[type=submit]").click()
    page.wait_for_load_state()
    page.locator("form[action$='/submit'] button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(".review-state-submitted").count() == 1
    _no_sideways_scrolling(page)
    _shot(page, "eval-03-review-submitted")
    page.locator("form[action$='/approve'] button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(".review-state-approved").count() == 1
    _no_sideways_scrolling(page)
    _shot(page, "eval-04-review-approved")

    assert page.evaluate("window.cspViolations || []") == []
    assert not [text for text in console_errors if "Content Security Policy" in text or "Refused" in text], (
        console_errors
    )
    page.context.close()
