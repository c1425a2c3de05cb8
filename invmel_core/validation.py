"""Checks on everything a user hands to the core, with messages that say what to do.

The one home for parameter and array checks. Public entry points (``MelFilterbank``,
``InverseMelScale``, the loaders, ``spectrogram``, ``griffinlim``, ``Settings``, the CLI)
call these once, at the boundary; the code behind them trusts what it is given. Every
check raises :class:`~invmel_core.errors.InputError` naming the parameter, the value it
got and what is allowed.
"""

from __future__ import annotations

import math
import reprlib

import numpy as np

from invmel_core import limits
from invmel_core.errors import InputError

MEL_TYPES = ("htk", "slaney")
NORMS = (None, "slaney")
COMPATS = ("torchaudio", "mindspore", "librosa")
MAX_SEED = 2**32 - 1  # the frameworks' MT19937 takes 32-bit seeds; librosa refuses larger ones

_FLOAT_MAX = float(np.finfo(np.float64).max)  # a Python float: compared exactly with any int
_SHOW = reprlib.Repr()  # values in messages: bounded in length and in the time to write them
_SHOW.maxstring = _SHOW.maxother = 60
_SHOW.maxlong = 24


def shown(value) -> str:
    """``repr(value)`` cut to a readable length (a 10**400 or a million-item list as given
    would drown the message, and writing it out could take seconds).

    >>> shown(10**400)
    '1000000000...00000000000'
    """
    return _SHOW.repr(value)


def check_number(name: str, value, *, integer: bool = False, minimum=None, maximum=None,
                 strict: bool = False):
    """``value`` as an ``int`` (``integer=True``) or ``float``, or :class:`InputError`.

    ``minimum`` is inclusive unless ``strict``; ``maximum`` is inclusive. Booleans,
    strings, NaN and infinities are refused.

    Examples
    --------
    >>> check_number("n_fft", 2048.0, integer=True, minimum=2)
    2048
    >>> check_number("lr", -1, minimum=0)
    Traceback (most recent call last):
    ...
    invmel_core.errors.InputError: lr must be >= 0, got -1
    """
    kind = "an integer" if integer else "a number"
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()  # a 0-d array (a reduction's result) stands for its number
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name} must be {kind}, got {shown(value)} ({type(value).__name__})")
    if isinstance(value, (int, np.integer)):
        number = int(value)  # exact: 10**400 must not pass through float (OverflowError)
        if not integer:
            if abs(number) > _FLOAT_MAX:
                raise InputError(f"{name} must be finite, got {shown(value)}")
            number = float(number)
    else:
        if not math.isfinite(value):
            raise InputError(f"{name} must be finite, got {value!r}")
        if integer and not float(value).is_integer():
            raise InputError(f"{name} must be {kind}, got {value!r}")
        number = int(value) if integer else float(value)
    if minimum is not None and (number <= minimum if strict else number < minimum):
        raise InputError(f"{name} must be {'>' if strict else '>='} {minimum}, got {shown(value)}")
    if maximum is not None and number > maximum:
        raise InputError(f"{name} must be at most {maximum}, got {shown(value)}")
    return number


def check_seed(seed, name: str = "seed") -> int | None:
    """None, or an integer seed in ``[0, 2**32 - 1]`` (what MT19937 and librosa take)."""
    return None if seed is None else check_number(name, seed, integer=True, minimum=0, maximum=MAX_SEED)


def check_sample_rate(sample_rate, name: str = "sample_rate") -> int:
    """A sample rate of audio read, resampled or written: a whole number of hertz from 1 to
    :data:`~invmel_core.limits.MAX_SAMPLE_RATE` (WAV headers, libsndfile and the resampler
    take nothing beyond; see docs/limits.md).

    >>> check_sample_rate(22050.0)
    22050
    """
    rate = check_number(name, sample_rate, integer=True, minimum=1)
    if rate > limits.MAX_SAMPLE_RATE:
        raise InputError(f"{name} must be at most {limits.MAX_SAMPLE_RATE} Hz, got {shown(sample_rate)}; "
                         "resample the audio to a common rate (e.g. 48000 or 22050)")
    return rate


