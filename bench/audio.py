"""Mel spectrogram to audio, measured (issues 10 and "Hear it better"): ``python -m bench.audio``
prints, for every bundled clip and every frame geometry, the re-mel error, ESTOI, wideband
PESQ (speech) and time of librosa's ``mel_to_audio``, our cascade, our joint method and an
oracle, all in one run, and checks the targets.

    python -m bench.audio                       # every clip in assets/, 3 framings, 1 timed run each
    python -m bench.audio --quick               # three clips (~1-2 min)
    python -m bench.audio --framings reflect    # one framing (reflect, zeros, same)
    python -m bench.audio --settings torchaudio # HTK mels, no norm, power 2 (default: HiFi-GAN's)
    python -m bench.audio --seeds 0,1,2,3       # also the joint method's spread over seeds
    python -m bench.audio --ablation            # the joint method with each of its stages left out
    python -m bench.audio --perturb 0,0.1,0.3,0.5 --framings same  # noisy mels: fidelity exact vs soft

Each clip's mel spectrogram is made from the clip with ``--settings``' STFT and filterbank
and each **framing** (``invmel_core.formats.presets.mel_from_audio``): ``reflect`` (centred
frames, reflect padding: torch's), ``zeros`` (centred, zero padding: librosa's default) and
``same`` (HiFi-GAN/BigVGAN: ``(n_fft - hop) / 2`` reflect padding, frames not centred). Each
method is told the framing and the clip's length: ours through ``mel_to_audio(framing=,
pad_mode=)``; librosa through its ``pad_mode`` (``same``: ``center=False`` and the padding cut
off the front, as a user of librosa has to). Rows: **librosa** (32 iterations, its default),
**cascade**, **joint** (our defaults) and **oracle**: the clip's true STFT magnitude (same
framing) and fast Griffin-Lim, 200 iterations, no mel inversion at all: the best a phase
search gives, a ceiling for PESQ. Columns: **re-mel** ``||mel(out) - M|| / ||M||`` with the
framing ``M`` was made with (does the sound returned have the mel spectrogram asked for?);
**ESTOI** against the clip (pystoi; meaningful for speech only, shown for all); **PESQ**
wideband (ITU-T P.862.2, the ``pesq`` package) of the clip and the output both resampled to
16 kHz, speech only; **gap**: the method's share of the librosa -> oracle PESQ gap (0 %
librosa, 100 % the oracle); **time**: wall seconds of the whole call (mel inversion
included), median of the runs, the methods interleaved so that they share the machine's load;
**cpu**: process CPU seconds of one run (all threads).

Targets, on every clip and framing: joint re-mel <= 0.03 and <= half librosa's; on speech,
joint ESTOI >= librosa's + 0.02 and PESQ-WB >= 4.10; joint time <= 3 s (clips of up to 10 s)
and <= 1.5 x librosa's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from invmel_core.dsp.metrics import estoi
from invmel_core.dsp.phase import fit_length, griffinlim_on_plan, working_plan
from invmel_core.dsp.stft import fft_workers
from invmel_core.formats.presets import MelFormat, format_spectrogram, mel_from_audio
from invmel_core.inverse import mel_audio
from invmel_core.inverse.mel_audio import DEFAULT_ITERATIONS, mel_to_audio

from .solvers import machine

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "assets"
QUICK_CLIPS = ("speech_short.wav", "chord.wav", "drums.wav")
SETTINGS = {
    # HiFi-GAN / Tacotron 2 style: the issue's measurement
    "hifigan": dict(sample_rate=22050, n_fft=1024, hop_length=256, n_mels=80, f_min=0.0, f_max=8000.0,
                    mel_type="slaney", norm="slaney", power=1.0),
    # torchaudio.transforms.MelSpectrogram's defaults but n_fft/hop/n_mels: HTK, no norm, power
    "torchaudio": dict(sample_rate=22050, n_fft=1024, hop_length=256, n_mels=80, f_min=0.0, f_max=None,
                       mel_type="htk", norm=None, power=2.0),
}
FRAMINGS = {"reflect": dict(framing="center", pad_mode="reflect"),
            "zeros": dict(framing="center", pad_mode="constant"),
            "same": dict(framing="same", pad_mode="reflect")}
METHODS = ("librosa", "cascade", "joint", "oracle")
LIBROSA_ITERATIONS = 32  # librosa's default, as the issue measured it
ORACLE_ITERATIONS = 200
PESQ_RATE = 16000
TARGETS = dict(re_mel=0.03, re_mel_of_librosa=0.5, estoi_gain=0.02, pesq=4.10, seconds=3.0, time_of_librosa=1.5)


def clip_kind(name: str) -> str:
    return "speech" if name.startswith("speech") else "music"


def mel_format(s: dict, framing: str) -> MelFormat:
    return MelFormat(**s, **FRAMINGS[framing])


def make_mel(samples: np.ndarray, fmt: MelFormat) -> np.ndarray:
    return mel_from_audio(samples, fmt)


def re_mel(out: np.ndarray, mel: np.ndarray, fmt: MelFormat) -> float:
    """``||mel(out) - M|| / ||M||``, ``mel`` made with ``fmt``'s framing (``out`` as long as the clip)."""
    return float(np.linalg.norm(make_mel(out, fmt) - mel) / np.linalg.norm(mel))


