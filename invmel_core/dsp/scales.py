"""Hz <-> mel conversions, HTK and Slaney, exactly as torchaudio and librosa define them.

HTK:    mel = 2595 * log10(1 + f / 700)
Slaney: linear below 1 kHz (mel = 3 f / 200), logarithmic above
        (mel = 15 + 27 * ln(f / 1000) / ln(6.4)), as in the Auditory Toolbox.
"""

from __future__ import annotations

import numpy as np

from invmel_core import limits
from invmel_core.errors import InputError
from invmel_core.validation import check_finite_array, check_mel_type, numeric_array


def _values(value, name: str, unit: str) -> np.ndarray:
    """``value`` as float64, refusing non-numbers, NaN, infinities and negative values (a
    negative frequency has no mel: HTK's log of it is NaN)."""
    arr = numeric_array(value, name)
    limits.check_memory(arr.size * 32, f"converting {arr.size:,} values of {name}", "Convert fewer at a time.")
    arr = check_finite_array(arr, name, what=f"a {unit}")
    if arr.dtype.kind == "b":
        raise InputError(f"{name} must be numbers ({unit}), got booleans")
    arr = arr.astype(np.float64)
    if arr.size and float(arr.min()) < 0:
        raise InputError(f"{name} must be non-negative {unit}, got {float(arr.min()):g}; frequencies run from 0 Hz "
                         "(the mel scale has no negative frequencies)")
    return arr

# Slaney's constants (Auditory Toolbox; torchaudio and librosa use the same numbers).
_F_SP = 200.0 / 3.0  # Hz per mel on the linear part
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # 15 mels
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(freq, mel_type: str = "htk"):
    """Convert frequencies in Hz to mels.

    Parameters
    ----------
    freq : float or array_like
        Frequencies in Hz (non-negative).
    mel_type : {"htk", "slaney"}
        Which mel scale. ``"htk"`` is torchaudio's default; ``"slaney"`` is librosa's.

    Returns
    -------
    float or np.ndarray
        Mels, float64, same shape as ``freq``.

    See Also
    --------
    mel_to_hz : its inverse
    melscale_fbanks : filters spaced evenly on this scale

    Examples
    --------
    >>> float(hz_to_mel(1000.0))  # doctest: +ELLIPSIS
    999.98...
    >>> round(float(hz_to_mel(1000.0, mel_type="slaney")), 9)
    15.0
    """
    mel_type = check_mel_type(mel_type)
    f = _values(freq, "freq", "frequency in Hz")
    if mel_type == "htk":
        out = 2595.0 * np.log10(1.0 + f / 700.0)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            log_part = _MIN_LOG_MEL + np.log(f / _MIN_LOG_HZ) / _LOGSTEP
        out = np.where(f >= _MIN_LOG_HZ, log_part, f / _F_SP)
    return out if out.ndim else float(out)


def mel_to_hz(mels, mel_type: str = "htk"):
    """Convert mels to frequencies in Hz; the inverse of :func:`hz_to_mel`.

    See Also
    --------
    hz_to_mel : its inverse

    Examples
    --------
    >>> round(float(mel_to_hz(hz_to_mel(440.0))), 6)
    440.0
    >>> round(float(mel_to_hz(15.0, mel_type="slaney")), 9)
    1000.0
    """
    mel_type = check_mel_type(mel_type)
    m = _values(mels, "mels", "number of mels")
    if mel_type == "htk":
        out = 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    else:
        out = np.where(m >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL)), _F_SP * m)
    return out if out.ndim else float(out)
