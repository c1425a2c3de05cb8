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

import codecs
import csv
import fcntl
import fnmatch
import glob
import io
import json
import os
from dataclasses import asdict, dataclass, field, fields
from stat import S_ISREG
from pathlib import Path
from typing import Callable

from invmel_core.io import loading
from invmel_core.batch.one_file import (DISK_FULL, DONE, FAILED, SKIPPED, TEMP_SUFFIX, Record, RenderOptions, Task, render_one,
                                      temp_prefix, write_atomic)
from invmel_core.errors import InputError

__all__ = ["RenderOptions", "Task", "Record", "render_one", "plan", "execute", "run", "Plan", "BookkeepingError",
           "discover", "find_inputs"]

INPUT_EXTENSIONS = loading.MELSPEC_EXTENSIONS + loading.AUDIO_EXTENSIONS
MANIFEST_NAME = "batch-manifest.jsonl"
SUMMARY_NAME = "batch-summary.csv"
# A record's fields but those that only the manifest needs to decide what is done.
SUMMARY_COLUMNS = tuple(f.name for f in fields(Record) if f.name not in ("settings", "size", "mtime_ns"))
LIST_SEPARATOR = "|"  # TTS file lists: "path|transcript"
LIST_HEAD_BYTES = 1 << 16


# --------------------------------------------------------------------------- inputs


@dataclass
class Found:
    """What INPUT names: ``root`` (the folder names and outputs are relative to), the
    ``files`` to render, and what was ``passed_over`` on the way: ``(path, reason)`` pairs,
    each also in ``unreadable`` (``True``: could not be read, a failure) or not (a link not
    followed, by the stated rule; reported, never a failure)."""

    root: Path
    files: list[Path]
    passed_over: list[tuple[str, str, bool]] = field(default_factory=list)


def discover(inputs: str | os.PathLike, outdir: str | os.PathLike | None = None) -> tuple[Path, list[Path]]:
    """``(root, files)``: the inputs INPUT names, in a stable order, and the folder their
    names (and the output tree) are relative to.

    INPUT is a folder (searched recursively for mel and sound files, hidden ones left out),
    a glob (``**`` matches folders at any depth; the root is the part before the first
    wildcard), one mel or sound file, or a text file listing paths, one a line (relative
    to the list's folder; blank lines, ``#`` comments and anything after a ``|``, as in TTS
    file lists, are ignored). Listed files are taken as they are, whatever their extension.
    Symbolic links: see :func:`find_inputs`.
    """
    found = find_inputs(inputs, outdir)
    return found.root, found.files


def find_inputs(inputs: str | os.PathLike, outdir: str | os.PathLike | None = None) -> Found:
    """:func:`discover`, with what was passed over and why.

    The walk (of a folder or a glob) follows symbolic links to files and to folders outside
    the input root, and visits every real folder and file once: a link to a folder inside
    the root (that folder is searched under its own name), a link to a folder already
    searched (a loop such as ``self -> .``, or a second link to it) and a second link to
    the same file are passed over and reported. OUTDIR, reached directly or through a link,
    is never searched, and no file inside it is an input (earlier outputs are no inputs). A
    folder that cannot be listed, or an input-like name that cannot be read (a broken link),
    is reported as unreadable.
    """
    text = os.fspath(inputs)
    path = Path(text)
    out = None if outdir is None else _absolute(outdir)
    if glob.has_magic(text) and not path.exists():
        root = _absolute(Path(*_until_magic(path.parts)))
        pattern = Path(text).parts[len(Path(*_until_magic(path.parts)).parts):]
        walker = _Walker(root, out, descend=lambda names: _could_match(pattern, names),
                         keep=lambda names: _name_extension(names[-1]) in INPUT_EXTENSIONS and _matches(pattern, names))
        return walker.walk()
    if path.is_dir():
        return _Walker(_absolute(path), out, descend=lambda names: not names[-1].startswith("."),
                       keep=lambda names: not names[-1].startswith(".")
                       and _name_extension(names[-1]) in INPUT_EXTENSIONS).walk()
    if not path.exists():
        raise InputError(f"INPUT {text!r} does not exist (give a folder, a glob or a file listing paths)")
    if _extension(path) in INPUT_EXTENSIONS:
        return Found(_absolute(path.parent), [_absolute(path)])
    files = _read_list(path)
    found = Found(Path(os.path.commonpath([os.path.dirname(p) for p in files])), [])
    guard = _OutGuard(out, found.root)
    for name in files:
        if guard.inside(name):
            found.passed_over.append((name, "inside --outdir (earlier outputs are no inputs)", False))
        else:
            found.files.append(Path(name))
    return found


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


