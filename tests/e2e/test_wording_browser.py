"""What a person sees of the wording and layout fixes, in a real browser (Debian's headless
Chromium, driven by Playwright) against `crisis run` with the demo and a generated history: a
refusal appears next to the item, stage or field it is about and takes the focus; the countdown
speaks the page's language; the tokens page shows its header example; the review's steps do not
overlap; table cells keep codes whole; date inputs are styled; charts have titles, whole-number
ticks on counts and a legend inside the chart on a phone."""

from __future__ import annotations

import re

import pytest

from tests.e2e.test_duty_officer_day import PASSWORD, PHONE, _shot
from tests.helpers import crisis_env, invoke_crisis, serving

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.real_clock]

DESKTOP = {"width": 1366, "height": 900}
OFFICER = "petugas.kota-semarang@demo.example"
HEAD = "kepala.jateng@demo.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = crisis_env(CRISIS_INSTANCE_PATH=str(tmp_path_factory.mktemp("e2e-wording")))
    assert invoke_crisis("db", "upgrade", env=env).returncode == 0
    assert invoke_crisis("seed", "demo", "--organisation-only", env=env).returncode == 0
    seeded = invoke_crisis("seed", "history", "--incidents", "24", "--months", "2", "--seed", "3", env=env)
    assert seeded.returncode == 0, seeded.stderr
    with serving(env) as url:
        yield url


def _page(browser, base: str, email: str, viewport: dict[str, int]):
    context = browser.new_context(viewport=viewport, locale="id-ID", timezone_id="Asia/Jakarta")
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit].primary")
    page.wait_for_url(f"{base}/")
    return page


FOCUS = """() => {
  const el = document.activeElement;
  const ids = (el.getAttribute("aria-describedby") || "").split(/\\s+/).filter(Boolean);
  return {
    name: el.getAttribute("name"), tag: el.tagName, id: el.id,
    item: (el.closest("li.entry, li.stage, section") || {}).id || null,
    described: ids.map((id) => (document.getElementById(id) || {}).textContent || "").join(" | "),
  };
}"""


