"""Every page of the app opens in a real browser, without errors; one screenshot each."""

import re

from browser.harness import (NAV_LINKS, REPO, open_app, page_links, screenshot, visible_errors,
                             wait_for_app_run)


# The pages the app is planned to have, as their navigation labels start.
PLANNED = ["Home", "Mel scales", "Invert", "Compare solvers", "Frameworks"]


def page_files() -> list:
    """The app's page scripts: pages/*.py except helper modules (leading underscore)."""
    return sorted(p for p in (REPO / "pages").glob("*.py") if not p.name.startswith("_"))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "home"


def test_every_page_opens_without_errors(page):
    open_app(page)
    links = page_links(page)
    labels = [label for label, _ in links]
    # One navigation entry per page script (app.py is the st.navigation router), none missing.
    assert len(links) == len(page_files()), (labels, [p.name for p in page_files()])
    assert visible_errors(page) == []
    for i in range(len(links)):
        label, href = links[i]
        page.locator(NAV_LINKS).nth(i).click()
        page.wait_for_url(re.compile(re.escape(href.split("?")[0]) + r"(\?.*)?$"))
        wait_for_app_run(page)
        main = page.locator("[data-testid='stMain']")
        assert main.inner_text().strip(), f"page {label!r} is empty"
        assert visible_errors(page) == [], f"page {label!r} shows an exception"
        screenshot(page, f"page_{i}_{slug(label)}")
    assert page.watch.errors == [], page.watch.errors
    assert page.watch.outside_requests == []
    for planned in PLANNED:
        assert any(label.lower().startswith(planned.lower()) for label in labels), (planned, labels)


# A link must never break a session. Each of these opens on its page, then
# the user goes on to the next page by the navigation: no exception anywhere, content drawn.
HOSTILE_LINKS = [   # (path, its place in the navigation, query)
    ("mel_scales", 1, "n_mels=600"),                   # the link (above the old slider's 512)
    ("invert", 2, "n_mels=99999&n_fft=-1&sample_rate=nan&seed=1e400"),
    ("compare", 3, "f_min=9000&f_max=100&solver=..%2F..%2Fetc%2Fpasswd&n_iter=0"),
    ("frameworks", 4, "mel_type=%5Bclick%5D(https%3A%2F%2Fexample.com)&f_min=%24x%5E2%24&%3Cb%3E=1"),
    ("", 0, "n_mels=40&n_mels=700&hop_length=0x10&momentum=%F0%9F%92%A5&lr=-0"),
]


def test_hostile_links_leave_every_page_and_the_next_working(page):
    for path, place, query in HOSTILE_LINKS:
        open_app(page, f"/{path}?{query}")
        main = page.locator("[data-testid='stMain']")
        assert main.inner_text().strip(), (path, query)
        assert visible_errors(page) == [], (path, query, visible_errors(page))
        # A link's text is shown as typed: no link, formula or markup made from it.
        notices = page.locator("[data-testid='stAlert']")
        assert notices.locator("a[href*='example.com'], .katex, b").count() == 0, (path, query)
        if path == "frameworks":
            screenshot(page, "hostile_link_notices", full=False)
        page.locator(NAV_LINKS).nth((place + 1) % len(PLANNED)).click()
        wait_for_app_run(page)
        assert visible_errors(page) == [], (path, query, "next page")
        assert page.locator("[data-testid='stMain']").inner_text().strip()
    assert page.watch.outside_requests == []
