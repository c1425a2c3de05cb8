"""`.streamlit/config.toml` fits a shared deployment, checked by behaviour.

Each setting is checked on a running server, and where a check could pass for the wrong reason
(nothing shown, nothing sent) the same check is run once more with only that setting flipped on the
command line, to prove the check can see the difference.
"""

import tomllib
import urllib.error
import urllib.request

import pytest

from browser.harness import (REPO, PageWatch, StreamlitServer, copy_config_to, open_app,
                             screenshot, wait_for_app_run)

CONFIG = REPO / ".streamlit" / "config.toml"


def test_config_file_states_the_shared_deployment_settings():
    cfg = tomllib.loads(CONFIG.read_text())
    assert cfg["server"]["enableXsrfProtection"] is True
    assert cfg["server"]["fileWatcherType"] == "none"
    assert cfg["server"]["runOnSave"] is False
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["client"]["showErrorDetails"] == "none"
    # Streamlit's default; 10 min of 48 kHz stereo 16-bit audio is ~110 MB.
    assert 100 <= cfg["server"]["maxUploadSize"] <= 500


def put_upload(server: StreamlitServer, headers=None) -> int:
    req = urllib.request.Request(server.url + "/_stcore/upload_file/no-session/no-file",
                                 data=b"RIFF....WAVE", method="PUT", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_upload_without_xsrf_token_is_refused(server):
    """XSRF on: an upload without the token is refused (403) before anything else is looked at.

    (With XSRF off the same request gets as far as the session check and fails with 400.)
    """
    assert put_upload(server) == 403
    assert put_upload(server, {"X-Xsrftoken": "forged", "Cookie": "_streamlit_xsrf=other"}) == 403


def test_uploads_from_the_app_itself_still_work(page):
    """The browser gets the XSRF cookie from the app and can upload (the token is not in the way).

    Checked on every upload the interaction tests do; here just that the cookie is set.
    """
    open_app(page)
    names = [c["name"] for c in page.context.cookies()]
    assert "_streamlit_xsrf" in names


def test_no_request_leaves_the_server(browser, tmp_path):
    """gatherUsageStats off: the browser asks nothing of any host but the app's own.

    Control: the same app with only `--browser.gatherUsageStats true` fetches
    https://data.streamlit.io/metrics.json, which this check sees.
    """
    seen = {}
    for label, extra in (("config", []), ("control", ["--browser.gatherUsageStats", "true"])):
        srv = StreamlitServer(extra_args=extra).start()
        try:
            ctx = browser.new_context(base_url=srv.url)
            pg = ctx.new_page()
            watch = PageWatch(pg, srv.url)
            open_app(pg)
            pg.wait_for_timeout(1500)       # metrics are fetched just after the session starts
            seen[label] = list(watch.outside_requests)
            ctx.close()
        finally:
            srv.stop()
    assert seen["control"], "control run should have tried to send usage statistics"
    assert seen["config"] == [], f"requests to other hosts: {seen['config']}"


SCRATCH_APP = '''
import streamlit as st
st.write("scratch app VERSION-ONE")
if st.button("Fail", key="fail"):
    raise ValueError("secret-detail-4f2a in /srv/private/path.py")
'''


@pytest.fixture
def scratch_app(tmp_path):
    """A two-line app in a scratch directory that has the repository's config.toml."""
    copy_config_to(tmp_path)
    (tmp_path / "scratch.py").write_text(SCRATCH_APP)
    return tmp_path


def test_error_details_are_not_sent_to_the_browser(browser, scratch_app):
    """showErrorDetails "none": an uncaught exception shows a generic error, not its message,
    type or traceback. Control: `--client.showErrorDetails full` shows the message."""
    texts = {}
    for label, extra in (("config", []), ("control", ["--client.showErrorDetails", "full"])):
        srv = StreamlitServer("scratch.py", cwd=scratch_app, extra_args=extra).start()
        try:
            ctx = browser.new_context(base_url=srv.url)
            pg = ctx.new_page()
            open_app(pg)
            pg.locator(".st-key-fail button").click()
            wait_for_app_run(pg)
            pg.locator("[data-testid='stException']").wait_for(state="visible")
            texts[label] = pg.inner_text("body")
            if label == "config":
                screenshot(pg, "server_settings_error_details_hidden")
            ctx.close()
        finally:
            srv.stop()
    assert "secret-detail-4f2a" in texts["control"]
    for secret in ("secret-detail-4f2a", "/srv/private", "ValueError", "Traceback"):
        assert secret not in texts["config"], texts["config"]


def test_no_file_watcher_in_the_served_app(browser, scratch_app):
    """fileWatcherType "none": editing the script on disk does not rerun open sessions, even with
    runOnSave on. Control: the same with `--server.fileWatcherType poll` does rerun."""
    shown = {}
    script = scratch_app / "scratch.py"
    for label, extra in (("config", []), ("control", ["--server.fileWatcherType", "poll"])):
        script.write_text(SCRATCH_APP)
        srv = StreamlitServer("scratch.py", cwd=scratch_app,
                              extra_args=["--server.runOnSave", "true", *extra]).start()
        try:
            ctx = browser.new_context(base_url=srv.url)
            pg = ctx.new_page()
            open_app(pg)
            assert "VERSION-ONE" in pg.inner_text("body")
            pg.wait_for_timeout(1000)       # let a watcher (if any) take its first look
            script.write_text(SCRATCH_APP.replace("VERSION-ONE", "VERSION-TWO"))
            try:
                pg.get_by_text("VERSION-TWO").wait_for(timeout=8000)
            except Exception:
                pass
            shown[label] = pg.inner_text("body")
            ctx.close()
        finally:
            srv.stop()
    assert "VERSION-TWO" in shown["control"], "control: a watcher should have rerun the app"
    assert "VERSION-ONE" in shown["config"] and "VERSION-TWO" not in shown["config"]
