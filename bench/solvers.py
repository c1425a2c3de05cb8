"""Time every solver on the workload (10 s of speech) and print a table with the target ratios.

    python -m bench              # full: SGD run whole, librosa once (many minutes), 10 minutes of audio
    python -m bench --quick      # under a minute: fixed step counts, no librosa, no long audio

The workload: ``assets/speech_10s.wav`` (10 s, 22050 Hz), power spectrogram with n_fft
2048 (1025 bins) and hop 512 (431 frames) as ``torchaudio.transforms.Spectrogram`` makes it,
128 HTK mels from 0 Hz to Nyquist, norm None. Every solver gets the same mel spectrogram.

Columns: wall time of the solve (median of ``--repeats`` where cheap), optimiser steps,
time per step, relative mel residual ``||fb.T @ X - M|| / ||M||`` and spectral convergence
``||X - S|| / ||S||`` against the true spectrogram (both recomputed here, in float64, not
taken from the solver), and peak memory: the largest total of numpy/Python allocations
during one solve, by :mod:`tracemalloc`, measured in a separate untimed run (except
librosa's single run, which is timed with tracemalloc on). The 10-minute row reports the
child process's peak resident memory (``VmHWM``) instead.

SGD and MindSpore run to their 100000-step cap on this workload (minutes): ``--quick`` times a
fixed number of steps and estimates the whole run as time per step x steps, and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy

from invmel_core import InverseMelScale, MelFilterbank, load_audio, spectrogram
from invmel_core.limits import SOLVE_MB_ENV
from invmel_core.dsp.metrics import mel_residual, spectral_convergence
from invmel_core.inverse.solvers import SolverOptions
from invmel_core.inverse.solvers import columns
from invmel_core.inverse.solvers import torch_sgd

from .reference import dense_sgd

REPO = Path(__file__).resolve().parent.parent
WORKLOAD = dict(path=REPO / "assets" / "speech_10s.wav", n_fft=2048, hop_length=512, n_mels=128)
TARGETS = dict(sgd_over_nnls=500.0, librosa_over_nnls=300.0, dense_over_sgd_step=5.0,
               sgd_agreement=1e-4, long_seconds=60.0, long_rss_mib=1536.0)


@dataclass
class Row:
    solver: str
    note: str
    seconds: float
    steps: int | None
    residual: float | None = None
    convergence: float | None = None
    peak_mib: float | None = None
    estimated: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def per_step_ms(self):
        return 1e3 * self.seconds / self.steps if self.steps else None


# --------------------------------------------------------------------------- the workload

def workload():
    """``(spec, melspec, sample_rate)``: the true power spectrogram (1025, 431) and its mels."""
    samples, rate = load_audio(WORKLOAD["path"])
    spec = spectrogram(samples, n_fft=WORKLOAD["n_fft"], hop_length=WORKLOAD["hop_length"], power=2.0)
    fb = MelFilterbank(spec.shape[0], 0.0, None, WORKLOAD["n_mels"], rate)
    return spec, np.ascontiguousarray(fb.dense.T @ spec), rate


def transform(solver: str, rate: int, **options) -> InverseMelScale:
    return InverseMelScale(WORKLOAD["n_fft"] // 2 + 1, WORKLOAD["n_mels"], rate, solver=solver, seed=0, **options)


def solve(inverse: InverseMelScale, melspec):
    """One solve, timed: ``(seconds, last Iterate)``."""
    start = time.perf_counter()
    *_, last = inverse.iterate(melspec, every=2**62)
    return time.perf_counter() - start, last


def peak_mib(fn) -> float:
    """Largest total of traced allocations while ``fn()`` runs, MiB."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def measured_row(solver, note, inverse, melspec, spec, repeats, **extra) -> Row:
    runs = [solve(inverse, melspec) for _ in range(repeats)]
    seconds = statistics.median(t for t, _ in runs)
    last = runs[-1][1]
    return Row(solver, note, seconds, last.step, mel_residual(last.spec, melspec, inverse.fb),
               spectral_convergence(last.spec, spec, power=2), peak_mib(lambda: solve(inverse, melspec)),
               extra=dict(extra, reason=last.reason))


