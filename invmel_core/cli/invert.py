"""``python -m invmel_core INPUT``: invert a mel spectrogram from the command line.

INPUT is a sound file (its mel spectrogram is computed, inverted, and compared with the true
linear spectrogram) or a ``.npy``/``.npz`` mel spectrogram as a model stores it (``ln``,
``log10``, dB or linear values: the compression is read off the values or given by
``--format``/``--compression``, and undone). Outputs go to ``--outdir``: the linear
spectrogram the solver found (``STEM.linear.npy``), the sound (``STEM.wav``: by default the
joint method of :func:`invmel_core.mel_to_audio`) and a comparison figure (``STEM.comparison.png``).
For a mel file, whether the settings fit it is checked and said. Progress goes to stderr about
once a second; results and written paths to stdout. Bad input prints one line and exits with
status 2; nothing is written before everything was checked. The option groups are shared
with ``python -m invmel_core batch`` (:mod:`invmel_core.cli.batch`).
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

from invmel_core.io import audio
from invmel_core import limits
from invmel_core.inverse import mel_audio
from invmel_core.dsp import phase
from invmel_core.dsp import metrics
from invmel_core.pipeline import render
from invmel_core.errors import InputError
from invmel_core.formats.fit import check_fit
from invmel_core.formats.ranking import rank_settings, ranking_summary
from invmel_core.pipeline.render import Loaded, RenderOptions
from invmel_core.inverse.solvers import SOLVERS
from invmel_core.pipeline.options import OPTIONS

PROGRESS_PERIOD_S = 1.0
EXIT_INPUT_ERROR = 2
EXIT_WRITE_ERROR = 1
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m invmel_core",
        description="Recover a linear STFT spectrogram and the sound from a mel spectrogram "
                    "(fb.T @ X ~= M, X >= 0). Many files: python -m invmel_core batch --help.",
        epilog="Without --npy/--wav/--png all three are written. Limits: $INVMEL_MAX_DURATION_S, "
               "$INVMEL_MAX_SOLVE_MB (see docs/limits.md). Formats: docs/formats.md.",
    )
    p.add_argument("input", metavar="INPUT",
                   help="a sound file (WAV, FLAC, OGG, MP3, AIFF) or a mel spectrogram as stored "
                        "(.npy/.npz, shape (n_mels, time), (time, n_mels) or (batch, n_mels, time))")
    p.add_argument("-o", "--outdir", default=".", help="directory for the outputs (default: .)")
    out = p.add_argument_group("outputs")
    out.add_argument("--npy", action="store_true", help="write STEM.linear.npy, float32 (n_stft, time)")
    out.add_argument("--wav", action="store_true", help="write STEM.wav (16-bit PCM)")
    out.add_argument("--png", action="store_true", help="write STEM.comparison.png")
    add_render_options(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return p


# The option groups both command lines show, in this order; every option is a row of the one
# table (invmel_core.pipeline.options.OPTIONS): its flag, type, default, values and help.
OPTION_GROUPS = (
    ("the mel's format, and mel to audio", ("format", "compression", "method", "n_iter", "fidelity", "loudness")),
    ("STFT", ("sample_rate", "n_fft", "hop_length", "win_length", "power")),
    ("mel filterbank", ("n_mels", "f_min", "f_max", "norm", "mel_type")),
    ("solver (the linear spectrogram; method cascade's magnitude)",
     ("solver", "max_iter", "tolerance_loss", "tolerance_change", "lr", "momentum", "seed")),
)
OLD_FLAGS = {"n_iter": ("--griffinlim-iters",)}   # older spellings that still work


def option_help(name: str) -> str:
    """An option's help line from the table: what it is, its default, its values."""
    opt = OPTIONS[name]
    text = opt.help
    if opt.default is not None:
        text += f" (default: {opt.default})"
    if name == "solver":
        text += ". " + "; ".join(f"{key}: {spec.summary.rstrip('.')}" for key, spec in sorted(SOLVERS.items()))
    elif opt.choices is not None:
        text += ". One of: " + ", ".join(opt.choices)
    elif opt.low is not None:
        text += f". {opt.low:g} to {opt.high:g}" if opt.high is not None else f". At least {opt.low:g}"
    return text


