"""Sound out: WAV file contents and loudness matching.

Making sound is :mod:`invmel_core.dsp.stft` (STFT, spectrogram, mel projection),
:mod:`invmel_core.dsp.phase` (Griffin-Lim) and :mod:`invmel_core.inverse.mel_audio` (mel to audio);
loading files is :mod:`invmel_core.io.loading`.
"""

from __future__ import annotations

import io

import numpy as np
import soundfile

from invmel_core import limits
from invmel_core.validation import check_sample_rate, check_samples


def to_wav_bytes(samples, sample_rate: int) -> bytes:
    """16-bit PCM WAV file contents. Samples are clipped to [-1, 1], never normalised.

    ``sample_rate`` is a whole number of hertz, 1 to
    :data:`~invmel_core.limits.MAX_SAMPLE_RATE`.

    See Also
    --------
    match_loudness : level two sounds before comparing them
    load_audio : the way back

    Examples
    --------
    >>> data = to_wav_bytes(np.array([0.0, 0.5, 2.0]), 8000)
    >>> data[:4], len(data)
    (b'RIFF', 50)
    """
    sample_rate = check_sample_rate(sample_rate)
    y = check_samples(samples)
    # the clipped copy, libsndfile's 16-bit buffer, the file and its copy out of the buffer
    limits.check_memory(y.size * 16, f"a WAV of {y.size:,} samples", "Write a shorter excerpt.")
    buf = io.BytesIO()
    soundfile.write(buf, np.clip(y, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def rms(samples) -> float:
    """Root mean square in float64 (0 for an empty array)."""
    y = np.asarray(samples, dtype=np.float64)
    return float(np.sqrt(np.mean(y**2))) if y.size else 0.0


def match_loudness(samples, reference) -> np.ndarray:
    """Scale ``samples`` to ``reference``'s RMS, so two sounds can be compared by ear.

    Silence stays silence (no division by zero). Peaks may exceed 1; :func:`to_wav_bytes`
    clips them.

    See Also
    --------
    to_wav_bytes

    Examples
    --------
    >>> match_loudness(np.array([0.1, -0.1]), np.array([0.5, -0.5]))
    array([ 0.5, -0.5], dtype=float32)
    >>> match_loudness(np.zeros(3), np.ones(3))
    array([0., 0., 0.], dtype=float32)
    """
    y = check_samples(samples)
    target = rms(check_samples(reference, "reference"))
    current = rms(y)
    if current == 0.0:
        return y
    return (y * np.float32(target / current)).astype(np.float32)
