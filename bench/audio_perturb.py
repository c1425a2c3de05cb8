"""``python -m bench.audio --perturb 0,0.1,0.3,0.5``: ``mel_to_audio(fidelity="exact")`` against
``fidelity="soft"`` (and librosa's ``mel_to_audio``) on mels that are not the mel of any signal.

Each speech clip's true mel (``--settings``, each ``--framings``) is multiplied by ``exp(sigma *
n)``: ``n`` Gaussian, smoothed by a ``--smooth`` x ``--smooth`` box over frames and bands
(a model's errors are correlated; 1: white) and rescaled to unit standard deviation, so
``sigma`` is the ln-mel error in nats (a TTS model's is typically 0.1-0.5). The noise's seed is
fixed (0), the same noisy mel goes to every method. ESTOI and PESQ-WB are measured against the
CLEAN clip (the sound the model should have predicted); **ln-mel** is the RMS of ``ln(mel(out) +
c) - ln(M + c)`` against the noisy mel given (``c = 1e-4 max M``) and **re-mel** the linear
``||mel(out) - M|| / ||M||`` (as ``bench.audio``'s): how closely each output follows the mel it
was given (the clean clip's own ln-mel error is about sigma). Same steps for exact and soft (the default
150), methods interleaved per mel, so they share the load.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import soundfile
from scipy.ndimage import uniform_filter

from invmel_core.dsp.metrics import estoi

PERTURB_METHODS = ("librosa", "exact", "soft")


def perturb(mel: np.ndarray, sigma: float, smooth: int = 3, seed: int = 0) -> np.ndarray:
    """``mel * exp(sigma * n)``, ``n`` unit-variance Gaussian smoothed over ``smooth`` frames and bands."""
    if sigma == 0:
        return mel
    noise = np.random.default_rng(seed).standard_normal(mel.shape)
    if smooth > 1:
        noise = uniform_filter(noise, size=smooth, mode="nearest")
    noise /= noise.std()
    return (mel * np.exp(sigma * noise)).astype(np.float32)


def log_mel_rms(out: np.ndarray, mel: np.ndarray, fmt, make_mel) -> float:
    floor = 1e-4 * float(mel.max())
    return float(np.sqrt(np.mean((np.log(make_mel(out, fmt) + floor) - np.log(mel + floor)) ** 2)))


def measure(paths, s: dict, framings: list[str], sigmas: list[float], smooth: int, audio) -> list[dict]:
    """One row per (clip, framing, sigma, method); ``audio`` is :mod:`bench.audio` (its helpers)."""
    from invmel_core.inverse.mel_audio import mel_to_audio

    rows = []
    for path in paths:
        samples, rate = soundfile.read(path, dtype="float32")
        for framing in framings:
            fmt = audio.mel_format(s, framing)
            clean = audio.make_mel(samples, fmt)
            for sigma in sigmas:
                mel = perturb(clean, sigma, smooth)
                for method in PERTURB_METHODS:
                    wall = time.perf_counter()
                    if method == "librosa":
                        out = audio.reconstruct("librosa", mel, fmt, samples)
                    else:
                        out = mel_to_audio(mel, format=fmt, length=samples.size, seed=0, fidelity=method)
                    wall = time.perf_counter() - wall
                    rows.append(dict(clip=path.name, framing=framing, sigma=sigma, method=method, time=wall,
                                     estoi=estoi(out, samples, rate), pesq=audio.pesq_wb(out, samples, rate),
                                     log_mel=log_mel_rms(out, mel, fmt, audio.make_mel),
                                     re_mel=audio.re_mel(out, mel, fmt)))
                line = ", ".join(f"{r['method']} {r['estoi']:.3f}/{audio._cell(r['pesq'], '.2f')}/{r['time']:.1f}s"
                                 for r in rows[-len(PERTURB_METHODS):])
                print(f"{path.name} ({framing}, sigma {sigma:g}): {line}", flush=True)
    return rows


def table(rows: list[dict], cell) -> str:
    lines = ["| clip | framing | σ (nats) | method | re-mel | ln-mel | ESTOI | PESQ-WB | time (s) |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['clip']} | {r['framing']} | {r['sigma']:g} | {r['method']} | {r['re_mel']:.4f} | {r['log_mel']:.3f} | "
                     f"{r['estoi']:.3f} | {cell(r['pesq'], '.2f')} | {r['time']:.2f} |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    """Per framing and sigma: each method's median ESTOI and PESQ-WB over the clips, and soft -
    exact's median paired difference (clip by clip)."""
    lines = ["| framing | σ (nats) | clips | " + " | ".join(f"{m} ESTOI / PESQ" for m in PERTURB_METHODS)
             + " | soft − exact ESTOI | soft − exact PESQ | soft wins PESQ |",
             "|---|---:|---:|" + "---:|" * (len(PERTURB_METHODS) + 3)]
    for framing in dict.fromkeys(r["framing"] for r in rows):
        for sigma in dict.fromkeys(r["sigma"] for r in rows):
            pick = {m: {r["clip"]: r for r in rows if (r["framing"], r["sigma"], r["method"]) == (framing, sigma, m)}
                    for m in PERTURB_METHODS}
            clips = list(pick["exact"])
            cells = []
            for m in PERTURB_METHODS:
                pesqs = [pick[m][c]["pesq"] for c in clips if pick[m][c]["pesq"] is not None]
                cells.append(f"{statistics.median(pick[m][c]['estoi'] for c in clips):.3f} / "
                             f"{statistics.median(pesqs):.2f}" if pesqs else "—")
            d_estoi = [pick["soft"][c]["estoi"] - pick["exact"][c]["estoi"] for c in clips]
            d_pesq = [pick["soft"][c]["pesq"] - pick["exact"][c]["pesq"] for c in clips
                      if None not in (pick["soft"][c]["pesq"], pick["exact"][c]["pesq"])]
            wins = f"{sum(d > 0 for d in d_pesq)}/{len(d_pesq)}"
            lines.append(f"| {framing} | {sigma:g} | {len(clips)} | " + " | ".join(cells) +
                         f" | {statistics.median(d_estoi):+.3f} | "
                         f"{statistics.median(d_pesq) if d_pesq else float('nan'):+.2f} | {wins} |")
    return "\n".join(lines)
