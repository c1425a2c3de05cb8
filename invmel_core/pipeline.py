"""One inversion end to end: start a solve for some settings, score it, turn it back into sound.

The app's pages, its benchmark and its tests all go through these few functions, so what
the app shows is what the tests check.
"""

from __future__ import annotations

import numpy as np

from . import audio, limits
from .live import LiveSolve, report_every
from .metrics import log_spectral_distance, mel_residual, spectral_convergence
from .settings import Settings
from .transform import InverseMelScale
from .validation import check_melspec

# Loudness for playback when there is no original to match (a mel spectrogram was uploaded):
# an RMS of 0.1 (-20 dBFS) is comfortably loud without clipping speech.
PLAYBACK_RMS = 0.1


def start_solve(mel: np.ndarray, settings: Settings) -> tuple[InverseMelScale, LiveSolve]:
    """The transform for ``settings`` and a :class:`LiveSolve` on ``mel`` (not yet advanced).

    Raises :class:`~invmel_core.InputError` for bad settings, a mel spectrogram that does not
    fit them, or a solve that would exceed the memory limit.
    """
    transform = InverseMelScale(**settings.transform_kwargs())
    mel = check_melspec(mel, settings.n_mels)  # now, not at the generator's first step
    batch = int(np.prod(mel.shape[:-2])) if mel.ndim > 2 else 1
    limits.check_solve_memory(batch, settings.n_stft, settings.n_mels, mel.shape[-1], transform.solver)
    iterates = transform.iterate(mel, every=report_every(settings.max_iter))
    return transform, LiveSolve(iterates)


def score(estimate: np.ndarray, mel: np.ndarray, fb, original: np.ndarray | None = None) -> dict:
    """The three numbers of :mod:`invmel_core.metrics` (None where there is no original).

    ``mel_residual``: does the estimate explain the mel spectrogram (what solvers minimise);
    ``spectral_convergence`` and ``log_spectral_distance`` (dB): how close it is to the original.
    """
    out = {"mel_residual": mel_residual(estimate, mel, fb),
           "spectral_convergence": None, "log_spectral_distance_db": None}
    if original is not None:
        out["spectral_convergence"] = spectral_convergence(estimate, original)
        out["log_spectral_distance_db"] = log_spectral_distance(estimate, original)
    return out


def resynthesize(estimate: np.ndarray, settings: Settings, reference: np.ndarray | None = None,
                 n_iter: int = 32) -> np.ndarray:
    """Samples from a power spectrogram (Griffin-Lim), at the loudness of ``reference``.

    Without a reference the result is scaled to :data:`PLAYBACK_RMS`. Silence stays silence.
    """
    length = None if reference is None else int(np.size(reference))
    samples = audio.griffinlim(estimate, settings.n_fft, settings.hop, power=2.0, n_iter=n_iter,
                               seed=0, length=length)
    target = reference if reference is not None else np.array([PLAYBACK_RMS, -PLAYBACK_RMS], np.float32)
    return audio.match_loudness(samples, target)