def _open_incident(page, base: str, title: str) -> str:
    page.goto(f"{base}/issues/new")
    page.fill("[name=title]", title)
    page.select_option("[name=channel]", "whatsapp")
    page.select_option("[name=category]", "hoax")
    page.fill("[name=reach]", "120000")
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_load_state()
    page.locator("a[href$='/escalate']").first.click()
    page.wait_for_url("**/escalate")
    page.select_option("[name=severity]", "3")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/incidents/*")
    return page.url


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_refused_tick_and_completion_show_next_to_the_item_and_keep_the_focus(server, browser, viewport):
    page = _page(browser, server, OFFICER, viewport)

    # An empty issue form: every problem next to its field, in Indonesian.
    page.goto(f"{server}/issues/new")
    page.fill("[name=evidence_urls]", "bukan-tautan")
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_load_state()
    assert "Wajib diisi." in page.locator("#title-msg").inner_text()
    assert page.locator("#evidence_urls-msg").inner_text().strip()  # the links, in the same round
    assert "This field is required" not in page.locator("main").inner_text()

    titles = {
        PHONE["width"]: "Hoaks: air PDAM Semarang tercemar bahan kimia",
        DESKTOP["width"]: "Video banjir lama disebut terjadi hari ini",
    }
    _open_incident(page, server, titles[viewport["width"]])
    countdown = page.locator(".countdown").first
    page.wait_for_function("(el) => /lagi|lewat tenggat/.test(el.textContent)", arg=countdown.element_handle())
    text = countdown.inner_text()
    assert re.fullmatch(r"(\d+ hari( \d+ jam)?|\d+ jam( \d+ mnt)?|\d+ mnt \d+ dtk) (lagi|lewat tenggat)", text), text

    # Ticking an item that expects evidence, without a link: refused next to the link field.
    stage = page.locator("li.stage-active").first
    item = stage.locator("li.entry[data-evidence=yes][data-closed=no]").first
    item_id = item.get_attribute("id")
    item.locator("button.tick").click()  # through htmx: the item is swapped in place, no navigation
    page.wait_for_selector(f"#{item_id} .placed-error")
    page.wait_for_function("document.activeElement && document.activeElement !== document.body")
    assert page.locator("main > .flash-error").count() == 0  # moved, not repeated at the top
    placed = page.locator(f"#{item_id} .placed-error")
    assert placed.count() == 1 and placed.get_attribute("role") == "alert"
    focus = page.evaluate(FOCUS)
    assert focus["name"] == "evidence_url" and focus["item"] == item_id, focus
    assert focus["described"] == placed.inner_text() and "evidence_url" not in focus["described"]
    assert page.locator(f"#{item_id} [name=evidence_url]").get_attribute("aria-invalid") == "true"
    assert page.locator(f"#{item_id} [name=evidence_url]").is_visible()  # its <details> was opened
    _shot(page, f"wording-01-refused-tick-{viewport['width']}")

    # Completing the stage with items open: refused at the top of the stage, the focus in it.
    stage_id = stage.get_attribute("id")
    stage.locator("form[action$='/complete'] button").click()
    page.wait_for_selector(f"#{stage_id} .placed-errors")
    page.wait_for_function("document.activeElement && document.activeElement !== document.body")
    focus = page.evaluate(FOCUS)
    open_items = stage.locator("li.entry[data-required=yes][data-closed=no]").count()
    assert page.locator(f"#{stage_id} .placed-errors .placed-error").count() == open_items  # each open item, once
    assert focus["item"] in (stage_id, *page.locator(f"#{stage_id} li.entry").evaluate_all("els => els.map(e => e.id)"))
    assert focus["described"] and "checklist" not in focus["described"]
    in_view = page.locator(f"#{stage_id} .placed-errors").evaluate(
        "(el) => { const r = el.getBoundingClientRect(); return r.bottom > 0 && r.top < window.innerHeight; }"
    )
    assert in_view
    _shot(page, f"wording-02-refused-completion-{viewport['width']}")

    # The tokens page shows the header with its placeholder.
    page.goto(f"{server}/account/tokens")
    assert "Authorization: Bearer <token>" in page.locator("main").inner_text()
    page.context.close()


def test_review_steps_tables_inputs_and_charts_read_well(server, browser):
    page = _page(browser, server, HEAD, DESKTOP)

    # The review's steps sit side by side without overlapping; an empty submit points at the summary.
    page.goto(f"{server}/reviews")
    page.locator("main table a[href$='/review']").first.click()
    page.wait_for_url("**/incidents/*/review")
    boxes = page.locator("ol.review-steps li").evaluate_all(
        "els => els.map((el) => { const r = el.getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom]; })"
    )
    for (_left, right, _top, bottom), (next_left, _right, next_top, _bottom) in zip(boxes, boxes[1:], strict=False):
        assert right <= next_left or bottom <= next_top, (
            boxes
        )  # the next step starts after this one, or on a line below
    numbered = page.locator("ol.review-steps li").first.evaluate("(el) => getComputedStyle(el, '::before').content")
    assert "counter(step)" in numbered  # numbered inside each step, not by a marker hanging over the previous one
    if page.locator(".review-state-draft").count() and page.locator("form[action$='/submit']").count():
        page.fill("#rv-summary", "")
        page.locator("form[action$='/edit'] button[type=submit]").click()
        page.wait_for_load_state()
        page.locator("form[action$='/submit'] button[type=submit]").click()
        page.wait_for_selector("#write .placed-error")
        page.wait_for_function("document.activeElement && document.activeElement !== document.body")
        focus = page.evaluate(FOCUS)
        assert focus["name"] in ("summary", "went_well", "to_improve") and focus["described"], focus
    _shot(page, "wording-03-review-desktop")

    # Evaluation on a desktop: unit codes whole in their cells, date inputs styled like the others.
    page.goto(f"{server}/evaluation")
    lines = page.locator("#per-unit tbody th").evaluate_all(
        """els => els.map((el) => { const range = document.createRange(); range.selectNodeContents(el);
           const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top))); return [el.textContent, tops.size]; })"""
    )
    assert lines and all(count == 1 for _code, count in lines), lines
    page.locator("details.filterbox summary").click()
    style = page.locator("#f-from").evaluate(
        "(el) => { const s = getComputedStyle(el); return [s.paddingTop, s.borderTopLeftRadius, s.width]; }"
    )
    assert style[0] == "10px" and style[1] == "8px", style
    page.context.close()

    phone = _page(browser, server, HEAD, PHONE)
    phone.goto(f"{server}/evaluation")
    phone.wait_for_function("""() => window.Chart && [...document.querySelectorAll("canvas[data-chart]")]
        .every((canvas) => window.Chart.getChart(canvas))""")
    charts = phone.evaluate("""() => [...document.querySelectorAll("canvas[data-chart]")].map((canvas) => {
        const chart = window.Chart.getChart(canvas);
        return {title: chart.options.plugins.title.text, ticks: chart.scales.y.ticks.map((t) => t.value),
                legendBottom: chart.legend.bottom, height: chart.height,
                legendItems: chart.legend.legendItems.length, datasets: chart.data.datasets.length};
    })""")
    assert all(chart["title"] for chart in charts), charts
    assert all(float(tick).is_integer() for tick in charts[0]["ticks"]), charts[0]  # incidents: counts
    for chart in charts:
        assert chart["legendBottom"] <= chart["height"] and chart["legendItems"] == chart["datasets"], chart
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shot(phone, "wording-04-evaluation-phone")
    phone.context.close()
