"""`streamlit run app.py` answers /_stcore/health within 10 s."""

from browser.harness import STARTUP_LIMIT_S, StreamlitServer, open_app, record, require_chromium


def test_health_answers_within_10s_of_streamlit_run(browser):
    """Time from spawning `streamlit run app.py` to the first 200 "ok" from /_stcore/health,
    on a server of its own (the session's shared server may have been started earlier)."""
    require_chromium()
    srv = StreamlitServer().start(timeout=60)
    try:
        record("startup_to_health_s", round(srv.startup_s, 2))
        assert srv.startup_s < STARTUP_LIMIT_S, srv.log()
        # The first visitor's first page: imports of the app and the core happen here.
        import time

        ctx = browser.new_context(base_url=srv.url)
        pg = ctx.new_page()
        t0 = time.monotonic()
        open_app(pg)
        record("first_page_render_s", round(time.monotonic() - t0, 2))
        ctx.close()
    finally:
        srv.stop()


def test_health_is_fast_when_idle(server):
    latencies = sorted(server.health_latency() for _ in range(20))
    record("idle_health_median_ms", round(1000 * latencies[10], 1))
    assert latencies[-1] < 1.0
