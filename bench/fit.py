"""Time format detection, check_fit and the ranking on 10 s of speech, and print the verdicts.

    python -m bench.fit            # the table (about 20 s)
    python -m bench.fit --noise    # also: residuals under log-domain noise (a model's error), right vs wrong
    python -m bench.fit --ranking  # also: every candidate of the HiFi-GAN ranking

The workload: ``assets/speech_10s.wav`` resampled to each preset's rate, made into that
preset's stored mel by :func:`invmel_core.formats.presets.mel_from_audio` (HiFi-GAN: 80 x 861, 513
bins). Times are medians of ``--repeats`` runs in this process (single-threaded numpy/scipy).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import scipy

from invmel_core import load_audio
from invmel_core.formats.fit import check_fit
from invmel_core.formats.ranking import candidate_formats, rank_settings, ranking_summary
from invmel_core.formats.compression import detect_compression, undo_compression
from invmel_core.formats.presets import FORMATS, mel_from_audio

AUDIO = Path(__file__).resolve().parent.parent / "assets" / "speech_10s.wav"
TARGET_SECONDS = 3.0  # check_fit on 10 s of HiFi-GAN mel
WRONG = {"hifigan": [dict(n_fft=512), dict(mel_type="htk"), dict(norm=None), dict(f_max=None)],
         "whisper": [dict(n_fft=200), dict(mel_type="htk"), dict(f_max=7600.0)]}


def settings(fmt, **changes) -> dict:
    out = dict(sample_rate=fmt.sample_rate, n_fft=fmt.n_fft, f_min=fmt.f_min, f_max=fmt.f_max,
               mel_type=fmt.mel_type, norm=fmt.norm, compat=fmt.compat)
    return {**out, **changes}


def timed(fn, repeats: int):
    """(median seconds, last result)."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def mels() -> dict[str, np.ndarray]:
    audio, out = {}, {}
    for name, fmt in FORMATS.items():
        if fmt.sample_rate not in audio:
            audio[fmt.sample_rate] = load_audio(AUDIO, sample_rate=fmt.sample_rate)[0]
        out[name] = mel_from_audio(audio[fmt.sample_rate], fmt)
    return out


def fit_rows(stored: dict, repeats: int) -> list[str]:
    lines = ["| mel (preset) | shape | settings checked | verdict | residual | certified lower | steps | check_fit (s) |",
             "|---|---|---|---|---:|---:|---:|---:|"]
    for name, mel in stored.items():
        fmt = FORMATS[name]
        for change in [{}] + WRONG.get(name, []):
            seconds, result = timed(lambda: check_fit(mel, **settings(fmt, **change)), repeats)
            label = ", ".join(f"{k}={v}" for k, v in change.items()) or "its own"
            lines.append(f"| {name} | {mel.shape[0]} x {mel.shape[1]} | {label} | {result.verdict} | "
                         f"{result.residual:.2e} | {result.residual_lower:.2e} | {result.iterations} | {seconds:.3f} |")
    return lines


def ranking_rows(stored: dict, names, repeats: int) -> list[str]:
    lines = ["| mel (preset) | candidates | distinct solves | fits | cannot tell | ruled out | rank_settings (s) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name in names:
        seconds, rows = timed(lambda: rank_settings(stored[name]), repeats)
        count = {v: sum(row.verdict == v for row in rows) for v in ("fits", "cannot tell", "ruled out")}
        solves = len({id(row.result) for row in rows})
        lines.append(f"| {name} | {len(rows)} | {solves} | {count['fits']} | {count['cannot tell']} | "
                     f"{count['ruled out']} | {seconds:.2f} |")
    return lines


def noise_rows(stored: dict) -> list[str]:
    """Residuals of right and wrong settings when a model's error is imitated by Gaussian noise
    on the stored (log) values: what MODEL_RULED_OUT is calibrated on."""
    lines = ["| mel | noise (stored units) | settings | verdict | residual | certified lower |", "|---|---:|---|---|---:|---:|"]
    # The format's own compression is undone (the noise hides the floors detection reads).
    rng = np.random.default_rng(0)
    for name, sigmas in (("hifigan", (0.05, 0.3, 0.6)), ("whisper", (0.005, 0.025, 0.075, 0.15))):
        fmt = FORMATS[name]
        for sigma in sigmas:
            noisy = (stored[name] + rng.normal(0, sigma, stored[name].shape)).astype(np.float32)
            for change in [{}] + WRONG[name][:2]:
                result = check_fit(noisy, **settings(fmt, **change), compression=fmt, exact=False)
                label = ", ".join(f"{k}={v}" for k, v in change.items()) or "right"
                lines.append(f"| {name} | {sigma:g} | {label} | {result.verdict} | {result.residual:.2e} | "
                             f"{result.residual_lower:.2e} |")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Time detection, check_fit and the ranking.")
    parser.add_argument("--repeats", type=int, default=3, help="runs per timing (median)")
    parser.add_argument("--noise", action="store_true", help="also residuals under log-domain noise")
    parser.add_argument("--ranking", action="store_true", help="also every row of the HiFi-GAN ranking")
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# invmel format and fit benchmark\n\nPython {platform.python_version()}, numpy {np.__version__}, "
          f"scipy {scipy.__version__}; {cores} cores; load average at start {os.getloadavg()[0]:.2f}\n")
    start = time.perf_counter()
    stored = mels()
    hifigan = stored["hifigan"]
    detect_s, found = timed(lambda: detect_compression(hifigan), args.repeats)
    undo_s, _ = timed(lambda: undo_compression(hifigan), args.repeats)
    y = load_audio(AUDIO, sample_rate=22050)[0]
    make_s, _ = timed(lambda: mel_from_audio(y, "hifigan"), args.repeats)
    print(f"HiFi-GAN mel of {y.size / 22050:.2f} s: {hifigan.shape}; mel_from_audio {make_s * 1e3:.1f} ms, "
          f"detect_compression {detect_s * 1e3:.1f} ms ({found.kind}, {found.confidence}), "
          f"undo_compression {undo_s * 1e3:.1f} ms\n")
    lines = fit_rows(stored, args.repeats)
    print("\n".join(lines) + "\n")
    print("\n".join(ranking_rows(stored, ("hifigan", "whisper", "librosa-db", "espnet"), max(1, args.repeats // 2))))
    hifigan_s, _ = timed(lambda: check_fit(hifigan, **settings(FORMATS["hifigan"])), args.repeats)
    ok = "PASS" if hifigan_s <= TARGET_SECONDS else "FAIL"
    print(f"\n- check_fit, HiFi-GAN settings, 10 s (80 x {hifigan.shape[1]}, 513 bins): {hifigan_s:.3f} s "
          f"(target <= {TARGET_SECONDS:g} s) {ok}")
    if args.ranking:
        rows = rank_settings(hifigan, candidate_formats(80))
        print("\n| candidate | verdict | residual | lower | implied duration (s) | note |\n|---|---|---:|---:|---:|---|")
        for row in rows:
            print(f"| {row.name} | {row.verdict} | {row.result.residual:.2e} | {row.result.residual_lower:.2e} | "
                  f"{row.duration:.2f} | {row.note} |")
        print("\n" + ranking_summary(rows))
    if args.noise:
        print("\n" + "\n".join(noise_rows(stored)))
    print(f"\ntotal {time.perf_counter() - start:.1f} s; load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
