"""The joint method's last stage (:mod:`invmel_core.inverse.mel_audio`): the re-mel error of
samples, its gradient through any :class:`~invmel_core.dsp.stft_plan.STFTPlan` (every framing
and padding: the plan's exact adjoint), and L-BFGS on it."""

from __future__ import annotations

from typing import Callable

import numpy as np

from invmel_core.dsp.filterbank import MelFilterbank
from invmel_core.dsp.stft_plan import STFTPlan

LBFGS_MEMORY = 4  # correction pairs kept by the polish (measured: 3 to 10 give the same re-mel)


class MelError:
    """The re-mel error of samples and its gradient: ``f(y) = ||fb.T @ |STFT(y)| ** power -
    melspec||^2 / (2 ||melspec||^2)`` (empty filters' rows left out).

    With ``X = STFT(y)``, ``r = fb.T @ |X| ** power - melspec`` and ``R = fb @ r / ||melspec||^2``:
    ``grad f = STFT^T(R * power |X| ** (power - 2) X)``, where ``STFT^T`` is the adjoint
    (:meth:`~invmel_core.dsp.stft.STFTPlan.adjoint`). One evaluation costs a forward STFT, its
    adjoint and two sparse products.
    """

    def __init__(self, plan: STFTPlan, fb: MelFilterbank, target: np.ndarray, power: float):
        self.plan, self.band, self.power, self.target = plan, fb.banded, power, target
        energy = float(np.sum(target.astype(np.float64) ** 2))
        self.scale = 1.0 / energy if energy > 0 else 0.0

    def __call__(self, samples: np.ndarray) -> tuple[float, np.ndarray]:
        """``(f(samples), grad f)``, the gradient float32 like ``samples``."""
        coeffs = self.plan.forward(samples)
        magnitude = np.abs(coeffs)
        powered = magnitude if self.power == 1 else magnitude ** np.float32(self.power)
        residual = self.band.project(powered.T)
        residual -= self.target
        value = 0.5 * self.scale * float(np.sum(residual.astype(np.float64) ** 2))
        return value, back_to_samples(self, residual, coeffs, magnitude)


def back_to_samples(error, mel_gradient: np.ndarray, coeffs: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """The samples' gradient from the gradient of ``error``'s value with respect to the mel
    (``(n_mels, time)``): through the filterbank, ``|X| ** power`` and the STFT's adjoint.
    ``coeffs`` and ``magnitude`` (the STFT and its modulus) are overwritten."""
    # time-major and contiguous, so the element-wise products below run straight through
    weight = np.multiply(error.band.adjoint(mel_gradient).T, np.float32(error.scale * error.power), order="C")
    # d|X|**p / dX = p |X|**(p-2) X: divide by |X|**(2-p) where it is not 0
    if error.power != 2:
        np.maximum(magnitude, np.float32(np.finfo(np.float32).tiny), out=magnitude)
        weight /= magnitude if error.power == 1 else magnitude ** np.float32(2 - error.power)
    coeffs *= weight
    return error.plan.adjoint(coeffs)


def polish(error: MelError, samples: np.ndarray, n_eval: int, *,
           progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Lower ``error`` from ``samples`` with L-BFGS (``LBFGS_MEMORY`` pairs, Armijo
    backtracking), in at most ``n_eval`` evaluations; returns the best samples found (never
    worse than ``samples``). ``progress(evaluations)`` is called after each evaluation.

    Examples
    --------
    >>> from invmel_core.dsp.stft import stft_frames, spectrogram
    >>> fb = MelFilterbank(129, 0.0, None, 20, 8000)
    >>> y = np.random.default_rng(0).standard_normal(2000).astype(np.float32)
    >>> plan = STFTPlan(256, 64, 256, n_frames=stft_frames(y.size, 256, 64), length=y.size)
    >>> error = MelError(plan, fb, fb.banded.project(spectrogram(y, 256, 64)), power=2.0)
    >>> start = np.random.default_rng(1).standard_normal(2000).astype(np.float32)
    >>> bool(error(polish(error, start, 30))[0] < 0.5 * error(start)[0])
    True
    """
    if n_eval < 1:
        return samples
    value, gradient = error(samples)
    evaluations, pairs = 1, []
    if progress is not None:
        progress(evaluations)
    first_step = 1e-3 * float(np.linalg.norm(samples)) / max(float(np.linalg.norm(gradient)), 1e-30)
    while evaluations < n_eval and value > 0:
        direction = _lbfgs_direction(gradient, pairs, first_step)
        slope = float(np.dot(gradient, direction))
        if slope >= 0:  # not a descent direction (curvature pairs gone stale): steepest descent
            direction, slope, pairs = -gradient, -float(np.dot(gradient, gradient)), []
        step = 1.0
        while evaluations < n_eval:
            trial = samples + np.float32(step) * direction
            trial_value, trial_gradient = error(trial)
            evaluations += 1
            if progress is not None:
                progress(evaluations)
            if trial_value <= value + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break  # out of evaluations inside the line search: keep the best so far
        change, turn = trial - samples, trial_gradient - gradient
        # Keep the pair only with positive curvature (scale-free test: cos(change, turn) > 1e-8)
        if float(np.dot(change, turn)) > 1e-8 * float(np.linalg.norm(change)) * float(np.linalg.norm(turn)):
            pairs = (pairs + [(change, turn)])[-LBFGS_MEMORY:]
        samples, value, gradient = trial, trial_value, trial_gradient
    return samples


def _lbfgs_direction(gradient: np.ndarray, pairs: list, first_step: float) -> np.ndarray:
    """``-H @ gradient`` by the two-loop recursion over the stored ``(change, turn)`` pairs."""
    q = gradient.copy()
    scratch = np.empty_like(q)  # for a x without a new temporary each time
    alphas = []
    for change, turn in reversed(pairs):
        rho = 1.0 / float(np.dot(turn, change))
        alpha = rho * float(np.dot(change, q))
        q -= np.multiply(turn, np.float32(alpha), out=scratch)
        alphas.append((alpha, rho))
    if pairs:
        change, turn = pairs[-1]
        q *= np.float32(float(np.dot(change, turn)) / float(np.dot(turn, turn)))
    else:
        q *= np.float32(first_step)
    for (change, turn), (alpha, rho) in zip(pairs, reversed(alphas)):
        q += np.multiply(change, np.float32(alpha - rho * float(np.dot(turn, q))), out=scratch)
    q *= np.float32(-1.0)
    return q
