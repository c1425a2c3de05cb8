"""How closely :func:`~invmel_core.inverse.mel_audio.mel_to_audio`'s joint method holds the mel
spectrogram it is given: ``fidelity="exact"`` (the default) or ``"soft"``.

A mel spectrogram made from a sound is the mel of *some* signal, and the joint method holds it
exactly. A TTS model's prediction is not: its errors (a few tenths of a nat in ln-mel, correlated
over neighbouring frames and bands) ask for band energies that no consistent spectrogram has, and
forcing every one of them pulls the sound away from the clean one it should be. ``"soft"``:

1. the Griffin-Lim stages impose only part of the mel projection's correction: the gain
   :class:`~invmel_core.inverse.mel_audio.MelProjection` computes is applied as
   ``gain ** SOFT_WEIGHT`` (a geometric step of that share toward the mel), so each step
   settles between what the mel asks and what a signal can be;
2. the polish lowers the re-mel error in the log domain the models are trained in,
   ``mean((ln(mel(y) + floor) - ln(M + floor)) ** 2)`` with ``floor = LOG_FLOOR * max(M)``
   (:class:`LogMelError`), where a quiet band's error counts as much as a loud one's relative
   error and the floor keeps silence from dominating.
"""

from __future__ import annotations


import numpy as np

from invmel_core.errors import InputError
from invmel_core.dsp.filterbank import MelFilterbank
from invmel_core.dsp.stft_plan import STFTPlan
from invmel_core.inverse.mel_polish import back_to_samples

FIDELITIES = ("exact", "soft")
SOFT_WEIGHT = 0.5  # geometric share of the projection's correction imposed per step (0.3, 1 measured worse)
LOG_FLOOR = 1e-3  # the log polish's floor, relative to the mel's peak (-60 dB; 1e-4, 1e-5 measured worse)


def check_fidelity(fidelity) -> str:
    """``fidelity`` if it is one of :data:`FIDELITIES`, else :class:`InputError` naming it."""
    if not isinstance(fidelity, str) or fidelity not in FIDELITIES:
        raise InputError(f"fidelity must be one of {', '.join(repr(f) for f in FIDELITIES)} "
                         f"('exact' holds the mel exactly, 'soft' relaxes it for predicted mels), got {fidelity!r}")
    return fidelity


class LogMelError:
    """``f(y) = sum((ln(fb.T @ |STFT(y)| ** power + c) - ln(M + c)) ** 2) / (2 N)`` over the
    matchable rows, ``c = LOG_FLOOR * max(M)`` and its gradient (as
    :class:`~invmel_core.inverse.mel_polish.MelError`, the residual weighted by ``1 / (mel + c)``)."""

    def __init__(self, plan: STFTPlan, fb: MelFilterbank, target: np.ndarray, power: float):
        self.plan, self.band, self.power = plan, fb.banded, power
        peak = float(target.max(initial=0.0))
        self.floor = np.float32(LOG_FLOOR * peak if peak > 0 else 1.0)
        self.log_target = np.log(target + self.floor)
        self.rows = fb.banded.matchable[:, None]
        self.scale = 1.0 / max(int(self.rows.sum()) * target.shape[1], 1)

    def __call__(self, samples: np.ndarray) -> tuple[float, np.ndarray]:
        coeffs = self.plan.forward(samples)
        magnitude = np.abs(coeffs)
        powered = magnitude if self.power == 1 else magnitude ** np.float32(self.power)
        mel = self.band.project(powered.T)
        mel += self.floor
        residual = np.log(mel) - self.log_target
        residual *= self.rows
        value = 0.5 * self.scale * float(np.sum(residual.astype(np.float64) ** 2))
        residual /= mel
        return value, back_to_samples(self, residual, coeffs, magnitude)


def soften(gain: np.ndarray) -> np.ndarray:
    """The projection's gain (``(n_freqs, time)``, >= 0) raised to :data:`SOFT_WEIGHT` in place."""
    return np.power(gain, np.float32(SOFT_WEIGHT), out=gain)
