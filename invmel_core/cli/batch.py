"""``python -m invmel_core batch INPUT -o OUTDIR``: many mel spectrograms (or sound files) to WAVs.

INPUT is a folder (searched recursively), a glob (quote it) or a text file listing paths.
The outputs mirror the input tree under OUTDIR. A rerun skips the files already done with
the same settings; a file that fails is recorded and the rest go on. Progress goes to
stderr (``-q`` silences it), failures and what the search could not read or did not
follow to stderr, the totals to stdout. Exit status: 0 all done, 1 some files failed or
could not be read, or the manifest or summary could not be written (see
OUTDIR/batch-summary.csv), 2 bad arguments (nothing was rendered), 130 interrupted (rerun
to resume). See docs/batch.md.
"""

from __future__ import annotations

import argparse
import sys

from invmel_core.batch.plan import SUMMARY_NAME, BookkeepingError, execute, plan, printable
from invmel_core.batch.pool import open_pool
from invmel_core.cli import invert as cli
from invmel_core.batch.one_file import DONE, FAILED, SKIPPED
from invmel_core.errors import InputError

EXIT_FAILED_FILES = 1
EXIT_BAD_ARGUMENTS = cli.EXIT_INPUT_ERROR  # the statuses the one-file command line gives too
EXIT_INTERRUPTED = cli.EXIT_INTERRUPTED
MAX_LISTED = 20  # paths passed over that are named on stderr, of each kind


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m invmel_core batch",
        description="Render mel spectrograms (.npy/.npz) or sound files to WAVs, mirroring the input "
                    "tree; resumable, and one bad file never stops the rest.",
        epilog="Outputs: OUTDIR/<same path>.wav (and .linear.npy with --npy), OUTDIR/batch-summary.csv, "
               "OUTDIR/batch-manifest.jsonl (what is done, for reruns). Exit status: 0 all done, 1 some "
               "files failed or could not be read, 2 bad arguments, 130 interrupted. See docs/batch.md.",
    )
    p.add_argument("input", metavar="INPUT",
                   help="a folder (searched recursively), a glob such as 'mels/**/*.npy' (quote it), "
                        "or a text file listing paths (one a line; 'path|text' file lists work)")
    p.add_argument("-o", "--outdir", required=True, help="folder for the outputs (created if needed)")
    p.add_argument("--npy", action="store_true", help="also write the linear spectrogram, STEM.linear.npy")
    run = p.add_argument_group("where it runs")
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="local worker processes (default: one per CPU; 0: this process; at most 4 per CPU)")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="run on the dask.distributed cluster at ADDRESS (tcp://host:8786) instead; its "
                          "workers need invmel installed and the same paths (shared storage)")
    cli.add_render_options(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def note(message: str) -> None:
    print(f"invmel: {message}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    """Entry point; returns the exit status (0 all done, 1 some failed, 2 bad arguments, 130)."""
    args = build_parser().parse_args(argv)
    try:
        options = cli.options_from_args(args, write_npy=args.npy).checked()
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
        report_passed_over(the_plan.passed_over)
        if not args.quiet:
            note(f"{len(the_plan.tasks)} inputs: {len(the_plan.todo)} to render, "
                 f"{len(the_plan.skipped)} done before (skipped)")
        summary = printable(str(the_plan.outdir / SUMMARY_NAME))
        try:
            records = run_with_progress(the_plan, options, pool, quiet=args.quiet)
        except InputError as exc:  # the workers cannot reach the files: nothing was rendered
            note(f"error: {exc}")
            return EXIT_BAD_ARGUMENTS
        except BookkeepingError as exc:  # a full disk, most often: what is finished is kept
            print(totals(exc.records, the_plan))
            note(f"error: {exc}")
            return EXIT_FAILED_FILES
        except KeyboardInterrupt:
            for problem in the_plan.write_errors:
                note(f"error: {problem}")
            note(f"interrupted; rerun the same command to resume (finished files are kept). "
                 f"Summary so far: {summary}")
            return EXIT_INTERRUPTED
    print(f"{totals(records, the_plan)}; summary: {summary}")
    failed = any(r.status == FAILED for r in records) or the_plan.unreadable
    return EXIT_FAILED_FILES if failed else 0


def report_passed_over(passed_over, limit: int = MAX_LISTED) -> None:
    """One line per path the search did not follow or could not read (also with ``-q``: each
    may be an input not rendered); past ``limit`` of a kind, a count (the summary has them all)."""
    for kind, unreadable in (("unreadable", True), ("not followed", False)):
        items = [(where, why) for where, why, flag in passed_over if flag == unreadable]
        for where, why in items[:limit]:
            note(f"{kind}: {printable(where)}: {why}")
        if len(items) > limit:
            note(f"{kind}: {len(items) - limit} more, listed in the summary")


def totals(records, the_plan) -> str:
    """The counts line: rendered, skipped, failed, and what the search passed over."""
    counts = {status: sum(r.status == status for r in records) for status in (DONE, SKIPPED, FAILED)}
    line = f"{counts[DONE]} rendered, {counts[SKIPPED]} skipped (done before), {counts[FAILED]} failed"
    unreadable = len(the_plan.unreadable)
    passed = len(the_plan.passed_over) - unreadable
    if unreadable:
        line += f", {unreadable} unreadable (not rendered)"
    if passed:
        line += f", {passed} not followed (links, earlier outputs)"
    return line


def run_with_progress(the_plan, options, pool, *, quiet: bool):
    """:func:`~invmel_core.batch.plan.execute` with a progress bar (files/s, ETA) on stderr;
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