def _name_extension(name: str) -> str:
    return os.path.splitext(name)[1][1:].lower()


def _hidden_ok(part: str, name: str) -> bool:
    """Wildcards match no hidden name (as in :mod:`glob`) unless the pattern part starts with a dot."""
    return not name.startswith(".") or part.startswith(".")


def _matches(pattern: tuple, names: tuple) -> bool:
    """Whether the path ``names`` (components under the glob's root) matches ``pattern``."""
    if not pattern:
        return not names
    if pattern[0] == "**":
        return any(_matches(pattern[1:], names[i:]) for i in range(len(names) + 1)
                   if not any(n.startswith(".") for n in names[:i]))
    return bool(names) and fnmatch.fnmatchcase(names[0], pattern[0]) and _hidden_ok(pattern[0], names[0]) \
        and _matches(pattern[1:], names[1:])


def _could_match(pattern: tuple, names: tuple) -> bool:
    """Whether a file under the folder ``names`` could match ``pattern`` (worth searching)."""
    if not names:
        return True
    if not pattern:
        return False
    if pattern[0] == "**":
        return _could_match(pattern[1:], names) or (not names[0].startswith(".") and _could_match(pattern, names[1:]))
    return fnmatch.fnmatchcase(names[0], pattern[0]) and _hidden_ok(pattern[0], names[0]) \
        and _could_match(pattern[1:], names[1:])


def _within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (both absolute and normalised)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class _OutGuard:
    """Tells what lies inside OUTDIR, by resolved path (symbolic links followed)."""

    def __init__(self, out: Path | None, root: Path):
        self.out = None if out is None else os.path.realpath(out)
        root = os.path.realpath(root)
        # INPUT inside OUTDIR (``batch data/mels -o data``): its own files are inputs
        self.root_inside = root if self.out is not None and root != self.out and _within(root, self.out) else None

    def inside(self, path, real: str | None = None) -> bool:
        """Whether the file or folder ``path`` (resolved: ``real``) is OUTDIR or lies inside it."""
        if self.out is None:
            return False
        real = os.path.realpath(path) if real is None else real
        return _within(real, self.out) and not (self.root_inside and _within(real, self.root_inside))


