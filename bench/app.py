"""The app's speed, measured: ``python -m bench.app`` prints a table (record it in docs/app-benchmarks.md).

Three targets of issue 4:

1. Server-side rerun of the Mel scales page after a slider change, at n_stft 1025 x 128 mels:
   <= 150 ms. Measured with Streamlit's AppTest, which runs the real script (app.py and the
   page) in-process; it includes AppTest's own bookkeeping, so it errs on the slow side.
2. While a solver runs on the Invert page, the live view refreshes >= 5 times a second and the
   solver runs at >= 2/3 of its headless speed. Measured end to end: a real ``streamlit run``
   server and a headless chromium that clicks Run and reads the live status line as it
   changes; the headless speed is the same solve (same input, settings, solver) called
   directly, just before and just after.
3. ``/_stcore/health`` answers within 10 s of ``streamlit run``.

Ports 8590-8598 (the first free one). The browser stands for the user's own machine: it runs at
the lowest priority and, with two CPUs or more, pinned to CPU 0, so it takes little of the
server's CPU time. Needs chromium (``/usr/bin/chromium``) and playwright for
the live-view measurement; without them that row says why it was skipped.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
PORTS = range(8590, 8599)

# The live-view workload: the default bundled sample, torchaudio's SGD, the app's default STFT.
LIVE_QUERY = {"solver": "sgd", "max_iter": "100000", "sample": "speech_short"}


# --------------------------------------------------------------------------- helpers

def free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def pinned(cpu: int | None) -> list[str]:
    """A ``taskset`` prefix that pins a command to one CPU (nothing if unavailable)."""
    return ["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []


def start_server(port: int, cpu: int | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        pinned(cpu) + [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_healthy(port: int, timeout: float = 60.0) -> float:
    """Seconds until /_stcore/health answers 200."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"/_stcore/health did not answer within {timeout} s")


def load_average() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


# --------------------------------------------------------------------------- 1. mel scales rerun

