"""One small server for a whole class: ``python -m bench.server`` prints the memory and cold-start
figures of the issue (record them in docs/app-benchmarks.md).

1. ``streamlit run app.py`` on a loopback port; memory of the process tree once it answers.
2. First page, cold: a headless chromium opens Home; seconds until the demo's figure and both
   players are on screen, and the tree's memory then (and which processes make it up).
3. ``--sessions`` (4) browser sessions upload a 4-minute WAV (made in /tmp from the bundled
   samples) and invert it at the default settings (the joint sound), all at once; the tree's
   peak memory while they run (sampled every 0.25 s), each session's seconds, and
   ``/_stcore/health`` polled every 0.1 s from a separate process.
4. Every browser closed: the tree's memory every few seconds for ``--after`` seconds (180).

Memory is the sum over the server and every process it started of VmRSS (what the issue
measured; pages shared between the fork server and its workers are counted in each) and of
Pss (shared pages split between the processes that share them: what the machine really holds).
Chromium runs at nice 19 pinned to the last CPU, as in the browser tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from browser.harness import (VIEWPORT, HealthProbe, StreamlitServer, async_wait_for_app_run,  # noqa: E402
                             keep_browsers_deprioritised, launch_browser_async, process_tree)

LONG_WAV = Path("/tmp/invmel_bench_4min.wav")
MIB = 1024.0


def long_wav(seconds: float = 240.0) -> Path:
    """The bundled samples end to end, repeated to ``seconds`` (22050 Hz, 16-bit mono)."""
    import soundfile as sf

    if LONG_WAV.exists() and abs(sf.info(LONG_WAV).duration - seconds) < 0.01:
        return LONG_WAV
    parts = [sf.read(f, dtype="float32", always_2d=True)[0].mean(1) for f in sorted((REPO / "assets").glob("*.wav"))]
    y = np.concatenate(parts)
    n = int(seconds * 22050)
    sf.write(LONG_WAV, np.tile(y, -(-n // y.size))[:n], 22050, subtype="PCM_16")
    return LONG_WAV


def tree_memory(pid: int) -> dict:
    """{pid: (name, rss KiB, pss KiB)} for ``pid`` and its descendants."""
    out = {}
    for p in process_tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        rss = re.search(r"^VmRSS:\s+(\d+)", status, re.M)
        pss = re.search(r"^Pss:\s+(\d+)", rollup, re.M)
        name = "server" if p == pid else ("forkserver" if "forkserver" in cmd else
                                          "resource_tracker" if "resource_tracker" in cmd else
                                          "worker" if "multiprocessing" in cmd else cmd[:40])
        out[p] = (name, int(rss.group(1)) if rss else 0, int(pss.group(1)) if pss else 0)
    return out


def totals(mem: dict) -> tuple[float, float]:
    return sum(v[1] for v in mem.values()) / MIB, sum(v[2] for v in mem.values()) / MIB


def describe(mem: dict) -> str:
    return ", ".join(f"{name} {rss / MIB:.0f}" for name, rss, _ in sorted(mem.values(), key=lambda v: -v[1]))


class Sampler:
    """The tree's memory every ``period`` s in a thread; keeps the peak."""

    def __init__(self, pid: int, period: float = 0.25):
        self.pid, self.period = pid, period
        self.peak_rss = self.peak_pss = 0.0
        self.peak_at = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            mem = tree_memory(self.pid)
            rss, pss = totals(mem)
            if rss > self.peak_rss:
                self.peak_rss, self.peak_at = rss, describe(mem)
            self.peak_pss = max(self.peak_pss, pss)
            self._stop.wait(self.period)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


async def first_page(browser, base_url: str) -> tuple[float, float]:
    """Seconds until Home's text and links are on screen, and until its demo (figure and both
    players) is."""
    ctx = await browser.new_context(base_url=base_url, viewport=VIEWPORT)
    page = await ctx.new_page()
    t0 = time.monotonic()
    await page.goto("/")
    await page.get_by_text("Explore", exact=True).wait_for(state="visible", timeout=180_000)
    shown = time.monotonic() - t0
    await page.locator(".st-key-home_figure img").wait_for(state="visible", timeout=180_000)
    await page.locator(".st-key-home_demo audio").nth(1).wait_for(state="attached", timeout=180_000)
    seconds = time.monotonic() - t0
    await ctx.close()
    return shown, seconds


