"""librosa's ``feature.inverse.mel_to_stft``, called as is.

librosa solves the same non-negative least squares with scipy's L-BFGS-B, started from
the clipped pseudo-inverse solution, on its own frequency grid (bins up to
``sample_rate / 2``). Its objective is the *mean* squared error and its stopping rule is
L-BFGS-B's default, both absolute: on quiet inputs it stops at once, on loud ones it
crawls (over five minutes on 10 s of speech at 22050 Hz).

``mel_to_stft(M, power=p)`` returns ``nnls(...) ** (1 / p)``; this solver calls it with
``power=1`` so that, like every solver here, it returns a spectrogram of the same power
as the mel input (take the square root yourself for librosa's default ``power=2``).
``n_fft`` is ``2 * (n_stft - 1)``; the mel parameters come from the filterbank.

It yields once (step 1, reason ``"converged"``: L-BFGS-B's own rule); its iteration count is
not exposed by librosa. ``loss`` is the relative mel residual ``||fb.T @ X - M|| / ||M||``
over the non-empty filters. The options (``max_iter``, tolerances, ``sgdargs``, ``seed``)
are not used: ``mel_to_stft`` has no such parameters.
"""

from __future__ import annotations

import numpy as np

from .base import CONVERGED, Iterate, SolverOptions, SolverSpec, register
from .mel_system import mel_system


def librosa_arguments(fb) -> dict:
    """The keyword arguments of ``librosa.feature.inverse.mel_to_stft`` (besides the input
    and ``power``) that rebuild ``fb``.

    Examples
    --------
    >>> from invmel_core import MelFilterbank
    >>> librosa_arguments(MelFilterbank(201, 0.0, None, 40, 16000, compat="librosa"))
    {'sr': 16000.0, 'n_fft': 400, 'fmin': 0.0, 'fmax': 8000.0, 'htk': True, 'norm': None}
    """
    return dict(sr=fb.sample_rate, n_fft=2 * (fb.n_freqs - 1), fmin=fb.f_min, fmax=fb.f_max,
                htk=fb.mel_type == "htk", norm=fb.norm)


def run(melspec: np.ndarray, fb, options: SolverOptions, every: int = 1):
    import librosa  # heavy (numba); only when this solver runs

    melspec = np.asarray(melspec, np.float32)
    spec = librosa.feature.inverse.mel_to_stft(melspec, power=1.0, **librosa_arguments(fb))
    spec = np.ascontiguousarray(spec, dtype=np.float32)
    loss = mel_system(fb).relative_residual(spec, melspec)
    yield Iterate(1, loss, spec, True, CONVERGED)


SPEC = register(SolverSpec(
    name="librosa",
    run=run,
    compat="librosa",
    summary=("librosa.feature.inverse.mel_to_stft (power=1): non-negative least squares by "
             "L-BFGS-B with an absolute stopping rule, on librosa's frequency grid. Slow on long "
             "or loud inputs; max_iter and the tolerances are not used."),
    uses=frozenset(),
))
