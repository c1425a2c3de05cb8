"""Checks on everything a user hands to the core, with messages that say what to do.

The one home for parameter and array checks. Public entry points (``MelFilterbank``,
``InverseMelScale``, the loaders, ``spectrogram``, ``griffinlim``, ``Settings``, the CLI)
call these once, at the boundary; the code behind them trusts what it is given. Every
check raises :class:`~invmel_core.errors.InputError` naming the parameter, the value it
got and what is allowed.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import InputError

MEL_TYPES = ("htk", "slaney")
NORMS = (None, "slaney")
COMPATS = ("torchaudio", "mindspore", "librosa")
MAX_SEED = 2**32 - 1  # the frameworks' MT19937 takes 32-bit seeds; librosa refuses larger ones


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
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name} must be {kind}, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise InputError(f"{name} must be finite, got {value!r}")
    if integer and not float(value).is_integer():
        raise InputError(f"{name} must be {kind}, got {value!r}")
    number = int(value) if integer else float(value)
    if minimum is not None and (number <= minimum if strict else number < minimum):
        raise InputError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    if maximum is not None and number > maximum:
        raise InputError(f"{name} must be at most {maximum}, got {value!r}")
    return number


def check_seed(seed, name: str = "seed") -> int | None:
    """None, or an integer seed in ``[0, 2**32 - 1]`` (what MT19937 and librosa take)."""
    return None if seed is None else check_number(name, seed, integer=True, minimum=0, maximum=MAX_SEED)


def check_positive_seconds(name: str, value) -> float:
    """A positive, finite number of seconds (time limits, slice budgets)."""
    return check_number(name, value, minimum=0, strict=True)


def check_choice(name: str, value, choices) -> str:
    """``value`` lower-cased if it is one of ``choices`` (strings), else :class:`InputError`."""
    if not isinstance(value, str) or value.lower() not in choices:
        raise InputError(f"{name} must be one of {tuple(choices)}, got {value!r}")
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
    raise InputError(f"norm must be None, 'none' or 'slaney', got {norm!r}")


def check_compat(compat) -> str:
    """Whose frequency grid: ``"torchaudio"``, ``"mindspore"`` or ``"librosa"``."""
    if compat not in COMPATS:
        raise InputError(f"compat must be one of {COMPATS}, got {compat!r}")
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
    n_mels = check_number("n_mels", n_mels, integer=True, minimum=1)
    sample_rate = check_number("sample_rate", sample_rate, minimum=0, strict=True)
    f_min = check_number("f_min", f_min, minimum=0.0)
    if f_max is None:
        f_max = float(sample_rate // 2)
        if f_max <= f_min:
            raise InputError(
                f"sample_rate={sample_rate:g} puts the Nyquist frequency (f_max's default, "
                f"sample_rate // 2 = {f_max:g} Hz) at or below f_min={f_min:g} Hz; set the sample rate "
                "the audio was made at, or a lower f_min")
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
    n_fft = check_number("n_fft", n_fft, integer=True, minimum=2, maximum=1 << 18)
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


def _numeric_array(value, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists, exotic objects
        raise InputError(f"{name} must be a numeric array, could not convert it: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    return arr


def check_real_array(value, name: str) -> np.ndarray:
    """A non-empty array of finite real numbers, in its own dtype (no copy when it is one).

    >>> check_real_array([1, 2], "x").dtype.kind
    'i'
    """
    arr = _numeric_array(value, name)
    if np.iscomplexobj(arr):
        raise InputError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.size == 0:
        raise InputError(f"{name} is empty (shape {arr.shape})")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise InputError(f"{name} contains {bad} NaN or infinite values; replace them "
                         f"(e.g. np.nan_to_num({name})) or recompute it")
    return arr


def _finite_float32(arr: np.ndarray, name: str, what: str) -> np.ndarray:
    """``arr`` as float32, refusing NaN, infinities and values float32 cannot hold."""
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise InputError(f"{name} contains {bad} NaN or infinite values; {what} must be finite "
                         f"(replace them, e.g. np.nan_to_num({name}), or recompute it)")
    with np.errstate(over="ignore"):
        out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        peak = float(np.abs(arr).max())
        raise InputError(f"{name} reaches {peak:.3g}, beyond float32's range (3.4e38); {what} is "
                         "computed in float32: scale it down")
    return out


def check_melspec(melspec, n_mels: int, name: str = "melspec") -> np.ndarray:
    """Validate a mel spectrogram ``(..., n_mels, time)`` and return it as float32.

    Raises :class:`InputError` for a wrong type or shape, NaN/inf, or negative values
    (almost always a log or dB mel spectrogram, which must be undone first).

    >>> check_melspec([[1, 2], [3, 4]], n_mels=2).dtype
    dtype('float32')
    """
    arr = _numeric_array(melspec, name)
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
    arr = _finite_float32(arr, name, "a mel spectrogram")
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


def check_samples(samples, name: str = "samples") -> np.ndarray:
    """A mono signal ``(n,)`` of finite real numbers, as float32.

    >>> check_samples([0.0, 0.5]).dtype
    dtype('float32')
    """
    arr = _numeric_array(samples, name)
    if np.iscomplexobj(arr):
        raise InputError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise InputError(
            f"{name} must be mono, 1-D (n,), got shape {arr.shape}; average the channels first "
            "(load_audio does)"
        )
    if arr.size == 0:
        raise InputError(f"{name} is empty; it needs at least one sample")
    return _finite_float32(arr, name, "audio")
