"""How good is a reconstruction? Each number has one definition, here, and every caller
(the solvers' reports, the app, the CLI, the benchmarks) uses it.

- :func:`mel_residual`: does the estimate explain the mel spectrogram? (what solvers minimise)
- :func:`spectral_convergence`: how close is it to the true spectrogram, on magnitudes?
- :func:`log_spectral_distance`: the same in dB, closer to what the ear hears.

Spectrograms come in two kinds: magnitude (``power=1``) and power (``power=2``). The
distances to an original are always computed on magnitudes, whatever the input's power, and
the caller says which it passes (``power=`` has no default), so the same reconstruction gets
the same number wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from invmel_core import limits
from invmel_core.errors import InputError
from invmel_core.dsp.filterbank import BandedFilterbank, MelFilterbank
from invmel_core.validation import (check_filterbank_matrix, check_finite_array, check_flag, check_number,
                                  check_power, check_power_undone, check_sample_rate, check_spectrogram)

# Frames projected at a time in mel_residual: bounds the float64 temporaries.
_CHUNK_FRAMES = 4096


def _banded(fb) -> BandedFilterbank:
    if isinstance(fb, MelFilterbank):
        return fb.banded
    if isinstance(fb, BandedFilterbank):
        return fb
    return BandedFilterbank(check_filterbank_matrix(fb))


def _items(array, rows: int, name: str) -> np.ndarray:
    """``(..., rows, time)`` as ``(items, rows, time)``, float32, finite."""
    arr = check_spectrogram(array, rows, name, why="", nonnegative=False)
    return arr.reshape(-1, *arr.shape[-2:])


def mel_residual(spec, melspec, fb, *, include_empty: bool = False) -> float:
    """Relative mel residual ``||fb.T @ spec - melspec|| / ||melspec||`` (Frobenius, over
    every item of a batch).

    Parameters
    ----------
    spec : array_like
        Linear spectrogram estimate ``(..., n_freqs, time)``.
    melspec : array_like
        The mel spectrogram it should explain, ``(..., n_mels, time)``, same power as ``spec``.
    fb : MelFilterbank, BandedFilterbank or array_like
        The filterbank (a dense array is ``(n_freqs, n_mels)``). Products go through its
        banded form, so this costs milliseconds even on minutes of audio.
    include_empty : bool
        Empty filters (no bin under their triangle) cannot be matched by any ``X``. By
        default their rows are left out of both norms: the residual then measures the
        estimate, not the input (the NNLS solver's loss is exactly this number). With
        True they are counted: a mel input with energy in empty filters never gets to 0.

    Returns
    -------
    float
        0 when ``melspec`` is silent in the counted filters and the estimate's projection is
        silent there too; otherwise ``||fb.T @ spec||`` relative to nothing is reported
        as the absolute norm.

    Examples
    --------
    >>> fb = MelFilterbank(201, 0.0, None, 40, 16000)
    >>> x = np.ones((201, 4), np.float32)
    >>> mel_residual(x, fb.dense.T @ x, fb) < 1e-6  # float32 rounding only
    True
    >>> round(mel_residual(2 * x, fb.dense.T @ x, fb), 6)
    1.0
    """
    include_empty = check_flag("include_empty", include_empty)
    band = _banded(fb)
    est = _items(spec, band.n_freqs, "spec")
    target = _items(melspec, band.n_mels, "melspec")
    if est.shape[0] != target.shape[0] or est.shape[-1] != target.shape[-1]:
        raise InputError(f"spec {np.shape(spec)} and melspec {np.shape(melspec)} must have the same "
                         "batch and time dimensions")
    rows = slice(None) if include_empty else band.matchable
    diff_sq = target_sq = 0.0
    for item in range(est.shape[0]):
        for start in range(0, est.shape[-1], _CHUNK_FRAMES):
            frames = slice(start, start + _CHUNK_FRAMES)
            # float32 products (sums of at most a few hundred terms: ~1e-7 relative), float64 norms.
            predicted = band.project(np.asarray(est[item, :, frames], np.float32))[rows].astype(np.float64)
            wanted = np.asarray(target[item, :, frames], np.float64)[rows]
            diff_sq += float(np.sum((predicted - wanted) ** 2))
            target_sq += float(np.sum(wanted**2))
    return float(np.sqrt(diff_sq / target_sq)) if target_sq > 0 else float(np.sqrt(diff_sq))


def _magnitude(arr: np.ndarray, power: float, name: str) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if power == 1:
        return arr
    with np.errstate(over="ignore"):
        magnitude = arr ** (1.0 / power)
    check_power_undone(magnitude, power, name)
    return magnitude


# float64 magnitudes of both, their difference and its square or logarithms
_PAIR_BYTES_PER_ELEMENT = 48


def _pair(estimate, reference, power) -> tuple[np.ndarray, np.ndarray]:
    power = check_power(power)
    from invmel_core.validation import numeric_array

    what = "a power or magnitude spectrogram"
    est, ref = numeric_array(estimate, "estimate"), numeric_array(reference, "reference")
    if est.shape != ref.shape:
        raise InputError(f"estimate {est.shape} and reference {ref.shape} must have the same shape")
    limits.check_memory(est.size * _PAIR_BYTES_PER_ELEMENT, f"comparing two {est.shape} spectrograms",
                        "Compare fewer frames at a time.")  # before the values are scanned (seconds for 10**9)
    est = check_finite_array(est, "estimate", nonnegative=True, what=what)
    ref = check_finite_array(ref, "reference", nonnegative=True, what=what)
    return _magnitude(est, power, "estimate"), _magnitude(ref, power, "reference")


def spectral_convergence(estimate, reference, *, power: float) -> float:
    """``||A - B|| / ||B||`` on magnitudes (Frobenius); 0 is perfect.

    ``estimate`` and ``reference`` are spectrograms raised to ``power`` (2 for power
    spectrograms, 1 for magnitudes); both are taken back to magnitudes first.

    Examples
    --------
    >>> ref = np.array([[4.0, 0.0], [0.0, 4.0]])
    >>> spectral_convergence(ref / 4, ref, power=2)  # magnitudes 1 vs 2
    0.5
    """
    est, ref = _pair(estimate, reference, power)
    norm = np.linalg.norm(ref)
    diff = np.linalg.norm(est - ref)
    return float(diff / norm) if norm > 0 else float(diff)


def log_spectral_distance(estimate, reference, *, power: float, floor_db: float = -100.0) -> float:
    """Log-spectral distance in dB: RMS over bins of the dB difference of the magnitudes
    (``20 log10``), averaged over frames.

    ``power`` as for :func:`spectral_convergence`. Both are floored at ``floor_db`` below
    the louder one's peak, so silent bins do not dominate.

    Examples
    --------
    >>> ref = np.ones((3, 2))
    >>> round(log_spectral_distance(4 * ref, ref, power=2), 3)  # magnitude x 2: 6.02 dB
    6.021
    """
    floor_db = check_number("floor_db", floor_db)
    if floor_db >= 0:
        raise InputError(f"floor_db must be below 0 (dB under the louder peak), got {floor_db:g}")
    est, ref = _pair(estimate, reference, power)
    peak = max(ref.max(initial=0.0), est.max(initial=0.0), np.finfo(np.float64).tiny)
    floor = peak * 10.0 ** (floor_db / 20.0)
    d = 20.0 * (np.log10(np.maximum(est, floor)) - np.log10(np.maximum(ref, floor)))
    if d.ndim < 2:
        d = d.reshape(-1, 1)
    return float(np.mean(np.sqrt(np.mean(d**2, axis=-2))))


# --------------------------------------------------------------------------- audio
# Scores of *samples*: the STFT is taken here (invmel_core.dsp.stft, torch's semantics), so a
# reconstruction is judged by the sound it makes, not by the spectrogram it was made from.


def _same_length(estimate, reference) -> tuple[np.ndarray, np.ndarray]:
    from invmel_core.validation import check_samples

    est, ref = check_samples(estimate, "estimate"), check_samples(reference, "reference")
    if est.size != ref.size:
        raise InputError(f"estimate has {est.size} samples and reference {ref.size}; compare equal "
                         "lengths (e.g. pass length=reference.size to mel_to_audio)")
    return est, ref


def audio_mel_residual(samples, melspec, fb, *, n_fft: int, hop_length: int | None = None,
                       win_length: int | None = None, power: float) -> float:
    """The re-mel error: :func:`mel_residual` of the samples' own spectrogram,
    ``||fb.T @ |STFT(samples)| ** power - melspec|| / ||melspec||``.

    What a vocoder or a mel inversion must drive to 0: does the sound returned have the mel
    spectrogram it was asked for? ``melspec`` ``(n_mels, time)`` must have as many frames as
    the samples' STFT (``1 + len(samples) // hop_length``).

    Examples
    --------
    >>> from invmel_core.dsp.stft import spectrogram
    >>> fb = MelFilterbank(257, 0.0, None, 40, 16000)
    >>> y = np.sin(np.arange(4000) * 0.1).astype(np.float32)
    >>> mel = fb.banded.project(spectrogram(y, 512, 128))
    >>> audio_mel_residual(y, mel, fb, n_fft=512, hop_length=128, power=2) < 1e-6
    True
    >>> round(audio_mel_residual(2 * y, mel, fb, n_fft=512, hop_length=128, power=2), 6)
    3.0
    """
    from invmel_core.dsp.stft import spectrogram

    spec = spectrogram(samples, n_fft, hop_length, win_length, power)
    frames = np.shape(melspec)[-1] if np.ndim(melspec) >= 2 else None
    if frames != spec.shape[-1]:
        raise InputError(f"the samples make {spec.shape[-1]} frames but melspec has shape "
                         f"{np.shape(melspec)}; use the hop_length it was made with, and samples of "
                         "the length it describes")
    return mel_residual(spec, melspec, fb)


def _magnitudes(estimate, reference, n_fft, hop_length, win_length) -> tuple[np.ndarray, np.ndarray]:
    from invmel_core.dsp.stft import spectrogram

    est, ref = _same_length(estimate, reference)
    return (spectrogram(est, n_fft, hop_length, win_length, power=1.0),
            spectrogram(ref, n_fft, hop_length, win_length, power=1.0))


def audio_spectral_convergence(estimate, reference, *, n_fft: int, hop_length: int | None = None,
                               win_length: int | None = None) -> float:
    """:func:`spectral_convergence` of two signals' STFT magnitudes: ``|| |STFT(estimate)| -
    |STFT(reference)| || / || STFT(reference) ||``; 0 is perfect. Equal lengths required.

    >>> y = np.sin(np.arange(4000) * 0.1).astype(np.float32)
    >>> round(audio_spectral_convergence(0.5 * y, y, n_fft=512), 6)
    0.5
    """
    est, ref = _magnitudes(estimate, reference, n_fft, hop_length, win_length)
    return spectral_convergence(est, ref, power=1)


def audio_log_spectral_distance(estimate, reference, *, n_fft: int, hop_length: int | None = None,
                                win_length: int | None = None) -> float:
    """:func:`log_spectral_distance` (dB) of two signals' STFT magnitudes. Equal lengths required.

    >>> y = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    >>> round(audio_log_spectral_distance(2 * y, y, n_fft=512), 2)  # x 2 is 6.02 dB everywhere
    6.02
    """
    est, ref = _magnitudes(estimate, reference, n_fft, hop_length, win_length)
    return log_spectral_distance(est, ref, power=1)


STOI_RATE = 10_000  # pystoi resamples both signals to 10 kHz
STOI_MIN_SECONDS = 0.4  # 30 frames of 25.6 ms at half overlap: pystoi's minimum
# Peak bytes of pystoi per sample at 10 kHz (measured with tracemalloc: 226-315), per input
# sample (its float64 copies) and per unit of the resampling ratio's larger term (the
# polyphase filter: measured 4.5 KB at 3 Hz -> 10 kHz).
_STOI_BYTES_PER_SAMPLE = 400
_STOI_BYTES_PER_INPUT_SAMPLE = 32
_STOI_BYTES_PER_RATIO = 6000


def stoi_bytes(n_samples: int, sample_rate: int) -> int:
    """Estimated peak memory of :func:`stoi` on two signals of ``n_samples`` at ``sample_rate``:
    resampled to 10 kHz first, so a rate given in kHz (16 for 16000) makes 1000 times the samples."""
    from math import gcd

    resampled = int(n_samples) * STOI_RATE // int(sample_rate) + 1
    ratio = max(STOI_RATE, int(sample_rate)) // gcd(STOI_RATE, int(sample_rate))
    return (_STOI_BYTES_PER_SAMPLE * resampled + _STOI_BYTES_PER_INPUT_SAMPLE * int(n_samples)
            + _STOI_BYTES_PER_RATIO * ratio)


def check_stoi(n_samples: int, sample_rate: int, peak: float | None = None) -> None:
    """:class:`InputError` before a (E)STOI that is undefined (under 0.4 s, a silent reference
    of ``peak`` 0) or would not fit the memory cap (which a sample rate in kHz instead of Hz hits)."""
    seconds = n_samples / sample_rate
    if seconds < STOI_MIN_SECONDS:
        raise InputError(f"too little sound for (E)STOI: {n_samples} samples at {sample_rate} Hz last "
                         f"{seconds:.3g} s; it needs about {STOI_MIN_SECONDS} s")
    if peak is not None and not peak > 1e-10:
        raise InputError("(E)STOI is undefined for a silent reference (digital silence): there is no speech to "
                         "be intelligible")
    limits.check_memory(stoi_bytes(n_samples, sample_rate),
                        f"(E)STOI of {n_samples:,} samples at {sample_rate} Hz (resampled to {STOI_RATE} Hz)",
                        "Score a shorter excerpt." + _hz_hint(sample_rate))


def _hz_hint(sample_rate: int) -> str:
    return f" Is sample_rate={sample_rate} in Hz? (16 kHz is 16000.)" if sample_rate < 1000 else ""


def stoi(estimate, reference, sample_rate: int, *, extended: bool = False) -> float:
    """Short-time objective intelligibility of ``estimate`` against the clean ``reference``
    (Taal et al. 2011; ``extended=True``: ESTOI, Jensen & Taal 2016), by ``pystoi``.

    About 0.4-1 for speech (1: indistinguishable); it is defined for speech only. Both
    signals are resampled to 10 kHz and frames more than 40 dB below the reference's
    loudest are dropped first; refuses (:class:`InputError`) signals that leave fewer than
    30 frames of 25.6 ms then (about 0.4 s of sound), where pystoi would return 1e-5.

    >>> rng = np.random.default_rng(0)
    >>> speechlike = (rng.standard_normal(16000) * np.repeat(rng.random(40), 400)).astype(np.float32)
    >>> round(stoi(speechlike, speechlike, 16000, extended=True), 6)
    1.0
    """
    from invmel_core.validation import numeric_array

    sample_rate = check_sample_rate(sample_rate)
    size = numeric_array(reference, "reference").size  # the memory, before the signals are copied
    limits.check_memory(stoi_bytes(size, sample_rate), f"(E)STOI of {size:,} samples at {sample_rate} Hz (resampled "
                        f"to {STOI_RATE} Hz)", "Score a shorter excerpt." + _hz_hint(sample_rate))
    est, ref = _same_length(estimate, reference)
    check_stoi(ref.size, sample_rate, float(np.abs(ref).max()))
    import warnings

    from pystoi import stoi as pystoi_stoi  # a heavy import: after every check

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(pystoi_stoi(ref.astype(np.float64), est.astype(np.float64), sample_rate, extended=extended))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        raise InputError("too little sound for (E)STOI: it needs about 0.4 s of audio within 40 dB of "
                         "the reference's loudest part")
    return value


def estoi(estimate, reference, sample_rate: int) -> float:
    """Extended STOI (:func:`stoi` with ``extended=True``), robust to modulated distortion."""
    return stoi(estimate, reference, sample_rate, extended=True)


def first_item(spec: np.ndarray) -> np.ndarray:
    """``(n, time)`` of a possibly batched ``(..., n, time)`` array: its first item."""
    spec = np.asarray(spec)
    return spec.reshape(-1, *spec.shape[-2:])[0]


@dataclass(frozen=True)
class Scores:
    """How good an estimate is (:mod:`invmel_core.dsp.metrics`); the distances to the original
    are None when there is none (a mel spectrogram was inverted)."""

    mel_residual: float
    spectral_convergence: float | None = None
    log_spectral_distance_db: float | None = None


def score(estimate: np.ndarray, mel: np.ndarray, fb, original: np.ndarray | None = None,
          *, power: float) -> Scores:
    """The metrics of an estimate ``(n_stft, time)`` of ``power``, against ``mel`` and, if
    given, the original spectrogram of the same power (``power`` has no default, as in
    :mod:`invmel_core.dsp.metrics`: a magnitude estimate scored as power is off)."""
    if original is None:
        return Scores(mel_residual(estimate, mel, fb))
    return Scores(mel_residual(estimate, mel, fb),
                  spectral_convergence(estimate, original, power=power),
                  log_spectral_distance(estimate, original, power=power))