async def invert_long(browser, base_url: str, wav: Path, timeout_s: float) -> float:
    ctx = await browser.new_context(base_url=base_url, viewport=VIEWPORT)
    ctx.set_default_timeout(timeout_s * 1000)
    page = await ctx.new_page()
    try:
        await page.goto("/invert")
        await async_wait_for_app_run(page, settle_ms=0)
        await page.locator(".st-key-source").get_by_text("Upload audio", exact=True).click()
        await async_wait_for_app_run(page, settle_ms=300)
        await page.locator(".st-key-upload input[type='file']").set_input_files(str(wav))
        await page.get_by_text(f"{wav.name}: 240.0 s").wait_for(state="visible")
        await async_wait_for_app_run(page, settle_ms=300)
        t0 = time.monotonic()
        await page.locator(".st-key-run button").click()
        await page.locator(".st-key-result_audio audio").nth(1).wait_for(state="attached")
        await async_wait_for_app_run(page)
        return time.monotonic() - t0
    finally:
        await ctx.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--after", type=float, default=180.0, help="seconds to watch after every browser closed")
    ap.add_argument("--timeout", type=float, default=900.0, help="per session, seconds")
    args = ap.parse_args(argv)

    from playwright.async_api import async_playwright

    wav = long_wav()
    load = os.getloadavg()
    server = StreamlitServer().start()
    rows = []
    pid = server.proc.pid
    try:
        time.sleep(1.0)
        rss, pss = totals(tree_memory(pid))
        rows.append(("server started, no browser", f"{rss:.0f} MiB (Pss {pss:.0f})"))
        keep_browsers_deprioritised()

        async def drive():
            async with async_playwright() as pw:
                browser = await launch_browser_async(pw)
                try:
                    shown, seconds = await first_page(browser, server.url)
                    await asyncio.sleep(2.0)
                    mem = tree_memory(pid)
                    rss, pss = totals(mem)
                    rows.append(("first page shown, cold (text and links / with the demo)",
                                 f"{shown:.1f} s / {seconds:.1f} s"))
                    rows.append(("tree after first page", f"{rss:.0f} MiB (Pss {pss:.0f}): {describe(mem)}"))
                    if args.sessions <= 0:
                        return
                    probe = HealthProbe(server, period=0.1)
                    probe.start()
                    try:
                        with Sampler(pid) as sampler:
                            results = await asyncio.gather(*(invert_long(browser, server.url, wav, args.timeout)
                                                             for _ in range(args.sessions)), return_exceptions=True)
                    finally:
                        latencies = probe.stop()
                    done = [r for r in results if not isinstance(r, BaseException)]
                    for r in results:
                        if isinstance(r, BaseException):
                            print("session failed:", repr(r)[:300])
                    rows.append((f"{args.sessions} sessions × 4-min WAV: finished",
                                 f"{len(done)} of {args.sessions}; "
                                 + ", ".join(f"{s:.0f}" for s in sorted(done)) + " s"))
                    rows.append(("peak while they ran", f"{sampler.peak_rss:.0f} MiB (Pss {sampler.peak_pss:.0f}): "
                                 f"{sampler.peak_at}"))
                    rows.append(("health during", f"max {1000 * max(latencies):.0f} ms, median "
                                 f"{1000 * statistics.median(latencies):.0f} ms, {len(latencies)} probes"))
                finally:
                    await browser.close()

        asyncio.run(drive())
        t0 = time.monotonic()
        trail = []
        while (elapsed := time.monotonic() - t0) < args.after:
            rss, pss = totals(tree_memory(pid))
            trail.append((elapsed, rss, pss))
            time.sleep(min(15.0, max(0.0, args.after - elapsed)))
        mem = tree_memory(pid)
        rss, pss = totals(mem)
        rows.append((f"{args.after:.0f} s after every browser closed", f"{rss:.0f} MiB (Pss {pss:.0f}): {describe(mem)}"))
        rows.append(("trail (s: RSS MiB)", ", ".join(f"{e:.0f}: {r:.0f}" for e, r, _ in trail)))
    finally:
        server.stop()
    print(f"load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; end {os.getloadavg()[0]:.1f}")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