class _Walker:
    """Walk ``root`` once per real folder (loops by ``(st_dev, st_ino)``), as :func:`find_inputs` says."""

    def __init__(self, root: Path, out: Path | None, descend, keep):
        self.root, self.descend, self.keep = root, descend, keep
        self.guard = _OutGuard(out, root)
        self.real_root = os.path.realpath(root)

    def walk(self) -> Found:
        found = Found(self.root, [])
        if not self.root.is_dir():
            return found
        try:
            root_stat = os.stat(self.root)
        except OSError as exc:
            raise InputError(f"cannot read INPUT {str(self.root)!r}: {exc.strerror or exc}") from None
        seen = {(root_stat.st_dev, root_stat.st_ino)}
        files: dict[str, tuple] = {}  # resolved path -> (the path found to it, whether a link)
        passed = found.passed_over
        stack = [(str(self.root), (), self.real_root)]
        while stack:
            folder, names, real_folder = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    entries = sorted(listing, key=lambda e: e.name)
            except OSError as exc:
                passed.append((folder, f"cannot list this folder: {exc.strerror or exc}", True))
                continue
            folders = []
            for entry in entries:
                here, path = names + (entry.name,), entry.path
                try:
                    is_dir = entry.is_dir()  # follows links
                    is_link = entry.is_symlink()
                except OSError as exc:
                    passed.append((path, f"cannot read it: {exc.strerror or exc}", True))
                    continue
                if is_dir and not self.descend(here) or not is_dir and not self.keep(here):
                    continue  # hidden, not in the glob's way, not a mel or sound file
                real = os.path.realpath(path) if is_link else os.path.join(real_folder, entry.name)
                if is_dir:
                    if self.guard.inside(path, real):  # OUTDIR inside the input folder: documented, silent
                        if is_link:
                            passed.append((path, "leads into --outdir (earlier outputs are no inputs); not followed",
                                           False))
                        continue
                    why = self._not_followed(entry, real, seen)
                    if why:
                        passed.append((path, why, why.startswith("cannot")))
                    else:
                        folders.append((path, here, real))
                    continue
                try:
                    regular = S_ISREG(entry.stat().st_mode) if is_link else entry.is_file(follow_symlinks=False)
                except OSError as exc:
                    passed.append((path, f"cannot read it: {exc.strerror or exc}" + (" (a broken link)" if is_link
                                                                                     else ""), True))
                    continue
                if not regular:
                    passed.append((path, "not a regular file", True))
                elif self.guard.inside(path, real):
                    passed.append((path, "leads into --outdir (earlier outputs are no inputs)", False))
                elif real not in files:
                    files[real] = (path, is_link)
                else:
                    first = files[real]
                    if first[1] and not is_link:  # the file under its own name, not the link to it
                        files[real], (path, is_link) = (path, is_link), first
                    passed.append((path, f"a link to the same file as {files[real][0]!r}; not followed", False))
            stack.extend(reversed(folders))
        found.files = [Path(path) for path, _ in files.values()]
        return found

    def _not_followed(self, entry: os.DirEntry, real: str, seen: set) -> str:
        """Why the folder ``entry`` (resolved: ``real``) is not searched ('' if it is); registers it as seen."""
        try:
            info = entry.stat()
        except OSError as exc:
            return f"cannot read this folder: {exc.strerror or exc}"
        key = (info.st_dev, info.st_ino)
        if key in seen:
            return "a link to a folder already searched (a loop, or a second link to it); not followed"
        if entry.is_symlink() and _within(real, self.real_root):
            inside = Path(os.path.relpath(real, self.real_root)).parts
            if all(self.descend(inside[:i + 1]) for i in range(len(inside))):
                return "a link to a folder inside the input folder, which is searched under its own name; not followed"
        seen.add(key)
        return ""


def _read_list(path: Path) -> list[str]:
    """The paths a list file names. A file that is not such a list (a CSV of numbers, a mel in
    an unknown format) is one :class:`InputError`, not one failure per line."""
    not_a_list = (f"INPUT {str(path)!r} is neither a folder, a glob, a mel or sound file "
                  f"({', '.join(INPUT_EXTENSIONS)}) nor a text file listing paths")
    try:
        with open(path, "rb") as fp:
            head = fp.read(LIST_HEAD_BYTES)  # a large binary file is refused without reading it all
            if b"\0" in head:
                raise InputError(f"{not_a_list} (it holds binary data)")
            codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
            text = (head + fp.read()).decode("utf-8-sig")  # a byte-order mark is no part of the first path
    except UnicodeDecodeError:
        raise InputError(f"{not_a_list} (it is not UTF-8 text)") from None
    except OSError as exc:
        raise InputError(f"cannot read INPUT {str(path)!r}: {exc.strerror or exc}") from None
    lines = (line.split(LIST_SEPARATOR, 1)[0].strip() for line in text.splitlines())
    files = [os.path.abspath(path.parent / line) for line in lines if line and not line.startswith("#")]
    if not files:
        raise InputError(f"the list {str(path)!r} names no files (one path a line)")
    if "\0" in text or not any(os.path.lexists(name) for name in files):
        first = next(line for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))
        raise InputError(f"{not_a_list}: none of its {len(files)} lines names an existing file (the first is "
                         f"{_shorten(first)!r}). A mel stored as text or CSV is not read: save it with "
                         "numpy.save as .npy; a list's paths are relative to the list's folder")
    return files


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def output_names(relative: str, write_npy: bool) -> tuple[str, ...]:
    """Where an input's outputs go, relative to OUTDIR.

    >>> output_names("spk1/utt.npy", True)
    ('spk1/utt.wav', 'spk1/utt.linear.npy')
    """
    stem = relative.rsplit(".", 1)[0] if "." in relative.rsplit("/", 1)[-1] else relative
    return (stem + ".wav",) + ((stem + ".linear.npy",) if write_npy else ())