def check_positive_seconds(name: str, value) -> float:
    """A positive, finite number of seconds (time limits, slice budgets)."""
    return check_number(name, value, minimum=0, strict=True)


def check_choice(name: str, value, choices) -> str:
    """``value`` lower-cased if it is one of ``choices`` (strings), else :class:`InputError`."""
    if not isinstance(value, str) or value.lower() not in choices:
        raise InputError(f"{name} must be one of {tuple(choices)}, got {shown(value)}")
    return value.lower()


def check_mel_type(mel_type) -> str:
    """``"htk"`` or ``"slaney"`` (any case)."""
    return check_choice("mel_type", mel_type, MEL_TYPES)


def check_norm(norm) -> str | None:
    """``None`` or ``"slaney"``; ``"none"`` (any case) is accepted for ``None``."""
    if norm is None or (isinstance(norm, str) and norm.lower() == "none"):
        return None
    if isinstance(norm, str) and norm.lower() == "slaney":
        return "slaney"
    raise InputError(f"norm must be None, 'none' or 'slaney', got {shown(norm)}")


def check_compat(compat) -> str:
    """Whose frequency grid: ``"torchaudio"``, ``"mindspore"`` or ``"librosa"``."""
    if not isinstance(compat, str) or compat not in COMPATS:  # str first: an array's `in` is elementwise
        raise InputError(f"compat must be one of {COMPATS}, got {shown(compat)}")
    return compat