# --------------------------------------------------------------------------- the solvers

def nnls_rows(melspec, spec, rate, repeats, librosa_residual=None) -> dict[str, Row]:
    rows = {}
    targets = [("1e-3", 1e-3), ("default", 1e-5)]
    if librosa_residual is not None:
        targets.insert(1, ("librosa", librosa_residual))
    for key, tol in targets:
        note = {"1e-3": "to residual 1e-3", "default": "defaults (tolerance_loss 1e-5)",
                "librosa": f"to librosa's residual {tol:.2e}"}[key]
        rows[key] = measured_row("nnls", note, transform("nnls", rate, tolerance_loss=tol), melspec, spec,
                                 repeats)
    return rows


def lstsq_row(melspec, spec, rate, repeats) -> Row:
    inverse = transform("lstsq", rate)
    cold, _ = solve(inverse, melspec)  # includes the pseudo-inverse, cached per filterbank
    return measured_row("lstsq", f"closed form (first call {cold:.3f} s with the pseudo-inverse)",
                        inverse, melspec, spec, repeats)


def sgd_rows(melspec, spec, rate, steps, repeats, whole: bool) -> tuple[Row, Row, float]:
    """The fast SGD (timed over ``steps``, and whole if asked), the dense reference over
    the same steps, and their agreement (max relative difference of the iterates)."""
    batch = melspec[None]
    fb = transform("sgd", rate).fb
    options = SolverOptions(max_iter=steps, tolerance_loss=0.0, tolerance_change=0.0, seed=0)
    fast_times, dense_times = [], []
    for _ in range(repeats):  # interleaved, so a busy moment hits both alike
        start = time.perf_counter()
        *_, fast = torch_sgd.run(batch, fb, options, every=2**62)
        fast_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        dense, _ = dense_sgd(batch, fb, steps, seed=0)
        dense_times.append(time.perf_counter() - start)
    agreement = float(np.abs(fast.spec - dense).max() / np.abs(dense).max())
    per_step = statistics.median(fast_times) / steps
    dense_row = Row("sgd (dense reference)", f"bench/reference.py, {steps} steps",
                    statistics.median(dense_times), steps, mel_residual(dense[0], melspec, fb),
                    spectral_convergence(dense[0], spec, power=2),
                    peak_mib(lambda: dense_sgd(batch, fb, min(steps, 20), seed=0)))
    memory = peak_mib(lambda: list(torch_sgd.run(batch, fb, SolverOptions(max_iter=20, seed=0), every=2**62)))
    if whole:
        seconds, last = solve(transform("sgd", rate), melspec)
        row = Row("sgd", f"defaults, run whole ({last.reason})", seconds, last.step,
                  mel_residual(last.spec, melspec, fb), spectral_convergence(last.spec, spec, power=2), memory,
                  extra=dict(per_step_fixed_ms=per_step * 1e3))
    else:
        cap = SolverOptions().max_iter
        row = Row("sgd", f"defaults, estimated: {per_step * 1e3:.3f} ms/step ({steps} steps timed) x {cap}",
                  per_step * cap, cap, None, None, memory, estimated=True)
        row.extra["per_step_fixed_ms"] = per_step * 1e3
    return row, dense_row, agreement


