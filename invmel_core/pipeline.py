"""One inversion end to end: what is inverted (:class:`Problem`), a solve for some settings,
its scores and sound (:class:`Inversion`), comparisons of several solvers, and the Home
page's ready-made demo.

The app's pages, its benchmark, the CLI and the tests go through these few functions, so
what the app shows is what the tests check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import audio, metrics, phase, stft
from .filterbank import MelFilterbank
from .live import LiveSolve, report_every
from .settings import SAMPLES, Settings, sample_path
from .transform import InverseMelScale
from .validation import check_positive_seconds

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


def resynthesize(estimate: np.ndarray, settings: Settings, reference: np.ndarray | None = None,
                 n_iter: int = 32, max_seconds: float | None = None) -> np.ndarray:
    """Samples from a power spectrogram (Griffin-Lim), at the loudness of ``reference``.

    Without a reference the result is scaled to :data:`PLAYBACK_RMS`. Silence stays silence.
    ``max_seconds`` resynthesises only the beginning (Griffin-Lim on minutes of audio takes
    minutes); the reference is cut to the same length, so loudness still matches.
    """
    if max_seconds is not None:
        n_samples = max(1, int(max_seconds * settings.sample_rate))
        estimate = np.asarray(estimate)[:, : 1 + n_samples // settings.hop]
        if reference is not None:
            reference = np.asarray(reference)[:n_samples]
    length = None if reference is None else int(np.size(reference))
    samples = phase.griffinlim(estimate, settings.n_fft, settings.hop, power=POWER, n_iter=n_iter,
                               seed=0, length=length)
    target = reference if reference is not None else np.array([PLAYBACK_RMS, -PLAYBACK_RMS], np.float32)
    return audio.match_loudness(samples, target)


def resynthesize_wav(estimate: np.ndarray, settings: Settings, reference: np.ndarray | None = None,
                     max_seconds: float | None = None) -> bytes:
    """:func:`resynthesize`, as WAV file bytes."""
    samples = resynthesize(estimate, settings, reference, max_seconds=max_seconds)
    return audio.to_wav_bytes(samples, settings.sample_rate)


@dataclass(frozen=True)
class ResultMedia:
    """What a finished inversion shows and plays."""

    png: bytes                  # original / reconstruction / error figure
    wav: bytes                  # the reconstruction's sound (its first ``preview_s`` if excerpt)
    original_wav: bytes | None  # the original over the same stretch (None for a mel input)
    excerpt: bool               # True when the sound is only the beginning


def render_result(estimate: np.ndarray, settings: Settings, problem: Problem, *, top_hz: float,
                  preview_s: float) -> ResultMedia:
    """Figure and sound of one inversion (matplotlib and Griffin-Lim: the app runs this in a
    worker process, see :mod:`invmel_core.offload`).

    Inputs longer than ``preview_s`` seconds are resynthesised only for their first
    ``preview_s`` (Griffin-Lim on minutes of audio takes minutes).
    """
    from . import plots

    seconds = estimate.shape[1] * settings.hop / settings.sample_rate
    excerpt = seconds > preview_s
    samples = problem.samples
    heard = resynthesize(estimate, settings, reference=samples, max_seconds=preview_s if excerpt else None)
    original = None if samples is None else samples[: heard.size if excerpt else None]
    png = plots.render_png(plots.comparison_figure, problem.spec, estimate, settings.sample_rate, settings.hop,
                           mel=problem.mel, top_hz=top_hz)
    return ResultMedia(png, audio.to_wav_bytes(heard, settings.sample_rate),
                       None if original is None else audio.to_wav_bytes(original, settings.sample_rate), excerpt)


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

    def full_wav(self) -> bytes:
        """The whole reconstruction as WAV bytes (``media.wav`` may be only its beginning)."""
        if not self.media.excerpt:
            return self.media.wav
        return resynthesize_wav(self.estimate, self.settings, self.problem.samples)


def finish(live: LiveSolve, transform: InverseMelScale, settings: Settings, problem: Problem, *,
           preview_s: float, render=render_result) -> Inversion:
    """Score and render a finished (or stopped) :class:`LiveSolve` of ``problem``.

    ``render`` makes the figure and sound; the app passes one that runs
    :func:`render_result` in a worker process.
    """
    estimate = first_item(live.latest.spec)
    scores = score(estimate, problem.mel, transform.fb, problem.spec)
    media = render(estimate, settings, problem, top_hz=float(transform.fb.bin_hz[-1]), preview_s=preview_s)
    return Inversion(settings, problem, estimate, scores, tuple(transform.notes(live.latest)),
                     live.steps[-1], live.reason, live.wall_seconds(), media)


# --------------------------------------------------------------------------- comparisons

@dataclass
class SolverRun:
    """One solver's run in a comparison: its convergence curve and final scores."""

    solver: str
    seconds: float = 0.0                # solver time only (scoring excluded)
    steps: int = 0
    reason: str | None = None
    times: list[float] = field(default_factory=list)       # solver seconds at each iterate
    residuals: list[float] = field(default_factory=list)   # relative mel residual at each iterate
    estimate: np.ndarray | None = None
    scores: Scores | None = None


def run_solver(mel, settings: Settings, time_limit: float, original: np.ndarray | None = None,
               clock=time.perf_counter) -> SolverRun:
    """Run ``settings.solver`` on ``mel`` for at most ``time_limit`` seconds of solver time,
    recording the relative mel residual at every iterate (comparable across solvers, whose
    own losses are defined differently). Time spent scoring is not counted.

    Raises :class:`InputError` for bad settings, input or ``time_limit``.
    """
    time_limit = check_positive_seconds("time_limit", time_limit)
    transform = InverseMelScale(**settings.transform_kwargs())
    iterates = transform.iterate(mel, every=report_every(settings.max_iter))
    mel = first_item(mel)
    run = SolverRun(settings.solver)
    last = None
    try:
        while True:
            started = clock()
            item = next(iterates, None)
            run.seconds += clock() - started
            if item is None:
                break
            last = item
            run.steps, run.reason = item.step, item.reason
            run.times.append(run.seconds)
            run.residuals.append(metrics.mel_residual(first_item(item.spec), mel, transform.fb))
            if item.done:
                break
            if run.seconds >= time_limit:
                run.reason = "time_limit"
                break
    finally:
        iterates.close()
    if last is not None:
        run.estimate = first_item(last.spec)
        run.scores = score(run.estimate, mel, transform.fb, original)
    return run


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
    heard = call(resynthesize, estimate, settings, reference=samples)
    scores = score(estimate, mel, fb, spec)
    caption = (f"{SAMPLES[settings.sample][1]} at {settings.sample_rate} Hz; n_fft {settings.n_fft}, "
               f"{settings.n_mels} HTK mels; solver '{settings.solver}' ({live.steps[-1]} steps). "
               f"The mel bands are matched to {100 * scores.mel_residual:.2g} %, yet the spectrogram's "
               f"magnitudes are {100 * scores.spectral_convergence:.0f} % off (spectral convergence).")
    return Demo(png, audio.to_wav_bytes(samples, settings.sample_rate),
                audio.to_wav_bytes(heard, settings.sample_rate), caption)
