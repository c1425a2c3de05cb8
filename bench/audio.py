"""Mel spectrogram to audio, measured (issue 10): ``python -m bench.audio`` prints, for every
bundled clip, the re-mel error, ESTOI and time of librosa's ``mel_to_audio``, our cascade and
our joint method, all in one run, and checks the targets.

    python -m bench.audio                       # every clip in assets/, 3 timed runs each (~3 min)
    python -m bench.audio --quick               # three clips, one run each (~20 s)
    python -m bench.audio --settings torchaudio # HTK mels, no norm, power 2 (default: HiFi-GAN's)
    python -m bench.audio --seeds 0,1,2,3       # also the joint method's spread over seeds
    python -m bench.audio --ablation            # the joint method with each of its stages left out

Each clip's mel spectrogram is made from the clip (``invmel_core.dsp.stft.spectrogram``, torch's
STFT, and the filterbank of ``--settings``) and handed to each method with the clip's length.
Columns: **re-mel** ``||fb.T @ |STFT(out)| ** power - M|| / ||M||`` (``metrics.audio_mel_residual``:
does the sound returned have the mel spectrogram asked for?); **ESTOI** against the clip
(pystoi; meaningful for speech only, shown for all); **time**: wall seconds of the whole call
(mel inversion included), median of the runs, the methods interleaved so that they share the
machine's load; **cpu**: process CPU seconds of one run (all threads).

Targets (issue 10), on every clip: joint re-mel <= 0.03 and <= half librosa's; on speech, joint
ESTOI >= librosa's + 0.02; joint time <= 3 s (clips of up to 10 s) and <= 1.5 x librosa's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import soundfile

from invmel_core import MelFilterbank
from invmel_core.inverse import mel_audio
from invmel_core.inverse.mel_audio import DEFAULT_ITERATIONS, mel_to_audio
from invmel_core.dsp.metrics import audio_mel_residual, estoi
from invmel_core.dsp.stft import fft_workers, spectrogram

from .solvers import machine

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "assets"
QUICK_CLIPS = ("speech_short.wav", "chord.wav", "drums.wav")
SETTINGS = {
    # HiFi-GAN / Tacotron 2 style: the measurement
    "hifigan": dict(sample_rate=22050, n_fft=1024, hop_length=256, n_mels=80, f_min=0.0, f_max=8000.0,
                    mel_type="slaney", norm="slaney", power=1.0),
    # torchaudio.transforms.MelSpectrogram's defaults but n_fft/hop/n_mels: HTK, no norm, power
    "torchaudio": dict(sample_rate=22050, n_fft=1024, hop_length=256, n_mels=80, f_min=0.0, f_max=None,
                       mel_type="htk", norm=None, power=2.0),
}
METHODS = ("librosa", "cascade", "joint")
LIBROSA_ITERATIONS = 32  # librosa's default, as the issue measured it
TARGETS = dict(re_mel=0.03, re_mel_of_librosa=0.5, estoi_gain=0.02, seconds=3.0, time_of_librosa=1.5)


def clip_kind(name: str) -> str:
    return "speech" if name.startswith("speech") else "music"


def make_mel(samples: np.ndarray, s: dict) -> tuple[np.ndarray, MelFilterbank]:
    fb = MelFilterbank(s["n_fft"] // 2 + 1, s["f_min"], s["f_max"], s["n_mels"], s["sample_rate"], s["norm"],
                       s["mel_type"])
    spec = spectrogram(samples, s["n_fft"], s["hop_length"], power=s["power"])
    return fb.banded.project(spec), fb


def reconstruct(method: str, mel: np.ndarray, s: dict, length: int, seed: int = 0) -> np.ndarray:
    if method == "librosa":
        import librosa

        return librosa.feature.inverse.mel_to_audio(
            mel, sr=s["sample_rate"], n_fft=s["n_fft"], hop_length=s["hop_length"], power=s["power"],
            n_iter=LIBROSA_ITERATIONS, pad_mode="reflect", length=length, fmin=s["f_min"], fmax=s["f_max"],
            htk=s["mel_type"] == "htk", norm=s["norm"])
    return mel_to_audio(mel, sample_rate=s["sample_rate"], n_fft=s["n_fft"], hop_length=s["hop_length"],
                        power=s["power"], f_min=s["f_min"], f_max=s["f_max"], mel_type=s["mel_type"],
                        norm=s["norm"], method=method, length=length, seed=seed)


def measure_clip(path: Path, s: dict, repeats: int) -> dict:
    samples, rate = soundfile.read(path, dtype="float32")
    if rate != s["sample_rate"]:
        raise SystemExit(f"{path.name} is {rate} Hz; the settings are for {s['sample_rate']} Hz")
    mel, fb = make_mel(samples, s)
    walls = {m: [] for m in METHODS}
    result = {"clip": path.name, "kind": clip_kind(path.name), "seconds": samples.size / rate}
    for _ in range(repeats):
        for method in METHODS:  # interleaved: the three share whatever load the machine has
            wall, cpu = time.perf_counter(), time.process_time()
            out = reconstruct(method, mel, s, samples.size)
            walls[method].append(time.perf_counter() - wall)
            result[method] = dict(cpu=time.process_time() - cpu, out=out)
    for method in METHODS:
        out = result[method].pop("out")
        result[method].update(
            time=statistics.median(walls[method]),
            re_mel=audio_mel_residual(out, mel, fb, n_fft=s["n_fft"], hop_length=s["hop_length"], power=s["power"]),
            estoi=estoi(out, samples, rate))
    return result


def seed_spread(path: Path, s: dict, seeds: list[int]) -> tuple[float, float]:
    samples, _ = soundfile.read(path, dtype="float32")
    mel, fb = make_mel(samples, s)
    errors = [audio_mel_residual(reconstruct("joint", mel, s, samples.size, seed), mel, fb, n_fft=s["n_fft"],
                                 hop_length=s["hop_length"], power=s["power"]) for seed in seeds]
    return min(errors), max(errors)


# The joint method with stages left out (module constants of invmel_core.inverse.mel_audio), same steps.
ABLATIONS = {
    "joint": {},
    "no polish": dict(POLISH_SHARE=0.0),
    "no phase restart": dict(RESTART_FROM_GRADIENTS=False),
    "neither (projected Griffin-Lim only)": dict(POLISH_SHARE=0.0, RESTART_FROM_GRADIENTS=False),
}


def ablation(paths: list[Path], s: dict) -> str:
    """re-mel (and ESTOI) of the joint method without each of its stages, on each clip."""
    lines = ["| clip | " + " | ".join(ABLATIONS) + " |", "|---|" + "---:|" * len(ABLATIONS)]
    for path in paths:
        samples, _ = soundfile.read(path, dtype="float32")
        mel, fb = make_mel(samples, s)
        cells = []
        for changes in ABLATIONS.values():
            saved = {name: getattr(mel_audio, name) for name in changes}
            try:
                for name, value in changes.items():
                    setattr(mel_audio, name, value)
                out = reconstruct("joint", mel, s, samples.size)
            finally:
                for name, value in saved.items():
                    setattr(mel_audio, name, value)
            re_mel = audio_mel_residual(out, mel, fb, n_fft=s["n_fft"], hop_length=s["hop_length"], power=s["power"])
            cells.append(f"{re_mel:.4f} / {estoi(out, samples, s['sample_rate']):.3f}")
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
    if r["seconds"] <= 10.0:
        out.append((f"time {joint['time']:.2f} s <= {TARGETS['seconds']:g} s", joint["time"] <= TARGETS["seconds"]))
    ratio = joint["time"] / librosa["time"]
    out.append((f"time {ratio:.2f} x librosa's (<= {TARGETS['time_of_librosa']})", ratio <= TARGETS["time_of_librosa"]))
    return out


def table(results: list[dict]) -> str:
    lines = ["| clip | kind | s | method | re-mel | ESTOI | time (s) | cpu (s) |",
             "|---|---|---:|---|---:|---:|---:|---:|"]
    for r in results:
        for method in METHODS:
            m = r[method]
            lines.append(f"| {r['clip']} | {r['kind']} | {r['seconds']:.1f} | {method} | {m['re_mel']:.4f} | "
                         f"{m['estoi']:.3f} | {m['time']:.2f} | {m['cpu']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audio", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_CLIPS)}, one run each")
    parser.add_argument("--settings", choices=sorted(SETTINGS), default="hifigan")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per method (default 3; quick 1)")
    parser.add_argument("--seeds", default="", help="comma-separated seeds: the joint method's re-mel range")
    parser.add_argument("--ablation", action="store_true",
                        help="only the joint method without each of its stages (re-mel / ESTOI, no timing)")
    args = parser.parse_args(argv)
    s = SETTINGS[args.settings]
    repeats = args.repeats or (1 if args.quick else 3)
    paths = [ASSETS / name for name in QUICK_CLIPS] if args.quick else sorted(ASSETS.glob("*.wav"))
    info = machine()
    print(f"# invmel mel -> audio benchmark ({'quick' if args.quick else 'full'}, settings {args.settings})\n")
    print(f"machine: {info['cpu']}, {info['cores']} cores (scipy.fft workers {fft_workers()}); Python "
          f"{info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, librosa {info['librosa']}; "
          f"load average at start {info['load'][0]:.2f}")
    print(f"settings: {s}; librosa n_iter {LIBROSA_ITERATIONS}, cascade n_iter {DEFAULT_ITERATIONS['cascade']}, "
          f"joint n_iter {DEFAULT_ITERATIONS['joint']}; {repeats} timed run(s) per method, median\n")
    if args.ablation:
        print(f"joint method, {DEFAULT_ITERATIONS['joint']} steps, stages left out: re-mel / ESTOI\n")
        print("\n" + ablation(paths, s))
        return
    warm = np.sin(np.arange(8000, dtype=np.float32) * 0.1)  # imports and librosa's JIT are not timed
    mel, _ = make_mel(warm, s)
    for method in METHODS:
        reconstruct(method, mel, s, warm.size)
    results = []
    for path in paths:
        results.append(measure_clip(path, s, repeats))
        r = results[-1]
        print(f"{r['clip']}: " + ", ".join(f"{m} {r[m]['re_mel']:.4f}/{r[m]['estoi']:.3f}/{r[m]['time']:.2f}s"
                                           for m in METHODS), flush=True)
    print("\n" + table(results))
    print("\ntargets (joint method):")
    failed = 0
    for r in results:
        verdicts = checks(r)
        failed += sum(not ok for _, ok in verdicts)
        print(f"- {r['clip']}: " + "; ".join(f"{text} {'PASS' if ok else 'FAIL'}" for text, ok in verdicts))
    if args.seeds:
        seeds = [int(seed) for seed in args.seeds.split(",")]
        print(f"\njoint re-mel over seeds {seeds} (min-max):")
        for path in paths:
            low, high = seed_spread(path, s, seeds)
            print(f"- {path.name}: {low:.4f}-{high:.4f}")
    print(f"\n{failed} target(s) missed. Load average at end {os.getloadavg()[0]:.2f} (other processes share "
          "these cores: compare rows of one run, not runs)")


if __name__ == "__main__":
    main()
