"""The matchable part of ``fb.T @ X = M``: what every solver here solves and reports on.

Empty filters (all-zero columns of ``fb``) give rows of the system that no ``X`` can
change, so they are left out of the system and of the relative residual.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.sparse


@lru_cache(maxsize=8)
def mel_system(fb) -> "MelSystem":
    """The :class:`MelSystem` of a (hashable, immutable) filterbank, cached: the app solves
    with the same filterbank again and again."""
    return MelSystem(fb)


class MelSystem:
    """The matchable part of ``fb.T @ X = M``: the non-empty filters, as sparse operators.

    Besides ``fb.T`` (:meth:`project`) and ``fb`` (:meth:`adjoint`) it holds two scaled
    copies of ``fb`` that the NNLS solver uses:

    - ``descent = diag(1 / d) @ fb`` with ``d = fb @ fb.T @ 1``: the gradient step of
      ``0.5 ||fb.T @ X - M||^2`` scaled per bin (Jacobi in bin space). ``diag(d)`` bounds the
      Hessian ``fb @ fb.T`` from above (it is non-negative), so the unit step is safe, and
      the scaling is diagonal, so the projection on ``X >= 0`` stays a clip.
    - ``spread = fb @ diag(1 / (G @ 1))`` with ``G = fb.T @ fb``: spreads each mel value over
      its filter in proportion to the weights, so that ``fb.T @ spread @ M`` is close to ``M``
      (the starting point).

    Examples
    --------
    >>> from invmel_core import MelFilterbank
    >>> system = MelSystem(MelFilterbank(201, 0.0, None, 40, 16000))
    >>> system.rows.size, system.descent.shape
    (40, (201, 40))
    """

    def __init__(self, fb):
        dense = np.asarray(fb.dense, dtype=np.float64)
        self.rows = np.flatnonzero(dense.max(axis=0) > 0)  # matchable (non-empty) filters
        used = dense[:, self.rows]
        self.n_freqs = dense.shape[0]
        self.fbT = scipy.sparse.csr_array(used.T.astype(np.float32))
        self.fb = scipy.sparse.csr_array(used.astype(np.float32))
        bin_bound = used @ used.sum(axis=0)  # (fb @ fb.T @ 1): 0 only for bins no filter sees
        with np.errstate(divide="ignore"):
            inverse_bound = np.where(bin_bound > 0, 1.0 / bin_bound, 0.0)
        self.descent = scipy.sparse.csr_array((used * inverse_bound[:, None]).astype(np.float32))
        gram_rowsums = used.T @ used.sum(axis=1)  # G @ 1 > 0 for every non-empty filter
        self.spread = scipy.sparse.csr_array((used / gram_rowsums).astype(np.float32))

    def project(self, spec: np.ndarray) -> np.ndarray:
        """``fb.T @ spec`` on the matchable filters."""
        return self.fbT @ spec

    def adjoint(self, mel: np.ndarray) -> np.ndarray:
        """``fb @ mel`` from the matchable filters."""
        return self.fb @ mel

    def relative_residual(self, spec: np.ndarray, melspec: np.ndarray) -> float:
        """``||fb.T @ spec - melspec|| / ||melspec||`` over the matchable filters (0 when
        they hold no energy). ``spec`` is ``(..., n_freqs, time)``, ``melspec``
        ``(..., n_mels, time)`` with all filters."""
        target = np.asarray(melspec, np.float64)[..., self.rows, :]
        norm = np.linalg.norm(target)
        if norm == 0:
            return 0.0
        spec = np.asarray(spec, np.float32)
        predicted = np.stack([self.project(s) for s in spec.reshape(-1, *spec.shape[-2:])])
        return float(np.linalg.norm(predicted.reshape(target.shape) - target) / norm)
