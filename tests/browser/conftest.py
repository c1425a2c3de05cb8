"""Fixtures of the real-browser tests (the harness itself is in harness.py; see docs/browser-tests.md).

`server`: `streamlit run app.py` on a free localhost port for the whole session.
`browser`: Debian's chromium driven by playwright. `page`: a fresh context (= own Streamlit session).
"""

from pathlib import Path

import pytest

from browser.harness import (RUN_TIMEOUT_MS, VIEWPORT, PageWatch, StreamlitServer, launch_browser,
                             require_chromium)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def server():
    """The app (`streamlit run app.py`) on a free port, for the whole test session."""
    require_chromium()
    srv = StreamlitServer().start()
    yield srv
    srv.stop()
    if srv.proc is not None and srv.proc.returncode not in (0, -15):
        print(f"streamlit exited with {srv.proc.returncode}; log:\n{srv.log()}")


@pytest.fixture(scope="session")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch_browser(pw)
        yield b
        b.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def page(request, browser, server):
    """A fresh browser context (own cookies, own Streamlit session) and page.

    When the test fails, the end of the server's log (where the app's tracebacks go, since the
    browser only gets a redacted message) is printed with the failure.
    """
    context = browser.new_context(viewport=VIEWPORT, base_url=server.url)
    context.set_default_timeout(RUN_TIMEOUT_MS)
    pg = context.new_page()
    pg.watch = PageWatch(pg, server.url)
    log_start = len(server.log())
    yield pg
    context.close()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"--- streamlit log during the test ---\n{server.log()[log_start:][-6000:]}")
