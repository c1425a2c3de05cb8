"""One input of a batch to its outputs: :func:`render_one`, the same on every worker.

:func:`render_one` does all the work of one file (load, undo compression, mel to sound,
write the WAV and, with ``write_npy``, the linear spectrogram) and returns a
:class:`Record`; a failure is a record with its error, never an exception. Local worker
processes and Dask workers run exactly this function, and it depends only on the file and
the :class:`RenderOptions`, so the outputs do not depend on where or beside what it ran.
Outputs are written under a temporary name and renamed when complete, so a killed worker
never leaves a half-written file under a final name. The planning and the running of many
tasks is :mod:`invmel_core.batch`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import resource
import socket
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import audio, loading, metrics
from .errors import InputError
from .filterbank import MelFilterbank
from .solvers import default_solver, get_solver
from .validation import check_mel_params, check_number, check_stft_params
from .transform import InverseMelScale

RENDER_VERSION = 1  # bump when render_one makes other outputs from the same settings
DEFAULT_MEL_SAMPLE_RATE = 22050  # as the single-file CLI
TEMP_SUFFIX = ".part"
DONE, FAILED, SKIPPED = "done", "failed", "skipped"


@dataclass(frozen=True)
class RenderOptions:
    """Everything that decides a file's outputs; their hash (:meth:`digest`) is in the manifest.

    The names and defaults are the single-file CLI's. ``sample_rate`` is, for a mel
    spectrogram, the rate it was made at (None: 22050 Hz), for a sound file the rate to
    resample to (None: the file's). ``hop_length=None`` is ``n_fft // 4``; ``n_mels=None``
    is the file's for a mel spectrogram and 128 for a sound file. ``method``,
    ``compression`` and ``format`` await issues 9 and 10 (see :func:`check_method_and_format`).
    """

    method: str = "cascade"
    compression: str = "linear"
    format: str | None = None
    sample_rate: int | None = None
    n_fft: int = 2048
    hop_length: int | None = None
    win_length: int | None = None
    power: float = 2.0
    n_mels: int | None = None
    f_min: float = 0.0
    f_max: float | None = None
    norm: str | None = None
    mel_type: str = "htk"
    solver: str = field(default_factory=default_solver)
    max_iter: int = 1000
    tolerance_loss: float = 1e-5
    tolerance_change: float = 1e-8
    lr: float = 0.1
    momentum: float = 0.9
    seed: int = 0
    griffinlim_iters: int = 32
    max_duration: float | None = None
    write_npy: bool = False

    def checked(self) -> RenderOptions:
        """A validated copy with ``hop_length`` filled in; :class:`InputError` names the bad one.

        >>> RenderOptions(n_fft=512).checked().hop_length
        128
        >>> RenderOptions(n_fft=0).checked()
        Traceback (most recent call last):
        ...
        invmel_core.errors.InputError: n_fft must be >= 2, got 0
        """
        check_method_and_format(self)
        n_fft, hop, _ = check_stft_params(self.n_fft, self.hop_length if self.hop_length is not None
                                           else max(1, self.n_fft // 4), self.win_length)
        check_number("power", self.power, minimum=0, strict=True)
        check_number("griffinlim_iters", self.griffinlim_iters, integer=True, minimum=1)
        if self.max_duration is not None:
            check_number("max_duration", self.max_duration, minimum=0, strict=True)
        if self.sample_rate is not None:
            check_number("sample_rate", self.sample_rate, integer=True, minimum=1)
        if self.n_mels is not None:
            check_number("n_mels", self.n_mels, integer=True, minimum=1)
        with warnings.catch_warnings():  # empty filters are reported per file, with its n_mels
            warnings.simplefilter("ignore")
            InverseMelScale(n_fft // 2 + 1, 1, DEFAULT_MEL_SAMPLE_RATE, 0.0, None, self.max_iter,
                            self.tolerance_loss, self.tolerance_change,
                            {"lr": self.lr, "momentum": self.momentum}, self.norm, self.mel_type,
                            solver=self.solver, seed=self.seed)
        if self.f_max is not None or self.sample_rate is not None:
            check_mel_params(n_fft // 2 + 1, self.f_min, self.f_max, 1,
                             self.sample_rate or DEFAULT_MEL_SAMPLE_RATE)
        else:  # a sound file's own rate decides f_max: checked per file
            check_number("f_min", self.f_min, minimum=0.0)
        return replace(self, hop_length=hop)

    def digest(self) -> str:
        """Hash of the settings and :data:`RENDER_VERSION`: a change means every file is redone."""
        text = json.dumps({"render_version": RENDER_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


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


# --------------------------------------------------------------------------- MERGE POINT
# The only code that knows how a mel spectrogram becomes sound. When issue 9
# (invmel_core.formats) and issue 10 (invmel_core.mel_to_audio) are merged:
#   - check_method_and_format: accept method "joint", compression "auto" and the FORMATS
#     presets' compressions, and --format (a preset fills the STFT/mel options: resolve it
#     in RenderOptions.checked, before the digest is taken);
#   - to_linear_mel: undo the compression (formats' detect_compression / undo);
#   - synthesize: call invmel_core.mel_to_audio(mel, method=options.method, ...); a method
#     that makes no linear spectrogram must refuse write_npy in check_method_and_format.
# Then bump RENDER_VERSION, so that earlier outputs are redone.

METHODS_AVAILABLE = ("cascade",)
COMPRESSIONS_AVAILABLE = ("linear",)


def check_method_and_format(options: RenderOptions) -> None:
    """Refuse, up front, what this build cannot render yet."""
    if options.method not in METHODS_AVAILABLE:
        raise InputError(
            f"method {options.method!r} is not available in this build (it needs "
            "invmel_core.mel_to_audio, issue 10); use method 'cascade' (InverseMelScale, "
            "then Griffin-Lim)")
    if options.compression not in COMPRESSIONS_AVAILABLE:
        raise InputError(
            f"compression {options.compression!r} is not available in this build (detecting and "
            "undoing log/dB compression needs invmel_core.formats, issue 9); undo it before the "
            "batch (e.g. np.exp for a natural-log mel) and use compression 'linear'")
    if options.format is not None:
        raise InputError(
            f"format {options.format!r}: model format presets need invmel_core.formats (issue 9), "
            "not in this build; give the STFT and mel options (--n-fft, --hop-length, --n-mels, "
            "--f-min, --f-max, --norm, --mel-type, --sample-rate) instead")


def to_linear_mel(mel: np.ndarray, options: RenderOptions) -> np.ndarray:
    """The power (or magnitude, ``power=1``) mel spectrogram; compression is only 'linear' yet."""
    return mel


@dataclass
class Rendering:
    samples: np.ndarray
    spec: np.ndarray | None  # the linear spectrogram, when the method makes one (for --npy)
    steps: int | None
    stop_reason: str | None
    notes: list


def synthesize(mel: np.ndarray, rate: int, options: RenderOptions, length: int | None) -> Rendering:
    """Mel spectrogram ``(n_mels, time)`` to samples: today the cascade, ``InverseMelScale``
    with ``options.solver``, then Griffin-Lim (:func:`invmel_core.audio.griffinlim`)."""
    inv = InverseMelScale(
        options.n_fft // 2 + 1, mel.shape[-2], rate, options.f_min, options.f_max, options.max_iter,
        options.tolerance_loss, options.tolerance_change, {"lr": options.lr, "momentum": options.momentum},
        options.norm, options.mel_type, solver=options.solver, seed=options.seed)
    last = None
    for last in inv.iterate(mel, every=2**62):
        pass
    samples = audio.griffinlim(last.spec, options.n_fft, options.hop_length, options.power,
                               options.griffinlim_iters, options.seed, length, options.win_length)
    return Rendering(samples, last.spec, last.step, last.reason, inv.notes(last))

# ----------------------------------------------------------------------- END MERGE POINT


def filterbank(options: RenderOptions, n_mels: int, rate: int) -> MelFilterbank:
    """The filterbank a sound file's mel spectrogram is made with, and the re-mel is measured with."""
    return MelFilterbank(options.n_fft // 2 + 1, options.f_min, options.f_max, n_mels, rate,
                         options.norm, options.mel_type, compat=get_solver(options.solver).compat)


def load_mel(task: Task, options: RenderOptions) -> tuple[np.ndarray, int, int | None]:
    """``(mel (n_mels, time), sample rate, samples to render or None)`` of a mel or sound file."""
    if Path(task.source).suffix.lower().lstrip(".") in loading.MELSPEC_EXTENSIONS:
        mel = loading.load_melspec(task.source, n_mels=options.n_mels)
        if mel.ndim > 2 and np.prod(mel.shape[:-2]) > 1:
            raise InputError(
                f"{task.source} holds a batch of {int(np.prod(mel.shape[:-2]))} mel spectrograms "
                f"(shape {mel.shape}); the batch renders one per file: save each item on its own")
        return to_linear_mel(mel.reshape(mel.shape[-2:]), options), \
            options.sample_rate or DEFAULT_MEL_SAMPLE_RATE, None
    samples, rate = loading.load_audio(task.source, options.sample_rate, max_duration=options.max_duration)
    spec = audio.spectrogram(samples, options.n_fft, options.hop_length, options.win_length, options.power)
    mel = audio.mel_spectrogram(spec, filterbank(options, options.n_mels or 128, rate))
    return mel, rate, samples.size


def remel_residual(samples: np.ndarray, mel: np.ndarray, rate: int, options: RenderOptions) -> float:
    """Relative Frobenius distance between the rendered sound's mel spectrogram and ``mel``."""
    spec = audio.spectrogram(samples, options.n_fft, options.hop_length, options.win_length, options.power)
    frames = min(spec.shape[-1], mel.shape[-1])  # a sound file's last partial frame
    return metrics.mel_residual(spec[:, :frames], mel[:, :frames], filterbank(options, mel.shape[-2], rate))


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` under a temporary name beside ``path``, flush it to disk, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}")
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
        mel, rate, length = load_mel(task, options)
        rendering = synthesize(mel, rate, options, length)
    samples = np.clip(rendering.samples, -1.0, 1.0)  # as the WAV holds them
    notes = [str(w.message) for w in caught] + list(rendering.notes)
    peak = float(np.abs(rendering.samples).max(initial=0.0))
    if peak > 1.0:
        notes.append(f"the sound peaks at {peak:.2f}; clipped to [-1, 1] in the WAV")
    record.remel_residual = remel_residual(samples, mel, rate, options)
    data = {task.outputs[0]: audio.to_wav_bytes(samples, rate)}
    if options.write_npy:
        buffer = io.BytesIO()
        np.save(buffer, rendering.spec, allow_pickle=False)
        data[task.outputs[1]] = buffer.getvalue()
    for name, content in data.items():
        write_atomic(Path(task.outdir, name), content)
    record.outputs = {name: len(content) for name, content in data.items()}
    record.audio_seconds, record.frames = samples.size / rate, int(mel.shape[-1])
    record.steps, record.stop_reason, record.notes = rendering.steps, rendering.stop_reason, " | ".join(notes)


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