def dense_one_thread_per_step_ms(steps) -> float:
    """Per-step ms of the dense reference with one BLAS thread (a fresh process: OpenBLAS
    reads its thread count at start-up)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-m", "bench.reference", "--steps", str(steps)], cwd=REPO, env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["per_step_ms"]


def mindspore_row(melspec, spec, rate, steps) -> Row:
    inverse = transform("mindspore", rate, max_iter=steps)
    seconds, last = solve(inverse, melspec)
    cap = SolverOptions().max_iter
    per_step = seconds / last.step
    note = f"{last.step} steps timed ({last.reason})"
    if last.reason == "max_iter":
        note += f"; estimated x {cap}"
        seconds = per_step * cap
    return Row("mindspore", note, seconds, cap if last.reason == "max_iter" else last.step,
               mel_residual(last.spec, melspec, inverse.fb), spectral_convergence(last.spec, spec, power=2),
               peak_mib(lambda: solve(transform("mindspore", rate, max_iter=20), melspec)),
               estimated=last.reason == "max_iter", extra=dict(reason=last.reason))


def librosa_row(melspec, spec, rate) -> Row:
    """librosa once on the whole workload. Its L-BFGS-B keeps n_stft correction pairs, about
    7.3 GiB here, over the app's default memory cap: the cap is raised for this run only."""
    inverse = transform("librosa", rate)
    cap = os.environ.get(SOLVE_MB_ENV)
    os.environ[SOLVE_MB_ENV] = "65536"
    tracemalloc.start()
    try:
        seconds, last = solve(inverse, melspec)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
        if cap is None:
            del os.environ[SOLVE_MB_ENV]
        else:
            os.environ[SOLVE_MB_ENV] = cap
    return Row("librosa", "mel_to_stft, one run (tracemalloc on)", seconds, None,
               mel_residual(last.spec, melspec, inverse.fb), spectral_convergence(last.spec, spec, power=2), peak)


def long_audio_row(minutes: float) -> Row:
    out = subprocess.run([sys.executable, "-m", "bench.long_audio", "--minutes", str(minutes)],
                         cwd=REPO, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return Row("nnls", f"{minutes:g} min of audio ({result['frames']} frames), fresh process, "
               "peak = VmHWM", result["seconds"], result["steps"], result["mel_residual"], None,
               result["max_rss_mib"], extra=result)


# --------------------------------------------------------------------------- report

def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older numpy: no dict mode
        blas = "unknown"
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                                      "OMP_NUM_THREADS") if k in os.environ}
    import librosa

    return dict(cpu=cpu, cores=columns.available_cores(), python=platform.python_version(),
                numpy=np.__version__, scipy=scipy.__version__, librosa=librosa.__version__, blas=blas,
                env=env, load=os.getloadavg())


def fmt(value, spec):
    return "—" if value is None else format(value, spec)


