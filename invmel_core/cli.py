"""``python -m invmel_core INPUT``: invert a mel spectrogram from the command line.

INPUT is a sound file (its power mel spectrogram is computed, inverted, and compared with
the true linear spectrogram) or a ``.npy``/``.npz`` mel spectrogram. Outputs go to
``--outdir``: the linear spectrogram (``.npy``), a Griffin-Lim rendering (``.wav``) and a
comparison figure (``.png``). Progress goes to stderr about once a second; results and
written paths to stdout. Bad input prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from . import audio, loading, pipeline
from .errors import InputError
from .pipeline import Problem
from .solvers import SOLVERS, default_solver
from .transform import InverseMelScale
from .validation import check_stft_params

PROGRESS_PERIOD_S = 1.0
DEFAULT_MEL_SAMPLE_RATE = 22050
EXIT_INPUT_ERROR = 2
EXIT_WRITE_ERROR = 1
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m invmel_core",
        description="Recover a linear STFT spectrogram from a mel spectrogram (fb.T @ X ~= M, X >= 0).",
        epilog="Without --npy/--wav/--png all three are written. Limits: $INVMEL_MAX_DURATION_S, "
               "$INVMEL_MAX_SOLVE_MB (see docs/limits.md).",
    )
    p.add_argument("input", metavar="INPUT",
                   help="a sound file (WAV, FLAC, OGG, MP3, AIFF) or a power mel spectrogram "
                        "(.npy/.npz, shape (n_mels, time) or (batch, n_mels, time))")
    p.add_argument("-o", "--outdir", default=".", help="directory for the outputs (default: .)")
    out = p.add_argument_group("outputs")
    out.add_argument("--npy", action="store_true", help="write STEM.linear.npy, float32 (n_stft, time)")
    out.add_argument("--wav", action="store_true", help="write STEM.griffinlim.wav (16-bit PCM)")
    out.add_argument("--png", action="store_true", help="write STEM.comparison.png")
    out.add_argument("--griffinlim-iters", type=int, default=32, metavar="N",
                     help="Griffin-Lim iterations for --wav (default: 32)")
    add_signal_options(p)
    add_solver_options(p)
    p.add_argument("--max-duration", type=float, default=None, metavar="S",
                   help="longest audio accepted, seconds (default: $INVMEL_MAX_DURATION_S or 900)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return p


def add_signal_options(p: argparse.ArgumentParser) -> None:
    """The STFT and mel filterbank options (shared with ``python -m invmel_core batch``)."""
    stft = p.add_argument_group("STFT")
    stft.add_argument("--sample-rate", type=int, default=None, metavar="HZ",
                      help="audio: resample to this rate (default: the file's). Mel input: the rate "
                           f"it was made at (default: {DEFAULT_MEL_SAMPLE_RATE})")
    stft.add_argument("--n-fft", type=int, default=2048, help="FFT size; n_stft = n_fft // 2 + 1 (default: 2048)")
    stft.add_argument("--hop-length", type=int, default=None, help="hop in samples (default: n_fft // 4)")
    stft.add_argument("--power", type=float, default=2.0,
                      help="2: power spectrogram, 1: magnitude (default: 2)")
    mel = p.add_argument_group("mel filterbank")
    mel.add_argument("--n-mels", type=int, default=None,
                     help="mel bands (default: 128 for audio; the file's for a mel spectrogram)")
    mel.add_argument("--f-min", type=float, default=0.0, help="lowest frequency in Hz (default: 0)")
    mel.add_argument("--f-max", type=float, default=None, help="highest frequency in Hz (default: sample_rate // 2)")
    mel.add_argument("--norm", choices=["none", "slaney"], default="none", help="filter normalisation")
    mel.add_argument("--mel-type", choices=["htk", "slaney"], default="htk", help="mel scale")


def add_solver_options(p: argparse.ArgumentParser) -> None:
    """The solver options (shared with ``python -m invmel_core batch``)."""
    solve = p.add_argument_group("solver")
    solve.add_argument("--solver", choices=sorted(SOLVERS), default=default_solver(),
                       help=f"default: {default_solver()}. " + "; ".join(
                           f"{name}: {spec.summary}" for name, spec in sorted(SOLVERS.items())))
    solve.add_argument("--max-iter", type=int, default=1000, help="iteration budget (default: 1000)")
    solve.add_argument("--tolerance-loss", type=float, default=1e-5, help="stop below this loss")
    solve.add_argument("--tolerance-change", type=float, default=1e-8, help="stop when the loss changes less")
    solve.add_argument("--lr", type=float, default=0.1, help="sgd/mindspore learning rate (default: 0.1)")
    solve.add_argument("--momentum", type=float, default=0.9, help="sgd momentum (default: 0.9)")
    solve.add_argument("--seed", type=int, default=0, help="random start of sgd/mindspore (default: 0)")


def is_melspec_file(path: str) -> bool:
    return Path(path).suffix.lower().lstrip(".") in loading.MELSPEC_EXTENSIONS


def load_problem(args, hop: int) -> tuple[Problem, int, InverseMelScale]:
    """The problem, its sample rate and the transform for it. ``Problem.mel`` keeps the
    input's batch dimensions."""
    n_stft = args.n_fft // 2 + 1
    label = Path(args.input).stem
    if is_melspec_file(args.input):
        mel = loading.load_melspec(args.input, n_mels=args.n_mels)
        rate = args.sample_rate or DEFAULT_MEL_SAMPLE_RATE
        if args.sample_rate is None:
            note(args, f"assuming the mel spectrogram was made at {rate} Hz (set --sample-rate)")
        return Problem(label, mel), rate, make_transform(args, n_stft, mel.shape[-2], rate)
    samples, rate = loading.load_audio(args.input, args.sample_rate, max_duration=args.max_duration)
    inv = make_transform(args, n_stft, args.n_mels or 128, rate)
    spec = audio.spectrogram(samples, args.n_fft, hop, power=args.power)
    mel = audio.mel_spectrogram(spec, inv.fb)
    return Problem(label, mel, samples, spec), rate, inv


