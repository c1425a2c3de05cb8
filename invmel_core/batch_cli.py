"""``python -m invmel_core batch INPUT -o OUTDIR``: many mel spectrograms (or sound files) to WAVs.

INPUT is a folder (searched recursively), a glob (quote it) or a text file listing paths.
The outputs mirror the input tree under OUTDIR. A rerun skips the files already done with
the same settings; a file that fails is recorded and the rest go on. Progress goes to
stderr (``-q`` silences it), failures to stderr, the totals to stdout. Exit status: 0 all
done, 1 some files failed (see OUTDIR/batch-summary.csv), 2 bad arguments (nothing was
rendered), 130 interrupted (rerun to resume). See docs/batch.md.
"""

from __future__ import annotations

import argparse
import sys

from .batch import SUMMARY_NAME, execute, plan
from .batch_pool import open_pool
from .batch_render import DONE, FAILED, SKIPPED, RenderOptions
from .errors import InputError
from .solvers import SOLVERS, default_solver

EXIT_FAILED_FILES = 1
EXIT_BAD_ARGUMENTS = 2
EXIT_INTERRUPTED = 130


# MERGE: the STFT, mel and solver groups repeat the single-file CLI's (invmel_core/cli.py);
# use its reusable option groups once the lead's refactor exposes them.
def add_stft_options(parser: argparse.ArgumentParser) -> None:
    stft = parser.add_argument_group("STFT")
    stft.add_argument("--sample-rate", type=int, default=None, metavar="HZ",
                      help="mel input: the rate it was made at (default: 22050). Audio input: "
                           "resample to this rate (default: the file's)")
    stft.add_argument("--n-fft", type=int, default=2048, help="FFT size; n_stft = n_fft // 2 + 1 (default: 2048)")
    stft.add_argument("--hop-length", type=int, default=None, help="hop in samples (default: n_fft // 4)")
    stft.add_argument("--win-length", type=int, default=None, help="window length (default: n_fft)")
    stft.add_argument("--power", type=float, default=2.0, help="2: power mel spectrogram, 1: magnitude (default: 2)")


def add_mel_options(parser: argparse.ArgumentParser) -> None:
    mel = parser.add_argument_group("mel filterbank")
    mel.add_argument("--n-mels", type=int, default=None,
                     help="mel bands (default: the file's for a mel spectrogram, 128 for audio)")
    mel.add_argument("--f-min", type=float, default=0.0, help="lowest frequency in Hz (default: 0)")
    mel.add_argument("--f-max", type=float, default=None, help="highest frequency in Hz (default: sample_rate // 2)")
    mel.add_argument("--norm", choices=["none", "slaney"], default="none", help="filter normalisation")
    mel.add_argument("--mel-type", choices=["htk", "slaney"], default="htk", help="mel scale")