def check_mel_params(n_freqs, f_min, f_max, n_mels, sample_rate, *, n_freqs_name: str = "n_freqs"):
    """Filterbank parameters, normalised (``f_max=None`` -> ``sample_rate // 2``).

    Returns ``(n_freqs, f_min, f_max, n_mels, sample_rate)``; raises :class:`InputError`
    naming the parameter. When ``f_max`` was left to its default, a problem with it is
    reported as the sample rate's, which is what the user set.

    >>> check_mel_params(201, 0, None, 40, 16000)
    (201, 0.0, 8000.0, 40, 16000.0)
    """
    n_freqs = check_number(n_freqs_name, n_freqs, integer=True, minimum=2)
    n_mels = check_number("n_mels", n_mels, integer=True, minimum=1, maximum=limits.MAX_MELS)
    sample_rate = check_number("sample_rate", sample_rate, minimum=0, strict=True)
    f_min = check_number("f_min", f_min, minimum=0.0)
    if f_max is None:
        f_max = float(sample_rate // 2)
        if f_max <= f_min:
            nyquist = (f"sample_rate={sample_rate:g} Hz puts the Nyquist frequency (f_max's default, "
                       f"sample_rate // 2) at {f_max:g} Hz")
            if f_min == 0:  # the user set only the sample rate: say so, not "f_max"
                raise InputError(f"{nyquist}, so the filterbank would cover no frequencies; set the sample "
                                 "rate the audio was made at (e.g. 16000 or 22050)")
            raise InputError(f"{nyquist}, at or below f_min={f_min:g} Hz; set the sample rate the audio "
                             "was made at, or a lower f_min")
    f_max = check_number("f_max", f_max, minimum=0.0, strict=True)
    if f_min >= f_max:
        raise InputError(f"f_min must be below f_max, got f_min={f_min:g} and f_max={f_max:g}")
    return n_freqs, f_min, f_max, n_mels, sample_rate


def check_stft_params(n_fft, hop_length=None, win_length=None) -> tuple[int, int, int]:
    """``(n_fft, hop_length, win_length)`` with torchaudio's defaults filled in
    (``win_length = n_fft``, ``hop_length = win_length // 2``).

    >>> check_stft_params(1024, 256)
    (1024, 256, 1024)
    """
    n_fft = check_number("n_fft", n_fft, integer=True, minimum=2, maximum=limits.MAX_N_FFT)
    win_length = n_fft if win_length is None else check_number(
        "win_length", win_length, integer=True, minimum=1)
    if win_length > n_fft:
        raise InputError(f"win_length must be at most n_fft={n_fft}, got {win_length}")
    hop_length = max(win_length // 2, 1) if hop_length is None else check_number(
        "hop_length", hop_length, integer=True, minimum=1, maximum=1 << 20)
    return n_fft, hop_length, win_length


def check_power(power) -> float:
    """The exponent of a spectrogram: 2 for power, 1 for magnitude (any positive number)."""
    return check_number("power", power, minimum=0, strict=True)


def check_power_undone(magnitude: np.ndarray, power: float, name: str = "spec") -> None:
    """After ``magnitude = spec ** (1 / power)``: :class:`InputError` if that overflowed (a
    tiny ``power``, or values near the dtype's top), naming ``power``.

    >>> check_power_undone(np.array([np.inf]), 0.01)
    Traceback (most recent call last):
    ...
    invmel_core.errors.InputError: spec ** (1 / power) overflows with power=0.01; ...
    """
    if not np.isfinite(magnitude).all():
        raise InputError(
            f"{name} ** (1 / power) overflows with power={power:g}; power is the exponent {name} was made "
            "with: 2 for a power spectrogram, 1 for a magnitude one (or scale the spectrogram down)"
        )


# Bytes per element held while an array is checked and converted: the float32 copy (4), a
# boolean mask of it (1) and, on the way to an error message, a mask of the original (1).
_CHECK_BYTES_PER_ELEMENT = 6


def _numeric_array(value, name: str) -> np.ndarray:
    """``value`` as an ndarray of real or complex numbers (booleans count), without copying
    an array; :class:`InputError` for objects, strings, dates and masked values.

    >>> _numeric_array([1, 2], "x").dtype.kind
    'i'
    """
    if isinstance(value, np.ma.MaskedArray) and np.ma.is_masked(value):
        raise InputError(f"{name} is a masked array with {int(np.ma.count_masked(value))} masked values; "
                         f"fill them first, e.g. {name}.filled(0)")
    if hasattr(value, "toarray") and not isinstance(value, np.ndarray):
        raise InputError(f"{name} is a sparse matrix ({type(value).__name__}); pass a dense array, "
                         f"e.g. {name}.toarray()")
    try:
        arr = np.asarray(value)  # a subclass (memmap, matrix) becomes a plain view, never a copy
    except Exception as exc:  # ragged lists, tensors on a GPU or needing grad
        raise InputError(f"{name} must be a numeric array (np.asarray(x, np.float32), t.detach().cpu().numpy()): {shown(exc)}") from None
    if arr.dtype.kind not in "biufc":
        raise InputError(f"{name} must be a numeric array (float or integer), got dtype {arr.dtype}; "
                         "pass the values as float32, e.g. np.asarray(x, dtype=np.float32)")
    return arr

numeric_array = _numeric_array  # public: for callers that need the shape before the values are checked


def _finite_float32(arr: np.ndarray, name: str, what: str) -> np.ndarray:
    """A float32 copy of ``arr`` (never a view: the caller's array is never touched),
    refusing NaN, infinities and values float32 cannot hold. The memory it takes is checked
    first, so a broadcast view of a billion elements is refused, not copied."""
    limits.check_memory(arr.size * _CHECK_BYTES_PER_ELEMENT, f"checking {name} (shape {arr.shape})",
                        "Pass a smaller array (fewer frames).")
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(np.float32)
    if np.isfinite(out).all():
        return out
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr))) if arr.dtype.kind == "f" else 0
    if bad:
        raise InputError(f"{name} contains {bad} NaN or infinite values; {what} must be finite "
                         f"(replace them, e.g. np.nan_to_num({name}), or recompute it)")
    peak = max(abs(float(arr.max())), abs(float(arr.min())))
    raise InputError(f"{name} reaches {peak:.3g}, beyond float32's range (3.4e38); {what} is "
                     "computed in float32: scale it down")