# --------------------------------------------------------------------------- manifest


# What a manifest line's fields must hold (JSON's types); a line that does not fit is ignored.
_NUMBER, _NONE = (int, float), type(None)
_FIELD_KINDS = {
    "input": (str,), "status": (str,), "settings": (str,), "size": (int,), "mtime_ns": (int,), "outputs": (dict,),
    "audio_seconds": _NUMBER + (_NONE,), "frames": (int, _NONE), "steps": (int, _NONE), "stop_reason": (str, _NONE),
    "remel_residual": _NUMBER + (_NONE,), "seconds": _NUMBER, "cpu_seconds": _NUMBER, "worker": (str,),
    "peak_rss_mb": _NUMBER + (_NONE,), "notes": (str,), "error": (str,),
}


def record_from_json(line: str) -> Record | None:
    """The :class:`Record` a manifest line holds, or None if the line is not one (cut by a
    crash, edited by hand, not a JSON object, a field of the wrong type).

    >>> record_from_json('{"input": "a.npy", "status": "done", "outputs": {"a.wav": 44}}').outputs
    {'a.wav': 44}
    >>> [record_from_json(line) for line in ['12', 'null', '[1, 2]', '{"input": "a.npy", "outputs": []}']]
    [None, None, None, None]
    """
    try:
        raw = json.loads(line)
    except ValueError:  # also a line that is not UTF-8 or nests too deep
        return None
    except RecursionError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("input"), str) or not isinstance(raw.get("status"), str):
        return None
    values = {}
    for name, kinds in _FIELD_KINDS.items():
        if name in raw:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, kinds):
                return None
            values[name] = value
    outputs = values.get("outputs", {})
    if not all(isinstance(k, str) and type(v) is int for k, v in outputs.items()):
        return None
    return Record(**values)


class Manifest:
    """``OUTDIR/batch-manifest.jsonl``: one JSON record per finished attempt; the last one of
    each input counts. Only the process running the batch writes it, a line at a time, so a
    killed run loses at most the line being written (lines that are not records are ignored).

    Once a write fails (a full disk), the manifest stops taking records: :attr:`error` says
    why, and the files rendered since are redone by the next run."""

    def __init__(self, path: Path):
        self.path = path
        self.records: dict[str, Record] = {}
        self.error = ""
        self._file = None
        self._lock = _lock_folder(path.parent)
        try:
            if path.exists():
                with open(path, encoding="utf-8", errors="replace") as lines:
                    for line in lines:
                        record = record_from_json(line)
                        if record is not None:
                            self.records[record.input] = record
            # Rewritten with only the last record of each input, so reruns do not grow it.
            write_atomic(path, "".join(json.dumps(asdict(r)) + "\n" for r in self.records.values()).encode())
        except BaseException:
            self.close()
            raise

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
        except (OSError, ValueError):  # the input or an output is gone
            return None
        return old

    def append(self, record: Record) -> bool:
        """Record ``record``; False (and :attr:`error` set) if it could not be written."""
        self.records[record.input] = record
        if self.error:
            return False
        line = (json.dumps(asdict(record)) + "\n").encode()
        try:
            if self._file is None:
                self._file = open(self.path, "ab", buffering=0)  # unbuffered: nothing left to flush at close
            while line:
                line = line[self._file.write(line):]
        except OSError as exc:
            self.error = f"cannot write {str(self.path)!r}: {exc.strerror or exc}"
            return False
        return True

    def close(self) -> str:
        """Close the file and release the lock; returns the error of a failed write ('' if none)."""
        try:
            if self._file is not None:
                file, self._file = self._file, None
                file.close()
        except OSError as exc:
            self.error = self.error or f"cannot write {str(self.path)!r}: {exc.strerror or exc}"
        finally:
            if self._lock is not None:
                os.close(self._lock)  # releases the lock
                self._lock = None
        return self.error


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

