"""Harness of the real-browser tests: a Streamlit server, chromium, and Streamlit-aware helpers.

`streamlit run app.py` is started once per test session on a port the OS picks, and driven with
the `playwright` package through Debian's chromium (`/usr/bin/chromium`; playwright's own browser
download is not available here). See docs/browser-tests.md.

Waiting follows Streamlit's own e2e_playwright/conftest.py: after every interaction wait until the
app root says `data-test-connection-state="CONNECTED"` and `data-test-script-state="notRunning"`
and no element is stale (`[data-stale="true"]`). Widgets are found by their `.st-key-<key>` class.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "assets"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = os.environ.get("INVMEL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 # Let <audio>.play() start without a real user gesture.
                 "--autoplay-policy=no-user-gesture-required",
                 # A fake microphone (a beep) and no permission prompt, for st.audio_input.
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
STARTUP_LIMIT_S = 10.0      # Healthy within 10 s of `streamlit run`
RUN_TIMEOUT_MS = 120_000    # one app run (a solver included) on a loaded 2-core machine
VIEWPORT = {"width": 1366, "height": 900}


def require_chromium() -> None:
    """Skip without chromium, except in CI (CI=true), where .ci/run installs it: there, fail."""
    if Path(CHROMIUM).exists():
        return
    msg = f"chromium not found at {CHROMIUM} (Debian: apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(msg + " - CI must install it (.ci/run does)", pytrace=False)
    pytest.skip(msg)


# --------------------------------------------------------------------------------------- server

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def rss_kib(pid: int) -> int:
    """Resident memory (VmRSS, KiB) of a process and its descendants."""
    total = 0
    for p in process_tree(pid):
        try:
            m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{p}/status").read_text(), re.M)
        except OSError:
            continue
        total += int(m.group(1)) if m else 0
    return total


class StreamlitServer:
    """`streamlit run <script>` on a free localhost port; knows its URL, health and memory."""

    def __init__(self, script: str | Path = "app.py", cwd: Path = REPO, extra_args=()):
        self.script, self.cwd, self.extra_args = str(script), Path(cwd), list(extra_args)
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.startup_s = float("nan")
        self.log_path = Path(tempfile.mkstemp(prefix="streamlit-", suffix=".log")[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "StreamlitServer":
        for _attempt in range(3):          # a picked port can be taken before streamlit binds it
            self.port = free_port()
            log = open(self.log_path, "ab")
            t0 = time.monotonic()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", self.script, "--server.headless", "true",
                 "--server.port", str(self.port), "--server.address", "127.0.0.1",
                 *self.extra_args],
                cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
            log.close()
            while time.monotonic() - t0 < timeout and self.proc.poll() is None:
                if self.healthy(timeout=1.0):
                    self.startup_s = time.monotonic() - t0
                    return self
                time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"streamlit did not become healthy; log:\n{self.log()}")

    def healthy(self, timeout: float = 1.0) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/_stcore/health", timeout=timeout) as r:
                return r.status == 200 and r.read().strip() == b"ok"
        except OSError:
            return False

    def health_latency(self, timeout: float = 5.0) -> float:
        """Seconds for one /_stcore/health answer (inf if none within timeout)."""
        t0 = time.monotonic()
        return time.monotonic() - t0 if self.healthy(timeout) else float("inf")

    def rss_kib(self) -> int:
        assert self.proc is not None
        return rss_kib(self.proc.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# Runs in its own interpreter: a probe thread inside the test process would share its GIL with
# the eight playwright sessions, and their scheduling delays would be counted as the server's.
_PROBE_SCRIPT = r"""
import sys, time, urllib.request
url, period = sys.argv[1], float(sys.argv[2])
while True:
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=5.0) as r:
            ok = r.status == 200 and r.read().strip() == b"ok"
    except OSError:
        ok = False
    print(time.monotonic() - t0 if ok else "inf", flush=True)
    time.sleep(period)