def _real_array(value, name: str, what: str, example: str) -> np.ndarray:
    arr = _numeric_array(value, name)
    if arr.dtype.kind == "c":
        raise InputError(f"{name} is complex; pass a {what}, e.g. {example}")
    return arr


def check_melspec_shape(melspec, n_mels: int, name: str = "melspec") -> np.ndarray:
    """The checks of :func:`check_melspec` that need only the shape: type, layout
    ``(..., n_mels, time)``, at least one frame. Returns the array unconverted, so a
    caller can estimate the work from its shape before anything is copied.

    >>> check_melspec_shape(np.broadcast_to(np.float32(1), (40, 10**9)), 40).shape
    (40, 1000000000)
    """
    arr = _real_array(melspec, name, "power (or magnitude) mel spectrogram", "np.abs(x) ** 2")
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
    return arr


def check_melspec(melspec, n_mels: int, name: str = "melspec") -> np.ndarray:
    """Validate a mel spectrogram ``(..., n_mels, time)`` and return it as float32.

    Raises :class:`InputError` for a wrong type or shape, NaN/inf, or negative values
    (almost always a log or dB mel spectrogram, which must be undone first).

    >>> check_melspec([[1, 2], [3, 4]], n_mels=2).dtype
    dtype('float32')
    """
    arr = _finite_float32(check_melspec_shape(melspec, n_mels, name), name, "a mel spectrogram")
    lowest = float(arr.min())
    if lowest < 0:
        raise InputError(
            f"{name} has negative values (min {lowest:.4g}), so it is probably a log or dB mel "
            "spectrogram. Undo the log first: invmel_core.detect_compression(melspec) says which "
            "(ln, log10, dB, Whisper) and why, and invmel_core.undo_compression(melspec) returns the "
            "linear mel; by hand, for dB of power use 10 ** (melspec / 10) (librosa.db_to_power), for "
            "dB of amplitude 10 ** (melspec / 20), for a natural log np.exp(melspec)."
        )
    return arr


def check_stored_melspec(melspec, n_mels: int, name: str = "melspec") -> np.ndarray:
    """A mel spectrogram as stored (log, dB, or linear values): :func:`check_melspec`'s
    checks but non-negativity, as float32. Undo its compression with
    :func:`invmel_core.undo_compression`.

    >>> check_stored_melspec(np.log([[1e-5, 2.0]]), n_mels=1).dtype
    dtype('float32')
    """
    return _finite_float32(check_melspec_shape(melspec, n_mels, name), name, "a mel spectrogram")


def check_spectrogram_shape(spec, n_freqs: int, name: str = "spec", *, ndim: int | None = None,
                            why: str = "(n_freqs = n_fft // 2 + 1)") -> np.ndarray:
    """A linear spectrogram's type and layout, ``(..., n_freqs, time)`` (exactly
    ``(n_freqs, frames)`` with ``ndim=2``) with at least one frame; returned unconverted.
    ``why`` follows the expected shape in the message.

    >>> check_spectrogram_shape(np.ones((129, 3)), 129, ndim=2).shape
    (129, 3)
    """
    arr = _real_array(spec, name, "power (or magnitude) spectrogram", "np.abs(stft) ** 2")
    layout = f"({n_freqs}, frames)" if ndim == 2 else f"(..., {n_freqs}, time)"
    wrong = (arr.ndim != ndim if ndim else arr.ndim < 2) or arr.shape[-2] != n_freqs
    if wrong or 0 in arr.shape:
        frames = " with at least one frame" if not wrong else ""
        raise InputError(f"{name} must have shape {layout}{' ' + why if why else ''}{frames}, got {arr.shape}")
    return arr


