"""One inversion end to end: start a solve for some settings, score it, turn it back into sound,
and run several solvers on one input for a comparison.

The app's pages, its benchmark and its tests all go through these few functions, so what
the app shows is what the tests check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import audio, limits
from .errors import InputError
from .live import LiveSolve, report_every
from .metrics import log_spectral_distance, mel_residual, spectral_convergence
from .settings import Settings
from .transform import InverseMelScale
from .validation import check_melspec

# Loudness for playback when there is no original to match (a mel spectrogram was uploaded):
# an RMS of 0.1 (-20 dBFS) is comfortably loud without clipping speech.
PLAYBACK_RMS = 0.1


def prepare(mel, settings: Settings) -> tuple[InverseMelScale, np.ndarray]:
    """The transform for ``settings`` and ``mel`` validated against it, memory checked.

    Everything that can be wrong is found here, before any solving starts (a solver
    generator would only complain at its first step). Raises :class:`InputError`.
    """
    transform = InverseMelScale(**settings.transform_kwargs())
    mel = check_melspec(mel, settings.n_mels)
    batch = int(np.prod(mel.shape[:-2])) if mel.ndim > 2 else 1
    limits.check_solve_memory(batch, settings.n_stft, settings.n_mels, mel.shape[-1], transform.solver)
    return transform, mel


def start_solve(mel, settings: Settings) -> tuple[InverseMelScale, LiveSolve]:
    """The transform for ``settings`` and a :class:`LiveSolve` on ``mel`` (not yet advanced).

    Raises :class:`InputError` for bad settings, a mel spectrogram that does not fit them,
    or a solve that would exceed the memory limit.
    """
    transform, mel = prepare(mel, settings)
    return transform, LiveSolve(transform.iterate(mel, every=report_every(settings.max_iter)))


def first_item(spec: np.ndarray) -> np.ndarray:
    """``(n, time)`` of a possibly batched ``(..., n, time)`` array: its first item."""
    spec = np.asarray(spec)
    return spec.reshape(-1, *spec.shape[-2:])[0]


def score(estimate: np.ndarray, mel: np.ndarray, fb, original: np.ndarray | None = None) -> dict:
    """The three numbers of :mod:`invmel_core.metrics` (None where there is no original).

    ``mel_residual``: does the estimate explain the mel spectrogram (what solvers minimise);
    ``spectral_convergence`` and ``log_spectral_distance_db``: how close it is to the original.
    """
    # The relative mel residual of metrics.mel_residual, through the banded filterbank: the
    # dense float64 product costs seconds on minutes of audio, this costs milliseconds.
    out = {"mel_residual": relative_residual(estimate, mel, fb) if hasattr(fb, "banded")
           else mel_residual(estimate, mel, fb),
           "spectral_convergence": None, "log_spectral_distance_db": None}
    if original is not None:
        out["spectral_convergence"] = spectral_convergence(estimate, original)
        out["log_spectral_distance_db"] = log_spectral_distance(estimate, original)
    return out


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
    samples = audio.griffinlim(estimate, settings.n_fft, settings.hop, power=2.0, n_iter=n_iter,
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


def render_result(estimate: np.ndarray, settings: Settings, *, mel: np.ndarray, original_spec: np.ndarray | None,
                  samples: np.ndarray | None, top_hz: float, preview_s: float) -> ResultMedia:
    """Figure and sound of one inversion (matplotlib and Griffin-Lim: the app runs this in a
    worker process, see :mod:`invmel_core.offload`).

    Inputs longer than ``preview_s`` seconds are resynthesised only for their first
    ``preview_s`` (Griffin-Lim on minutes of audio takes minutes).
    """
    from . import plots

    seconds = estimate.shape[1] * settings.hop / settings.sample_rate
    excerpt = seconds > preview_s
    heard = resynthesize(estimate, settings, reference=samples, max_seconds=preview_s if excerpt else None)
    original = None if samples is None else samples[: heard.size if excerpt else None]
    png = plots.render_png(plots.comparison_figure, original_spec, estimate, settings.sample_rate, settings.hop,
                           mel=mel, top_hz=top_hz)
    return ResultMedia(png, audio.to_wav_bytes(heard, settings.sample_rate),
                       None if original is None else audio.to_wav_bytes(original, settings.sample_rate), excerpt)


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
    scores: dict = field(default_factory=dict)


def relative_residual(estimate: np.ndarray, mel: np.ndarray, fb) -> float:
    """``||fb.T X - M|| / ||M||`` of the first item, through the banded filterbank (cheap
    enough to compute at every iterate)."""
    target = first_item(mel).astype(np.float64)
    diff = fb.banded.project(first_item(estimate).astype(np.float32)).astype(np.float64) - target
    norm = np.linalg.norm(target)
    return float(np.linalg.norm(diff) / norm) if norm > 0 else float(np.linalg.norm(diff))


def run_solver(mel, settings: Settings, time_limit: float, original: np.ndarray | None = None,
               clock=time.perf_counter) -> SolverRun:
    """Run ``settings.solver`` on ``mel`` for at most ``time_limit`` seconds of solver time,
    recording the relative mel residual at every iterate (comparable across solvers, whose
    own losses are defined differently). Time spent scoring is not counted.

    Raises :class:`InputError` for bad settings, input or ``time_limit``.
    """
    if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float)) or not time_limit > 0:
        raise InputError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    transform, mel = prepare(mel, settings)
    run = SolverRun(settings.solver)
    iterates = transform.iterate(mel, every=report_every(settings.max_iter))
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
            run.residuals.append(relative_residual(item.spec, mel, transform.fb))
            if item.done:
                break
            if run.seconds >= time_limit:
                run.reason = "time_limit"
                break
    finally:
        iterates.close()
    if last is not None:
        run.estimate = first_item(last.spec)
        run.scores = score(run.estimate, first_item(mel), transform.fb, original)
    return run
