"""Sound: STFT (torchaudio semantics), mel projection, Griffin-Lim, WAV bytes, loudness.

The signal-processing half of the audio path; loading files is :mod:`invmel_core.loading`.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import scipy.fft
import soundfile

from . import limits
from .errors import InputError
from .validation import (check_filterbank_matrix, check_number, check_power, check_power_undone, check_samples,
                         check_sample_rate, check_seed, check_spectrogram, check_spectrogram_shape,
                         check_stft_params)

_STFT_CHUNK_FRAMES = 512  # frames per FFT batch: bounds the complex temporaries ...
_STFT_CHUNK_SAMPLES = 1 << 21  # ... to about 8 MiB per temporary whatever n_fft is
_STFT_CHUNK_BYTES_PER_SAMPLE = 16  # the windowed block, its complex FFT, magnitude and power
_GRIFFINLIM_PEAK = 1e36  # magnitude x n_fft below float32's 3.4e38, with room for the phase updates


# --------------------------------------------------------------------------- STFT and mel

def stft_window(n_fft: int, win_length: int | None = None) -> np.ndarray:
    """torch's window for ``torch.stft``: a periodic Hann of ``win_length``, zero-padded
    on both sides to ``n_fft`` (left pad ``(n_fft - win_length) // 2``).

    >>> stft_window(4)
    array([0. , 0.5, 1. , 0.5], dtype=float32)
    >>> stft_window(6, 4)
    array([0. , 0. , 0.5, 1. , 0.5, 0. ], dtype=float32)
    """
    win_length = n_fft if win_length is None else win_length
    if win_length == 1:
        hann = np.ones(1)  # torch.hann_window(1) is [1.]
    else:
        hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win_length) / win_length)
    left = (n_fft - win_length) // 2
    return np.pad(hann, (left, n_fft - win_length - left)).astype(np.float32)


def stft_frames(n_samples: int, n_fft: int, hop_length: int) -> int:
    """Frames :func:`spectrogram` makes of ``n_samples`` samples (``center=True``; a signal
    of at most ``n_fft // 2`` samples is zero-padded to ``n_fft // 2 + 1`` first).

    >>> stft_frames(220500, 2048, 512), stft_frames(1, 2048, 512)
    (431, 3)
    """
    pad = n_fft // 2
    return 1 + (max(int(n_samples), pad + 1) + 2 * pad - n_fft) // hop_length


def spectrogram(samples, n_fft: int = 2048, hop_length: int | None = None,
                win_length: int | None = None, power: float = 2.0) -> np.ndarray:
    """Power (or magnitude) STFT spectrogram, as ``torchaudio.transforms.Spectrogram``.

    Periodic Hann window, ``center=True`` with reflect padding, ``normalized=False``,
    onesided. A signal of at most ``n_fft // 2`` samples (too short for reflect padding,
    where torch raises) is zero-padded to ``n_fft // 2 + 1`` samples first.

    Parameters
    ----------
    samples : array_like
        Mono signal ``(n,)``.
    n_fft : int
        FFT size; the result has ``n_fft // 2 + 1`` bins.
    hop_length : int or None
        Hop in samples; None gives torchaudio's default ``win_length // 2``.
    win_length : int or None
        Window length, at most ``n_fft``; None gives ``n_fft``.
    power : float
        2 for power, 1 for magnitude.

    Returns
    -------
    np.ndarray
        float32 ``(n_fft // 2 + 1, 1 + n // hop_length)``.

    Examples
    --------
    >>> spec = spectrogram(np.ones(1000, np.float32), n_fft=256)
    >>> spec.shape, spec.dtype, float(spec[0, 3])  # DC of a periodic Hann window: 128^2
    ((129, 8), dtype('float32'), 16384.0)
    """
    n_fft, hop_length, win_length = check_stft_params(n_fft, hop_length, win_length)
    power = check_power(power)
    y = check_samples(samples)
    pad = n_fft // 2
    if y.size <= pad:
        y = np.pad(y, (0, pad + 1 - y.size))
    n_frames = stft_frames(y.size, n_fft, hop_length)
    n_freqs = n_fft // 2 + 1
    chunk = max(1, min(_STFT_CHUNK_FRAMES, _STFT_CHUNK_SAMPLES // n_fft))
    limits.check_memory(  # the output, its finiteness mask (and a margin), the padded signal, one chunk
        n_freqs * n_frames * 6 + (y.size + 2 * pad) * 4 + chunk * n_fft * _STFT_CHUNK_BYTES_PER_SAMPLE,
        f"an STFT of {n_frames:,} frames x {n_freqs} bins",
        "Use a larger hop_length, a smaller n_fft or a shorter excerpt.",
    )
    padded = np.pad(y, pad, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    window = stft_window(n_fft, win_length)
    out = np.empty((n_freqs, n_frames), np.float32)
    for start in range(0, n_frames, chunk):
        block = frames[start:start + chunk] * window
        magnitude = np.abs(scipy.fft.rfft(block, axis=-1))
        with np.errstate(over="ignore"):  # reported below as an InputError
            out[:, start:start + block.shape[0]] = (magnitude if power == 1 else magnitude**power).T
    if not np.isfinite(out).all():
        peak = max(abs(float(y.max())), abs(float(y.min())))
        if peak > 1:
            raise InputError(
                f"the spectrogram overflows float32: the samples reach {peak:.3g}, but audio should lie "
                "in [-1, 1]; scale it down (e.g. samples / np.abs(samples).max())"
            )
        raise InputError(f"the spectrogram overflows float32: the samples lie in [-1, 1], but power={power:g} "
                         "raises their magnitudes past 3.4e38; use power=2 (power) or 1 (magnitude)")
    return out


def mel_spectrogram(spec, fb) -> np.ndarray:
    """Project a linear spectrogram onto the mel scale: ``fb.T @ spec``.

    Parameters
    ----------
    spec : array_like
        ``(..., n_freqs, time)``, e.g. from :func:`spectrogram`.
    fb : MelFilterbank or np.ndarray
        The filterbank (its banded form is used), or a dense ``(n_freqs, n_mels)`` matrix.

    Returns
    -------
    np.ndarray
        float32 ``(..., n_mels, time)``.

    Examples
    --------
    >>> from invmel_core import MelFilterbank
    >>> fb = MelFilterbank(129, 0.0, None, 20, 8000)
    >>> mel_spectrogram(np.ones((129, 5), np.float32), fb).shape
    (20, 5)
    """
    from .filterbank import MelFilterbank  # the filterbank module imports nothing of this one

    dense = fb.dense if isinstance(fb, MelFilterbank) else check_filterbank_matrix(fb)
    n_freqs, n_mels = dense.shape
    why = f"to match the filterbank's {n_freqs} frequency bins (n_freqs = n_fft // 2 + 1)"
    shaped = check_spectrogram_shape(spec, n_freqs, why=why)
    limits.check_memory(  # the float32 input, its columns, their projection and the result
        shaped.size * 4 * 3 + shaped.size // n_freqs * n_mels * 4 * 3,
        f"a mel projection of a {' x '.join(map(str, shaped.shape))} spectrogram",
        "Pass fewer frames at a time.",
    )
    arr = check_spectrogram(shaped, n_freqs, why=why, nonnegative=False)
    lead, time = arr.shape[:-2], arr.shape[-1]
    columns = np.moveaxis(arr.reshape(-1, n_freqs, time), 1, 0).reshape(n_freqs, -1)
    if isinstance(fb, MelFilterbank):
        mel = fb.banded.project(columns)
    else:
        mel = dense.T @ columns
    mel = np.asarray(mel, dtype=np.float32).reshape(n_mels, -1, time)
    return np.ascontiguousarray(np.moveaxis(mel, 0, 1)).reshape(lead + (n_mels, time))


# --------------------------------------------------------------------------- back to sound


def griffinlim(spec, n_fft: int, hop_length: int | None = None, power: float = 2.0,
               n_iter: int = 32, seed: int | None = 0, length: int | None = None,
               win_length: int | None = None) -> np.ndarray:
    """Phase reconstruction with ``librosa.griffinlim``: a spectrogram back to samples.

    Parameters
    ----------
    spec : array_like
        ``(n_fft // 2 + 1, frames)`` power (``power=2``) or magnitude (``power=1``)
        spectrogram, as made by :func:`spectrogram` with the same parameters.
    n_fft, hop_length, win_length
        The STFT's; ``hop_length=None`` is torchaudio's ``win_length // 2``.
    power : float
        The exponent ``spec`` was raised to; it is undone before phase recovery.
    n_iter : int
        Griffin-Lim iterations (librosa's fast variant, momentum 0.99), 1 to
        :data:`~invmel_core.limits.MAX_GRIFFINLIM_ITERS`.
    seed : int or None
        Seed of the random initial phase, 0 to 2**32 - 1; the same seed gives the same sound.
    length : int or None
        Trim or pad the output to this many samples (e.g. the original's, however short).

    Returns
    -------
    np.ndarray
        float32 samples: ``length`` of them, or the inverse STFT's ``hop_length x (frames - 1)``
        (plus one for an odd ``n_fft``; one hop for a single frame).

    Raises
    ------
    InputError
        Bad parameters, a spectrogram of the wrong shape, negative or not finite, or an
        output (``hop_length x frames`` or ``length`` samples) too large for
        ``$INVMEL_MAX_SOLVE_MB``.

    Examples
    --------
    >>> y = np.sin(np.arange(4000) * 0.3).astype(np.float32)
    >>> out = griffinlim(spectrogram(y, n_fft=256), n_fft=256, n_iter=8, length=y.size)
    >>> out.shape, out.dtype
    ((4000,), dtype('float32'))
    """
    n_fft, hop_length, win_length = check_stft_params(n_fft, hop_length, win_length)
    power = check_power(power)
    n_iter = check_number("n_iter", n_iter, integer=True, minimum=1, maximum=limits.MAX_GRIFFINLIM_ITERS)
    seed = check_seed(seed)
    if length is not None:
        length = check_number("length", length, integer=True, minimum=1)
    n_freqs = n_fft // 2 + 1
    why = f"for n_fft={n_fft} (n_fft // 2 + 1 bins)"
    shaped = check_spectrogram_shape(spec, n_freqs, ndim=2, why=why)
    frames = max(shaped.shape[1], 2)  # one frame is repeated (below)
    natural = hop_length * (frames - 1) + n_fft % 2  # what the inverse STFT of the frames gives
    limits.check_griffinlim_memory(n_freqs, frames, natural, length or 0)
    arr = check_spectrogram(shaped, n_freqs, ndim=2, why=why)
    import librosa  # heavy import, only when sound is wanted

    with np.errstate(over="ignore"):
        magnitude = arr if power == 1 else arr ** np.float32(1.0 / power)
    check_power_undone(magnitude, power)
    peak = float(magnitude.max())
    if peak * n_fft > _GRIFFINLIM_PEAK:  # the inverse STFT sums n_fft samples of this
        raise InputError(f"spec's magnitudes reach {peak:.3g}, too loud for Griffin-Lim in float32 "
                         f"(n_fft={n_fft} of them are summed); scale the spectrogram down")
    if magnitude.shape[1] == 1:  # the inverse STFT of one frame is empty: make it one hop of sound
        magnitude = np.repeat(magnitude, 2, axis=1)
    # librosa re-analyses its estimate every iteration and fails (a raw broadcast error) when a
    # `length` gives another frame count than the spectrogram's: a clip shorter than n_fft,
    # or a length past the last frame. Those are made at their natural length, then fitted.
    pad = n_fft // 2
    fits = length is not None and length >= n_fft and 1 + (length + 2 * pad - n_fft) // hop_length == frames
    with warnings.catch_warnings():  # "n_fft is too large for a signal of length ...": handled here
        warnings.filterwarnings("ignore", message=r"n_fft=\d+ is too large")
        out = librosa.griffinlim(
            magnitude, n_iter=n_iter, hop_length=hop_length, win_length=win_length, n_fft=n_fft,
            window="hann", center=True, dtype=np.float32, length=length if fits else None,
            pad_mode="reflect", random_state=seed,
        )
    out = np.asarray(out, dtype=np.float32)
    if not np.isfinite(out).all():  # a last guard: never hand back NaN as sound
        raise InputError("Griffin-Lim's output overflowed float32; scale the spectrogram down")
    if length is None or out.size == length:
        return out
    return out[:length].copy() if out.size > length else np.pad(out, (0, length - out.size))


def to_wav_bytes(samples, sample_rate: int) -> bytes:
    """16-bit PCM WAV file contents. Samples are clipped to [-1, 1], never normalised.

    ``sample_rate`` is a whole number of hertz, 1 to
    :data:`~invmel_core.limits.MAX_SAMPLE_RATE`.

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
