"""Triangular mel filterbanks, their banded (sparse) form, empty filters and frequency grids.

Conventions follow torchaudio: a filterbank ``fb`` is ``(n_freqs, n_mels)`` and a mel
spectrogram is ``fb.T @ spec`` for a linear spectrogram ``spec`` of shape ``(n_freqs, time)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import scipy.sparse

from invmel_core import limits
from invmel_core.dsp.scales import hz_to_mel, mel_to_hz
from invmel_core.errors import InputError
from invmel_core.validation import (check_compat, check_filterbank_matrix, check_mel_params, check_mel_type,
                                  check_norm, check_number)


class EmptyFilterWarning(UserWarning):
    """Some mel filters cover no frequency bin, so they are all zeros.

    See Also
    --------
    MelFilterbank.warn_if_empty : when it is raised
    filter_edges : where each filter lies

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     MelFilterbank(65, 0.0, None, 40, 16000).warn_if_empty()
    >>> caught[0].category.__name__
    'EmptyFilterWarning'
    """


def bin_frequencies(n_freqs: int, sample_rate: float, compat: str = "torchaudio") -> np.ndarray:
    """Centre frequency in Hz of each STFT bin, as each framework computes it.

    torchaudio uses ``linspace(0, sample_rate // 2, n_freqs)`` (integer division: for an
    odd rate the top bin sits half a hertz low); MindSpore and librosa use ``sample_rate / 2``.

    See Also
    --------
    filter_edges : the filters' edges on the same axis
    MelFilterbank

    Examples
    --------
    >>> bin_frequencies(3, 11025, "torchaudio")
    array([   0., 2756., 5512.])
    >>> bin_frequencies(3, 11025, "mindspore")
    array([   0.  , 2756.25, 5512.5 ])
    """
    compat = check_compat(compat)
    n_freqs = check_number("n_freqs", n_freqs, integer=True, minimum=1, maximum=limits.MAX_BINS)
    sample_rate = check_number("sample_rate", sample_rate, minimum=0, strict=True)
    return _bin_frequencies(n_freqs, sample_rate, compat)


def _bin_frequencies(n_freqs: int, sample_rate: float, compat: str) -> np.ndarray:
    nyquist = (sample_rate // 2) if compat == "torchaudio" else sample_rate / 2
    return np.linspace(0.0, float(nyquist), int(n_freqs))


def filter_edges(f_min: float, f_max: float, n_mels: int, mel_type: str = "htk") -> np.ndarray:
    """The ``n_mels + 2`` corner frequencies in Hz: filter ``m`` rises from ``edges[m]``,
    peaks at ``edges[m + 1]`` and falls to zero at ``edges[m + 2]``.

    See Also
    --------
    hz_to_mel, mel_to_hz : the scales the edges are spaced on
    bin_frequencies : the STFT bins

    Examples
    --------
    >>> filter_edges(0.0, 1000.0, 2, "slaney").round(1)
    array([   0. ,  333.3,  666.7, 1000. ])
    """
    n_mels = check_number("n_mels", n_mels, integer=True, minimum=1, maximum=limits.MAX_MELS)
    f_min = check_number("f_min", f_min, minimum=0.0)
    f_max = check_number("f_max", f_max, minimum=0.0, strict=True)
    if f_min >= f_max:
        raise InputError(f"f_min must be below f_max, got f_min={f_min:g} and f_max={f_max:g}")
    return _filter_edges(f_min, f_max, n_mels, check_mel_type(mel_type))


def _filter_edges(f_min: float, f_max: float, n_mels: int, mel_type: str) -> np.ndarray:
    mels = np.linspace(hz_to_mel(f_min, mel_type), hz_to_mel(f_max, mel_type), int(n_mels) + 2)
    return np.atleast_1d(mel_to_hz(mels, mel_type))


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

    See Also
    --------
    MelFilterbank : the same, frozen and hashable, with its banded form
    hz_to_mel

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

    Immutable and hashable (equal parameters, equal filterbanks), so the app can cache it;
    the matrices of equal filterbanks are computed once per process. ``dense`` is
    torchaudio's ``(n_freqs, n_mels)`` float32 matrix; ``banded`` is the same matrix as
    sparse operators, which the solvers and metrics use: each bin touches at most two
    filters, so a product costs O(n_freqs x time) instead of O(n_freqs x n_mels x time).

    See Also
    --------
    melscale_fbanks : the same matrix as torchaudio returns it
    BandedFilterbank : its banded form
    InverseMelScale : inverts ``fb.T @ X``

    Examples
    --------
    >>> fb = MelFilterbank(201, 0.0, None, 40, 16000)
    >>> fb.dense.shape, fb.f_max, fb.empty.size
    ((201, 40), 8000.0, 0)
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
        limits.check_filterbank_memory(n_freqs, n_mels)  # before anything is built
        for name, value in [("n_freqs", n_freqs), ("f_min", f_min), ("f_max", f_max),
                            ("n_mels", n_mels), ("sample_rate", sample_rate),
                            ("norm", check_norm(self.norm)), ("mel_type", check_mel_type(self.mel_type)),
                            ("compat", check_compat(self.compat))]:
            object.__setattr__(self, name, value)

    @cached_property
    def bin_hz(self) -> np.ndarray:
        """Frequency of each STFT bin in Hz, ``(n_freqs,)``."""
        return _bin_frequencies(self.n_freqs, self.sample_rate, self.compat)

    @cached_property
    def edges_hz(self) -> np.ndarray:
        """The ``n_mels + 2`` corner frequencies (see :func:`filter_edges`)."""
        return _filter_edges(self.f_min, self.f_max, self.n_mels, self.mel_type)

    @property
    def dense(self) -> np.ndarray:
        """float32 ``(n_freqs, n_mels)``, read-only."""
        return _dense(self)

    @cached_property
    def empty(self) -> np.ndarray:
        """Indices of the filters that are all zeros (no bin falls inside their triangle)."""
        return np.flatnonzero(self.dense.max(axis=0) == 0.0)

    def warn_if_empty(self, stacklevel: int = 3) -> None:
        """Warn as torchaudio does when some filter is all zeros, with the real cause
        (:meth:`empty_causes`: above Nyquist, or too narrow for the bins)."""
        if self.empty.size:
            # torchaudio's advice where it applies (too narrow), the real cause where it does not.
            torchaudio = (f" The value for `n_mels` ({self.n_mels}) may be set too high. Or, the value for `n_freqs` "
                          f"({self.n_freqs}) may be set too low." if any(c.kind == "too_narrow"
                                                                          for c in self.empty_causes()) else "")
            warnings.warn(
                f"At least one mel filterbank has all zero values ({self.empty.size} of {self.n_mels}: "
                f"filters {_short_list(self.empty)}).{torchaudio} "
                + " ".join(cause.text for cause in self.empty_causes()),
                EmptyFilterWarning,
                stacklevel=stacklevel,
            )

    def empty_causes(self) -> tuple:
        """Why each empty filter is empty, grouped by cause (none when no filter is empty).

        ``"above_nyquist"``: the filter is centred above the top STFT bin (``f_max`` above
        ``sample_rate / 2``, or ``f_min`` at or above it): no bin exists there, so only a lower
        ``f_max`` (at most ``sample_rate / 2``) or a higher sample rate removes it — more bins
        or fewer mels do not. ``"too_narrow"``: the triangle lies between two bins, narrower
        than their spacing (near the bottom of the mel scale, where filters are narrowest):
        fewer mels, a larger ``n_fft`` or a higher ``f_min`` widen it.

        >>> fb = MelFilterbank(513, 0.0, 20000.0, 80, 22050)
        >>> [(c.kind, c.filters.size) for c in fb.empty_causes()]
        [('above_nyquist', 12)]
        """
        from invmel_core.dsp.empty_filters import empty_causes   # the explanations live beside

        return empty_causes(self)

    @property
    def banded(self) -> "BandedFilterbank":
        """The sparse operators (:class:`BandedFilterbank`)."""
        return _banded(self)

    def ideal_peaks(self) -> np.ndarray:
        """Height of each filter's continuous triangle at its centre: 1, or with the Slaney
        norm ``2 / (upper - lower)`` (unit area). The bins may all miss the peak.

        >>> MelFilterbank(201, 0.0, None, 40, 16000).ideal_peaks()[:2]
        array([1., 1.])
        """
        if self.norm != "slaney":
            return np.ones(self.n_mels)
        width = self.edges_hz[2:] - self.edges_hz[:-2]
        with np.errstate(divide="ignore"):
            return np.where(width > 0, 2.0 / width, 0.0)

    def table(self) -> dict[str, np.ndarray]:
        """Per filter: index, lower edge, centre, upper edge (Hz), width, bins inside, empty.

        >>> MelFilterbank(201, 0.0, None, 40, 16000).table()["bins inside"][:3]
        array([2, 2, 2])
        """
        edges, band = self.edges_hz, self.banded
        return {
            "filter": np.arange(self.n_mels),
            "lower (Hz)": np.round(edges[:-2], 2),
            "centre (Hz)": np.round(edges[1:-1], 2),
            "upper (Hz)": np.round(edges[2:], 2),
            "width (Hz)": np.round(edges[2:] - edges[:-2], 2),
            "bins inside": (band.stops - band.starts).astype(int),
            "empty": np.isin(np.arange(self.n_mels), self.empty),
        }


def default_zoom_hz(fb: MelFilterbank) -> float:
    """How much of the low end to show to see the filters fall between the bins: up to past the
    last empty filter, or the first ~12 filters (at least 6 bins and 50 Hz).

    >>> round(default_zoom_hz(MelFilterbank(201, 0.0, None, 40, 16000)))
    856
    """
    edges = fb.edges_hz
    if fb.empty.size:
        hz = edges[int(fb.empty.max()) + 2] * 1.15
    else:
        hz = edges[min(fb.n_mels + 1, 13)]
    step = fb.bin_hz[1] - fb.bin_hz[0] if fb.n_freqs > 1 else hz
    return float(min(max(hz, 6 * step, 50.0), edges[-1]))


@lru_cache(maxsize=8)
def _dense(fb: MelFilterbank) -> np.ndarray:
    f_pts = fb.edges_hz
    # Same arithmetic as torchaudio's _create_triangular_filterbank, in float64.
    f_diff = np.diff(f_pts)
    slopes = f_pts[None, :] - fb.bin_hz[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        down = -slopes[:, :-2] / f_diff[:-1]
        up = slopes[:, 2:] / f_diff[1:]
    dense = np.maximum(0.0, np.minimum(down, up))
    dense = np.nan_to_num(dense, nan=0.0, posinf=0.0, neginf=0.0)  # zero-width triangles
    # A bin within float32 rounding of a triangle's corner gets 0 in the frameworks
    # (they compute in float32) but ~1e-19 here: call anything below 1e-6 zero, so
    # that "empty filter" means the same thing as in torchaudio.
    dense[dense < 1e-6] = 0.0
    if fb.norm == "slaney":
        with np.errstate(divide="ignore"):
            enorm = 2.0 / (f_pts[2:] - f_pts[:-2])
        dense = dense * np.where(np.isfinite(enorm), enorm, 0.0)[None, :]
    dense = dense.astype(np.float32)
    dense.setflags(write=False)
    return dense


@lru_cache(maxsize=8)
def _banded(fb: MelFilterbank) -> "BandedFilterbank":
    return BandedFilterbank(fb.dense)


def _short_list(indices, limit: int = 8) -> str:
    items = [str(int(i)) for i in indices[:limit]]
    return ", ".join(items) + (", ..." if len(indices) > limit else "")


def _csr(matrix: np.ndarray) -> scipy.sparse.csr_array:
    return scipy.sparse.csr_array(np.asarray(matrix, dtype=np.float32))


class BandedFilterbank:
    """The filterbank as sparse operators: the one form solvers and metrics compute with.

    ``fbT`` (``(n_mels, n_freqs)``, :meth:`project`) and ``fb`` (``(n_freqs, n_mels)``,
    :meth:`adjoint`) are float32 CSR matrices. ``starts[m]`` and ``stops[m]`` delimit filter
    ``m``'s non-zero bins (``stops`` exclusive; ``starts == stops`` for an empty filter);
    ``matchable`` marks the filters that are not empty (their rows of ``fb.T @ X = M`` are
    the only ones any ``X`` can change). :attr:`descent` and :attr:`spread` are the scaled
    copies of ``fb`` the NNLS solver steps and starts with.

    See Also
    --------
    MelFilterbank : the filterbank it is the banded form of
    melscale_fbanks : the dense matrix

    Examples
    --------
    >>> fb = MelFilterbank(201, 0.0, 8000.0, 40, 16000)
    >>> band = fb.banded
    >>> spec = np.ones((201, 3), np.float32)
    >>> bool(np.allclose(band.project(spec), fb.dense.T @ spec))
    True
    """

    def __init__(self, dense: np.ndarray):
        dense = check_filterbank_matrix(dense, "dense")
        self.n_freqs, self.n_mels = dense.shape
        self.fbT = _csr(dense.T)
        self.fb = _csr(dense)
        nz = dense != 0
        self.matchable = nz.any(axis=0)
        self.starts = np.where(self.matchable, nz.argmax(axis=0), 0)
        self.stops = np.where(self.matchable, self.n_freqs - nz[::-1].argmax(axis=0), 0)

    # descent and spread serve the NNLS solver only: built on its first use, not for every
    # metric, chart and table that needs the banded form (seconds at n_fft 65536).

    @cached_property
    def descent(self) -> scipy.sparse.csr_array:
        """``D^-1 fb`` with ``D = diag(fb @ fb.T @ 1)``, which bounds the Hessian ``fb @ fb.T``
        (non-negative) from above, so ``X - D^-1 fb (fb.T X - M)`` is a safe step; 0 for bins
        no filter sees."""
        wide = self.fb.toarray().astype(np.float64)
        bin_bound = wide @ wide.sum(axis=0)
        with np.errstate(divide="ignore"):
            inverse_bound = np.where(bin_bound > 0, 1.0 / bin_bound, 0.0)
        return _csr(wide * inverse_bound[:, None])

    @cached_property
    def spread(self) -> scipy.sparse.csr_array:
        """``fb @ diag(1 / (G @ 1))``, ``G = fb.T @ fb``: each mel value spread over its filter in
        proportion to the weights, so ``fb.T @ spread @ M`` is close to ``M`` (0 for empty filters)."""
        wide = self.fb.toarray().astype(np.float64)
        gram_rowsums = wide.T @ wide.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _csr(np.where(gram_rowsums > 0, wide / gram_rowsums, 0.0))

    def project(self, spec: np.ndarray) -> np.ndarray:
        """``fb.T @ spec``: linear ``(n_freqs, time)`` -> mel ``(n_mels, time)``."""
        return self.fbT @ spec

    def adjoint(self, mel: np.ndarray) -> np.ndarray:
        """``fb @ mel``: mel ``(n_mels, time)`` -> linear ``(n_freqs, time)``."""
        return self.fb @ mel
