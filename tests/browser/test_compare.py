"""The Compare solvers page in a real browser: the chosen solvers all run on one input, the
convergence figure and the table appear with one row per solver, the figure downloads."""

from browser.harness import key, open_app, screenshot, visible_errors, wait_for_app_run


def test_compare_runs_every_chosen_solver(page):
    open_app(page, "/compare?n_fft=512&n_mels=40&sample=chirp&max_iter=300")
    chosen = key(page, "compare_solvers").locator("[data-tag]")
    chosen.first.wait_for(state="visible")      # the multiselect is loaded lazily (a skeleton first)
    names = [chosen.nth(i).get_attribute("aria-label") for i in range(chosen.count())]
    assert len(names) >= 2, names
    box = key(page, "compare_time_limit").locator("input")
    box.fill("1")
    box.press("Enter")
    wait_for_app_run(page)
    key(page, "compare_run").locator("button").click()
    key(page, "compare_table").wait_for(state="visible", timeout=180_000)
    wait_for_app_run(page)
    chart = key(page, "compare_chart").locator("img").first
    assert chart.evaluate("img => img.complete && img.naturalWidth > 300")
    table = key(page, "compare_table")
    # st.dataframe draws on a canvas; its cells are mirrored in a hidden accessible table.
    table.locator("td").first.wait_for(state="attached")
    cells = table.locator("td").all_text_contents()
    print("table cells:", cells[:40])
    for name in names:
        assert any(c.strip() == name for c in cells), (name, cells[:40])
    assert table.locator("[role='row']").count() >= len(names) + 1     # header + one per solver
    # A player per solver (and the input's own above).
    players = key(page, "compare_audio").locator("audio")
    assert players.count() == len(names), (players.count(), names)
    assert all(abs(players.nth(i).evaluate("a => a.duration") - 3.0) < 0.1 for i in range(players.count()))
    assert visible_errors(page) == []
    screenshot(page, "compare_after_run")
    with page.expect_download() as info:
        key(page, "compare_png").locator("button").click()
    assert open(info.value.path(), "rb").read()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_stop_ends_the_run_and_keeps_what_ran(page):
    """Compare solvers had no Stop."""
    open_app(page, "/compare?n_fft=512&n_mels=40&sample=chirp&max_iter=10000000")
    key(page, "compare_solvers").locator("[data-tag]").first.wait_for(state="visible")
    box = key(page, "compare_time_limit").locator("input")
    box.fill("600")
    box.press("Enter")
    wait_for_app_run(page)
    key(page, "compare_run").locator("button").click()
    key(page, "compare_status").get_by_text("Running").first.wait_for(state="visible")
    page.wait_for_timeout(2000)
    key(page, "compare_stop").locator("button").click()
    key(page, "compare_table").wait_for(state="visible", timeout=60_000)
    wait_for_app_run(page)
    key(page, "compare_table").locator("td").first.wait_for(state="attached")
    cells = key(page, "compare_table").locator("td").all_text_contents()
    print("table cells after Stop:", cells)
    assert any(c.strip() == "stopped" for c in cells), cells
    assert key(page, "compare_audio").locator("audio").count() == 1
    assert key(page, "compare_stop").locator("button").is_disabled()
    assert visible_errors(page) == []
    screenshot(page, "compare_stopped")
