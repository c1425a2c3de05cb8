"""Spectrograms on screen: max-pooled to screen resolution, on a linear, log or mel frequency
axis (display only; the computation stays at full resolution). Used by :mod:`invmel_core.figures.plots`.

Examples
--------
>>> rows = FrequencyRows(np.linspace(0.0, 8000.0, 257), "log", None, "htk", rows=64)
>>> rows.pool(np.ones((257, 10), np.float32), max_cols=10).shape
(64, 10)
"""

from __future__ import annotations

import numpy as np

from invmel_core.errors import InputError
from invmel_core.validation import check_number

FREQ_AXES = ("linear", "log", "mel")
TICKS_HZ = (20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000)


def downsample_max(array: np.ndarray, max_rows: int = 512, max_cols: int = 1000) -> np.ndarray:
    """Max-pool a 2-D array to at most ``max_rows x max_cols`` (display only).

    Max (not mean) pooling keeps short loud events and thin harmonics visible when
    thousands of frames share one screen pixel.

    Examples
    --------
    >>> downsample_max(np.arange(12.0).reshape(2, 6), max_cols=3)
    array([[ 1.,  3.,  5.],
           [ 7.,  9., 11.]])
    """
    a = np.asarray(array)
    if a.ndim != 2:
        raise InputError(f"array must be 2-D (rows, columns), got shape {a.shape}")
    max_rows = check_number("max_rows", max_rows, integer=True, minimum=1)
    max_cols = check_number("max_cols", max_cols, integer=True, minimum=1)
    return _pool_axis(_pool_axis(a, max_rows, 0), max_cols, 1)


def _pool_axis(a: np.ndarray, limit: int, axis: int) -> np.ndarray:
    n = a.shape[axis]
    if n <= limit:
        return a
    factor = -(-n // limit)  # ceil
    pad = factor * (-(-n // factor)) - n
    if pad:
        widths = [(0, 0), (0, 0)]
        widths[axis] = (0, pad)
        a = np.pad(a, widths, mode="edge")
    shape = list(a.shape)
    shape[axis:axis + 1] = [shape[axis] // factor, factor]
    return a.reshape(shape).max(axis=axis + 1)


class FrequencyRows:
    """The rows of a spectrogram image on a linear, log or mel frequency axis, over a band.

    On a warped axis the image gets ``rows`` rows evenly spaced in log(f) or mel(f); each
    shows the loudest bin inside it, or the nearest bin where rows are finer than bins.
    The axis is drawn in warped units with ticks labelled in Hz.
    """

    def __init__(self, bin_hz: np.ndarray, axis: str, freq_range, mel_type: str, rows: int = 512):
        low, high = (0.0, float(bin_hz[-1])) if freq_range is None else map(float, freq_range)
        low, high = max(low, 0.0), min(high, float(bin_hz[-1]))
        if axis == "log":
            low = max(low, float(bin_hz[1]) if bin_hz.size > 1 else 1.0, 20.0)  # the audible floor
        if not high > low:
            raise InputError(f"freq_range must be a band inside 0..{bin_hz[-1]:g} Hz, got {freq_range!r}")
        self.bin_hz, self.axis, self.mel_type = bin_hz, axis, mel_type
        self.label = {"linear": "Hz", "log": "Hz (log scale)", "mel": f"Hz ({mel_type.upper() if mel_type == 'htk' else 'Slaney'} mel scale)"}[axis]
        lo, hi = self._warp(low), self._warp(high)
        self.extent = (lo, hi)
        if axis == "linear":
            self.index = None
            self.keep = slice(int(np.searchsorted(bin_hz, low, "left")), int(np.searchsorted(bin_hz, high, "right")))
            self.extent = (float(bin_hz[self.keep][0]), float(bin_hz[self.keep][-1])) if bin_hz[self.keep].size > 1 \
                else (low, high)
            return
        edges = self._unwarp(np.linspace(lo, hi, rows + 1))
        centres = self._unwarp(np.linspace(lo, hi, 2 * rows + 1)[1::2])
        step = float(bin_hz[1] - bin_hz[0]) if bin_hz.size > 1 else 1.0
        starts = np.searchsorted(bin_hz, edges[:-1], "left")
        stops = np.searchsorted(bin_hz, edges[1:], "left")
        self.nearest = np.clip(np.round(centres / step), 0, bin_hz.size - 1).astype(np.intp)
        self.filled = stops > starts            # rows with at least one bin inside
        self.starts, self.stop = starts[self.filled], int(stops[self.filled][-1]) if self.filled.any() else 0

    def _warp(self, hz):
        from invmel_core.dsp.scales import hz_to_mel

        if self.axis == "log":
            return np.log10(hz)
        return hz_to_mel(hz, self.mel_type) if self.axis == "mel" else hz

    def _unwarp(self, u):
        from invmel_core.dsp.scales import mel_to_hz

        if self.axis == "log":
            return 10.0 ** np.asarray(u)
        return np.asarray(mel_to_hz(u, self.mel_type)) if self.axis == "mel" else np.asarray(u)

    def pool(self, image: np.ndarray, max_cols: int, signed: bool = False) -> np.ndarray:
        """``image`` (bins, frames) as display rows, at most ``max_cols`` columns (max-pooled,
        or largest-magnitude-pooled if ``signed``)."""
        if signed:
            hi, lo = self.pool(image, max_cols), -self.pool(-image, max_cols)
            return np.where(np.abs(hi) >= np.abs(lo), hi, lo)
        image = downsample_max(np.asarray(image), image.shape[0], max_cols)
        if self.axis == "linear":
            return downsample_max(image[self.keep], 512, max_cols)
        out = image[self.nearest]
        if self.filled.any():
            out[self.filled] = np.maximum.reduceat(image[: self.stop], self.starts, axis=0)
        return out

    def ticks(self, ax) -> None:
        """Ticks labelled in Hz at round frequencies (a warped axis is in warped units)."""
        if self.axis == "linear":
            return
        lo, hi = self.extent
        hz = [f for f in TICKS_HZ if lo <= self._warp(f) <= hi]
        ax.set_yticks([float(self._warp(f)) for f in hz], [f"{f // 1000}k" if f >= 1000 else str(f) for f in hz])
