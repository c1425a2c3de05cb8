"""One inversion end to end: what is inverted (:class:`Problem`), a solve for some settings,
its scores and sound (:class:`Inversion`), and the Home page's ready-made demo (several
solvers side by side are :mod:`invmel_core.app.comparison`'s).

The app's pages, its benchmark, the CLI and the tests go through these few functions, so
what the app shows is what the tests check.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from invmel_core.io import audio
from invmel_core import limits
from invmel_core.dsp.metrics import Scores, first_item, score
from invmel_core.dsp import stft
from invmel_core.formats.compression import Compression
from invmel_core.dsp.filterbank import MelFilterbank
from invmel_core.formats.fit import FitResult
from invmel_core.app.live import LiveSolve, report_every
from invmel_core.app.mel_input import settings_fit
from invmel_core.inverse.oracle import oracle_view
from invmel_core.app.settings import SAMPLES, Settings, matching_formats, sample_path
from invmel_core.formats.presets import FORMATS
from invmel_core.pipeline.sound import make_sound
from invmel_core.inverse.solvers import SOLVERS
from invmel_core.inverse.transform import InverseMelScale

# Loudness for playback when there is no original to match (a mel spectrogram was uploaded):
# an RMS of 0.1 (-20 dBFS) is comfortably loud without clipping speech.


@dataclass(frozen=True)
class Problem:
    """What is inverted: a mel spectrogram and, when it was made from audio, the truth.

    ``mel`` is the linear ``(n_mels, time)`` mel of the settings' power; ``samples`` (mono
    float32) and ``spec`` (the true spectrogram ``(n_stft, time)``, same power) are None for
    a bare mel spectrogram. A mel file also keeps its values as ``stored`` (compressed,
    oriented as ``mel``) and the ``compression`` undone (:mod:`invmel_core.app.mel_input`).
    """

    label: str
    mel: np.ndarray
    samples: np.ndarray | None = None
    spec: np.ndarray | None = None
    stored: np.ndarray | None = None
    compression: Compression | None = None

    @property
    def kind(self) -> str:
        """``"audio"`` or ``"mel"``."""
        return "mel" if self.samples is None else "audio"

    @cached_property
    def peak(self) -> float | None:
        """The original spectrogram's peak (the dB reference of pictures of estimates), None
        without one; computed once, not on every redraw of the live view."""
        return float(self.spec.max()) if self.spec is not None else None


def analyse(samples: np.ndarray, fb: MelFilterbank, n_fft: int, hop_length: int,
            power: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """``(spectrogram, mel spectrogram)`` of ``samples``, of ``power`` (2: power, 1: magnitude)."""
    spec = stft.spectrogram(samples, n_fft=n_fft, hop_length=hop_length, power=power)
    return spec, stft.mel_spectrogram(spec, fb)


def start_solve(mel, settings: Settings) -> tuple[InverseMelScale, LiveSolve]:
    """The transform for ``settings`` and a :class:`LiveSolve` on ``mel`` (not yet advanced).

    Everything that can be wrong is found here, before any solving starts. Raises
    :class:`InputError` for bad settings, a mel spectrogram that does not fit them, or a
    solve that would exceed the memory limit.
    """
    transform = InverseMelScale(**settings.transform_kwargs())
    return transform, LiveSolve(transform.iterate(mel, every=report_every(settings.max_iter)))


@dataclass(frozen=True)
class SolveCost:
    """What a solve will take, said before it starts: peak memory against the limit and,
    for solvers whose time can be estimated, seconds (None: an iterative solver runs to
    its budget, ``max_iter`` or the tolerances)."""

    memory_bytes: int
    limit_bytes: float
    seconds: float | None = None

    @property
    def fits(self) -> bool:
        return self.memory_bytes <= self.limit_bytes


def solve_cost(settings: Settings, frames: int, batch: int = 1) -> SolveCost:
    """The :class:`SolveCost` of solving ``frames`` frames with ``settings``.

    >>> cost = solve_cost(Settings.checked(solver="librosa"), 180)   # 4.2 s at the defaults
    >>> cost.fits, round(cost.memory_bytes / 2**30, 1)
    (True, 2.0)
    """
    spec = SOLVERS[settings.solver]
    memory = limits.estimate_solve_bytes(batch, settings.n_stft, settings.n_mels, frames, spec)
    seconds = spec.seconds_estimate(batch, settings.n_stft, settings.n_mels, frames) if spec.seconds_estimate else None
    return SolveCost(int(memory), limits.max_solve_mb() * limits.MIB, seconds)


def smaller_n_fft_costs(settings: Settings, n_samples: int, sizes=(1024, 512)) -> list[tuple[int, SolveCost]]:
    """What the same audio would cost with each smaller n_fft in ``sizes`` (the hop scaled with
    it): a solve's time grows steeply with the number of bins."""
    out = []
    for n_fft in sizes:
        if n_fft < settings.n_fft:
            smaller = settings.replace(n_fft=n_fft, hop_length=None if settings.hop_length is None
                                       else max(1, settings.hop_length * n_fft // settings.n_fft))
            out.append((n_fft, solve_cost(smaller, stft.stft_frames(n_samples, n_fft, smaller.hop))))
    return out


def to_audio(estimate: np.ndarray | None, settings: Settings, reference: np.ndarray | None = None, *,
             mel: np.ndarray | None = None, max_seconds: float | None = None,
             progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Sound from an inversion, for the app's players, downloads, Compare and the Home demo:
    :func:`invmel_core.pipeline.sound.make_sound` (the command line's and batch's too) with
    these settings, so a file sounds the same through every door.

    ``settings.method`` decides how: ``"joint"`` finds magnitude and phase together from the
    linear mel spectrogram ``mel`` (:func:`invmel_core.mel_to_audio`; the estimate is not
    used: every solver sounds the same); ``"cascade"`` runs Griffin-Lim on the solver's
    ``estimate`` ``(n_stft, time)``. Both take ``settings.sound_iterations`` iterations and
    ``settings.seed``; the framing is the matching preset's (HiFi-GAN's frames sit half a
    hop later), the loudness the level the mel implies (lowered only where it would clip).
    ``reference`` (the original samples) sets the length; ``max_seconds`` makes only the
    beginning. ``progress(step, n_iter)`` is called as the iterations go.

    Examples
    --------
    >>> spec = np.ones((129, 20), np.float32)
    >>> settings = Settings.checked(n_fft=256, sample_rate=8000, n_mels=16, n_iter=4)
    >>> to_audio(spec, settings.replace(method="cascade")).shape
    (1216,)
    >>> to_audio(None, settings, mel=settings.filterbank().banded.project(spec)).shape
    (1216,)
    """
    geometry = FORMATS[matching[0]] if (matching := matching_formats(settings)) else None
    return make_sound(mel, sample_rate=settings.sample_rate, n_fft=settings.n_fft, hop_length=settings.hop,
                      power=settings.power, f_min=settings.f_min, f_max=settings.f_max, mel_type=settings.mel_type,
                      norm=settings.norm, method=settings.method, n_iter=settings.sound_iterations,
                      fidelity=settings.fidelity if settings.method == "joint" else "exact",
                      seed=settings.seed, framing=geometry.framing if geometry else "center",
                      pad_mode=geometry.pad_mode if geometry else "reflect",
                      drop_last_frame=geometry.drop_last_frame if geometry else False,
                      reference=reference, estimate=estimate, max_seconds=max_seconds, progress=progress)


def to_wav(estimate: np.ndarray | None, settings: Settings, reference: np.ndarray | None = None, *,
           mel: np.ndarray | None = None, max_seconds: float | None = None,
           progress: Callable[[int, int], None] | None = None) -> bytes:
    """:func:`to_audio`, as WAV file bytes."""
    samples = to_audio(estimate, settings, reference, mel=mel, max_seconds=max_seconds, progress=progress)
    return audio.to_wav_bytes(samples, settings.sample_rate)


class ProgressFile:
    """How far a computation in another process is, through a 16-byte file: the worker calls
    it as ``progress(step, total)``, the page reads :meth:`read` while it waits.

    >>> progress = ProgressFile()
    >>> ProgressFile(progress.path)(3, 150); progress.read()
    (3, 150)
    >>> progress.close()
    """

    def __init__(self, path: str | None = None):
        self.owner = path is None
        if path is None:
            fd, path = tempfile.mkstemp(prefix="invmel-progress-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
            os.write(fd, bytes(16))
            os.close(fd)
        self.path = path
        self._last = -1

    def __call__(self, step: int, total: int) -> None:
        if step == self._last:
            return
        self._last = step
        try:
            with open(self.path, "r+b", buffering=0) as f:
                f.write(struct.pack("<qq", int(step), int(total)))
        except OSError:  # the waiting page went away and removed the file
            pass

    def read(self) -> tuple[int, int]:
        try:
            with open(self.path, "rb", buffering=0) as f:
                step, total = struct.unpack("<qq", f.read(16))
        except (OSError, struct.error):
            return 0, 0
        return max(0, min(step, total)), max(0, total)

    def close(self) -> None:
        if self.owner:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def reporting(progress_path: str, fn: Callable, /, *args, **kwargs):
    """``fn(*args, progress=ProgressFile(progress_path), **kwargs)``: for a worker process,
    whose caller watches the file."""
    return fn(*args, progress=ProgressFile(progress_path), **kwargs)


@dataclass(frozen=True)
class Sound:
    """What a result plays: the reconstruction (its first ``preview_s`` if ``excerpt``), the
    original over the same stretch (None for a mel input), and how it was made."""

    wav: bytes
    original_wav: bytes | None
    excerpt: bool
    method: str
    iterations: int


def result_sound(estimate: np.ndarray, settings: Settings, problem: Problem, *, preview_s: float,
                 progress: Callable[[int, int], None] | None = None) -> Sound:
    """The :class:`Sound` of an inversion: inputs longer than ``preview_s`` seconds are made
    into sound only for their first ``preview_s``, and the original is cut to the same stretch."""
    excerpt = settings.duration(estimate.shape[1]) > preview_s
    samples = problem.samples
    heard = to_audio(estimate, settings, samples, mel=problem.mel, max_seconds=preview_s if excerpt else None,
                     progress=progress)
    original = None if samples is None else samples[: heard.size if excerpt else None]
    return Sound(audio.to_wav_bytes(heard, settings.sample_rate),
                 None if original is None else audio.to_wav_bytes(original, settings.sample_rate), excerpt,
                 settings.method, settings.sound_iterations)


def result_figure(estimate: np.ndarray, settings: Settings, problem: Problem, *, top_hz: float,
                  freq_axis: str = "linear", freq_range=None) -> bytes:
    """The original / reconstruction / error figure as PNG bytes (matplotlib: the app runs
    this in a worker process); ``freq_axis`` and ``freq_range`` as in
    :func:`invmel_core.figures.plots.comparison_figure`."""
    from invmel_core.figures import plots

    return plots.render_png(plots.comparison_figure, problem.spec, estimate, settings.sample_rate, settings.hop,
                            mel=problem.mel, top_hz=top_hz, freq_axis=freq_axis, freq_range=freq_range,
                            mel_type=settings.mel_type, power=settings.power)


@dataclass(frozen=True)
class Inversion:
    """A finished (or stopped) inversion: what the result section shows and offers. Its sound
    is made on demand (:meth:`sound`), for the sound settings of the moment."""

    settings: Settings
    problem: Problem
    estimate: np.ndarray       # spectrogram (n_stft, time) of settings.power
    scores: Scores
    notes: tuple[str, ...]
    steps: int
    reason: str
    seconds: float             # wall time of the solve, pauses excluded
    png: bytes                 # the result figure, linear axis, every frequency
    top_hz: float | None = None  # frequency of the top bin on the solver's grid
    fit: FitResult | None = None  # do the settings fit a mel file's values (None for audio)

    def figure_png(self, freq_axis: str = "linear", freq_range=None) -> bytes:
        """The result figure on another frequency axis or band (``png`` is linear, all)."""
        return result_figure(self.estimate, self.settings, self.problem, top_hz=self.top_hz,
                             freq_axis=freq_axis, freq_range=freq_range)

    def sound_settings(self, method: str, n_iter: int | None, fidelity: str = "exact") -> Settings:
        return self.settings.replace(method=method, n_iter=n_iter, fidelity=fidelity)

    def sound(self, method: str, n_iter: int | None, preview_s: float,
              progress: Callable[[int, int], None] | None = None, fidelity: str = "exact") -> Sound:
        """:func:`result_sound` by ``method`` with ``n_iter`` iterations (None: its default)."""
        return result_sound(self.estimate, self.sound_settings(method, n_iter, fidelity), self.problem,
                            preview_s=preview_s, progress=progress)

    def full_wav(self, method: str, n_iter: int | None, fidelity: str = "exact") -> bytes:
        """The whole reconstruction as WAV bytes (a result's :meth:`sound` may be its beginning)."""
        return to_wav(self.estimate, self.sound_settings(method, n_iter, fidelity), self.problem.samples,
                      mel=self.problem.mel)


def _inline(fn, *args, **kwargs):
    return fn(*args, **kwargs)


def finish(live: LiveSolve, transform: InverseMelScale, settings: Settings, problem: Problem, *,
           call=_inline) -> Inversion:
    """Score and draw a finished (or stopped) :class:`LiveSolve` of ``problem``, and for a mel
    file check whether the settings fit its values (:func:`invmel_core.app.mel_input.settings_fit`).

    ``call(fn, *args)`` makes the figure and the check; the app passes
    :func:`invmel_core.app.offload.call` (worker processes).
    """
    estimate = first_item(live.latest.spec)
    scores = score(estimate, problem.mel, transform.fb, problem.spec, power=settings.power)
    top_hz = float(transform.fb.bin_hz[-1])
    png = call(result_figure, estimate, settings, problem, top_hz=top_hz)
    fit = None if problem.stored is None else call(settings_fit, problem.stored, settings, problem.compression)
    return Inversion(settings, problem, estimate, scores, tuple(transform.notes(live.latest)),
                     live.steps[-1], live.reason, live.wall_seconds(), png, top_hz, fit)


# --------------------------------------------------------------------------- where the sound is lost

ORACLE_SECONDS = 10.0  # the oracle view hears the first 10 s (four reconstructions take a while)


@dataclass(frozen=True)
class Heard:
    """One rendition of :func:`invmel_core.oracle_view` as the app plays it."""

    key: str
    label: str
    lesson: str
    wav: bytes
    scores: dict


def oracle_sounds(samples: np.ndarray, settings: Settings, *, max_seconds: float = ORACLE_SECONDS) -> tuple[Heard, ...]:
    """Where the sound is lost, for the first ``max_seconds`` of ``samples`` with ``settings``
    (STFT, filterbank, power, and the sound's method and iterations): the four renditions of
    :func:`invmel_core.oracle_view` as WAV bytes at the original's loudness, with their scores.

    >>> rows = oracle_sounds(np.sin(np.arange(8000) * 0.2).astype(np.float32),
    ...                      Settings.checked(sample_rate=8000, n_fft=256, n_mels=24, n_iter=4))
    >>> [row.key for row in rows], rows[1].wav[:4]
    (['original', 'true_magnitude', 'true_phase', 'estimated'], b'RIFF')
    """
    y = np.asarray(samples, dtype=np.float32)[: max(1, int(max_seconds * settings.sample_rate))]
    rows = oracle_view(y, sample_rate=settings.sample_rate, n_fft=settings.n_fft, n_mels=settings.n_mels,
                       hop_length=settings.hop, power=settings.power, f_min=settings.f_min, f_max=settings.f_max,
                       mel_type=settings.mel_type, norm=settings.norm, method=settings.method,
                       n_iter=settings.sound_iterations, seed=0)
    return tuple(Heard(row.key, row.label, row.lesson,
                       audio.to_wav_bytes(audio.match_loudness(row.samples, y), settings.sample_rate), row.scores)
                 for row in rows)


# --------------------------------------------------------------------------- the Home demo

@dataclass(frozen=True)
class Demo:
    """The Home page's ready-made example."""

    png: bytes
    original_wav: bytes
    reconstructed_wav: bytes
    caption: str
    settings: Settings         # the demo's (the default sound settings)


def demo(solver: str | None = None, call=_inline) -> Demo:
    """The inverse mel problem on the short speech sample, at 40 mel bands (coarse enough that
    the smearing is plain to see), heard with the default sound settings. ``call(fn, *args)``
    runs the figure and the sound (the app passes :func:`invmel_core.app.offload.call`); the
    solve takes CPU slots slice by slice."""
    from invmel_core.io import loading
    from invmel_core.figures import plots

    settings = Settings.checked(n_mels=40, **({"solver": solver} if solver else {}))
    fb = settings.filterbank()
    samples, _ = loading.load_audio(sample_path(settings.sample), settings.sample_rate)
    spec, mel = analyse(samples, fb, settings.n_fft, settings.hop, settings.power)
    _transform, live = start_solve(mel, settings)
    while not live.done:
        live.advance(1.0)
    estimate = live.latest.spec
    png = call(plots.render_png, plots.problem_figure, spec, mel, estimate, fb, settings.sample_rate, settings.hop)
    heard = call(to_audio, first_item(estimate), settings, samples, mel=mel)
    scores = score(estimate, mel, fb, spec, power=settings.power)
    caption = (f"{SAMPLES[settings.sample][1]} at {settings.sample_rate} Hz; n_fft {settings.n_fft}, "
               f"{settings.n_mels} HTK mels; solver '{settings.solver}' ({live.steps[-1]} steps). "
               f"The mel bands are matched to {100 * scores.mel_residual:.2g} %, yet the spectrogram's "
               f"magnitudes are {100 * scores.spectral_convergence:.0f} % off (spectral convergence).")
    return Demo(png, audio.to_wav_bytes(samples, settings.sample_rate),
                audio.to_wav_bytes(heard, settings.sample_rate), caption, settings)
