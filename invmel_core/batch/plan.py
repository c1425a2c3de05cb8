"""Render many mel spectrograms (or sound files) to WAVs, resumably; one bad file never stops the rest.

The engine of ``python -m invmel_core batch`` (:mod:`invmel_core.cli.batch`; docs/batch.md):

- :func:`plan`: INPUT (a folder, searched recursively; a glob; or a text file listing
  paths) and OUTDIR to :class:`Task`\\ s, validated before any file is touched. An input the
  manifest says is finished, with the same size, modification time and settings, and
  whose outputs are all there, is skipped.
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
import fcntl
import glob
import io
import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

from invmel_core.io import loading
from invmel_core.batch.one_file import (DONE, SKIPPED, TEMP_SUFFIX, Record, RenderOptions, Task, render_one,
                                      write_atomic)
from invmel_core.errors import InputError

__all__ = ["RenderOptions", "Task", "Record", "render_one", "plan", "execute", "run", "Plan"]

INPUT_EXTENSIONS = loading.MELSPEC_EXTENSIONS + loading.AUDIO_EXTENSIONS
MANIFEST_NAME = "batch-manifest.jsonl"
SUMMARY_NAME = "batch-summary.csv"
# A record's fields but those that only the manifest needs to decide what is done.
SUMMARY_COLUMNS = tuple(f.name for f in fields(Record) if f.name not in ("settings", "size", "mtime_ns"))
LIST_SEPARATOR = "|"  # TTS file lists: "path|transcript"


# --------------------------------------------------------------------------- inputs


def discover(inputs: str | os.PathLike) -> tuple[Path, list[Path]]:
    """``(root, files)``: the inputs INPUT names, in a stable order, and the folder their
    names (and the output tree) are relative to.

    INPUT is a folder (searched recursively for mel and sound files, hidden ones left out),
    a glob (``**`` matches folders at any depth; the root is the part before the first
    wildcard), one mel or sound file, or a text file listing paths, one a line (relative
    to the list's folder; blank lines, ``#`` comments and anything after a ``|``, as in TTS
    file lists, are ignored). Listed files are taken as they are, whatever their extension.
    """
    text = os.fspath(inputs)
    path = Path(text)
    if glob.has_magic(text) and not path.exists():
        root = _absolute(Path(*_until_magic(path.parts)))
        return root, [_absolute(p) for p in sorted(glob.glob(text, recursive=True)) if _wanted(Path(p))]
    if path.is_dir():
        root = _absolute(path)
        return root, _walk(root)
    if not path.exists():
        raise InputError(f"INPUT {text!r} does not exist (give a folder, a glob or a file listing paths)")
    if _extension(path) in INPUT_EXTENSIONS:
        return _absolute(path.parent), [_absolute(path)]
    files = _read_list(path)
    return Path(os.path.commonpath([os.path.dirname(p) for p in files])), [Path(p) for p in files]


def _absolute(path) -> Path:
    """Absolute, ``..`` folded, symbolic links kept: a linked file keeps its place in the tree."""
    return Path(os.path.abspath(path))


def _until_magic(parts):
    for part in parts:
        if glob.has_magic(part):
            return
        yield part


def _extension(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def _wanted(path: Path) -> bool:
    return _extension(path) in INPUT_EXTENSIONS and not path.name.startswith(".") and path.is_file()


def _walk(root: Path) -> list[Path]:
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(folder, n) for n in sorted(names) if _wanted(Path(folder, n)))
    return found


def _read_list(path: Path) -> list[str]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(
            f"INPUT {str(path)!r} is neither a folder, a glob, a mel or sound file ({', '.join(INPUT_EXTENSIONS)}) "
            "nor a UTF-8 text file listing paths") from None
    except OSError as exc:
        raise InputError(f"cannot read INPUT {str(path)!r}: {exc.strerror or exc}") from None
    lines = (line.split(LIST_SEPARATOR, 1)[0].strip() for line in text.splitlines())
    files = [os.path.abspath(path.parent / line) for line in lines if line and not line.startswith("#")]
    if not files:
        raise InputError(f"the list {str(path)!r} names no files (one path a line)")
    return files


def output_names(relative: str, write_npy: bool) -> tuple[str, ...]:
    """Where an input's outputs go, relative to OUTDIR.

    >>> output_names("spk1/utt.npy", True)
    ('spk1/utt.wav', 'spk1/utt.linear.npy')
    """
    stem = relative.rsplit(".", 1)[0] if "." in relative.rsplit("/", 1)[-1] else relative
    return (stem + ".wav",) + ((stem + ".linear.npy",) if write_npy else ())


# --------------------------------------------------------------------------- manifest


class Manifest:
    """``OUTDIR/batch-manifest.jsonl``: one JSON record per finished attempt; the last one of
    each input counts. Only the process running the batch writes it, a line at a time, so a
    killed run loses at most the line being written (unreadable lines are ignored)."""

    def __init__(self, path: Path):
        self.path = path
        self.records: dict[str, Record] = {}
        self._lock = _lock_folder(path.parent)
        names = {f.name for f in fields(Record)}
        if path.exists():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    raw = json.loads(line)
                    self.records[raw["input"]] = Record(**{k: v for k, v in raw.items() if k in names})
                except (ValueError, KeyError, TypeError):
                    continue
        # Rewritten with only the last record of each input, so reruns do not grow it.
        write_atomic(path, "".join(json.dumps(asdict(r)) + "\n" for r in self.records.values()).encode())
        self._file = None

    def finished(self, task: Task, settings: str) -> Record | None:
        """The earlier record if ``task`` is done: same input file, settings and outputs."""
        old = self.records.get(task.input)
        if old is None or old.status != DONE or old.settings != settings:
            return None
        try:
            stat = os.stat(task.source)
            if (stat.st_size, stat.st_mtime_ns) != (old.size, old.mtime_ns) or set(old.outputs) != set(task.outputs):
                return None
            if any(os.path.getsize(Path(task.outdir, name)) != size for name, size in old.outputs.items()):
                return None
        except OSError:  # the input or an output is gone
            return None
        return old

    def append(self, record: Record) -> None:
        self.records[record.input] = record
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")
        self._file.write(json.dumps(asdict(record)) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._lock is not None:
            os.close(self._lock)  # releases the lock
            self._lock = None


def _lock_folder(folder: Path) -> int | None:
    """Hold an exclusive lock on OUTDIR while a batch writes there (released at exit, also
    when killed): a second batch into it would redo the same files and trip over its temporaries."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InputError(f"another batch is writing to {str(folder)!r}; wait for it to end, or give "
                         "another --outdir") from None
    except OSError:  # a file system without locks
        pass
    return fd