def mel_scales_rerun(runs: int) -> list[float]:
    """Seconds per rerun of the Mel scales page after an n_mels slider change (1025 bins)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.query_params["n_fft"] = "2048"
    at.run()
    at.switch_page("pages/mel_scales.py").run()
    if at.exception:
        raise RuntimeError([e.value for e in at.exception])
    times = []
    for i in range(runs + 2):
        at.slider(key="n_mels").set_value(128 if i % 2 else 127)
        t0 = time.perf_counter()
        at.run()
        elapsed = time.perf_counter() - t0
        if at.exception:
            raise RuntimeError([e.value for e in at.exception])
        if i >= 2:  # the first two fill the per-settings caches for both values
            times.append(elapsed)
    assert at.number_input(key="n_fft").value == 2048 and len(at.dataframe[0].value) in (127, 128)
    return times


# --------------------------------------------------------------------------- 2. live view

def headless_steps_per_second(steps: int = 1500, repeats: int = 5) -> float:
    """The live-view workload solved directly (no UI): steps per second, median of ``repeats``
    (this machine is shared; one short run can land in a quiet or a busy moment)."""
    from invmel_core import InverseMelScale, load_audio
    from invmel_core.dsp import stft
    from invmel_core.app.settings import Settings, sample_path

    s = Settings.checked(**{k: (int(v) if v.isdigit() else v) for k, v in LIVE_QUERY.items()})
    samples, _ = load_audio(sample_path(s.sample), s.sample_rate)
    fb = s.filterbank()
    mel = stft.mel_spectrogram(stft.spectrogram(samples, s.n_fft, s.hop), fb)
    transform = InverseMelScale(**{**s.transform_kwargs(), "max_iter": steps, "tolerance_loss": 0.0,
                                   "tolerance_change": 0.0})
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        transform(mel)
        rates.append(steps / (time.perf_counter() - t0))
    return statistics.median(rates)


STATUS = re.compile(r"step ([\d,]+)")
STATS = re.compile(r"view refreshed ([\d.]+)×/s · solver busy (\d+) %")


def live_view(port: int, seconds: float, browser_cpu: int | None = None) -> dict:
    """Click Run on the Invert page and watch the live status line for ``seconds``."""
    from playwright.sync_api import sync_playwright

    query = "&".join(f"{k}={v}" for k, v in LIVE_QUERY.items())
    # The browser stands for a user's machine: on this one it must not take the server's CPU,
    # so it runs at the lowest priority (through a two-line wrapper around chromium).
    wrapper = Path(tempfile.mkdtemp()) / "chromium-nice"
    wrapper.write_text(f'#!/bin/sh\nexec {" ".join(pinned(browser_cpu))} nice -n 19 {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(wrapper), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/invert?{query}")
        page.locator(".st-key-run button").wait_for(state="visible", timeout=120_000)
        page.wait_for_timeout(1500)
        page.locator(".st-key-run button").click()
        page.wait_for_function("() => /running — step [1-9]/.test("
                               "document.querySelector('.st-key-live_status')?.innerText ?? '')", timeout=60_000)
        # Poll the DOM every 10 ms; a new step number is a new frame of the live view.
        changes, last, text = [], None, ""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            text = page.locator(".st-key-live_status").inner_text()
            m = STATUS.search(text)
            if m and m.group(1) != last:
                last = m.group(1)
                changes.append((time.perf_counter() - t0, int(last.replace(",", ""))))
            page.wait_for_timeout(10)
        page.locator(".st-key-stop button").click()
        browser.close()
    shutil.rmtree(wrapper.parent, ignore_errors=True)
    if len(changes) < 3:
        raise RuntimeError(f"the live view hardly changed: {changes}")
    span = changes[-1][0] - changes[0][0]
    stats = STATS.search(text)
    return {
        "browser_refresh_hz": (len(changes) - 1) / span,
        "app_steps_per_s": (changes[-1][1] - changes[0][1]) / span,
        "longest_gap_s": max(b[0] - a[0] for a, b in zip(changes, changes[1:])),
        "server_refresh_hz": float(stats.group(1)) if stats else float("nan"),
        "server_busy": float(stats.group(2)) / 100 if stats else float("nan"),
    }


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="Mel scales reruns to time")
    parser.add_argument("--live-seconds", type=float, default=15.0, help="how long to watch the live view")
    parser.add_argument("--starts", type=int, default=3, help="server starts to time")
    parser.add_argument("--live-repeats", type=int, default=3, help="live-view measurements (median shown)")
    args = parser.parse_args(argv)

    rows = []
    print(f"machine: {os.cpu_count()} CPUs, load average {load_average()} (1/5/15 min)")

    times = mel_scales_rerun(args.runs)
    med, p90 = statistics.median(times), float(np.percentile(times, 90))
    rows.append(("Mel scales rerun after a slider change (1025 bins x 128 mels), median",
                 f"{1000 * med:.0f} ms", "<= 150 ms", med <= 0.150))
    rows.append(("  same, 90th percentile / max", f"{1000 * p90:.0f} / {1000 * max(times):.0f} ms", "", None))

    starts = []
    for _ in range(args.starts):
        port = free_port()
        proc = start_server(port)
        try:
            starts.append(wait_healthy(port))
        finally:
            stop_server(proc)
    rows.append(("/_stcore/health after `streamlit run` (worst of "
                 f"{len(starts)})", f"{max(starts):.2f} s", "<= 10 s", max(starts) <= 10))

    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        rows.append(("live view", "skipped: no chromium at " + CHROMIUM, "", None))
    else:
        # The browser stands for the user's own machine: on a machine with 2+ CPUs it is pinned
        # to CPU 0 at the lowest priority, so its drawing hardly takes the server's CPU time.
        # This machine may be shared: each repetition brackets the app with headless runs, and
        # the table shows the median repetition (all of them are printed).
        browser_cpu = 0 if (os.cpu_count() or 1) >= 2 else None
        reps = []
        for rep in range(args.live_repeats):
            before = headless_steps_per_second()
            port = free_port()
            proc = start_server(port)
            try:
                wait_healthy(port)
                live = live_view(port, args.live_seconds, browser_cpu)
            finally:
                stop_server(proc)
            after = headless_steps_per_second()
            live["headless"] = (before + after) / 2
            live["ratio"] = live["app_steps_per_s"] / live["headless"]
            reps.append(live)
            print(f"live view, repetition {rep + 1}: browser {live['browser_refresh_hz']:.1f}/s, server "
                  f"{live['server_refresh_hz']:.1f}/s, busy {100 * live['server_busy']:.0f} %, app "
                  f"{live['app_steps_per_s']:.0f} steps/s, headless {before:.0f} / {after:.0f} steps/s "
                  f"(before / after), ratio {live['ratio']:.2f}, load {load_average()}")
        live = sorted(reps, key=lambda r: r["ratio"])[len(reps) // 2]
        ratio = live["ratio"]
        rows.append(("Live view refresh seen by the browser", f"{live['browser_refresh_hz']:.1f} /s", ">= 5 /s",
                     live["browser_refresh_hz"] >= 5))
        rows.append(("  longest gap between two frames", f"{1000 * live['longest_gap_s']:.0f} ms", "", None))
        rows.append(("  server's own count (refreshes, solver busy)",
                     f"{live['server_refresh_hz']:.1f} /s, {100 * live['server_busy']:.0f} %", "", None))
        rows.append((f"Solver speed in the app / headless (median of {len(reps)})",
                     f"{live['app_steps_per_s']:.0f} / {live['headless']:.0f} steps/s = {ratio:.2f}", ">= 0.67",
                     ratio >= 2 / 3))

    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)} | {'result':>32} | {'target':>9} | ok")
    print(f"{'-' * width}-|-{'-' * 32}-|-{'-' * 9}-|---")
    for name, value, target, ok in rows:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"{name.ljust(width)} | {value:>32} | {target:>9} | {mark}")
    print(f"load average after: {load_average()}")
    return 0 if all(ok is not False for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
