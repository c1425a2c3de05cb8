"""A user's mel file, read one way by every door: oriented, its compression undone, and why.

The app, the command line and batch all call :func:`read_mel`; they differ only in the two
policies it takes as parameters:

- ``orientation``: ``"auto"`` (the axis with ``n_mels`` entries is the mel axis; without
  ``n_mels``, the axis whose length is a usual mel count, said in a note, with a warning when
  both could be), ``"stored"`` (``(..., n_mels, time)`` as the file holds it) or ``"transposed"``.
- ``strict``: what to do when the values leave the reading open. ``True`` (the command
  lines, which write files nobody watches) refuses a compression it can only guess and a
  format its values contradict; ``False`` (the app, where the reading is on screen beside a
  choice) takes the format's reading when it can only guess and the values' own when they
  contradict the format, and says so in ``notes``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from invmel_core.errors import InputError
from invmel_core.formats.compression import (COMPRESSIONS, Compression, detect_compression, resolve_compression,
                                             stored_values, undo_compression)
from invmel_core.formats.presets import FORMATS, MelFormat, get_format
from invmel_core.validation import check_choice, numeric_array

ORIENTATIONS = ("auto", "stored", "transposed")
# Mel counts an axis is taken for when n_mels is not given: the presets' and the usual ones.
COMMON_N_MELS = frozenset({fmt.n_mels for fmt in FORMATS.values()} | {40, 64, 80, 128})


@dataclass(frozen=True)
class MelReading:
    """A mel file's values made linear.

    ``mel``: float32 linear mel ``(..., n_mels, time)``; ``stored``: the values as stored, in
    the same orientation; ``compression``: what was undone; ``detected``: what the values
    look like; ``source``: who decided (``"detected"``, ``"chosen"`` or ``"format NAME"``);
    ``transposed``: the file held ``(time, n_mels)``; ``floored_fraction``: the share of
    entries at the floor (upper bounds, not measurements); ``notes``: what a person should
    know about the reading.
    """

    mel: np.ndarray
    stored: np.ndarray
    compression: Compression
    detected: Compression
    source: str
    transposed: bool
    floored_fraction: float
    notes: tuple[str, ...] = ()


def orient_mel(stored: np.ndarray, n_mels: int | None = None, orientation: str = "auto") -> tuple[np.ndarray, bool, str]:
    """``(array as (..., n_mels, time), transposed, note)`` by the rule of the module's text.

    >>> orient_mel(np.zeros((862, 80)))[1]
    True
    >>> orient_mel(np.zeros((80, 80)))[2].startswith("warning: the array is square")
    True
    """
    arr = numeric_array(stored, "melspec")
    if arr.ndim < 2:
        raise InputError(f"a mel spectrogram has at least 2 dimensions (..., n_mels, time), got shape {arr.shape}")
    rows, cols = arr.shape[-2], arr.shape[-1]
    if orientation == "stored":
        return arr, False, ""
    if orientation == "transposed":
        return np.ascontiguousarray(np.swapaxes(arr, -1, -2)), True, ""
    if n_mels is not None:
        if rows == n_mels:
            return arr, False, ""
        if cols == n_mels:
            return (np.ascontiguousarray(np.swapaxes(arr, -1, -2)), True,
                    f"the file holds (time, n_mels) = {rows} x {cols}: read transposed")
        raise InputError(f"the mel spectrogram has {rows} mel bands (shape {arr.shape}) but n_mels is {n_mels}, "
                         "and its other axis does not match either: give the n_mels (or the format) it was made with")
    if rows == cols:
        return arr, False, (f"warning: the array is square ({rows} x {cols}), so which axis holds the mels cannot be "
                            "told; read as (n_mels, time). If it holds (time, n_mels), give n_mels or save its "
                            "transpose (np.save(path, mel.T))")
    if cols in COMMON_N_MELS and rows not in COMMON_N_MELS:
        return (np.ascontiguousarray(np.swapaxes(arr, -1, -2)), True,
                f"the file holds {rows} x {cols}: read as (time, n_mels) = {rows} frames of {cols} mels and "
                f"transposed ({cols} is a usual mel count, {rows} is not); give n_mels={rows} if it is (n_mels, time)")
    if cols in COMMON_N_MELS:
        return arr, False, (f"warning: read as (n_mels, time) = {rows} mels x {cols} frames; both axes could be the "
                            f"mel axis: give n_mels={cols} if it holds (time, n_mels)")
    if rows > cols:
        return arr, False, (f"read as {rows} mel bands x {cols} frames, more bands than frames: if the file holds "
                            "(time, n_mels), give n_mels or the orientation")
    return arr, False, ""


def read_mel(stored, *, n_mels: int | None = None, compression: Compression | str = "auto",
             format: MelFormat | str | None = None, orientation: str = "auto", strict: bool = True) -> MelReading:
    """Orient ``stored`` and undo its compression (see the module's text for the policies).

    Parameters
    ----------
    stored : array_like
        The values as the file holds them (``load_melspec(..., compressed=True)``).
    n_mels : int, optional
        The number of bands, if known (a format's when ``format`` is given and this is not).
    compression : str or Compression
        ``"auto"`` (read off the values, or the format's), or one of
        :data:`~invmel_core.formats.compression.COMPRESSIONS`.
    format : MelFormat or str, optional
        The model's format the file claims to be in (its compression and its bands).
    orientation : {"auto", "stored", "transposed"}
    strict : bool
        Refuse a guessed compression and a format the values contradict (True), or take the
        best reading and say so in ``notes`` (False).

    Returns
    -------
    MelReading

    See Also
    --------
    invmel_core.detect_compression, invmel_core.undo_compression

    Examples
    --------
    >>> stored = np.log(np.maximum(np.random.default_rng(0).random((80, 40), dtype=np.float32), 1e-5))
    >>> r = read_mel(stored.T, format="hifigan")
    >>> r.mel.shape, r.transposed, r.source
    ((80, 40), True, 'format hifigan')
    """
    orientation = check_choice("orientation", orientation, ORIENTATIONS)
    if not isinstance(compression, Compression):
        compression = check_choice("compression", compression, COMPRESSIONS)
    fmt = None if format is None else get_format(format)
    fmt_name = None if fmt is None else (format if isinstance(format, str) else "given")
    if n_mels is None and fmt is not None:
        n_mels = fmt.n_mels
    oriented, transposed, note = orient_mel(stored, n_mels, orientation)
    notes = [note] if note else []
    values, rounding = stored_values(oriented)
    detected = detect_compression(oriented)
    if compression != "auto":
        chosen, source = resolve_compression(values, rounding, compression), "chosen"
    elif fmt is not None and detected.confidence == "high" and detected.kind != fmt.compression:
        contradiction = (f"the values look {detected.label}, not {fmt.compression} as format {fmt_name!r} stores "
                         f"them: {detected.why}")
        if strict:
            raise InputError(f"{contradiction}. Is it another model's mel? Give its format, or the compression "
                             f"(one of {', '.join(COMPRESSIONS[1:])}) to read it anyway")
        chosen, source = detected, "detected"
        notes.append(contradiction + "; read as the values say")
    elif fmt is not None:
        chosen, source = resolve_compression(values, rounding, fmt), f"format {fmt_name}"
    elif detected.confidence == "low" and detected.kind != "linear" and strict:
        raise InputError(f"cannot tell how this mel spectrogram's values were compressed: {detected.why}. "
                         f"Say it: the compression, one of {', '.join(COMPRESSIONS[1:])}, or the model's format, "
                         f"one of {', '.join(sorted(FORMATS))}")
    else:
        chosen, source = detected, "detected"
        if detected.kind == "linear" and detected.confidence == "low" and float(values.max()) > 0:
            notes.append(f"warning: compression: linear (low confidence): {detected.why}. The values look like a "
                         "shifted or normalised log/dB mel, not a linear one, and are read as linear: if they are "
                         "dB shifted up by top_db, subtract it first (mel - top_db) and give the compression db10 "
                         "(--compression db10), or the model's format")
        else:
            notes.append(f"compression: {detected.setting if detected.db_factor or detected.kind != 'db' else 'db'} "
                         f"({detected.confidence} confidence): {detected.why}")
    with np.errstate(over="ignore", invalid="ignore"):
        linear, floored = undo_compression(oriented, chosen)
    if chosen.kind == "linear" and float(linear.min()) < 0:
        raise InputError(f"read as linear, the values go down to {float(linear.min()):.3g}: a mel spectrogram "
                         "of power or magnitude has none below 0, so these look like a log or dB mel. Say how the "
                         "values are stored (compression 'auto' reads it off them)")
    if not np.isfinite(linear).all():
        raise InputError(f"read as {chosen.label}, the values give numbers beyond float32 (the largest stored "
                         f"value is {float(values.max()):.4g}): they are not {chosen.label}. Choose another "
                         "compression")
    return MelReading(linear, oriented, chosen, detected, source, transposed, float(floored.mean()), tuple(notes))
