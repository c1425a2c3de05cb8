"""One small server for a class: no worker and no librosa before a page asks, caches bounded in
bytes and idle time, expired sessions shut down, idle workers stopped, memory given back."""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from invmel_core.app import offload
from pages import _server

REPO = Path(__file__).resolve().parents[2]


def test_the_first_page_starts_no_worker_and_imports_no_librosa():
    """A fresh interpreter runs the app's first run of a page that needs no worker (Mel scales):
    no worker process, no fork server, no librosa or numba in the server (Home's demo makes its
    figure and sound in one worker, started then)."""
    script = textwrap.dedent("""
        import multiprocessing, sys
        sys.path.insert(0, "tests")
        from streamlit.testing.v1 import AppTest
        from app_support import APP
        from invmel_core.app import offload
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.switch_page("pages/mel_scales.py").run()
        assert not at.exception and "Mel scales" in at.title[0].value, at.exception
        print(len(multiprocessing.active_children()), offload.workers(), offload._pool is None,
              "librosa" in sys.modules, "numba" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "INVMEL_HOUSEKEEPING": "0"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-5:] == ["0", "[]", "True", "False", "False"], out.stdout


@pytest.fixture
def shelf(monkeypatch):
    monkeypatch.setenv(_server.ENV_CACHE_MB, "1")
    monkeypatch.setenv(_server.ENV_CACHE_IDLE_S, "60")
    saved = {s: dict(s._items) for s in _server.Shelf._all}
    _server.Shelf.clear_all()
    new = _server.Shelf("test")
    yield new
    _server.Shelf._all.remove(new)
    for s, items in saved.items():
        s._items.update(items)


def test_shelves_are_bounded_in_bytes_least_recently_used_out(shelf):
    made = []

    def make(i):
        return lambda: made.append(i) or np.zeros(100_000, np.float32)     # 0.4 MB each

    for i in range(3):
        shelf.get(i, make(i))
    assert made == [0, 1, 2] and len(shelf) == 2           # 1.2 MB > 1 MiB: the first one went
    assert shelf.get(1, make(9)) is not None and made == [0, 1, 2]   # a hit makes nothing
    shelf.get(3, make(3))
    assert 1 in shelf._items and 2 not in shelf._items     # 2 was the least recently used
    assert _server.Shelf.total_bytes() <= 1 << 20
    big = shelf.get("big", lambda: np.zeros(1 << 19, np.float32))  # 2 MiB: kept alone
    assert list(shelf._items) == ["big"] and big.nbytes == 2 << 20


def test_shelves_drop_what_nobody_used_for_a_while(shelf):
    shelf.get("a", lambda: b"x" * 10)
    shelf.get("b", lambda: b"y" * 10)
    now = time.monotonic()
    assert _server.Shelf.sweep(now + 30) == 0
    value, size, _used = shelf._items["b"]
    shelf._items["b"] = (value, size, now - 70)          # b last used 70 s ago, a just now
    assert _server.Shelf.sweep(now) == 1 and list(shelf._items) == ["a"]
    assert _server.Shelf.sweep(now + 61) == 1 and len(shelf) == 0


def test_a_value_is_made_once_for_callers_that_ask_together(shelf):
    import threading

    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return b"v"

    threads = [threading.Thread(target=shelf.get, args=("k", slow)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1]


def test_expired_sessions_are_shut_down(monkeypatch):
    from streamlit import runtime
    from streamlit.runtime.caching.ttl_cache import TTLCache

    clock = [0.0]
    cache = TTLCache(maxsize=8, ttl=120, timer=lambda: clock[0])
    down = []
    for i in range(2):
        cache[f"s{i}"] = SimpleNamespace(session=SimpleNamespace(shutdown=lambda i=i: down.append(i)))
        clock[0] += 10
    manager = SimpleNamespace(_session_storage=SimpleNamespace(_cache=cache))
    monkeypatch.setattr(runtime, "exists", lambda: True)
    monkeypatch.setattr(runtime, "get_instance", lambda: SimpleNamespace(_session_mgr=manager))
    assert _server.end_expired_sessions() == 0 and down == []
    clock[0] = 125                       # the first one's 120 s are over, the second's not
    assert _server.end_expired_sessions() == 1 and down == [0]
    clock[0] = 1000
    assert _server.end_expired_sessions() == 1 and down == [0, 1]


def test_memory_is_given_back_on_glibc():
    if not os.path.exists("/lib/x86_64-linux-gnu/libc.so.6") and offload._LIBC is None:
        pytest.skip("no glibc")
    before = offload.stats["trims"]
    assert offload.trim() is True and offload.stats["trims"] == before + 1
    assert offload.resident_mb() > 10


@pytest.mark.slow
def test_idle_workers_stop_and_big_ones_are_replaced(monkeypatch):
    monkeypatch.setenv(offload.ENV_WORKERS, "1")
    offload.shutdown()
    try:
        first = offload.call(os.getpid)
        assert offload.workers() == [first]
        monkeypatch.setenv(offload.ENV_IDLE, "0")
        offload.housekeeping(once=True)
        assert offload._pool is None and offload.workers() == []
        monkeypatch.setenv(offload.ENV_IDLE, "600")
        monkeypatch.setenv(offload.ENV_MAX_MB, "1")          # every worker is "big" now
        second = offload.call(os.getpid)
        assert second != first and offload._pool is None     # replaced after its call
        assert offload.stats["recycled"] >= 1
    finally:
        offload.shutdown()