def make_transform(args, n_stft: int, n_mels: int, rate: int) -> InverseMelScale:
    with warnings.catch_warnings(record=True) as caught:  # one plain line each, no source dump
        warnings.simplefilter("always")
        inv = InverseMelScale(
            n_stft, n_mels, rate, args.f_min, args.f_max, args.max_iter, args.tolerance_loss,
            args.tolerance_change, {"lr": args.lr, "momentum": args.momentum}, args.norm,
            args.mel_type, solver=args.solver, seed=args.seed,
        )
    for warning in caught:
        note(args, f"warning: {warning.message}")
    return inv


def note(args, message: str) -> None:
    if not args.quiet:
        print(f"invmel: {message}", file=sys.stderr, flush=True)


def solve(inv: InverseMelScale, melspec: np.ndarray, args):
    """Run the solver, printing step and loss to stderr about once a second."""
    every = max(1, args.max_iter // 100)
    start = last_print = time.monotonic()
    last = None
    for last in inv.iterate(melspec, every=every):
        now = time.monotonic()
        if not last.done and now - last_print >= PROGRESS_PERIOD_S:
            note(args, f"step {last.step:>7}/{args.max_iter}  loss {last.loss:.4g}  {now - start:5.1f} s")
            last_print = now
    elapsed = time.monotonic() - start
    note(args, f"{inv.solver.name}: {last.step} steps ({last.reason}) in {elapsed:.2f} s")
    return last, elapsed


def report(problem: Problem, inv: InverseMelScale, spec: np.ndarray, power: float) -> list[str]:
    """The result's scores, as the app shows them (:func:`invmel_core.pipeline.score`)."""
    scores = pipeline.score(spec, problem.mel, inv.fb, problem.spec, power=power)
    lines = [f"mel residual (relative): {scores.mel_residual:.4g}"]
    if scores.spectral_convergence is not None:
        lines.append(f"spectral convergence: {scores.spectral_convergence:.4g}")
        lines.append(f"log-spectral distance: {scores.log_spectral_distance_db:.2f} dB")
    return lines


def write_outputs(problem: Problem, rate: int, spec: np.ndarray, args, hop: int, outdir: Path) -> list[Path]:
    wanted = {k for k in ("npy", "wav", "png") if getattr(args, k)} or {"npy", "wav", "png"}
    first = spec.reshape(-1, *spec.shape[-2:])[0]
    if spec.ndim > 2 and wanted & {"wav", "png"}:
        note(args, f"a batch of {spec.size // first.size}: the .wav and .png show the first item only")
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    if "npy" in wanted:
        path = outdir / f"{problem.label}.linear.npy"
        np.save(path, spec, allow_pickle=False)
        written.append(path)
    if "wav" in wanted:
        length = problem.samples.size if problem.samples is not None else None
        sound = audio.griffinlim(first, args.n_fft, hop, args.power, args.griffinlim_iters, args.seed, length)
        peak = float(np.abs(sound).max(initial=0.0))
        if peak > 1.0:
            note(args, f"the Griffin-Lim output peaks at {peak:.2f}; it is clipped to [-1, 1] in the WAV")
        path = outdir / f"{problem.label}.griffinlim.wav"
        path.write_bytes(audio.to_wav_bytes(sound, rate))
        written.append(path)
    if "png" in wanted:
        path = outdir / f"{problem.label}.comparison.png"
        path.write_bytes(comparison_png(problem, rate, first, args.power, hop))
        written.append(path)
    return written


def comparison_png(problem: Problem, rate: int, spec: np.ndarray, power: float, hop: int) -> bytes:
    from . import plots  # matplotlib, only when a figure is wanted

    to_power = (lambda s: s ** (2.0 / power)) if power != 2 else (lambda s: s)
    original = to_power(problem.spec) if problem.spec is not None else None
    mel = pipeline.first_item(problem.mel)
    fig = plots.comparison_figure(original, to_power(spec), rate, hop, mel=mel)
    return plots.figure_png(fig)


def run(args) -> int:
    # The app's default hop (librosa's n_fft // 4), not torchaudio's n_fft // 2.
    hop = args.hop_length if args.hop_length is not None else max(1, args.n_fft // 4)
    check_stft_params(args.n_fft, hop, None)  # errors name n_fft, not the n_stft it becomes
    problem, rate, inv = load_problem(args, hop)
    last, _ = solve(inv, problem.mel, args)
    for remark in inv.notes(last):
        note(args, f"note: {remark}")
    for line in report(problem, inv, last.spec, args.power):
        print(line)
    for path in write_outputs(problem, rate, last.spec, args, hop, Path(args.outdir)):
        print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input, 1 cannot write, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except InputError as exc:
        print(f"invmel: error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except OSError as exc:  # the outputs: a read-only or missing directory, a full disk
        print(f"invmel: error: cannot write to {args.outdir!r}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_WRITE_ERROR
    except KeyboardInterrupt:
        print("invmel: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
