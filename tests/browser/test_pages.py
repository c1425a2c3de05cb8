"""Issue 4: every page of the app opens in a real browser, without errors; one screenshot each."""

import re

from browser.harness import (NAV_LINKS, REPO, open_app, page_links, screenshot, visible_errors,
                             wait_for_app_run)


# The pages the app is planned to have (issue 4), as their navigation labels start.
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