# --------------------------------------------------------------------------- plan and run


@dataclass
class Plan:
    """All inputs (``tasks``), those to render (``todo``), the records of those skipped."""

    outdir: Path
    tasks: list[Task]
    todo: list[Task]
    skipped: list[Record]
    manifest: Manifest


def plan(inputs: str | os.PathLike, outdir: str | os.PathLike, options: RenderOptions) -> Plan:
    """Find the inputs, map them to outputs, and decide which are done already.

    Raises :class:`InputError` before anything is written: no inputs, an OUTDIR that is a
    file or the input folder itself, two inputs that would write the same output.
    ``options`` must have been through :meth:`RenderOptions.checked`.
    """
    out = _absolute(outdir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--outdir {str(outdir)!r} is a file; give a folder for the outputs")
    root, files = discover(inputs)
    if out == root:
        raise InputError(f"--outdir {str(outdir)!r} is the input folder; the WAVs would mix with the inputs. "
                         "Give another folder (it may be inside the input folder)")
    files = [f for f in files if not f.is_relative_to(out)]  # earlier outputs are no inputs
    if not files:
        raise InputError(f"INPUT {os.fspath(inputs)!r} names no mel ({', '.join(loading.MELSPEC_EXTENSIONS)}) "
                         f"or sound ({', '.join(loading.AUDIO_EXTENSIONS)}) files")
    tasks, claimed = [], {}
    for source in files:
        relative = Path(os.path.relpath(source, root)).as_posix()
        if relative.startswith("../"):  # a glob such as data/*/../../x: outputs must stay in OUTDIR
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
    return Plan(out, tasks, todo, skipped, manifest)


def _remove_stale_temps(tasks: list[Task]) -> None:
    """Delete the temporary files a killed run left beside the outputs it was writing."""
    by_folder: dict[Path, set[str]] = {}
    for task in tasks:
        for name in task.outputs:
            final = Path(task.outdir, name)
            by_folder.setdefault(final.parent, set()).add(final.name)
    for folder, names in by_folder.items():
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX) \
                    and entry.name[1:].rsplit(".", 2)[0] in names:
                Path(entry.path).unlink(missing_ok=True)


def execute(the_plan: Plan, options: RenderOptions, pool,
            on_record: Callable[[Record], None] | None = None) -> list[Record]:
    """Render ``the_plan.todo`` on ``pool`` (:mod:`invmel_core.batch.pool`); return every
    input's record, in input order (the skipped ones with status ``"skipped"``).

    First the pool checks that its workers can reach the files (:class:`InputError` if not).
    Each record goes to the manifest as it arrives, then to ``on_record`` (progress). The
    summary CSV is written at the end, also when interrupted (KeyboardInterrupt propagates).
    """
    try:
        pool.check_access(the_plan.todo)
    except InputError:
        the_plan.manifest.close()
        raise
    results = {record.input: record for record in the_plan.skipped}
    try:
        for record in pool.imap_unordered(the_plan.todo, options):
            the_plan.manifest.append(record)
            results[record.input] = record
            if on_record is not None:
                on_record(record)
    finally:
        the_plan.manifest.close()
        ordered = [results[t.input] for t in the_plan.tasks if t.input in results]
        write_summary(the_plan.outdir / SUMMARY_NAME, ordered)
    return ordered


def write_summary(path: Path, records: list[Record]) -> None:
    """One CSV row per input: status, outputs, duration, steps, re-mel residual, time, error."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, SUMMARY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in records:
        row = asdict(record)
        row["outputs"] = " ".join(record.outputs)
        for key, value in row.items():
            if isinstance(value, float):
                row[key] = f"{value:.6g}"
        writer.writerow(row)
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

