"""One small server for a class, in a real server: no worker process until a page needs one,
workers gone once idle, and a closed session's memory given back (docs/app-benchmarks.md has
the figures at class size: ``python -m bench.server``)."""

import os
import time
from pathlib import Path

import pytest

from browser.harness import (VIEWPORT, StreamlitServer, key, open_app, process_tree, require_chromium,
                             wait_for_app_run)


def children(server: StreamlitServer) -> list[str]:
    """Command lines of the server's descendants (the resource tracker left out)."""
    out = []
    for pid in process_tree(server.proc.pid)[1:]:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "resource_tracker" not in cmd:
            out.append(cmd)
    return out


def wait_until(check, timeout: float, period: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(period)
    return check()


@pytest.fixture
def quick_server(monkeypatch):
    """A fresh server whose workers stop after 3 s idle, whose caches drop what was unused for
    5 s and which keeps a closed session 5 s (instead of 60, 90 and 120)."""
    require_chromium()
    monkeypatch.setenv("INVMEL_WORKER_IDLE_S", "3")
    monkeypatch.setenv("INVMEL_CACHE_IDLE_S", "5")
    server = StreamlitServer(extra_args=["--server.disconnectedSessionTTL", "5"]).start()
    yield server
    server.stop()


def test_workers_start_on_demand_and_stop_when_idle_and_memory_is_given_back(quick_server, browser):
    server = quick_server
    assert children(server) == []                       # started: no worker, no fork server
    ctx = browser.new_context(base_url=server.url, viewport=VIEWPORT)
    page = ctx.new_page()
    open_app(page, "/mel_scales?n_fft=512")
    wait_for_app_run(page)
    assert key(page, "n_mels").count() == 1
    assert children(server) == [], children(server)     # a page without figures made in a worker
    shown = server.rss_kib()

    open_app(page, "/invert?solver=nnls&max_iter=200&n_fft=512&n_mels=40&sample=chirp")
    key(page, "run").locator("button").click()
    key(page, "result_audio").locator("audio").nth(1).wait_for(state="attached", timeout=120_000)
    wait_for_app_run(page)
    assert 1 <= len(children(server)) <= 2               # the workers, started for the result
    ctx.close()

    # 3 s idle: the workers go; 5 s after the browser left, the session; then the caches.
    assert wait_until(lambda: children(server) == [], timeout=30), children(server)
    settled = wait_until(lambda: (rss := server.rss_kib()) < shown + 60 * 1024 and rss, timeout=45)
    print(f"server tree after Mel scales {shown / 1024:.0f} MiB, after a solve and close {server.rss_kib() / 1024:.0f} MiB")
    assert settled, (shown, server.rss_kib())
    assert "Traceback" not in server.log(), server.log()[-3000:]
    assert os.path.exists(f"/proc/{server.proc.pid}")
