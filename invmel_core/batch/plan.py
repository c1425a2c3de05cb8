"""Render many mel spectrograms (or sound files) to WAVs, resumably; one bad file never stops the rest.

The engine of ``python -m invmel_core batch`` (:mod:`invmel_core.cli.batch`; docs/batch.md):

- :func:`plan`: INPUT (a folder, searched recursively; a glob; or a text file listing
  paths: :mod:`invmel_core.batch.inputs`) and OUTDIR to :class:`Task`\\ s, validated before
  any file is touched. An input the
  manifest says is finished, with the same size, modification time and settings, and
  whose outputs are all there, is skipped (:mod:`invmel_core.batch.manifest`).
- :func:`~invmel_core.batch.one_file.render_one`: all the work of one file.
- :func:`execute`: run the tasks on a pool (:mod:`invmel_core.batch.pool`: local processes
  or a Dask cluster), append each record to the manifest as it arrives, and write the
  summary (``OUTDIR/batch-summary.csv``) at the end, or when interrupted.

Outputs mirror the input tree under OUTDIR: ``a/b.npy`` becomes ``a/b.wav`` (and, with
``write_npy``, ``a/b.linear.npy``).

Examples
--------
>>> import tempfile, numpy as np
>>> from invmel_core import MelFilterbank
>>> root = Path(tempfile.mkdtemp())
>>> (root / "mels" / "spk1").mkdir(parents=True)
>>> fb = MelFilterbank(129, 0.0, None, 20, 8000)
>>> np.save(root / "mels" / "spk1" / "a.npy", fb.dense.T @ np.ones((129, 12), np.float32))
>>> options = RenderOptions(n_fft=256, sample_rate=8000).checked()
>>> [(r.input, r.status) for r in run(root / "mels", root / "wavs", options, workers=0)]
[('spk1/a.npy', 'done')]
>>> [(r.input, r.status) for r in run(root / "mels", root / "wavs", options, workers=0)]
[('spk1/a.npy', 'skipped')]
>>> sorted(p.name for p in (root / "wavs").rglob("*"))
['a.wav', 'batch-manifest.jsonl', 'batch-summary.csv', 'spk1']
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

from invmel_core.io import loading
from invmel_core.batch.inputs import INPUT_EXTENSIONS, Found, _absolute, _shorten, discover, find_inputs  # noqa: F401
from invmel_core.batch.manifest import MANIFEST_NAME, Manifest, record_from_json  # noqa: F401
from invmel_core.batch.one_file import (DISK_FULL, FAILED, SKIPPED, TEMP_SUFFIX, Record, RenderOptions, Task,
                                      render_one, temp_prefix, write_atomic)
from invmel_core.errors import InputError

__all__ = ["RenderOptions", "Task", "Record", "render_one", "plan", "execute", "run", "Plan", "BookkeepingError",
           "discover", "find_inputs", "Manifest", "MANIFEST_NAME", "SUMMARY_NAME"]

SUMMARY_NAME = "batch-summary.csv"
# A record's fields but those that only the manifest needs to decide what is done.
SUMMARY_COLUMNS = tuple(f.name for f in fields(Record) if f.name not in ("settings", "size", "mtime_ns"))


def output_names(relative: str, write_npy: bool) -> tuple[str, ...]:
    """Where an input's outputs go, relative to OUTDIR.

    >>> output_names("spk1/utt.npy", True)
    ('spk1/utt.wav', 'spk1/utt.linear.npy')
    """
    stem = relative.rsplit(".", 1)[0] if "." in relative.rsplit("/", 1)[-1] else relative
    return (stem + ".wav",) + ((stem + ".linear.npy",) if write_npy else ())


# --------------------------------------------------------------------------- plan and run


@dataclass
class Plan:
    """All inputs (``tasks``), those to render (``todo``), the records of those skipped, and
    what the search ``passed_over``: ``(path, reason, unreadable)`` (:func:`find_inputs`)."""

    outdir: Path
    tasks: list[Task]
    todo: list[Task]
    skipped: list[Record]
    manifest: Manifest
    passed_over: list = field(default_factory=list)
    #: what could not be written at the end (the manifest, the summary); set by :func:`execute`
    write_errors: list = field(default_factory=list)

    @property
    def unreadable(self) -> list:
        return [item for item in self.passed_over if item[2]]


class BookkeepingError(Exception):
    """The manifest or the summary could not be written (a full disk, a folder in the way).
    The finished outputs are kept; ``records`` are every input's records as far as known."""

    def __init__(self, message: str, records: list):
        super().__init__(message)
        self.records = records