"""


class HealthProbe:
    """Polls /_stcore/health every `period` s from a separate process and records each
    latency (inf for no healthy answer within 5 s)."""

    def __init__(self, server: StreamlitServer, period: float = 0.2):
        self.server, self.period = server, period
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _PROBE_SCRIPT, self.server.url + "/_stcore/health", str(self.period)],
            stdout=subprocess.PIPE, text=True,
        )

    def stop(self) -> list[float]:
        assert self.proc is not None
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        return [float(line) for line in out.split()]


# -------------------------------------------------------------------------------------- browser

class PageWatch:
    """What a page did that a test may want to assert on: script errors, failed requests and
    requests to any host but the app's own."""

    # On a deep link (/invert) Streamlit's frontend first probes /invert/_stcore/health and
    # /invert/_stcore/host-config in case the app is served under a base path; those 404s are
    # expected and say nothing about the app.
    BASE_PATH_PROBE = re.compile(r"^/[^/]+/_stcore/(health|host-config)$")

    def __init__(self, page, base_url: str):
        self.errors: list[str] = []
        self.outside_requests: list[str] = []
        host = base_url.split("//", 1)[1]
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

        def on_console(msg):
            # Failed loads are reported with their URL by on_response below.
            if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
                self.errors.append(f"console: {msg.text}")

        def on_request(req):
            url = req.url
            if not (url.startswith(("data:", "blob:", "about:")) or url.split("//", 1)[-1]
                    .startswith(host)):
                self.outside_requests.append(url)

        def on_response(resp):
            path = "/" + resp.url.split("//", 1)[-1].split("/", 1)[-1].split("?")[0]
            if resp.status >= 400 and not self.BASE_PATH_PROBE.match(path):
                self.errors.append(f"HTTP {resp.status}: {resp.url}")

        page.on("console", on_console)
        page.on("request", on_request)
        page.on("response", on_response)


def wait_for_app_run(page, timeout: float = RUN_TIMEOUT_MS, settle_ms: int = 300) -> None:
    """Wait until the script run started by the last interaction has finished.

    A rerun starts a moment after the interaction, so first let it start (settle_ms), then wait
    for a connected, idle app with no stale elements left on screen.
    """
    page.wait_for_timeout(settle_ms)
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']",
                           timeout=timeout)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']",
                           timeout=timeout)
    page.wait_for_function("() => document.querySelectorAll(\"[data-stale='true']\").length === 0",
                           timeout=timeout)


def open_app(page, path: str = "/") -> None:
    page.goto(path)
    wait_for_app_run(page, settle_ms=0)


def key(page, widget_key: str):
    """The element container of the widget (or st.container) with key `widget_key`."""
    return page.locator(f".st-key-{widget_key}")


def screenshot(page, name: str, full: bool = True) -> Path:
    """Save a full-page screenshot to tests/browser/screenshots/<name>.png (full=False: just the
    viewport, quick enough to take while a solver runs).

    Streamlit scrolls inside its main section, not the document, so grow the viewport to the
    content's height for the shot (until the height is stable: images may still be loading),
    then restore it.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if not full:
        page.screenshot(path=str(path))
        return path
    size = page.viewport_size
    measure = """() => Math.max(...[...document.querySelectorAll(
        '[data-testid="stMain"], [data-testid="stSidebarContent"]')].map(e => e.scrollHeight),
        window.innerHeight)"""
    height = size["height"]
    for _ in range(6):
        wanted = min(int(page.evaluate(measure)), 10_000)
        if wanted <= height:
            break
        height = wanted
        page.set_viewport_size({"width": size["width"], "height": height})
        page.wait_for_timeout(400)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def copy_config_to(tmp: Path) -> None:
    """Give a scratch app directory the repository's .streamlit/config.toml."""
    (tmp / ".streamlit").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / ".streamlit" / "config.toml", tmp / ".streamlit" / "config.toml")