def check_spectrogram(spec, n_freqs: int, name: str = "spec", *, ndim: int | None = None,
                      why: str = "(n_freqs = n_fft // 2 + 1)", nonnegative: bool = True) -> np.ndarray:
    """:func:`check_spectrogram_shape`, then the values: finite (and non-negative, as a
    power or magnitude spectrogram is), as float32.

    >>> check_spectrogram([[1.0], [2.0]], 2).dtype
    dtype('float32')
    """
    arr = _finite_float32(check_spectrogram_shape(spec, n_freqs, name, ndim=ndim, why=why), name,
                          "a spectrogram")
    if nonnegative and float(arr.min()) < 0:
        raise InputError(f"{name} has negative values (min {float(arr.min()):.4g}); a power or magnitude "
                         "spectrogram is non-negative (e.g. np.abs(stft) ** 2)")
    return arr


def check_finite_array(value, name: str, *, nonnegative: bool = False,
                       what: str = "a spectrogram") -> np.ndarray:
    """A real array of any shape with finite values (and non-negative ones), unconverted;
    the caller checks the memory of what it computes from it first.

    >>> check_finite_array([1.0, 2.0], "x").tolist()
    [1.0, 2.0]
    """
    arr = _numeric_array(value, name)
    if arr.dtype.kind == "c":
        raise InputError(f"{name} is complex; {what} must be real (e.g. np.abs({name}))")
    if arr.dtype.kind == "f":
        limits.check_memory(arr.size, f"checking {name} (shape {arr.shape})", "Pass a smaller array.")
        if not np.isfinite(arr).all():
            bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
            raise InputError(f"{name} contains {bad} NaN or infinite values; {what} must be finite "
                             f"(replace them, e.g. np.nan_to_num({name}), or recompute it)")
    if nonnegative and arr.size and arr.min() < 0:
        raise InputError(f"{name} has negative values (min {float(arr.min()):.4g}); {what} is non-negative")
    return arr


def check_flag(name: str, value) -> bool:
    """``True`` or ``False`` (numpy's too), nothing that merely has a truth value.

    >>> check_flag("include_empty", np.bool_(True))
    True
    """
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False, got {shown(value)} ({type(value).__name__})")
    return bool(value)


def check_filterbank_matrix(fb, name: str = "fb") -> np.ndarray:
    """A dense filterbank ``(n_freqs, n_mels)``: finite, non-negative, as float32.

    >>> check_filterbank_matrix(np.eye(3)).shape
    (3, 3)
    """
    arr = _real_array(fb, name, "real filterbank", "a MelFilterbank")
    if arr.ndim != 2 or 0 in arr.shape:
        raise InputError(f"{name} must be a MelFilterbank or a 2-D (n_freqs, n_mels) array, got shape "
                         f"{arr.shape}")
    limits.check_filterbank_memory(*arr.shape)
    arr = _finite_float32(arr, name, "a filterbank")
    if float(arr.min()) < 0:
        raise InputError(f"{name} has negative weights (min {float(arr.min()):.4g}); mel filters are "
                         "non-negative triangles")
    return arr


def check_samples(samples, name: str = "samples") -> np.ndarray:
    """A mono signal ``(n,)`` of finite real numbers, as float32.

    >>> check_samples([0.0, 0.5]).dtype
    dtype('float32')
    """
    arr = _numeric_array(samples, name)
    if arr.dtype.kind in "cb":  # booleans are no audio either
        raise InputError(f"{name} must be a real numeric array (float audio in [-1, 1]), got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise InputError(
            f"{name} must be mono, 1-D (n,), got shape {arr.shape}; average the channels first "
            "(load_audio does)"
        )
    if arr.size == 0:
        raise InputError(f"{name} is empty; it needs at least one sample")
    return _finite_float32(arr, name, "audio")