def _metavar(name: str) -> str | None:
    opt = OPTIONS[name]
    if opt.choices is not None:
        return "{" + ",".join(opt.choices) + "}" if len(opt.choices) <= 8 else "NAME"
    return "HZ" if name in ("sample_rate", "f_min", "f_max") else {int: "N", float: "X"}.get(opt.kind, "VALUE")


def add_render_options(p: argparse.ArgumentParser) -> None:
    """Every option of :class:`~invmel_core.pipeline.render.RenderOptions`, made from the one
    table (shared with ``batch``). Values stay text here; the table checks them, naming the
    option, before any work."""
    for title, names in OPTION_GROUPS:
        group = p.add_argument_group(title)
        for name in names:
            group.add_argument("--" + name.replace("_", "-"), *OLD_FLAGS.get(name, ()), dest=name, default=None,
                               metavar=_metavar(name), help=option_help(name))
    p.add_argument("--max-duration", type=float, default=None, metavar="S",
                   help="longest audio input accepted, seconds (default: $INVMEL_MAX_DURATION_S or 900)")


def options_from_args(args: argparse.Namespace, *, write_npy: bool = False) -> RenderOptions:
    """The :class:`~invmel_core.pipeline.render.RenderOptions` the option groups describe (unchecked:
    an option not given keeps its default)."""
    given = {name: getattr(args, name) for _, names in OPTION_GROUPS for name in names
             if getattr(args, name) is not None}
    return RenderOptions(**given, max_duration=args.max_duration, write_npy=write_npy)


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


def note(args, message: str) -> None:
    if not args.quiet:
        print(f"invmel: {message}", file=sys.stderr, flush=True)


def make_transform(options: RenderOptions, loaded: Loaded, args):
    """The transform for ``loaded``, its warnings printed as one plain line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inv = render.transform(options, loaded.mel.shape[-2], loaded.rate)
    for warning in caught:
        note(args, f"warning: {warning.message}")
    return inv


def check_sound_memory(loaded: Loaded, options: RenderOptions, args) -> None:
    """The sound's memory, checked before the solve starts (the solve checks its own)."""
    if "wav" not in wanted_outputs(args):
        return
    frames = loaded.mel.shape[-1]
    length = None if loaded.samples is None else loaded.samples.size
    if options.method == "joint":
        mel_audio.check_memory(1, loaded.mel.shape[-2], frames, options.n_fft, options.hop_length,
                               options.win_length or options.n_fft, length)
    else:
        limits.check_griffinlim_memory(options.n_fft // 2 + 1, max(frames, 2),
                                       phase.natural_length(frames, options.n_fft, options.hop_length), length or 0)


