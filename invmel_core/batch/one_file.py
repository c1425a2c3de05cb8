"""One input of a batch to its outputs: :func:`render_one`, the same on every worker.

:func:`render_one` does all the work of one file (load, undo compression, mel to sound,
write the WAV and, with ``write_npy``, the linear spectrogram) and returns a
:class:`Record`; a failure is a record with its error, never an exception. Local worker
processes and Dask workers run exactly this function, and it depends only on the file and
the :class:`RenderOptions`, so the outputs do not depend on where or beside what it ran.
Outputs are written under a temporary name and renamed when complete, so a killed worker
never leaves a half-written file under a final name. The planning and the running of many
tasks is :mod:`invmel_core.batch.plan`.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import resource
import socket
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from invmel_core.io import audio
from invmel_core.pipeline import render
from invmel_core.errors import InputError
from invmel_core.pipeline.render import RenderOptions

TEMP_SUFFIX = ".part"
# How a record's error starts when OUTDIR's disk is full: the batch stops (every next file would fail too).
DISK_FULL = "the disk is full"
DONE, FAILED, SKIPPED = "done", "failed", "skipped"


@dataclass(frozen=True)
class Task:
    """One input: ``source`` (absolute path), ``input`` (its path relative to the input
    root, the manifest's key) and the ``outputs`` it makes (relative to ``outdir``)."""

    source: str
    input: str
    outdir: str
    outputs: tuple[str, ...]


@dataclass
class Record:
    """What became of one input: a manifest line and a summary row.

    ``status`` is ``"done"``, ``"failed"`` (``error`` says why) or ``"skipped"`` (done by an
    earlier run). ``outputs`` maps each written file (relative to OUTDIR) to its size.
    ``remel_residual`` is ``||mel(rendered audio) - mel|| / ||mel||``: how well the sound
    reproduces the input mel spectrogram, whatever the method. ``seconds`` is the wall time of
    the file, ``cpu_seconds`` the worker process's CPU time meanwhile (far less than
    ``seconds``: the CPUs were shared). ``peak_rss_mb`` is the worker process's peak resident
    memory so far.
    """

    input: str
    status: str
    settings: str = ""
    size: int = -1
    mtime_ns: int = -1
    outputs: dict = field(default_factory=dict)
    audio_seconds: float | None = None
    frames: int | None = None
    steps: int | None = None
    stop_reason: str | None = None
    remel_residual: float | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    worker: str = ""
    peak_rss_mb: float | None = None
    notes: str = ""
    error: str = ""


def temp_prefix(name: str) -> str:
    """The start of the temporary names of the output ``name`` (a file name, no folder): hidden,
    and short whatever the length of ``name``, so that a final name the file system takes
    never fails for its temporary's sake.

    >>> temp_prefix("a.wav")
    '.invmel-9663c5c9171e.'
    """
    return f".invmel-{hashlib.sha1(os.fsencode(name)).hexdigest()[:12]}."


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` under a temporary name beside ``path`` (:func:`temp_prefix`), flush it to
    disk, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{temp_prefix(path.name)}{os.getpid()}-{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}")
    try:
        with open(temp, "xb") as fp:
            fp.write(data)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def render_one(task: Task, options: RenderOptions) -> Record:
    """Render one input to its outputs; every failure is returned as a ``"failed"`` record.

    ``options`` must have been through :meth:`RenderOptions.checked`.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from invmel_core import MelFilterbank
    >>> folder = Path(tempfile.mkdtemp())
    >>> fb = MelFilterbank(129, 0.0, None, 20, 8000)
    >>> np.save(folder / "a.npy", fb.dense.T @ np.ones((129, 12), np.float32))
    >>> task = Task(str(folder / "a.npy"), "a.npy", str(folder / "out"), ("a.wav",))
    >>> record = render_one(task, RenderOptions(n_fft=256, sample_rate=8000, n_mels=20).checked())
    >>> record.status, record.frames, record.audio_seconds, record.outputs
    ('done', 12, 0.088, {'a.wav': 1452})
    """
    start, start_cpu = time.perf_counter(), time.process_time()
    record = Record(task.input, FAILED, options.digest(), worker=f"{socket.gethostname()}:{os.getpid()}")
    try:
        _render(task, options, record)
        record.status = DONE
    except InputError as exc:
        record.error = str(exc)
    except MemoryError:
        record.error = ("out of memory while rendering this file; run fewer --workers, or lower "
                        "INVMEL_MAX_SOLVE_MB so that files too large are refused up front")
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            record.error = f"{DISK_FULL}: {exc}"
        else:
            record.error = f"cannot read or write a file: {exc}"
    except Exception as exc:  # an unforeseen file or a bug: recorded, and the batch goes on
        where = exc.__traceback__
        while where.tb_next is not None:
            where = where.tb_next
        record.error = (f"unexpected {type(exc).__name__}: {exc} (at {Path(where.tb_frame.f_code.co_filename).name}"
                        f":{where.tb_lineno}; please report it)")
    record.seconds, record.cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    record.peak_rss_mb = peak_rss_mb()
    return record


def _render(task: Task, options: RenderOptions, record: Record) -> None:
    """The work of :func:`render_one`, filling in ``record``; raises on any failure."""
    stat = os.stat(task.source)  # before reading: a file changed meanwhile is redone next time
    record.size, record.mtime_ns = stat.st_size, stat.st_mtime_ns
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        options, chosen = render.settle(task.source, options)
        loaded = render.load(task.source, options)
        if loaded.mel.ndim > 2 and np.prod(loaded.mel.shape[:-2]) > 1:
            raise InputError(
                f"{task.source} holds a batch of {int(np.prod(loaded.mel.shape[:-2]))} mel spectrograms "
                f"(shape {loaded.mel.shape}); the batch renders one per file: save each item on its own")
        last = transform = None
        if options.method == "cascade" or options.write_npy:  # the joint method needs no solve
            transform = render.transform(options, loaded.mel.shape[-2], loaded.rate)
            *_, last = transform.iterate(loaded.mel, every=2**62)
        rendered = render.synthesize(loaded, options, spec=None if last is None else last.spec)
    samples = np.clip(rendered, -1.0, 1.0)  # as the WAV holds them
    notes = [str(w.message) for w in caught] + chosen + list(loaded.notes)
    if last is not None:
        notes += transform.notes(last)
    peak = float(np.abs(rendered).max(initial=0.0))
    if peak > 1.0:
        notes.append(f"the sound peaks at {peak:.2f}; clipped to [-1, 1] in the WAV")
    record.remel_residual = render.remel_residual(samples, loaded, options)
    data = {task.outputs[0]: audio.to_wav_bytes(samples, loaded.rate)}
    if options.write_npy:
        buffer = io.BytesIO()
        np.save(buffer, last.spec.reshape(last.spec.shape[-2:]), allow_pickle=False)
        data[task.outputs[1]] = buffer.getvalue()
    for name, content in data.items():
        write_atomic(Path(task.outdir, name), content)
    record.outputs = {name: len(content) for name, content in data.items()}
    record.audio_seconds, record.frames = samples.size / loaded.rate, int(loaded.mel.shape[-1])
    if last is not None:
        record.steps, record.stop_reason = last.step, last.reason
    record.notes = " | ".join(notes)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB: Linux's ``VmHWM``. Not
    ``getrusage().ru_maxrss``, which a forked worker inherits from the process it was forked from."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def failed_record(task: Task, options: RenderOptions, error: str) -> Record:
    """The record of a task its worker could not even report on (the worker died)."""
    return Record(task.input, FAILED, options.digest(), error=error)
