"""``OUTDIR/batch-manifest.jsonl``: what a batch has finished, for reruns (:class:`Manifest`).

One JSON record per finished attempt, appended by the process running the batch only; a line
that is not a record (:func:`record_from_json`) is ignored. The folder is locked while a
batch writes there. :mod:`invmel_core.batch.plan` decides from it what is done.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict
from pathlib import Path

from invmel_core.batch.one_file import DONE, Record, Task, write_atomic
from invmel_core.errors import InputError

__all__ = ["Manifest", "record_from_json", "MANIFEST_NAME"]

MANIFEST_NAME = "batch-manifest.jsonl"


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
