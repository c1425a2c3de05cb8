"""The Mel scales page in a real browser: settings drive the text and charts, bad settings show an
error next to the widgets and the page keeps its last good view, the figure downloads as a PNG."""

import re

from browser.harness import SCREENSHOTS, key, open_app, screenshot, visible_errors, wait_for_app_run


def set_number(page, widget_key: str, value) -> None:
    box = key(page, widget_key).locator("input")
    box.fill(str(value))
    box.press("Enter")
    wait_for_app_run(page)


def main_text(page) -> str:
    return page.locator("[data-testid='stMain']").inner_text()


def test_settings_from_the_link_and_the_widgets(page):
    open_app(page, "/mel_scales?n_mels=40")
    assert "40 HTK filters" in main_text(page)
    # The slider's value label is drawn a moment after the page text: wait for it.
    key(page, "n_mels").get_by_text("40").first.wait_for(state="visible", timeout=10_000)
    # Slaney scale, from the radio in the sidebar: text, URL and filter table follow.
    key(page, "mel_type").get_by_text("Slaney", exact=True).click()
    wait_for_app_run(page)
    assert "40 Slaney filters" in main_text(page)
    page.wait_for_url(re.compile(r"mel_type=slaney"))
    assert "n_mels=40" in page.url
    # Vega-Lite charts were drawn (a canvas or svg inside each chart container).
    for chart in ("mel_curves", "filter_spacing", "filterbank_chart", "filterbank_zoom"):
        key(page, chart).locator("canvas, svg").first.wait_for(state="visible")
    assert visible_errors(page) == []
    screenshot(page, "mel_scales_slaney_40")


def test_empty_filters_are_explained(page):
    open_app(page, "/mel_scales?n_fft=256&n_mels=128")
    warning = page.locator("[data-testid='stAlert']").filter(has_text="mel filters are empty")
    warning.wait_for(state="visible")
    assert "too narrow" in warning.inner_text() and "Lower n_mels, raise n_fft" in warning.inner_text()
    screenshot(page, "mel_scales_empty_filters")


def test_bad_settings_show_an_error_and_keep_the_last_good_view(page):
    open_app(page, "/mel_scales?n_mels=40")
    assert "40 HTK filters from 0 to 11025 Hz" in main_text(page)
    set_number(page, "f_max", 4000)
    assert "40 HTK filters from 0 to 4000 Hz" in main_text(page)
    set_number(page, "f_min", 6000)                # f_min > f_max: not a filterbank
    sidebar = page.locator("[data-testid='stSidebar']")
    error = sidebar.locator("[data-testid='stAlert']")
    error.first.wait_for(state="visible")
    assert re.search(r"f_min|f_max", error.first.inner_text()), error.first.inner_text()
    # The page still shows the last good filterbank, and no exception.
    assert "40 HTK filters from 0 to 4000 Hz" in main_text(page)
    assert visible_errors(page) == []
    screenshot(page, "mel_scales_error_shown")
    # Fixing the input clears the error and the page follows again.
    set_number(page, "f_min", 100)
    assert sidebar.locator("[data-testid='stAlert']").count() == 0
    assert "40 HTK filters from 100 to 4000 Hz" in main_text(page)


def test_filterbank_figure_downloads_as_png(page):
    open_app(page, "/mel_scales?n_mels=40")
    with page.expect_download() as info:
        key(page, "dl_filterbank_png").locator("button").click()
    data = open(info.value.path(), "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert info.value.suggested_filename == "filterbank.png"


def chart_pixels(page, widget_key: str) -> bytes:
    """The chart's own pixels (the mouse moved away first, so no tooltip is in them)."""
    page.mouse.move(5, 5)
    page.wait_for_timeout(600)
    return key(page, widget_key).screenshot()


def test_the_wheel_scrolls_the_page_unless_wheel_zoom_is_on_and_double_click_resets(page):
    """Scrolling over the filterbank chart zoomed it (axes to -36 kHz)."""
    open_app(page, "/mel_scales?n_mels=40")
    chart = key(page, "filterbank_chart")
    chart.locator("canvas, svg").first.wait_for(state="visible")
    chart.scroll_into_view_if_needed()
    start = chart_pixels(page, "filterbank_chart")
    box = chart.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -300)
    page.mouse.wheel(0, 300)                         # down and up again: the page scrolls back
    chart.scroll_into_view_if_needed()
    assert chart_pixels(page, "filterbank_chart") == start, "a plain wheel zoomed the chart"
    key(page, "filterbank_wheel_zoom").locator("label").click()
    wait_for_app_run(page)
    chart.locator("canvas, svg").first.wait_for(state="visible")
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    start = chart_pixels(page, "filterbank_chart")
    box = chart.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -300)
    zoomed = chart_pixels(page, "filterbank_chart")
    assert zoomed != start, "the wheel did not zoom with wheel zoom on"
    (SCREENSHOTS / "mel_scales_zoomed_chart.png").write_bytes(zoomed)
    page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert chart_pixels(page, "filterbank_chart") == start, "double-click did not reset the zoom"


def test_mel_readout_and_mel_units(page):
    """Real mel numbers, for a frequency the reader types."""
    open_app(page, "/mel_scales?n_fft=256&n_mels=40")
    readout = key(page, "mel_readout")
    assert "1000 Hz = 1000.0 mel (HTK) = 15.00 mel (Slaney)" in readout.inner_text()
    set_number(page, "readout_hz", 440)
    assert "440 Hz = 549.6 mel (HTK) = 6.60 mel (Slaney)" in key(page, "mel_readout").inner_text()
    caption = key(page, "spacing_caption").inner_text()
    assert "0 filters are empty and 5 see only one bin" in caption, caption
    key(page, "mel_curves").locator("canvas, svg").first.wait_for(state="visible")
    assert visible_errors(page) == []
    screenshot(page, "mel_scales_readout_n_fft_256")
