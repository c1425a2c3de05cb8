"""Triangular mel filterbanks, their banded (sparse) form, empty filters and frequency grids.

Conventions follow torchaudio: a filterbank ``fb`` is ``(n_freqs, n_mels)`` and a mel
spectrogram is ``fb.T @ spec`` for a linear spectrogram ``spec`` of shape ``(n_freqs, time)``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse

from .errors import InputError
from .scales import check_mel_type, hz_to_mel, mel_to_hz

COMPATS = ("torchaudio", "mindspore", "librosa")
NORMS = (None, "slaney")


class EmptyFilterWarning(UserWarning):
    """Some mel filters cover no frequency bin, so they are all zeros."""


def check_norm(norm):
    """Return ``None`` or ``"slaney"``; ``"none"`` (any case) is accepted for ``None``."""
    if norm is None or (isinstance(norm, str) and norm.lower() == "none"):
        return None
    if isinstance(norm, str) and norm.lower() == "slaney":
        return "slaney"
    raise InputError(f"norm must be None, 'none' or 'slaney', got {norm!r}")


def check_compat(compat: str) -> str:
    if compat not in COMPATS:
        raise InputError(f"compat must be one of {COMPATS}, got {compat!r}")
    return compat


def bin_frequencies(n_freqs: int, sample_rate: float, compat: str = "torchaudio") -> np.ndarray:
    """Centre frequency in Hz of each STFT bin, as each framework computes it.

    torchaudio uses ``linspace(0, sample_rate // 2, n_freqs)`` (integer division: for an
    odd rate the top bin sits half a hertz low); MindSpore and librosa use ``sample_rate / 2``.

    Examples
    --------
    >>> bin_frequencies(3, 11025, "torchaudio")
    array([   0., 2756., 5512.])
    >>> bin_frequencies(3, 11025, "mindspore")
    array([   0.  , 2756.25, 5512.5 ])
    """
    compat = check_compat(compat)
    nyquist = (sample_rate // 2) if compat == "torchaudio" else sample_rate / 2
    return np.linspace(0.0, float(nyquist), int(n_freqs))


def filter_edges(f_min: float, f_max: float, n_mels: int, mel_type: str = "htk") -> np.ndarray:
    """The ``n_mels + 2`` corner frequencies in Hz: filter ``m`` rises from ``edges[m]``,
    peaks at ``edges[m + 1]`` and falls to zero at ``edges[m + 2]``."""
    mels = np.linspace(hz_to_mel(f_min, mel_type), hz_to_mel(f_max, mel_type), int(n_mels) + 2)
    return np.atleast_1d(mel_to_hz(mels, mel_type))


def _check_number(name, value, *, integer=False, minimum=None, strict=False):
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name} must be {kind}, got {value!r} ({type(value).__name__})")
    if integer and not float(value).is_integer():
        raise InputError(f"{name} must be {kind}, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{name} must be finite, got {value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        rel = ">" if strict else ">="
        raise InputError(f"{name} must be {rel} {minimum}, got {value!r}")
    return int(value) if integer else float(value)


def check_mel_params(n_freqs, f_min, f_max, n_mels, sample_rate, *, n_freqs_name="n_freqs"):
    """Validate filterbank parameters; return them normalised (``f_max=None`` -> Nyquist).

    Raises :class:`InputError` naming the parameter, its value and what is allowed.
    """
    n_freqs = _check_number(n_freqs_name, n_freqs, integer=True, minimum=2)
    n_mels = _check_number("n_mels", n_mels, integer=True, minimum=1)
    sample_rate = _check_number("sample_rate", sample_rate, minimum=0, strict=True)
    f_min = _check_number("f_min", f_min, minimum=0.0)
    if f_max is None:
        f_max = float(sample_rate // 2)
    f_max = _check_number("f_max", f_max, minimum=0.0, strict=True)
    if f_min >= f_max:
        raise InputError(f"f_min must be below f_max, got f_min={f_min} and f_max={f_max}")
    return n_freqs, f_min, f_max, n_mels, sample_rate


def melscale_fbanks(
    n_freqs: int,
    f_min: float,
    f_max: float | None,
    n_mels: int,
    sample_rate: float,
    norm: str | None = None,
    mel_type: str = "htk",
    compat: str = "torchaudio",
) -> np.ndarray:
    """Triangular mel filterbank, matching ``torchaudio.functional.melscale_fbanks``.

    Parameters
    ----------
    n_freqs : int
        Number of STFT bins, ``n_fft // 2 + 1``.
    f_min, f_max : float
        Lowest and highest frequency in Hz (``f_max=None``: ``sample_rate // 2``).
    n_mels : int
        Number of mel filters.
    sample_rate : float
        Sample rate in Hz.
    norm : None or "slaney"
        ``"slaney"`` divides each triangle by its width in Hz (area normalisation).
    mel_type : {"htk", "slaney"}
        The mel scale (torchaudio calls it ``mel_scale``).
    compat : {"torchaudio", "mindspore", "librosa"}
        Which framework's bin frequencies to use (see :func:`bin_frequencies`).

    Returns
    -------
    np.ndarray
        float32 ``(n_freqs, n_mels)``. Warns :class:`EmptyFilterWarning` if a filter is all zeros.

    Examples
    --------
    >>> fb = melscale_fbanks(201, 0.0, 8000.0, 40, 16000)
    >>> fb.shape, fb.dtype
    ((201, 40), dtype('float32'))
    """
    fb = MelFilterbank(n_freqs, f_min, f_max, n_mels, sample_rate, norm, mel_type, compat)
    fb.warn_if_empty()
    return fb.dense


@dataclass(frozen=True)
class MelFilterbank:
    """A mel filterbank with its parameters, its dense and banded forms and its empty filters.

    Immutable and hashable, so the app can cache it. ``dense`` is torchaudio's
    ``(n_freqs, n_mels)`` float32 matrix; ``banded`` is the same matrix as a sparse
    operator, which the solvers use: each bin touches at most two filters, so a product
    costs O(n_freqs x time) instead of O(n_freqs x n_mels x time).
    """

    n_freqs: int
    f_min: float
    f_max: float | None
    n_mels: int
    sample_rate: float
    norm: str | None = None
    mel_type: str = "htk"
    compat: str = "torchaudio"

    def __post_init__(self):
        n_freqs, f_min, f_max, n_mels, sample_rate = check_mel_params(
            self.n_freqs, self.f_min, self.f_max, self.n_mels, self.sample_rate
        )
        for name, value in [("n_freqs", n_freqs), ("f_min", f_min), ("f_max", f_max),
                            ("n_mels", n_mels), ("sample_rate", sample_rate),
                            ("norm", check_norm(self.norm)), ("mel_type", check_mel_type(self.mel_type)),
                            ("compat", check_compat(self.compat))]:
            object.__setattr__(self, name, value)

    @cached_property
    def bin_hz(self) -> np.ndarray:
        """Frequency of each STFT bin in Hz, ``(n_freqs,)``."""
        return bin_frequencies(self.n_freqs, self.sample_rate, self.compat)

    @cached_property
    def edges_hz(self) -> np.ndarray:
        """The ``n_mels + 2`` corner frequencies (see :func:`filter_edges`)."""
        return filter_edges(self.f_min, self.f_max, self.n_mels, self.mel_type)

    @cached_property
    def dense(self) -> np.ndarray:
        """float32 ``(n_freqs, n_mels)``, read-only."""
        f_pts = self.edges_hz
        # Same arithmetic as torchaudio's _create_triangular_filterbank, in float64.
        f_diff = np.diff(f_pts)
        slopes = f_pts[None, :] - self.bin_hz[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            down = -slopes[:, :-2] / f_diff[:-1]
            up = slopes[:, 2:] / f_diff[1:]
        fb = np.maximum(0.0, np.minimum(down, up))
        fb = np.nan_to_num(fb, nan=0.0, posinf=0.0, neginf=0.0)  # zero-width triangles
        # A bin within float32 rounding of a triangle's corner gets 0 in the frameworks
        # (they compute in float32) but ~1e-19 here: call anything below 1e-6 zero, so
        # that "empty filter" means the same thing as in torchaudio.
        fb[fb < 1e-6] = 0.0
        if self.norm == "slaney":
            with np.errstate(divide="ignore"):
                enorm = 2.0 / (f_pts[2:] - f_pts[:-2])
            fb = fb * np.where(np.isfinite(enorm), enorm, 0.0)[None, :]
        fb = fb.astype(np.float32)
        fb.setflags(write=False)
        return fb

    @cached_property
    def empty(self) -> np.ndarray:
        """Indices of the filters that are all zeros (no bin falls inside their triangle)."""
        return np.flatnonzero(self.dense.max(axis=0) == 0.0)

    def warn_if_empty(self, stacklevel: int = 3) -> None:
        """Warn as torchaudio does when some filter is all zeros."""
        if self.empty.size:
            warnings.warn(
                f"At least one mel filterbank has all zero values ({self.empty.size} of {self.n_mels}: "
                f"filters {_short_list(self.empty)}). The value for `n_mels` ({self.n_mels}) may be set "
                f"too high. Or, the value for `n_freqs` ({self.n_freqs}) may be set too low.",
                EmptyFilterWarning,
                stacklevel=stacklevel,
            )

    @cached_property
    def banded(self) -> "BandedFilterbank":
        return BandedFilterbank(self.dense)


def _short_list(indices, limit: int = 8) -> str:
    items = [str(int(i)) for i in indices[:limit]]
    return ", ".join(items) + (", ..." if len(indices) > limit else "")


class BandedFilterbank:
    """The filterbank as sparse operators, plus each filter's support.

    ``starts[m]`` and ``stops[m]`` delimit filter ``m``'s non-zero bins (``stops`` exclusive;
    ``starts == stops`` for an empty filter) and ``weights[m]`` holds their values.

    Examples
    --------
    >>> fb = MelFilterbank(201, 0.0, 8000.0, 40, 16000)
    >>> band = fb.banded
    >>> spec = np.ones((201, 3), np.float32)
    >>> bool(np.allclose(band.project(spec), fb.dense.T @ spec))
    True
    """

    def __init__(self, dense: np.ndarray):
        dense = np.asarray(dense, dtype=np.float32)
        self.n_freqs, self.n_mels = dense.shape
        # fbT: (n_mels, n_freqs) for projection; fb: (n_freqs, n_mels) for the adjoint.
        self._fbT = scipy.sparse.csr_array(dense.T)
        self._fb = scipy.sparse.csr_array(dense)
        nz = dense != 0
        any_nz = nz.any(axis=0)
        self.starts = np.where(any_nz, nz.argmax(axis=0), 0)
        self.stops = np.where(any_nz, self.n_freqs - nz[::-1].argmax(axis=0), 0)
        self.weights = [dense[a:b, m].copy() for m, (a, b) in enumerate(zip(self.starts, self.stops))]
        self.max_filters_per_bin = int(nz.sum(axis=1).max()) if nz.size else 0

    @property
    def nnz(self) -> int:
        return int(self._fb.nnz)

    def project(self, spec: np.ndarray) -> np.ndarray:
        """``fb.T @ spec``: linear ``(n_freqs, time)`` -> mel ``(n_mels, time)``."""
        return self._fbT @ spec

    def adjoint(self, mel: np.ndarray) -> np.ndarray:
        """``fb @ mel``: mel ``(n_mels, time)`` -> linear ``(n_freqs, time)``."""
        return self._fb @ mel

    def gram_diagonals(self) -> tuple[np.ndarray, np.ndarray]:
        """Main and first off-diagonal of ``fb.T @ fb`` (tridiagonal: adjacent filters overlap)."""
        g = (self._fbT @ self._fb).toarray().astype(np.float64)
        return np.diag(g).copy(), np.diag(g, 1).copy()
