"""The STFT and its inverse, with ``torch.stft`` / ``torch.istft`` semantics, in float32.

Periodic Hann window of ``win_length`` zero-padded to ``n_fft`` (centred), ``center=True``
with reflect padding, ``normalized=False``, onesided. :func:`stft` and :func:`istft` are the
public pair (``istft(stft(y), length=y.size)`` gives ``y`` back to float32 rounding);
:func:`spectrogram` is ``torchaudio.transforms.Spectrogram`` and :func:`mel_spectrogram` the
filterbank projection. :class:`STFTPlan` is one frame geometry, validated once, so that
Griffin-Lim can run both transforms hundreds of times without re-checking anything.

The FFTs are ``scipy.fft`` on float32 with worker threads, a block of frames at a time, so the
temporaries stay a few MiB however long the signal; memory for the results is checked with
:func:`invmel_core.limits.check_memory` before anything is allocated.
"""

from __future__ import annotations


import numpy as np

from invmel_core import limits
from invmel_core.errors import InputError
from invmel_core.dsp.stft_plan import (NOLA_FLOOR, STFTPlan, _plan_for, fft_workers, istft_length,  # noqa: F401
                                        signal_length, stft_frames, stft_window)
from invmel_core.validation import (check_filterbank_matrix, check_number, check_power, check_samples,
                                  check_spectrogram, check_spectrogram_shape, check_stft_params)

# Samples per FFT batch (frames x n_fft): bounds the temporaries at ~12 MiB whatever n_fft is
# (1024 frames of 1024 points; a batch that large is also the fastest, measured).
# spectrogram's blocks: at most
# 512 frames and 2**21 samples, 16 bytes a sample (the windowed block, its FFT, magnitude, power)
_SPECTROGRAM_CHUNK_FRAMES = 512
_SPECTROGRAM_CHUNK_SAMPLES = 1 << 21
_SPECTROGRAM_BYTES_PER_SAMPLE = 16


def stft(samples, n_fft: int, hop_length: int | None = None, win_length: int | None = None) -> np.ndarray:
    """Complex STFT, as ``torch.stft(..., window=torch.hann_window(win_length), center=True,
    pad_mode="reflect", return_complex=True)``.

    A signal of at most ``n_fft // 2`` samples (too short for reflect padding, where torch
    raises) is zero-padded to ``n_fft // 2 + 1`` samples first, as in :func:`spectrogram`.

    Parameters
    ----------
    samples : array_like
        Mono signal ``(n,)``.
    n_fft, hop_length, win_length
        FFT size, hop (None: ``win_length // 2``) and window length (None: ``n_fft``).

    Returns
    -------
    np.ndarray
        complex64 ``(n_fft // 2 + 1, frames)``, ``frames = 1 + n // hop_length``.

    Examples
    --------
    >>> spec = stft(np.ones(1000, np.float32), 256, 64)
    >>> spec.shape, spec.dtype, complex(spec[0, 5])  # DC of a periodic Hann window: 128
    ((129, 16), dtype('complex64'), (128+0j))
    """
    y = check_samples(samples)
    n_fft, hop_length, win_length = check_stft_params(n_fft, hop_length, win_length)
    n_frames = stft_frames(y.size, n_fft, hop_length)
    plan = _plan_for(n_frames, y.size, n_fft, hop_length, win_length)
    return np.ascontiguousarray(plan.forward(y).T)


def istft(spec, n_fft: int, hop_length: int | None = None, win_length: int | None = None,
          length: int | None = None) -> np.ndarray:
    """Inverse STFT, as ``torch.istft(..., window=torch.hann_window(win_length), center=True)``.

    Parameters
    ----------
    spec : array_like
        Complex ``(n_fft // 2 + 1, frames)``, e.g. from :func:`stft`.
    n_fft, hop_length, win_length
        As given to :func:`stft`.
    length : int or None
        Output samples: trims or zero-pads. None gives ``hop_length * (frames - 1)`` (for an
        even ``n_fft``), what a centred STFT of that many frames spans.

    Returns
    -------
    np.ndarray
        float32 ``(length,)``.

    Raises
    ------
    InputError
        A wrong shape, NaN or infinity, a ``length`` outside ``[1, hop_length * (frames + 1)
        + n_fft]``, or frames that do not overlap enough to be inverted.

    Examples
    --------
    >>> y = np.sin(np.arange(3000) * 0.05).astype(np.float32)
    >>> back = istft(stft(y, 512, 128), 512, 128, length=y.size)
    >>> back.dtype, float(np.abs(back - y).max()) < 1e-5
    (dtype('float32'), True)
    """
    n_fft, hop_length, win_length = check_stft_params(n_fft, hop_length, win_length)
    try:
        arr = np.asarray(spec)
    except Exception as exc:  # ragged lists, exotic objects
        raise InputError(f"spec must be a numeric array, could not convert it: {exc}") from None
    n_freqs = n_fft // 2 + 1
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"spec must be a complex STFT, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[0] != n_freqs or arr.shape[1] == 0:
        raise InputError(f"spec must have shape ({n_freqs}, frames) for n_fft={n_fft} "
                         f"(n_fft // 2 + 1 bins), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError("spec contains NaN or infinite values; an STFT must be finite")
    n_frames = arr.shape[1]
    longest = hop_length * (n_frames + 1) + n_fft
    default = istft_length(n_frames, n_fft, hop_length)
    if length is None:
        if default < 1:
            raise InputError(f"spec has {n_frames} frame(s), which a centred STFT makes of 0 samples; "
                             f"pass length (the samples wanted, at most {longest})")
        length = default
    else:
        length = check_number("length", length, integer=True, minimum=1, maximum=longest)
    plan = _plan_for(n_frames, length, n_fft, hop_length, win_length)
    plan.inverse_envelope  # noqa: B018 - refuses frames that cannot be inverted, before any work
    return plan.inverse(np.ascontiguousarray(arr.T, dtype=np.complex64))


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

    See Also
    --------
    mel_spectrogram : its projection on the mel filterbank
    griffinlim : back to samples

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
    chunk = max(1, min(_SPECTROGRAM_CHUNK_FRAMES, _SPECTROGRAM_CHUNK_SAMPLES // n_fft))
    limits.check_memory(  # the output, its finiteness mask (and a margin), the padded signal, one chunk
        n_freqs * n_frames * 6 + (y.size + 2 * pad) * 4 + chunk * n_fft * _SPECTROGRAM_BYTES_PER_SAMPLE,
        f"an STFT of {n_frames:,} frames x {n_freqs} bins",
        "Use a larger hop_length, a smaller n_fft or a shorter excerpt.",
    )
    out = np.empty((n_freqs, n_frames), np.float32)
    plan = STFTPlan(n_fft, hop_length, win_length, n_frames=n_frames, length=y.size)
    plan.block_frames = chunk
    for start, stop, coeffs in plan.blocks(y):  # the complex coefficients never exist whole
        magnitude = np.abs(coeffs)
        with np.errstate(over="ignore"):  # reported below as an InputError
            out[:, start:stop] = (magnitude if power == 1 else magnitude**power).T
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

    See Also
    --------
    spectrogram : what it projects
    MelFilterbank

    Examples
    --------
    >>> from invmel_core import MelFilterbank
    >>> fb = MelFilterbank(129, 0.0, None, 20, 8000)
    >>> mel_spectrogram(np.ones((129, 5), np.float32), fb).shape
    (20, 5)
    """
    from invmel_core.dsp.filterbank import MelFilterbank  # the filterbank module imports nothing of this one

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
