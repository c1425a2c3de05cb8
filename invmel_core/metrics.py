"""How good is a reconstruction? Three numbers, each scale-free.

- :func:`mel_residual`: does the estimate explain the mel spectrogram? (what solvers minimise)
- :func:`spectral_convergence`: how close is it to the true linear spectrogram?
- :func:`log_spectral_distance`: the same in dB, closer to what the ear hears.
"""

from __future__ import annotations

import numpy as np


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def mel_residual(spec, melspec, fb) -> float:
    """Relative mel residual ``||fb.T @ spec - melspec|| / ||melspec||`` (Frobenius).

    ``fb`` is a :class:`~invmel_core.filterbank.MelFilterbank` or a dense ``(n_freqs, n_mels)``
    array; ``spec`` is ``(..., n_freqs, time)`` and ``melspec`` ``(..., n_mels, time)``.

    Examples
    --------
    >>> from invmel_core import MelFilterbank
    >>> fb = MelFilterbank(201, 0.0, None, 40, 16000)
    >>> x = np.ones((201, 4), np.float32)
    >>> mel_residual(x, fb.dense.T @ x, fb) < 1e-6  # float32 rounding only
    True
    """
    dense = fb.dense if hasattr(fb, "dense") else np.asarray(fb)
    predicted = np.matmul(dense.T.astype(np.float64), _f64(spec))
    target = _f64(melspec)
    norm = np.linalg.norm(target)
    return float(np.linalg.norm(predicted - target) / norm) if norm > 0 else float(np.linalg.norm(predicted))


def spectral_convergence(estimate, reference) -> float:
    """``||estimate - reference|| / ||reference||`` on magnitudes (Frobenius); 0 is perfect."""
    ref = _f64(reference)
    norm = np.linalg.norm(ref)
    diff = np.linalg.norm(_f64(estimate) - ref)
    return float(diff / norm) if norm > 0 else float(diff)


def log_spectral_distance(estimate, reference, *, power: bool = True, floor_db: float = -100.0) -> float:
    """Log-spectral distance in dB: RMS over bins of the dB difference, averaged over frames.

    ``power=True`` for power spectrograms (10 log10), False for magnitudes (20 log10). Both
    are floored at ``floor_db`` below the reference's peak so silent bins do not dominate.
    """
    factor = 10.0 if power else 20.0
    ref, est = _f64(reference), _f64(estimate)
    peak = max(ref.max(initial=0.0), est.max(initial=0.0), np.finfo(np.float64).tiny)
    floor = peak * 10.0 ** (floor_db / factor)
    d = factor * (np.log10(np.maximum(est, floor)) - np.log10(np.maximum(ref, floor)))
    return float(np.mean(np.sqrt(np.mean(d**2, axis=-2))))