def add_solver_options(parser: argparse.ArgumentParser) -> None:
    solve = parser.add_argument_group("solver (method cascade)")
    solve.add_argument("--solver", choices=sorted(SOLVERS), default=default_solver(),
                       help=f"default: {default_solver()}. " + "; ".join(
                           f"{name}: {spec.summary}" for name, spec in sorted(SOLVERS.items())))
    solve.add_argument("--max-iter", type=int, default=1000, help="iteration budget (default: 1000)")
    solve.add_argument("--tolerance-loss", type=float, default=1e-5, help="stop below this loss")
    solve.add_argument("--tolerance-change", type=float, default=1e-8, help="stop when the loss changes less")
    solve.add_argument("--lr", type=float, default=0.1, help="sgd/mindspore learning rate (default: 0.1)")
    solve.add_argument("--momentum", type=float, default=0.9, help="sgd momentum (default: 0.9)")
    solve.add_argument("--seed", type=int, default=0,
                       help="random start of sgd/mindspore and of Griffin-Lim's phase (default: 0)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m invmel_core batch",
        description="Render mel spectrograms (.npy/.npz) or sound files to WAVs, mirroring the input "
                    "tree; resumable, and one bad file never stops the rest.",
        epilog="Outputs: OUTDIR/<same path>.wav (and .linear.npy with --npy), OUTDIR/batch-summary.csv, "
               "OUTDIR/batch-manifest.jsonl (what is done, for reruns). Exit status: 0 all done, 1 some "
               "files failed, 2 bad arguments, 130 interrupted. See docs/batch.md.",
    )
    p.add_argument("input", metavar="INPUT",
                   help="a folder (searched recursively), a glob such as 'mels/**/*.npy' (quote it), "
                        "or a text file listing paths (one a line; 'path|text' file lists work)")
    p.add_argument("-o", "--outdir", required=True, help="folder for the outputs (created if needed)")
    p.add_argument("--npy", action="store_true", help="also write the linear spectrogram, STEM.linear.npy")
    run = p.add_argument_group("where it runs")
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="local worker processes (default: one per CPU; 0: this process)")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="run on the dask.distributed cluster at ADDRESS (tcp://host:8786) instead; its "
                          "workers need invmel installed and the same paths (shared storage)")
    method = p.add_argument_group("mel to audio")
    method.add_argument("--method", choices=["cascade", "joint"], default="cascade",
                        help="cascade: InverseMelScale, then Griffin-Lim (default). joint: not yet available")
    method.add_argument("--format", default=None, metavar="NAME",
                        help="a model's mel format preset (not yet available: give the STFT and mel options)")
    method.add_argument("--compression", default="linear", metavar="KIND",
                        help="how the mel values are compressed; only 'linear' (power or magnitude) yet")
    method.add_argument("--griffinlim-iters", type=int, default=32, metavar="N",
                        help="Griffin-Lim iterations (default: 32)")
    add_stft_options(p)
    add_mel_options(p)
    add_solver_options(p)
    p.add_argument("--max-duration", type=float, default=None, metavar="S",
                   help="longest audio input accepted, seconds (default: $INVMEL_MAX_DURATION_S or 900)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def options_from_args(args: argparse.Namespace) -> RenderOptions:
    return RenderOptions(
        method=args.method, compression=args.compression, format=args.format,
        sample_rate=args.sample_rate, n_fft=args.n_fft, hop_length=args.hop_length,
        win_length=args.win_length, power=args.power, n_mels=args.n_mels, f_min=args.f_min,
        f_max=args.f_max, norm=None if args.norm == "none" else args.norm, mel_type=args.mel_type,
        solver=args.solver, max_iter=args.max_iter, tolerance_loss=args.tolerance_loss,
        tolerance_change=args.tolerance_change, lr=args.lr, momentum=args.momentum, seed=args.seed,
        griffinlim_iters=args.griffinlim_iters, max_duration=args.max_duration, write_npy=args.npy,
    )


def note(message: str) -> None:
    print(f"invmel: {message}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    """Entry point; returns the exit status (0 all done, 1 some failed, 2 bad arguments, 130)."""
    args = build_parser().parse_args(argv)
    try:
        options = options_from_args(args).checked()
        pool = open_pool(args.workers, args.scheduler)  # a Dask scheduler is reached now
    except InputError as exc:
        note(f"error: {exc}")
        return EXIT_BAD_ARGUMENTS
    with pool:
        try:
            the_plan = plan(args.input, args.outdir, options)
        except InputError as exc:
            note(f"error: {exc}")
            return EXIT_BAD_ARGUMENTS
        for remark in pool.notes:
            note(f"note: {remark}")
        if not args.quiet:
            note(f"{len(the_plan.tasks)} inputs: {len(the_plan.todo)} to render, "
                 f"{len(the_plan.skipped)} done before (skipped)")
        try:
            records = run_with_progress(the_plan, options, pool, quiet=args.quiet)
        except InputError as exc:  # the workers cannot reach the files: nothing was rendered
            note(f"error: {exc}")
            return EXIT_BAD_ARGUMENTS
        except KeyboardInterrupt:
            note(f"interrupted; rerun the same command to resume (finished files are kept). "
                 f"Summary so far: {the_plan.outdir / SUMMARY_NAME}")
            return EXIT_INTERRUPTED
    counts = {status: sum(r.status == status for r in records) for status in (DONE, SKIPPED, FAILED)}
    print(f"{counts[DONE]} rendered, {counts[SKIPPED]} skipped (done before), {counts[FAILED]} failed; "
          f"summary: {the_plan.outdir / SUMMARY_NAME}")
    return EXIT_FAILED_FILES if counts[FAILED] else 0


def run_with_progress(the_plan, options, pool, *, quiet: bool):
    """:func:`~invmel_core.batch.execute` with a progress bar (files/s, ETA) on stderr;
    each failure is printed as it happens, also with ``quiet``."""
    from tqdm import tqdm

    failed = 0
    with tqdm(total=len(the_plan.todo), unit="file", file=sys.stderr, disable=quiet,
              dynamic_ncols=True, mininterval=0.5) as bar:
        def on_record(record) -> None:
            nonlocal failed
            if record.status == FAILED:
                failed += 1
                message = f"invmel: failed: {record.input}: {record.error}"
                bar.write(message, file=sys.stderr) if not quiet else print(message, file=sys.stderr)
                bar.set_postfix(failed=failed, refresh=False)
            bar.update(1)

        return execute(the_plan, options, pool, on_record)