def table(rows: list[Row]) -> str:
    lines = ["| solver | run | time (s) | steps | ms/step | mel residual | spectral conv. | peak MiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        est = " (est.)" if r.estimated else ""
        lines.append(f"| {r.solver} | {r.note} | {fmt(r.seconds, '.4g')}{est} | {fmt(r.steps, 'd')} | "
                     f"{fmt(r.per_step_ms, '.3f')} | {fmt(r.residual, '.2e')} | {fmt(r.convergence, '.3f')} | "
                     f"{fmt(r.peak_mib, '.1f')} |")
    return "\n".join(lines)


def verdict(name: str, value, target, *, at_least=True, unit="") -> str:
    if value is None:
        return f"- {name}: not measured in this run"
    ok = value >= target if at_least else value <= target
    rel = ">=" if at_least else "<="
    return f"- {name}: {value:.4g}{unit} (target {rel} {target:g}{unit}) {'PASS' if ok else 'FAIL'}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Benchmark every solver on 10 s of speech.")
    parser.add_argument("--quick", action="store_true",
                        help="fixed SGD step counts, no librosa, no 10-minute run (under a minute)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of the cheap solves (median)")
    parser.add_argument("--no-librosa", action="store_true", help="skip librosa's run (minutes, GBs)")
    parser.add_argument("--no-long", action="store_true", help="skip the 10-minute audio run")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the long-audio run")
    args = parser.parse_args(argv)
    quick = args.quick
    repeats = args.repeats or (3 if quick else 7)
    info = machine()
    print(f"# invmel solver benchmark ({'quick' if quick else 'full'})\n")
    print(f"machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}, numpy {info['numpy']}, "
          f"scipy {info['scipy']}, librosa {info['librosa']}, BLAS {info['blas']}; env {info['env'] or '{}'}; "
          f"load average at start {info['load'][0]:.2f}\n")
    spec, melspec, rate = workload()
    print(f"workload: {WORKLOAD['path'].name}, {rate} Hz, n_fft {WORKLOAD['n_fft']}, hop {WORKLOAD['hop_length']}, "
          f"{WORKLOAD['n_mels']} HTK mels -> spectrogram {spec.shape}, mel {melspec.shape}\n", flush=True)

    lib = None if quick or args.no_librosa else librosa_row(melspec, spec, rate)
    nnls = nnls_rows(melspec, spec, rate, repeats, lib.residual if lib else None)
    lstsq = lstsq_row(melspec, spec, rate, repeats)
    sgd_steps = 300 if quick else 1000
    sgd, dense, agreement = sgd_rows(melspec, spec, rate, sgd_steps, 3, whole=not quick)
    dense_1 = dense_one_thread_per_step_ms(sgd_steps)
    ms = mindspore_row(melspec, spec, rate, 300 if quick else 2000)
    long = None if quick or args.no_long else long_audio_row(args.minutes)

    rows = [nnls["1e-3"]] + ([nnls["librosa"]] if "librosa" in nnls else []) + [nnls["default"], lstsq]
    rows += [r for r in (lib, sgd, dense, ms, long) if r is not None]
    print(table(rows))
    chunks = columns.split_evenly(melspec.shape[1])
    threads = columns.threads_for(len(chunks), spec.shape[0] * (chunks[0].stop - chunks[0].start))
    print(f"\nms per SGD step: sgd {sgd.extra['per_step_fixed_ms']:.3f} ({threads} thread(s) on this workload); "
          f"dense reference {1e3 * dense.seconds / dense.steps:.3f} with the BLAS default threads, "
          f"{dense_1:.3f} with one")
    sgd_per_step = sgd.extra["per_step_fixed_ms"] / 1e3
    dense_per_step = dense.seconds / dense.steps
    print("\nratios:")
    print(verdict(f"sgd time to stop / nnls time to residual 1e-3 ({'estimated' if sgd.estimated else 'measured'} sgd)",
                  sgd.seconds / nnls["1e-3"].seconds, TARGETS["sgd_over_nnls"], unit="x"))
    print(verdict("librosa time / nnls time to librosa's residual",
                  lib.seconds / nnls["librosa"].seconds if lib else None, TARGETS["librosa_over_nnls"], unit="x"))
    print(verdict("dense SGD step / sgd step", dense_per_step / sgd_per_step, TARGETS["dense_over_sgd_step"],
                  unit="x"))
    print(verdict("the same, the dense one with one BLAS thread", dense_1 / (sgd_per_step * 1e3),
                  TARGETS["dense_over_sgd_step"], unit="x"))
    print(verdict(f"sgd vs dense iterates after {sgd_steps} steps (max relative difference)", agreement,
                  TARGETS["sgd_agreement"], at_least=False))
    if long is not None:
        print(verdict(f"{args.minutes:g} min of audio with nnls, seconds", long.seconds, TARGETS["long_seconds"],
                      at_least=False, unit=" s"))
        print(verdict(f"{args.minutes:g} min of audio with nnls, peak resident memory", long.peak_mib,
                      TARGETS["long_rss_mib"], at_least=False, unit=" MiB"))
    else:
        print("- long audio: not measured in this run")
    print(f"\nload average at end {os.getloadavg()[0]:.2f} (other processes share these cores: "
          "compare rows of one run, not runs)")
