"""The Invert and Mel scales pages in a lecture (user study items 7, 8, 11), in a real browser:
a finished solve replays at a pace (the shown step moves on by itself, Pause holds it, the slider
and the loss chart's marker follow); the result figure's text stays readable projected at 150 %
zoom and on a phone; solver options stay open while one is changed; a reload mid-run says the run
and the upload are gone; leaving the page mid-run says why the solve paused.

Screenshots (tests/browser/screenshots/lecture_*.png) of Mel scales and Invert after a run at
1280x720, at 150 % zoom (853x480 CSS px, device scale 1.5) and on a 390x844 phone.
"""

import re

import numpy as np
import pytest

from browser.harness import key, open_app, screenshot, wait_for_app_run
from browser.test_invert import wait_for_result
from invmel_core.figures import plots

SIZES = {"1280x720": dict(viewport={"width": 1280, "height": 720}),
         "zoom150": dict(viewport={"width": 853, "height": 480}, device_scale_factor=1.5),
         "phone": dict(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)}
SHOWN = re.compile(r"at step ([\d,]+) \(snapshot (\d+) of (\d+)\)")


def shown_snapshot(page) -> tuple[int, int]:
    """(step, snapshot number) of the replay's picture caption."""
    m = SHOWN.search(key(page, "live_spec").inner_text())
    assert m, key(page, "live_spec").inner_text()
    return int(m.group(1).replace(",", "")), int(m.group(2))


def run_sgd(page, max_iter: int = 300) -> None:
    open_app(page, f"/invert?solver=sgd&max_iter={max_iter}&n_mels=40")
    key(page, "run").locator("button").click()


def test_a_finished_solve_replays_at_a_pace_and_pause_holds_it(page):
    run_sgd(page)
    wait_for_result(page)
    key(page, "replay").wait_for(state="visible")
    step, number = shown_snapshot(page)
    total = int(SHOWN.search(key(page, "live_spec").inner_text()).group(3))
    assert number == total, "a finished solve is shown at its end"
    key(page, "replay_play").locator("button").click()
    seen = []                     # the shown snapshot moves on by itself (2 a second; slower on a busy machine)
    for _ in range(60):
        page.wait_for_timeout(250)
        number = shown_snapshot(page)[1]
        if number != total and (not seen or number != seen[-1]):
            seen.append(number)
        if len(seen) >= 4:
            break
    assert len(seen) >= 4 and seen == sorted(seen) and seen[0] <= 2, seen
    key(page, "replay_pause").locator("button").click()
    wait_for_app_run(page)
    held = shown_snapshot(page)
    page.wait_for_timeout(1500)
    assert shown_snapshot(page) == held, "Pause holds the shown snapshot"
    slider_text = key(page, "replay_step").inner_text()
    assert f"step {held[0]:,}" in slider_text, (slider_text, held)
    # One snapshot back by hand.
    key(page, "replay_back").locator("button").first.click()
    wait_for_app_run(page)
    assert shown_snapshot(page)[1] == held[1] - 1
    screenshot(page, "lecture_replay_paused", full=False)


@pytest.mark.parametrize("size", ["zoom150", "phone"])
def test_result_figure_text_stays_readable_projected_and_on_a_phone(browser, server, size):
    context = browser.new_context(base_url=server.url, **SIZES[size])
    context.set_default_timeout(120_000)
    page = context.new_page()
    try:
        run_sgd(page, 60)
        wait_for_result(page)
        img = key(page, "result_figure").locator("img")
        img.wait_for(state="visible")
        shown_px, natural_px = img.evaluate("i => [i.getBoundingClientRect().width, i.naturalWidth]")
        ratio = plots.smallest_text_ratio(plots.comparison_figure(None, np.ones((129, 20)), 16000, 64))
        assert natural_px == round(plots.comparison_figure(None, np.ones((129, 20)), 16000, 64).get_figwidth() * 100)
        smallest_css_px = ratio * shown_px
        assert smallest_css_px >= 9.5, (size, shown_px, natural_px, smallest_css_px)
    finally:
        context.close()


def test_screenshots_at_1280x720_150_percent_and_a_phone(browser, server):
    for size, options in SIZES.items():
        context = browser.new_context(base_url=server.url, **options)
        context.set_default_timeout(120_000)
        page = context.new_page()
        try:
            open_app(page, "/mel_scales?n_mels=40&n_fft=256")
            for chart in ("mel_curves", "filter_spacing"):    # drawn by the browser after the run
                key(page, chart).locator("canvas, svg").first.wait_for(state="visible")
            page.wait_for_timeout(500)
            screenshot(page, f"lecture_mel_scales_{size}")
            run_sgd(page, 300)
            wait_for_result(page)
            screenshot(page, f"lecture_invert_{size}")
        finally:
            context.close()


def test_changing_a_solver_option_keeps_the_options_open(page):
    open_app(page, "/invert")
    expander = page.locator("[data-testid='stExpander']").filter(has_text="Solver options")
    expander.locator("summary").click()
    box = key(page, "max_iter").locator("input")
    box.wait_for(state="visible")
    box.fill("777")
    box.press("Enter")
    wait_for_app_run(page)
    assert expander.locator("details").get_attribute("open") is not None, "the options folded away"
    assert key(page, "max_iter").locator("input").is_visible()
    assert key(page, "max_iter").locator("input").input_value() == "777"


def test_a_reload_mid_run_says_the_run_and_the_upload_are_gone(page):
    run_sgd(page, 10_000_000)
    page.wait_for_function("() => /running/.test(document.querySelector('.st-key-live_status')?.innerText || '')")
    assert "solving=1" in page.url
    page.reload()
    wait_for_app_run(page)
    warning = page.locator("[data-testid='stAlert']").filter(has_text="reloaded")
    warning.wait_for(state="visible")
    assert "gone" in warning.inner_text() and "Run" in warning.inner_text()
    assert "solving" not in page.url and "n_mels=40" in page.url, page.url


def test_leaving_the_page_mid_run_says_why_the_solve_paused(page):
    run_sgd(page, 10_000_000)
    page.wait_for_function("() => /running/.test(document.querySelector('.st-key-live_status')?.innerText || '')")
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Home").click()
    wait_for_app_run(page)
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Invert").click()
    wait_for_app_run(page)
    text = key(page, "live_status").inner_text()
    assert "paused because you left the page; Resume continues" in text, text
    key(page, "stop").locator("button").click()
    wait_for_result(page)
