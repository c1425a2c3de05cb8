"""torchaudio >= 2.1's ``InverseMelScale``: ``relu`` of the minimum-norm least-squares solution.

torchaudio computes ``relu(torch.linalg.lstsq(fb.T, melspec, driver=driver).solution)``.
With its default driver ``"gels"`` (QR) the result is meaningless when the filterbank has
empty filters (``fb.T`` is then rank deficient); with ``"gelsd"`` (SVD) it is the
minimum-norm solution, which is what this solver returns in every case. It uses the
pseudo-inverse of ``fb.T`` with gelsd's default cut-off for float32 (singular values
below ``eps(float32) * max(n_mels, n_stft) * largest`` count as zero), computed once per
filterbank and cached.

The result ignores ``X >= 0`` until the final ``relu``, so it does not match the mel
spectrogram exactly (about 10 % relative residual on speech); ``"nnls"`` does.
The iterate's ``loss`` is that relative mel residual ``||fb.T @ X - M|| / ||M||`` over
the non-empty filters. The options (``max_iter``, tolerances, ``sgdargs``, ``seed``) are
not used.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from invmel_core.dsp.metrics import mel_residual
from invmel_core.inverse.solvers.base import CLOSED_FORM, Iterate, SolverOptions, SolverSpec, register
from invmel_core.inverse.solvers.columns import as_columns, from_columns


@lru_cache(maxsize=8)
def min_norm_inverse(fb) -> np.ndarray:
    """float32 ``(n_stft, n_mels)`` pseudo-inverse of ``fb.T`` with gelsd's float32 cut-off.

    Examples
    --------
    >>> from invmel_core import MelFilterbank
    >>> fb = MelFilterbank(201, 0.0, None, 40, 16000)
    >>> bool(np.allclose(fb.dense.T @ min_norm_inverse(fb), np.eye(40), atol=1e-4))
    True
    """
    fbT = np.asarray(fb.dense, np.float64).T
    rcond = np.finfo(np.float32).eps * max(fbT.shape)
    inverse = np.linalg.pinv(fbT, rcond=rcond).astype(np.float32)
    inverse.setflags(write=False)
    return inverse


def run(melspec: np.ndarray, fb, options: SolverOptions, every: int = 1):
    batch = melspec.shape[0]
    spec = min_norm_inverse(fb) @ as_columns(np.asarray(melspec, np.float32))
    np.maximum(spec, 0.0, out=spec)
    spec = from_columns(spec, batch)
    loss = mel_residual(spec, melspec, fb)
    yield Iterate(0, loss, spec, True, CLOSED_FORM)


SPEC = register(SolverSpec(
    name="lstsq",
    run=run,
    compat="torchaudio",
    summary=("torchaudio >= 2.1: relu of the minimum-norm least-squares solution (closed form, "
             "driver gelsd). Fast, but ignores X >= 0 until the end, so the mel residual stays large. "
             "max_iter and the tolerances are not used."),
    iterative=False,
    uses=frozenset(),
))