def solve(inv, melspec: np.ndarray, args):
    """Run the solver, printing step and loss to stderr about once a second."""
    max_iter = inv.options.max_iter
    every = max(1, max_iter // 100)
    start = last_print = time.monotonic()
    last = None
    for last in inv.iterate(melspec, every=every):
        now = time.monotonic()
        if not last.done and now - last_print >= PROGRESS_PERIOD_S:
            note(args, f"step {last.step:>7}/{max_iter}  loss {last.loss:.4g}  {now - start:5.1f} s")
            last_print = now
    note(args, f"{inv.solver.name}: {last.step} steps ({last.reason}) in {time.monotonic() - start:.2f} s")
    return last


def fit_lines(loaded: Loaded, options: RenderOptions) -> list[str]:
    """Whether the settings fit a mel file's values (:func:`invmel_core.check_fit`) and,
    without a format, which presets do (:func:`invmel_core.rank_settings`)."""
    result = check_fit(loaded.stored, sample_rate=loaded.rate, n_fft=options.n_fft, f_min=options.f_min,
                       f_max=options.f_max, mel_type=options.mel_type, norm=options.norm,
                       compat=SOLVERS[options.solver].compat, compression=loaded.compression)
    lines = [f"settings check: {result.verdict} (residual {result.residual:.3g}): {result.why}"]
    if result.verdict == "fits":
        lines.append("settings check: a fit shows these settings are possible, not that they are the ones "
                     "used (finer settings fit many mels)")
    if options.format is None:
        try:
            lines.append(f"which formats fit: {ranking_summary(rank_settings(loaded.stored))}")
        except InputError as exc:  # no preset has this many mel bands
            lines.append(f"which formats fit: none to compare ({exc})")
    return lines


def report(loaded: Loaded, inv, spec: np.ndarray, power: float) -> list[str]:
    """The result's scores, as the app shows them (:func:`invmel_core.app.workflow.score`)."""
    scores = metrics.score(spec, loaded.mel, inv.fb, loaded.spec, power=power)
    lines = [f"mel residual (relative): {scores.mel_residual:.4g}"]
    if scores.spectral_convergence is not None:
        lines.append(f"spectral convergence: {scores.spectral_convergence:.4g}")
        lines.append(f"log-spectral distance: {scores.log_spectral_distance_db:.2f} dB")
    return lines


def write_outputs(label: str, loaded: Loaded, spec: np.ndarray, options: RenderOptions, args) -> list[Path]:
    """Make every output in memory, then write them: a failure leaves no half-written set."""
    wanted, outdir = wanted_outputs(args), Path(args.outdir)
    first = metrics.first_item(spec)
    if spec.ndim > 2 and wanted & {"wav", "png"}:
        note(args, f"a batch of {spec.size // first.size}: the .wav and .png show the first item only")
    contents: dict[Path, bytes | np.ndarray] = {}
    if "npy" in wanted:
        contents[outdir / f"{label}.linear.npy"] = spec
    if "wav" in wanted:
        sound = render.synthesize(loaded, options, spec=spec)
        note(args, f"sound: method {options.method}, {options.n_iter} iterations; its mel is "
                   f"{render.remel_residual(sound, loaded, options):.3g} from the input's (relative)")
        peak = float(np.abs(sound).max(initial=0.0))
        if peak > 1.0:
            note(args, f"the sound peaks at {peak:.2f}; it is clipped to [-1, 1] in the WAV")
        contents[outdir / f"{label}.wav"] = audio.to_wav_bytes(sound, loaded.rate)
    if "png" in wanted:
        contents[outdir / f"{label}.comparison.png"] = comparison_png(loaded, first, options)
    outdir.mkdir(parents=True, exist_ok=True)
    for path, content in contents.items():
        if isinstance(content, np.ndarray):
            np.save(path, content, allow_pickle=False)
        else:
            path.write_bytes(content)
    return list(contents)


def comparison_png(loaded: Loaded, spec: np.ndarray, options: RenderOptions) -> bytes:
    from invmel_core.figures import plots  # matplotlib, only when a figure is wanted

    power = options.power
    to_power = (lambda s: s ** (2.0 / power)) if power != 2 else (lambda s: s)
    original = to_power(loaded.spec) if loaded.spec is not None and loaded.spec.shape == spec.shape else None
    fig = plots.comparison_figure(original, to_power(spec), loaded.rate, options.hop_length,
                                  mel=metrics.first_item(loaded.mel))
    return plots.figure_png(fig)


def run(args) -> int:
    options = options_from_args(args).checked()
    check_outdir(Path(args.outdir))
    options, chosen = render.settle(args.input, options)
    for remark in chosen:
        note(args, remark)
    loaded = render.load(args.input, options)
    for remark in loaded.notes:
        if remark.startswith("warning:"):  # said even with --quiet: the output may be wrong
            print(f"invmel: {remark}", file=sys.stderr, flush=True)
        else:
            note(args, remark)
    inv = make_transform(options, loaded, args)
    check_sound_memory(loaded, options, args)
    last = solve(inv, loaded.mel, args)
    for remark in inv.notes(last):
        note(args, f"note: {remark}")
    if loaded.stored is not None and loaded.stored.ndim == 2:
        for line in fit_lines(loaded, options):
            print(line)
    for line in report(loaded, inv, last.spec, options.power):
        print(line)
    for path in write_outputs(Path(args.input).stem, loaded, last.spec, options, args):
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
