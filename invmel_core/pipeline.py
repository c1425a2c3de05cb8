"""One inversion end to end: what is inverted (:class:`Problem`), a solve for some settings,
its scores and sound (:class:`Inversion`), and the Home page's ready-made demo (several
solvers side by side are :mod:`invmel_core.comparison`'s).

The app's pages, its benchmark, the CLI and the tests go through these few functions, so
what the app shows is what the tests check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import audio, limits, metrics, phase, stft
from .filterbank import MelFilterbank
from .live import LiveSolve, report_every
from .settings import SAMPLES, Settings, sample_path
from .solvers import SOLVERS
from .transform import InverseMelScale

# Loudness for playback when there is no original to match (a mel spectrogram was uploaded):
# an RMS of 0.1 (-20 dBFS) is comfortably loud without clipping speech.
PLAYBACK_RMS = 0.1
# The app's spectrograms are power spectrograms (Settings has no power field).
POWER = 2.0


@dataclass(frozen=True)
class Problem:
    """What is inverted: a mel spectrogram and, when it was made from audio, the truth.

    ``mel`` is ``(n_mels, time)``; ``samples`` (mono float32) and ``spec`` (the true power
    spectrogram ``(n_stft, time)``) are None for a bare mel spectrogram.
    """

    label: str
    mel: np.ndarray
    samples: np.ndarray | None = None
    spec: np.ndarray | None = None

    @property
    def kind(self) -> str:
        """``"audio"`` or ``"mel"``."""
        return "mel" if self.samples is None else "audio"


def analyse(samples: np.ndarray, fb: MelFilterbank, n_fft: int, hop_length: int) -> tuple[np.ndarray, np.ndarray]:
    """``(power spectrogram, mel spectrogram)`` of ``samples``."""
    spec = stft.spectrogram(samples, n_fft=n_fft, hop_length=hop_length, power=POWER)
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


def first_item(spec: np.ndarray) -> np.ndarray:
    """``(n, time)`` of a possibly batched ``(..., n, time)`` array: its first item."""
    spec = np.asarray(spec)
    return spec.reshape(-1, *spec.shape[-2:])[0]


@dataclass(frozen=True)
class Scores:
    """How good an estimate is (:mod:`invmel_core.metrics`); the distances to the original
    are None when there is none (a mel spectrogram was inverted)."""

    mel_residual: float
    spectral_convergence: float | None = None
    log_spectral_distance_db: float | None = None


def score(estimate: np.ndarray, mel: np.ndarray, fb, original: np.ndarray | None = None,
          *, power: float = POWER) -> Scores:
    """The metrics of an estimate ``(n_stft, time)`` of ``power``, against ``mel`` and, if
    given, the original spectrogram of the same power."""
    if original is None:
        return Scores(metrics.mel_residual(estimate, mel, fb))
    return Scores(metrics.mel_residual(estimate, mel, fb),
                  metrics.spectral_convergence(estimate, original, power=power),
                  metrics.log_spectral_distance(estimate, original, power=power))


def to_audio(estimate: np.ndarray, settings: Settings, reference: np.ndarray | None = None, *,
             mel: np.ndarray | None = None, max_seconds: float | None = None) -> np.ndarray:
    """Sound from an estimated power spectrogram ``(n_stft, time)``: the one place the app
    (result players, downloads, Compare's players, the Home demo) makes sound.

    The phase is reconstructed by Griffin-Lim with ``settings.phase_iter`` iterations
    (seed 0, so the same estimate always sounds the same), and the result is scaled to the
    loudness of ``reference`` (the original samples) or, without one, to
    :data:`PLAYBACK_RMS`. Silence stays silence. ``max_seconds`` makes only the beginning
    (Griffin-Lim on minutes of audio takes minutes); the reference is cut to the same
    length, so loudness still matches. ``mel`` is the mel spectrogram the estimate came
    from: phase methods that work from the mel will read it (Griffin-Lim does not).

    Examples
    --------
    >>> spec = np.ones((129, 20), np.float32)
    >>> to_audio(spec, Settings.checked(n_fft=256, sample_rate=8000, phase_iter=4)).shape
    (1216,)
    """
    if max_seconds is not None:
        n_samples = max(1, int(max_seconds * settings.sample_rate))
        estimate = np.asarray(estimate)[:, : 1 + n_samples // settings.hop]
        if reference is not None:
            reference = np.asarray(reference)[:n_samples]
    length = None if reference is None else int(np.size(reference))
    samples = phase.griffinlim(estimate, settings.n_fft, settings.hop, power=POWER, n_iter=settings.phase_iter,
                               seed=0, length=length)
    target = reference if reference is not None else np.array([PLAYBACK_RMS, -PLAYBACK_RMS], np.float32)
    return audio.match_loudness(samples, target)


def to_wav(estimate: np.ndarray, settings: Settings, reference: np.ndarray | None = None, *,
           mel: np.ndarray | None = None, max_seconds: float | None = None) -> bytes:
    """:func:`to_audio`, as WAV file bytes."""
    samples = to_audio(estimate, settings, reference, mel=mel, max_seconds=max_seconds)
    return audio.to_wav_bytes(samples, settings.sample_rate)


def resynthesize(estimate: np.ndarray, settings: Settings, reference: np.ndarray | None = None,
                 n_iter: int | None = None, max_seconds: float | None = None) -> np.ndarray:
    """:func:`to_audio`, with ``n_iter`` overriding ``settings.phase_iter`` if given."""
    if n_iter is not None:
        settings = settings.replace(phase_iter=n_iter)
    return to_audio(estimate, settings, reference, max_seconds=max_seconds)


def resynthesize_wav(estimate: np.ndarray, settings: Settings, reference: np.ndarray | None = None,
                     max_seconds: float | None = None) -> bytes:
    """:func:`to_wav` (kept for callers of the earlier name)."""
    return to_wav(estimate, settings, reference, max_seconds=max_seconds)


@dataclass(frozen=True)
class ResultMedia:
    """What a finished inversion shows and plays."""

    png: bytes                  # original / reconstruction / error figure
    wav: bytes                  # the reconstruction's sound (its first ``preview_s`` if excerpt)
    original_wav: bytes | None  # the original over the same stretch (None for a mel input)
    excerpt: bool               # True when the sound is only the beginning


def result_figure(estimate: np.ndarray, settings: Settings, problem: Problem, *, top_hz: float,
                  freq_axis: str = "linear", freq_range=None) -> bytes:
    """The original / reconstruction / error figure as PNG bytes (matplotlib: the app runs
    this in a worker process); ``freq_axis`` and ``freq_range`` as in
    :func:`invmel_core.plots.comparison_figure`."""
    from . import plots

    return plots.render_png(plots.comparison_figure, problem.spec, estimate, settings.sample_rate, settings.hop,
                            mel=problem.mel, top_hz=top_hz, freq_axis=freq_axis, freq_range=freq_range,
                            mel_type=settings.mel_type)


def result_sound(estimate: np.ndarray, settings: Settings, problem: Problem, *,
                 preview_s: float) -> tuple[bytes, bytes | None, bool]:
    """``(reconstruction WAV, original WAV or None, excerpt)``: inputs longer than
    ``preview_s`` seconds are made into sound only for their first ``preview_s``, and the
    original is cut to the same stretch."""
    seconds = estimate.shape[1] * settings.hop / settings.sample_rate
    excerpt = seconds > preview_s
    samples = problem.samples
    heard = to_audio(estimate, settings, samples, mel=problem.mel, max_seconds=preview_s if excerpt else None)
    original = None if samples is None else samples[: heard.size if excerpt else None]
    return (audio.to_wav_bytes(heard, settings.sample_rate),
            None if original is None else audio.to_wav_bytes(original, settings.sample_rate), excerpt)


def render_result(estimate: np.ndarray, settings: Settings, problem: Problem, *, top_hz: float,
                  preview_s: float) -> ResultMedia:
    """Figure and sound of one inversion (:func:`result_figure`, :func:`result_sound`)."""
    return ResultMedia(result_figure(estimate, settings, problem, top_hz=top_hz),
                       *result_sound(estimate, settings, problem, preview_s=preview_s))


@dataclass(frozen=True)
class Inversion:
    """A finished (or stopped) inversion: what the result section shows and offers."""

    settings: Settings
    problem: Problem
    estimate: np.ndarray       # power spectrogram (n_stft, time)
    scores: Scores
    notes: tuple[str, ...]
    steps: int
    reason: str
    seconds: float             # wall time of the solve, pauses excluded
    media: ResultMedia
    top_hz: float | None = None  # frequency of the top bin on the solver's grid

    def figure_png(self, freq_axis: str = "linear", freq_range=None) -> bytes:
        """The result figure on another frequency axis or band (``media.png`` is linear, all)."""
        return result_figure(self.estimate, self.settings, self.problem, top_hz=self.top_hz,
                             freq_axis=freq_axis, freq_range=freq_range)

    def sound(self, phase_iter: int, preview_s: float) -> tuple[bytes, bytes | None, bool]:
        """:func:`result_sound` with another number of phase-reconstruction iterations."""
        return result_sound(self.estimate, self.settings.replace(phase_iter=phase_iter), self.problem,
                            preview_s=preview_s)

    def full_wav(self, phase_iter: int | None = None) -> bytes:
        """The whole reconstruction as WAV bytes (``media.wav`` may be only its beginning)."""
        settings = self.settings if phase_iter is None else self.settings.replace(phase_iter=phase_iter)
        if not self.media.excerpt and settings == self.settings:
            return self.media.wav
        return to_wav(self.estimate, settings, self.problem.samples, mel=self.problem.mel)


def finish(live: LiveSolve, transform: InverseMelScale, settings: Settings, problem: Problem, *,
           preview_s: float, render=render_result) -> Inversion:
    """Score and render a finished (or stopped) :class:`LiveSolve` of ``problem``.

    ``render`` makes the figure and sound; the app passes one that runs
    :func:`render_result` in a worker process.
    """
    estimate = first_item(live.latest.spec)
    scores = score(estimate, problem.mel, transform.fb, problem.spec)
    top_hz = float(transform.fb.bin_hz[-1])
    media = render(estimate, settings, problem, top_hz=top_hz, preview_s=preview_s)
    return Inversion(settings, problem, estimate, scores, tuple(transform.notes(live.latest)),
                     live.steps[-1], live.reason, live.wall_seconds(), media, top_hz)


# --------------------------------------------------------------------------- the Home demo

@dataclass(frozen=True)
class Demo:
    """The Home page's ready-made example."""

    png: bytes
    original_wav: bytes
    reconstructed_wav: bytes
    caption: str


def demo(solver: str | None = None, call=lambda fn, *args, **kwargs: fn(*args, **kwargs)) -> Demo:
    """The inverse mel problem on the short speech sample, at 40 mel bands (coarse enough that
    the smearing is plain to see). ``call(fn, *args)`` runs the figure and Griffin-Lim (the
    app passes :func:`invmel_core.offload.call`); the solve takes CPU slots slice by slice."""
    from . import loading, plots

    settings = Settings.checked(solver=solver or "", n_mels=40)
    fb = settings.filterbank()
    samples, _ = loading.load_audio(sample_path(settings.sample), settings.sample_rate)
    spec, mel = analyse(samples, fb, settings.n_fft, settings.hop)
    _transform, live = start_solve(mel, settings)
    while not live.done:
        live.advance(1.0)
    estimate = live.latest.spec
    png = call(plots.render_png, plots.problem_figure, spec, mel, estimate, fb, settings.sample_rate, settings.hop)
    heard = call(to_audio, first_item(estimate), settings, samples, mel=mel)
    scores = score(estimate, mel, fb, spec)
    caption = (f"{SAMPLES[settings.sample][1]} at {settings.sample_rate} Hz; n_fft {settings.n_fft}, "
               f"{settings.n_mels} HTK mels; solver '{settings.solver}' ({live.steps[-1]} steps). "
               f"The mel bands are matched to {100 * scores.mel_residual:.2g} %, yet the spectrogram's "
               f"magnitudes are {100 * scores.spectral_convergence:.0f} % off (spectral convergence).")
    return Demo(png, audio.to_wav_bytes(samples, settings.sample_rate),
                audio.to_wav_bytes(heard, settings.sample_rate), caption)