MEASUREMENTS = SCREENSHOTS / "measurements.json"


def record(name: str, value) -> None:
    """Keep a measured number in tests/browser/screenshots/measurements.json (for the docs)."""
    import json

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    data = json.loads(MEASUREMENTS.read_text()) if MEASUREMENTS.exists() else {}
    data[name] = value
    MEASUREMENTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"[measured] {name} = {value}")


BROWSER_NICE = 10
# With more than one CPU, the browsers share the last one: they stand in for the users' own
# machines, and must not take the server's CPUs away from it.
BROWSER_CPUS = {max(os.sched_getaffinity(0))} if len(os.sched_getaffinity(0)) > 1 else set()


def deprioritise_browsers() -> list[int]:
    """Lower the CPU priority of every chromium process (and each of its threads) this test
    process started; returns the pids changed.

    In a deployment the browsers run on the users' machines; here they share 2 cores with the
    server under test, and 8 of them drawing live charts would otherwise measure chromium, not
    the server. So they run at nice 10, confined to one CPU (``BROWSER_CPUS``). Chromium raises priorities itself (renderers come from its zygote at nice 0,
    its GPU process sets nice -8 on its threads), so this is repeated while browsers run
    (:func:`keep_browsers_deprioritised`).
    """
    changed = []
    for pid in process_tree(os.getpid())[1:]:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            if not comm.startswith(("chromium", "chrome")):
                continue
            for tid in (int(t) for t in os.listdir(f"/proc/{pid}/task")):
                if os.getpriority(os.PRIO_PROCESS, tid) < BROWSER_NICE:
                    os.setpriority(os.PRIO_PROCESS, tid, BROWSER_NICE)
                if BROWSER_CPUS and os.sched_getaffinity(tid) != BROWSER_CPUS:
                    os.sched_setaffinity(tid, BROWSER_CPUS)
            changed.append(pid)
        except OSError:
            continue
    return changed


_renicer: threading.Thread | None = None


def keep_browsers_deprioritised(period: float = 0.25) -> None:
    """Run :func:`deprioritise_browsers` every ``period`` seconds for the rest of the test
    session (a daemon thread; started once)."""
    global _renicer
    if _renicer is not None:
        return

    def loop():
        while True:
            deprioritise_browsers()
            time.sleep(period)

    _renicer = threading.Thread(target=loop, name="renice-chromium", daemon=True)
    _renicer.start()


def launch_browser(pw):
    """Debian's chromium, headless, with the flags the issue asks for (at lower CPU priority)."""
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    keep_browsers_deprioritised()
    return browser


async def launch_browser_async(pw):
    browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    keep_browsers_deprioritised()
    return browser


NAV_LINKS = "[data-testid='stSidebarNavLink'], [data-testid='stTopNavLink']"


def page_links(page) -> list[tuple[str, str]]:
    """(label, href) of every page in the app's navigation (sidebar or top), in order."""
    links = page.locator(NAV_LINKS)
    out = []
    for i in range(links.count()):
        link = links.nth(i)
        # The link text is preceded by its icon (material icons render as their name).
        lines = [line.strip() for line in link.inner_text().splitlines() if line.strip()]
        out.append((lines[-1] if lines else "", link.get_attribute("href")))
    return out


def visible_errors(page) -> list[str]:
    """Texts of uncaught-exception boxes on screen (st.exception / script errors)."""
    return page.locator("[data-testid='stException']").all_inner_texts()


# --- the same waiting for playwright's async API (the many-users test drives 8 sessions at once)

async def async_wait_for_app_run(page, timeout: float = RUN_TIMEOUT_MS, settle_ms: int = 300):
    await page.wait_for_timeout(settle_ms)
    await page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']",
                                 timeout=timeout)
    await page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']",
                                 timeout=timeout)
    await page.wait_for_function(
        "() => document.querySelectorAll(\"[data-stale='true']\").length === 0", timeout=timeout)
