"""Checks on user-supplied arrays, with messages that say what to do."""

from __future__ import annotations

import numpy as np

from .errors import InputError


def check_melspec(melspec, n_mels: int, name: str = "melspec") -> np.ndarray:
    """Validate a mel spectrogram ``(..., n_mels, time)`` and return it as float32.

    Raises :class:`InputError` for a wrong type or shape, NaN/inf, or negative values
    (almost always a log or dB mel spectrogram, which must be undone first).
    """
    try:
        arr = np.asarray(melspec)
    except Exception as exc:  # ragged lists, exotic objects
        raise InputError(f"{name} must be a numeric array, could not convert it: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise InputError(
            f"{name} is complex; pass a power (or magnitude) mel spectrogram, e.g. np.abs(x) ** 2"
        )
    if arr.ndim < 2:
        raise InputError(
            f"{name} must have at least 2 dimensions (..., n_mels, time), got shape {arr.shape}"
        )
    if arr.shape[-2] != n_mels:
        hint = ""
        if arr.shape[-1] == n_mels:
            hint = " It looks transposed: the layout is (..., n_mels, time); pass melspec.T."
        raise InputError(
            f"Expected an input with {n_mels} mel bins. Found: {arr.shape[-2]} "
            f"(shape {arr.shape}).{hint}"
        )
    if arr.shape[-1] == 0:
        raise InputError(f"{name} has zero frames (shape {arr.shape}); it needs at least one")
    if 0 in arr.shape:
        raise InputError(f"{name} is empty (shape {arr.shape})")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.isfinite(arr).sum())
        raise InputError(
            f"{name} contains {bad} NaN or infinite values; a mel spectrogram must be finite "
            "(replace them, e.g. np.nan_to_num(melspec), or recompute it)"
        )
    lowest = float(arr.min())
    if lowest < 0:
        raise InputError(
            f"{name} has negative values (min {lowest:.4g}), so it is probably a log or dB mel "
            "spectrogram. Undo the log first: for dB of power use 10 ** (melspec / 10) "
            "(librosa.db_to_power), for dB of amplitude 10 ** (melspec / 20) (librosa.db_to_amplitude), "
            "for a natural log np.exp(melspec)."
        )
    return arr