def plan(inputs: str | os.PathLike, outdir: str | os.PathLike, options: RenderOptions) -> Plan:
    """Find the inputs, map them to outputs, and decide which are done already.

    Raises :class:`InputError` before anything is written: no inputs, an OUTDIR that is a
    file or the input folder itself, two inputs that would write the same output, a
    manifest or summary path that is not a file.
    ``options`` must have been through :meth:`RenderOptions.checked`.
    """
    out = _absolute(outdir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--outdir {str(outdir)!r} is a file; give a folder for the outputs")
    for name in (MANIFEST_NAME, SUMMARY_NAME):
        if os.path.lexists(out / name) and not (out / name).is_file():
            raise InputError(f"{str(out / name)!r} is not a file (a folder, or a broken link) and the batch "
                             f"writes it; move it away, or give another --outdir")
    found = find_inputs(inputs, out)
    root, files = found.root, found.files
    if out == root or os.path.realpath(out) == os.path.realpath(root):
        raise InputError(f"--outdir {str(outdir)!r} is the input folder; the WAVs would mix with the inputs. "
                         "Give another folder (it may be inside the input folder)")
    if not files:
        unread = [f"{_shorten(path, 200)!r}: {why}" for path, why, unreadable in found.passed_over if unreadable]
        raise InputError(f"INPUT {os.fspath(inputs)!r} names no mel ({', '.join(loading.MELSPEC_EXTENSIONS)}) "
                         f"or sound ({', '.join(loading.AUDIO_EXTENSIONS)}) files"
                         + (f" that could be read ({len(unread)} unreadable, e.g. {unread[0]})" if unread else ""))
    tasks, claimed = [], {}
    for source in files:
        relative = Path(os.path.relpath(source, root)).as_posix()
        if relative.startswith("../"):  # outputs must stay in OUTDIR
            raise InputError(f"{str(source)!r} lies outside the input root {str(root)!r}; list it from there")
        outputs = output_names(relative, options.write_npy)
        if outputs[0] in claimed:
            raise InputError(f"{claimed[outputs[0]]!r} and {relative!r} would both be written to "
                             f"{outputs[0]!r}; rename one, or render them in separate runs")
        claimed[outputs[0]] = relative
        tasks.append(Task(str(source), relative, str(out), outputs))
    try:
        out.mkdir(parents=True, exist_ok=True)
        manifest = Manifest(out / MANIFEST_NAME)
    except OSError as exc:
        raise InputError(f"cannot write to --outdir {str(outdir)!r}: {exc.strerror or exc}") from None
    settings = options.digest()
    todo, skipped = [], []
    for task in tasks:
        old = manifest.finished(task, settings)
        if old is None:
            todo.append(task)
        else:
            skipped.append(Record(**{**asdict(old), "status": SKIPPED}))
    _remove_stale_temps(todo)
    return Plan(out, tasks, todo, skipped, manifest, found.passed_over)


def _remove_stale_temps(tasks: list[Task]) -> None:
    """Delete the temporary files a killed run left beside the outputs it was writing."""
    by_folder: dict[Path, set[str]] = {}
    for task in tasks:
        for name in task.outputs:
            final = Path(task.outdir, name)
            by_folder.setdefault(final.parent, set()).add(temp_prefix(final.name))
    for folder, prefixes in by_folder.items():
        try:
            with os.scandir(folder) as entries:
                stale = [e.path for e in entries if e.name.endswith(TEMP_SUFFIX)
                         and e.name[:len(temp_prefix(""))] in prefixes]
        except OSError:  # not made yet, or not readable: nothing to clean
            continue
        for path in stale:
            try:
                os.unlink(path)
            except OSError:
                pass


def execute(the_plan: Plan, options: RenderOptions, pool,
            on_record: Callable[[Record], None] | None = None) -> list[Record]:
    """Render ``the_plan.todo`` on ``pool`` (:mod:`invmel_core.batch.pool`); return every
    input's record, in input order (the skipped ones with status ``"skipped"``).

    First the pool checks that its workers can reach the files (:class:`InputError` if not).
    Each record goes to the manifest as it arrives, then to ``on_record`` (progress). The
    summary CSV is written at the end, also when interrupted (KeyboardInterrupt propagates).
    If the manifest cannot be written (a full disk) the run stops; if it or the summary
    cannot be written, :class:`BookkeepingError` says so after the summary was attempted
    (``the_plan.write_errors`` holds the reasons, also when interrupted). Finished outputs
    are always kept.
    """
    try:
        pool.check_access(the_plan.todo)
    except InputError:
        the_plan.manifest.close()
        raise
    results = {record.input: record for record in the_plan.skipped}
    errors = the_plan.write_errors
    records = pool.imap_unordered(the_plan.todo, options)
    try:
        for record in records:
            results[record.input] = record
            if not the_plan.manifest.append(record):
                break  # the disk is full, most likely: the next files would fail as well
            if on_record is not None:
                on_record(record)
            if record.status == FAILED and record.error.startswith(DISK_FULL):
                errors.append(f"{DISK_FULL} (writing the outputs of {printable(record.input)!r}); stopped")
                break
    finally:
        if hasattr(records, "close"):
            records.close()  # stops the workers if the loop was left early
        manifest_error = the_plan.manifest.close()
        if manifest_error:
            errors.append(f"{manifest_error}; stopped, and the files finished since are rendered again by the "
                          "next run")
        ordered = [results[t.input] for t in the_plan.tasks if t.input in results]
        try:
            write_summary(the_plan.outdir / SUMMARY_NAME, ordered, the_plan.passed_over)
        except OSError as exc:
            errors.append(f"cannot write the summary {str(the_plan.outdir / SUMMARY_NAME)!r}: "
                          f"{exc.strerror or exc}")
    if errors:
        raise BookkeepingError("; ".join(errors) + ". The finished outputs are kept: free some space (or move "
                               "away what is in the way) and rerun the same command to resume", ordered)
    return ordered


PASSED_OVER, UNREADABLE = "not followed", "unreadable"


def printable(text: str) -> str:
    r"""``text`` as valid UTF-8, the bytes of a file name that is not UTF-8 as ``\xNN`` escapes.

    >>> printable(os.fsdecode(b"caf\xe9.npy"))
    'caf\\xe9.npy'
    """
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def write_summary(path: Path, records: list[Record], passed_over=()) -> None:
    """One CSV row per input: status, outputs, duration, steps, re-mel residual, time, error;
    then one per path the search passed over (``unreadable`` or ``not followed``, with why).
    Names that are not UTF-8 are written with backslash escapes (:func:`printable`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, SUMMARY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in records:
        row = asdict(record)
        row["outputs"] = " ".join(record.outputs)
        for key, value in row.items():
            if isinstance(value, float):
                row[key] = f"{value:.6g}"
            elif isinstance(value, str):
                row[key] = printable(value)
        writer.writerow(row)
    for where, why, unreadable in passed_over:
        writer.writerow({"input": printable(where), "status": UNREADABLE if unreadable else PASSED_OVER,
                         "error": printable(why)})
    write_atomic(path, buffer.getvalue().encode("utf-8"))


def run(inputs, outdir, options: RenderOptions | None = None, *, workers: int | None = None,
        scheduler: str | None = None, on_record=None) -> list[Record]:
    """Plan and execute a batch: the Python API of ``python -m invmel_core batch``.

    ``workers`` local processes (None: one per CPU; 0: in this process), or the Dask
    cluster at ``scheduler`` (``"tcp://host:port"``). Returns every input's record.
    """
    from invmel_core.batch.pool import open_pool

    options = (options or RenderOptions()).checked()
    the_plan = plan(inputs, outdir, options)
    with open_pool(workers, scheduler) as pool:
        return execute(the_plan, options, pool, on_record)

