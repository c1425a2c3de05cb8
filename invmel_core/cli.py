"""``python -m invmel_core INPUT``: invert a mel spectrogram from the command line.

INPUT is a sound file (its power mel spectrogram is computed, inverted, and compared with
the true linear spectrogram) or a ``.npy``/``.npz`` mel spectrogram. Outputs go to
``--outdir``: the linear spectrogram (``.npy``), a Griffin-Lim rendering (``.wav``) and a
comparison figure (``.png``). Progress goes to stderr about once a second; results and
written paths to stdout. Bad input prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from . import audio, limits, loading, pipeline
from .errors import InputError
from .pipeline import Problem
from .solvers import SOLVERS, default_solver
from .transform import InverseMelScale
from .validation import (check_number, check_power, check_sample_rate, check_seed, check_stft_params,
                         check_positive_seconds)

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
                     help=f"Griffin-Lim iterations for --wav, 1 to {limits.MAX_GRIFFINLIM_ITERS} (default: 32)")
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
                           f"it was made at (default: {DEFAULT_MEL_SAMPLE_RATE}). 1 to "
                           f"{limits.MAX_SAMPLE_RATE} Hz")
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


def check_args(args) -> int:
    """Every option's value, before anything is read, computed or written; returns the hop.
    The checks are the library's own (:mod:`invmel_core.validation`), so the messages name
    the parameter as the API does. An output directory that cannot be made is an OSError."""
    # The app's default hop (librosa's n_fft // 4), not torchaudio's n_fft // 2.
    hop = args.hop_length if args.hop_length is not None else max(1, args.n_fft // 4)
    check_stft_params(args.n_fft, hop, None)  # errors name n_fft, not the n_stft it becomes
    check_power(args.power)
    if args.sample_rate is not None:
        check_sample_rate(args.sample_rate)
    if args.n_mels is not None:
        check_number("n_mels", args.n_mels, integer=True, minimum=1, maximum=limits.MAX_MELS)
    check_number("f_min", args.f_min, minimum=0.0)
    if args.f_max is not None:
        check_number("f_max", args.f_max, minimum=0.0, strict=True)
    check_number("max_iter", args.max_iter, integer=True, minimum=1)
    check_number("tolerance_loss", args.tolerance_loss, minimum=0.0)
    check_number("tolerance_change", args.tolerance_change, minimum=0.0)
    check_number("lr", args.lr, minimum=0.0)
    check_number("momentum", args.momentum, minimum=0.0)
    check_seed(args.seed)  # the solver's random start and Griffin-Lim's phase
    check_number("griffinlim_iters", args.griffinlim_iters, integer=True, minimum=1,
                 maximum=limits.MAX_GRIFFINLIM_ITERS)
    if args.max_duration is not None:
        check_positive_seconds("max_duration", args.max_duration)
    check_outdir(Path(args.outdir))
    return hop


def check_outdir(outdir: Path) -> None:
    """Raise OSError now if ``outdir`` could not be made or written to, rather than after a solve."""
    existing = outdir.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OSError(errno.ENOTDIR, f"{existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OSError(errno.EACCES, f"{existing} is not writable")


def wanted_outputs(args) -> set[str]:
    return {k for k in ("npy", "wav", "png") if getattr(args, k)} or {"npy", "wav", "png"}


def load_problem(args, hop: int) -> tuple[Problem, int, InverseMelScale]:
    """The problem, its sample rate and the transform for it. ``Problem.mel`` keeps the
    input's batch dimensions. The solve's memory is checked before the STFT is computed."""
    n_stft = args.n_fft // 2 + 1
    label = Path(args.input).stem
    if is_melspec_file(args.input):
        mel = loading.load_melspec(args.input, n_mels=args.n_mels)
        rate = args.sample_rate
        if rate is None:
            rate = DEFAULT_MEL_SAMPLE_RATE
            note(args, f"assuming the mel spectrogram was made at {rate} Hz (set --sample-rate)")
        return Problem(label, mel), rate, make_transform(args, n_stft, mel.shape[-2], rate)
    samples, rate = loading.load_audio(args.input, args.sample_rate, max_duration=args.max_duration)
    inv = make_transform(args, n_stft, 128 if args.n_mels is None else args.n_mels, rate)
    frames = audio.stft_frames(samples.size, args.n_fft, hop)
    limits.check_solve_memory(1, n_stft, inv.n_mels, frames, inv.solver)
    spec = audio.spectrogram(samples, args.n_fft, hop, power=args.power)
    mel = audio.mel_spectrogram(spec, inv.fb)
    return Problem(label, mel, samples, spec), rate, inv


def check_problem(problem: Problem, inv: InverseMelScale, args, hop: int) -> None:
    """What the outputs need, checked before the solve starts (the solve checks its own)."""
    if "wav" in wanted_outputs(args):
        frames = problem.mel.shape[-1]
        length = problem.samples.size if problem.samples is not None else 0
        limits.check_griffinlim_memory(inv.n_stft, max(frames, 2), hop * max(frames - 1, 1), length)


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
    """Make every output in memory, then write them: a failure leaves no half-written set."""
    wanted = wanted_outputs(args)
    first = spec.reshape(-1, *spec.shape[-2:])[0]
    if spec.ndim > 2 and wanted & {"wav", "png"}:
        note(args, f"a batch of {spec.size // first.size}: the .wav and .png show the first item only")
    contents: dict[Path, bytes | np.ndarray] = {}
    if "npy" in wanted:
        contents[outdir / f"{problem.label}.linear.npy"] = spec
    if "wav" in wanted:
        length = problem.samples.size if problem.samples is not None else None
        sound = audio.griffinlim(first, args.n_fft, hop, args.power, args.griffinlim_iters, args.seed, length)
        peak = float(np.abs(sound).max(initial=0.0))
        if peak > 1.0:
            note(args, f"the Griffin-Lim output peaks at {peak:.2f}; it is clipped to [-1, 1] in the WAV")
        contents[outdir / f"{problem.label}.griffinlim.wav"] = audio.to_wav_bytes(sound, rate)
    if "png" in wanted:
        contents[outdir / f"{problem.label}.comparison.png"] = comparison_png(problem, rate, first, args.power, hop)
    outdir.mkdir(parents=True, exist_ok=True)
    for path, content in contents.items():
        if isinstance(content, np.ndarray):
            np.save(path, content, allow_pickle=False)
        else:
            path.write_bytes(content)
    return list(contents)


def comparison_png(problem: Problem, rate: int, spec: np.ndarray, power: float, hop: int) -> bytes:
    from . import plots  # matplotlib, only when a figure is wanted

    to_power = (lambda s: s ** (2.0 / power)) if power != 2 else (lambda s: s)
    original = to_power(problem.spec) if problem.spec is not None else None
    mel = pipeline.first_item(problem.mel)
    fig = plots.comparison_figure(original, to_power(spec), rate, hop, mel=mel)
    return plots.figure_png(fig)


def run(args) -> int:
    hop = check_args(args)
    problem, rate, inv = load_problem(args, hop)
    check_problem(problem, inv, args, hop)
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
