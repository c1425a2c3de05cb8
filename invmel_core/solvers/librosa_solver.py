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

from ..limits import BYTES_PER_ELEMENT
from ..metrics import mel_residual
from .base import CONVERGED, Iterate, SolverOptions, SolverSpec, register



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


def memory_estimate(batch: int, n_stft: int, n_mels: int, time: int) -> int:
    """Peak memory of ``librosa.feature.inverse.mel_to_stft`` (``librosa.util.nnls``).

    librosa runs scipy's L-BFGS-B on blocks of at most ``2**18 // (batch * n_mels * 4)``
    frames and keeps ``m = n_stft`` correction pairs, so the optimiser's workspace is about
    ``2 * m * n`` float64 for a block of ``n = batch * n_stft * frames`` unknowns: quadratic
    in ``n_stft``. Pages are touched as iterations accumulate, so a long solve does reach it.

    >>> round(memory_estimate(1, 1025, 128, 431) / 2**30, 1)  # GiB: 10 s of speech
    7.3
    """
    block_frames = min(int(time), max(1, 2**18 // (int(batch) * int(n_mels) * 4)))
    unknowns = int(batch) * int(n_stft) * block_frames
    history = int(n_stft)
    # L-BFGS-B's arrays, plus ~1 KiB per unknown for bounds, float64 copies and gradients
    # (measured with tracemalloc: 117 B inside scipy, ~350 B more around it).
    workspace = 8 * (2 * history * unknowns + 11 * history**2) + 1024 * unknowns
    return workspace + BYTES_PER_ELEMENT * int(batch) * int(n_stft) * int(time)


def run(melspec: np.ndarray, fb, options: SolverOptions, every: int = 1):
    import librosa  # heavy (numba); only when this solver runs

    melspec = np.asarray(melspec, np.float32)
    spec = librosa.feature.inverse.mel_to_stft(melspec, power=1.0, **librosa_arguments(fb))
    spec = np.ascontiguousarray(spec, dtype=np.float32)
    loss = mel_residual(spec, melspec, fb)
    yield Iterate(1, loss, spec, True, CONVERGED)


SPEC = register(SolverSpec(
    name="librosa",
    run=run,
    compat="librosa",
    summary=("librosa.feature.inverse.mel_to_stft (power=1): non-negative least squares by "
             "L-BFGS-B with an absolute stopping rule, on librosa's frequency grid. Slow on long "
             "or loud inputs; max_iter and the tolerances are not used."),
    uses=frozenset(),
    memory_estimate=memory_estimate,
))