def pesq_wb(out: np.ndarray, reference: np.ndarray, rate: int) -> float | None:
    """Wideband PESQ of ``out`` against ``reference``, both resampled to 16 kHz (None if the
    ``pesq`` package refuses the pair, e.g. no utterance found)."""
    from math import gcd

    from pesq import pesq

    g = gcd(PESQ_RATE, int(rate))
    ref, deg = (resample_poly(x.astype(np.float64), PESQ_RATE // g, int(rate) // g) for x in (reference, out))
    try:
        return float(pesq(PESQ_RATE, ref, deg, "wb"))
    except Exception:  # pesq.NoUtterancesError and the like
        return None


def oracle(samples: np.ndarray, fmt: MelFormat, seed: int = 0) -> np.ndarray:
    """The clip's true STFT magnitude (``fmt``'s framing) and fast Griffin-Lim, no mel in between."""
    n_frames = fmt.n_frames(samples.size)
    plan = working_plan(n_frames, fmt.n_fft, fmt.hop_length, fmt.win_length or fmt.n_fft, samples.size,
                        pad=fmt.padding, pad_mode=fmt.pad_mode, drop_last_frame=fmt.drop_last_frame)
    magnitude = np.ascontiguousarray(np.sqrt(format_spectrogram(samples, fmt.replace(power=2.0))).T)
    return fit_length(griffinlim_on_plan(plan, magnitude, ORACLE_ITERATIONS, seed), samples.size)


def reconstruct(method: str, mel: np.ndarray, fmt: MelFormat, samples: np.ndarray, seed: int = 0) -> np.ndarray:
    length = samples.size
    if method == "oracle":
        return oracle(samples, fmt, seed)
    if method == "librosa":
        import librosa

        same = fmt.framing == "same"
        out = librosa.feature.inverse.mel_to_audio(
            mel, sr=fmt.sample_rate, n_fft=fmt.n_fft, hop_length=fmt.hop_length, power=fmt.power,
            n_iter=LIBROSA_ITERATIONS, center=not same, pad_mode=fmt.pad_mode, length=None if same else length,
            fmin=fmt.f_min, fmax=fmt.f_max, htk=fmt.mel_type == "htk", norm=fmt.norm)
        return fit_length(out[fmt.padding:], length) if same else out
    return mel_to_audio(mel, format=fmt, method=method, length=length, seed=seed)


def measure_clip(path: Path, s: dict, framing: str, repeats: int) -> dict:
    samples, rate = soundfile.read(path, dtype="float32")
    if rate != s["sample_rate"]:
        raise SystemExit(f"{path.name} is {rate} Hz; the settings are for {s['sample_rate']} Hz")
    fmt = mel_format(s, framing)
    mel = make_mel(samples, fmt)
    walls = {m: [] for m in METHODS}
    result = {"clip": path.name, "kind": clip_kind(path.name), "seconds": samples.size / rate, "framing": framing}
    for _ in range(repeats):
        for method in METHODS:  # interleaved: they share whatever load the machine has
            wall, cpu = time.perf_counter(), time.process_time()
            out = reconstruct(method, mel, fmt, samples)
            walls[method].append(time.perf_counter() - wall)
            result[method] = dict(cpu=time.process_time() - cpu, out=out)
    for method in METHODS:
        out = result[method].pop("out")
        result[method].update(time=statistics.median(walls[method]), re_mel=re_mel(out, mel, fmt),
                              estoi=estoi(out, samples, rate),
                              pesq=pesq_wb(out, samples, rate) if result["kind"] == "speech" else None)
    low, high = result["librosa"]["pesq"], result["oracle"]["pesq"]
    for method in METHODS:
        value = result[method]["pesq"]
        gap_ok = None not in (value, low, high) and high - low > 1e-6
        result[method]["gap"] = (value - low) / (high - low) if gap_ok else None
    return result


def seed_spread(path: Path, s: dict, framing: str, seeds: list[int]) -> tuple[float, float]:
    samples, _ = soundfile.read(path, dtype="float32")
    fmt = mel_format(s, framing)
    mel = make_mel(samples, fmt)
    errors = [re_mel(reconstruct("joint", mel, fmt, samples, seed), mel, fmt) for seed in seeds]
    return min(errors), max(errors)


# The joint method with stages left out (module constants of invmel_core.inverse.mel_audio), same steps.
ABLATIONS = {
    "joint": {},
    "no polish": dict(POLISH_SHARE=0.0),
    "no phase restart": dict(RESTART_FROM_GRADIENTS=False),
    "neither (projected Griffin-Lim only)": dict(POLISH_SHARE=0.0, RESTART_FROM_GRADIENTS=False),
}


def ablation(paths: list[Path], s: dict, framing: str, variants: dict = ABLATIONS) -> str:
    """re-mel / ESTOI / seconds of the joint method with module constants changed, on each clip."""
    fmt = mel_format(s, framing)
    lines = ["| clip | " + " | ".join(variants) + " |", "|---|" + "---:|" * len(variants)]
    for path in paths:
        samples, _ = soundfile.read(path, dtype="float32")
        mel = make_mel(samples, fmt)
        cells = []
        for changes in variants.values():
            saved = {name: getattr(mel_audio, name) for name in changes}
            try:
                for name, value in changes.items():
                    setattr(mel_audio, name, value)
                wall = time.perf_counter()
                out = reconstruct("joint", mel, fmt, samples)
                wall = time.perf_counter() - wall
            finally:
                for name, value in saved.items():
                    setattr(mel_audio, name, value)
            cells.append(f"{re_mel(out, mel, fmt):.4f} / {estoi(out, samples, s['sample_rate']):.3f} / {wall:.2f}s")
        lines.append(f"| {path.name} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def checks(r: dict) -> list[tuple[str, bool]]:
    joint, librosa = r["joint"], r["librosa"]
    out = [(f"re-mel {joint['re_mel']:.4f} <= {TARGETS['re_mel']}", joint["re_mel"] <= TARGETS["re_mel"]),
           (f"re-mel <= {TARGETS['re_mel_of_librosa']} x librosa's ({joint['re_mel'] / librosa['re_mel']:.2f} x)",
            joint["re_mel"] <= TARGETS["re_mel_of_librosa"] * librosa["re_mel"])]
    if r["kind"] == "speech":
        gain = joint["estoi"] - librosa["estoi"]
        out.append((f"ESTOI {gain:+.3f} over librosa's (>= +{TARGETS['estoi_gain']})", gain >= TARGETS["estoi_gain"]))
        if joint["pesq"] is not None:
            out.append((f"PESQ-WB {joint['pesq']:.2f} >= {TARGETS['pesq']}", joint["pesq"] >= TARGETS["pesq"]))
    if r["seconds"] <= 10.0:
        out.append((f"time {joint['time']:.2f} s <= {TARGETS['seconds']:g} s", joint["time"] <= TARGETS["seconds"]))
    ratio = joint["time"] / librosa["time"]
    out.append((f"time {ratio:.2f} x librosa's (<= {TARGETS['time_of_librosa']})", ratio <= TARGETS["time_of_librosa"]))
    return out


def _cell(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table(results: list[dict]) -> str:
    lines = ["| clip | kind | s | framing | method | re-mel | ESTOI | PESQ-WB | gap | time (s) | cpu (s) |",
             "|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        for method in METHODS:
            m = r[method]
            lines.append(f"| {r['clip']} | {r['kind']} | {r['seconds']:.1f} | {r['framing']} | {method} | "
                         f"{m['re_mel']:.4f} | {m['estoi']:.3f} | {_cell(m['pesq'], '.2f')} | "
                         f"{_cell(None if m['gap'] is None else 100 * m['gap'], '.0f')}{'' if m['gap'] is None else ' %'} | "
                         f"{m['time']:.2f} | {m['cpu']:.2f} |")
    return "\n".join(lines)


def gap_summary(results: list[dict]) -> str:
    """Each method's mean share of the librosa -> oracle PESQ gap over the speech rows, per framing."""
    lines = []
    for framing in dict.fromkeys(r["framing"] for r in results):
        rows = [r for r in results if r["framing"] == framing and r["kind"] == "speech"]
        if not rows:
            continue
        parts = []
        for method in METHODS:
            gaps = [r[method]["gap"] for r in rows if r[method]["gap"] is not None]
            pesqs = [r[method]["pesq"] for r in rows if r[method]["pesq"] is not None]
            if pesqs:
                gap = f", {100 * statistics.mean(gaps):.0f} % of the gap" if gaps else ""
                parts.append(f"{method} PESQ-WB {statistics.mean(pesqs):.2f}{gap}")
        lines.append(f"- {framing} ({len(rows)} speech clips, means): " + "; ".join(parts))
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audio", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_CLIPS)}")
    parser.add_argument("--clips", default="", help="comma-separated file names in assets/ (instead of all)")
    parser.add_argument("--settings", choices=sorted(SETTINGS), default="hifigan")
    parser.add_argument("--framings", default=",".join(FRAMINGS), help=f"comma-separated, of {', '.join(FRAMINGS)}")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per method (default 1)")
    parser.add_argument("--seeds", default="", help="comma-separated seeds: the joint method's re-mel range")
    parser.add_argument("--ablation", action="store_true",
                        help="only the joint method without each of its stages (re-mel / ESTOI, no timing)")
    parser.add_argument("--perturb", default="",
                        help="comma-separated ln-mel noise levels in nats (e.g. 0,0.1,0.3,0.5): only the speech "
                             "clips, mel_to_audio fidelity='exact' vs 'soft' vs librosa, scored against the clean "
                             "clip (bench/audio_perturb.py)")
    parser.add_argument("--smooth", type=int, default=3, help="--perturb's noise smoothed over this many frames "
                                                              "and bands (default 3; 1: white)")
    args = parser.parse_args(argv)
    s = SETTINGS[args.settings]
    framings = [f for f in args.framings.split(",") if f]
    if unknown := set(framings) - set(FRAMINGS):
        raise SystemExit(f"unknown framing(s) {sorted(unknown)}; choose from {list(FRAMINGS)}")
    repeats = args.repeats
    names = args.clips.split(",") if args.clips else QUICK_CLIPS if args.quick else None
    paths = [ASSETS / name for name in names] if names else sorted(ASSETS.glob("*.wav"))
    info = machine()
    print(f"# invmel mel -> audio benchmark ({'quick' if args.quick else 'full'}, settings {args.settings})\n")
    print(f"machine: {info['cpu']}, {info['cores']} cores (scipy.fft workers {fft_workers()}); Python "
          f"{info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, librosa {info['librosa']}; "
          f"load average at start {info['load'][0]:.2f}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"settings: {s}; framings {framings}; librosa n_iter {LIBROSA_ITERATIONS}, cascade n_iter "
          f"{DEFAULT_ITERATIONS['cascade']}, joint n_iter {DEFAULT_ITERATIONS['joint']}, oracle fast Griffin-Lim "
          f"{ORACLE_ITERATIONS}; {repeats} timed run(s) per method, median\n")
    if args.perturb:
        from . import audio_perturb
        import sys

        sigmas = [float(x) for x in args.perturb.split(",")]
        speech = [p for p in paths if clip_kind(p.name) == "speech"]
        print(f"perturbed mels: sigma {sigmas} nats, noise smoothed over {args.smooth} frames x bands, seed 0; "
              f"speech clips {[p.name for p in speech]}\n")
        rows = audio_perturb.measure(speech, s, framings, sigmas, args.smooth, sys.modules[__name__])
        print("\n" + audio_perturb.table(rows, _cell))
        print("\nmedians over the clips (soft − exact: median of the clip-by-clip differences):\n")
        print(audio_perturb.summary(rows))
        print(f"\nLoad average at end {os.getloadavg()[0]:.2f}")
        return
    if args.ablation:
        for framing in framings:
            print(f"joint method, {DEFAULT_ITERATIONS['joint']} steps, framing {framing}, stages left out: "
                  "re-mel / ESTOI / s\n")
            print("\n" + ablation(paths, s, framing))
        return
    warm = np.sin(np.arange(8000, dtype=np.float32) * 0.1)  # imports and librosa's JIT are not timed
    warm_fmt = mel_format(s, "reflect")
    for method in METHODS:
        reconstruct(method, make_mel(warm, warm_fmt), warm_fmt, warm)
    results = []
    for path in paths:
        for framing in framings:
            results.append(measure_clip(path, s, framing, repeats))
            r = results[-1]
            print(f"{r['clip']} ({framing}): " + ", ".join(
                f"{m} {r[m]['re_mel']:.4f}/{r[m]['estoi']:.3f}/{_cell(r[m]['pesq'], '.2f')}/{r[m]['time']:.2f}s"
                for m in METHODS), flush=True)
    print("\n" + table(results))
    print("\nspeech quality (PESQ-WB; gap: share of the librosa -> oracle gap):\n" + gap_summary(results))
    print("\ntargets (joint method):")
    failed = 0
    for r in results:
        verdicts = checks(r)
        failed += sum(not ok for _, ok in verdicts)
        print(f"- {r['clip']} ({r['framing']}): " + "; ".join(f"{text} {'PASS' if ok else 'FAIL'}"
                                                          for text, ok in verdicts))
    if args.seeds:
        seeds = [int(seed) for seed in args.seeds.split(",")]
        print(f"\njoint re-mel over seeds {seeds} (min-max):")
        for path in paths:
            for framing in framings:
                low, high = seed_spread(path, s, framing, seeds)
                print(f"- {path.name} ({framing}): {low:.4f}-{high:.4f}")
    print(f"\n{failed} target(s) missed. Load average at end {os.getloadavg()[0]:.2f} (other processes share "
          "these cores: compare rows of one run, not runs)")


if __name__ == "__main__":
    main()
