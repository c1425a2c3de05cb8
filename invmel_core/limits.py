"""Limits that keep one request from taking the whole machine: audio duration and memory.

Both are read from environment variables each time they are checked, so a deployment can
change them without touching code (see docs/limits.md):

============================  ==========  ==================================================
variable                      default     what it bounds
============================  ==========  ==================================================
``INVMEL_MAX_DURATION_S``     ``900``     seconds of audio :func:`~invmel_core.load_audio`
                                          accepts (checked from the header, before decoding)
``INVMEL_MAX_SOLVE_MB``       ``2048``    estimated peak memory in MiB of one decode, one
                                          ``.npy`` load, or one solve
============================  ==========  ==================================================

The upload size is Streamlit's own ``server.maxUploadSize`` (``.streamlit/config.toml``).
"""

from __future__ import annotations

import math
import os
import sys

from invmel_core.errors import InputError

DEFAULT_MAX_DURATION_S = 900.0  # 15 minutes: a long lecture excerpt, never a 3-hour podcast
DEFAULT_MAX_SOLVE_MB = 2048.0  # fits next to the app on a 4 GB machine
DURATION_ENV = "INVMEL_MAX_DURATION_S"
MAX_N_FFT = 1 << 18  # the largest accepted n_fft
MAX_BINS = MAX_N_FFT // 2 + 1  # its bins
MAX_MELS = 1 << 14
SOLVE_MB_ENV = "INVMEL_MAX_SOLVE_MB"
# Audio read, resampled or written: 768 kHz is the highest rate audio interfaces record; a
# header claiming more is damaged, and WAV/libsndfile overflow beyond 2**31 anyway.
MAX_SAMPLE_RATE = 768_000
# Griffin-Lim iterations: 32 is librosa's default, a few hundred is already past the point
# where more iterations are audible; the bound keeps a typo from running for days.
MAX_GRIFFINLIM_ITERS = 10_000
# Making sound from a mel (mel_to_audio, the oracle view, the command lines) raises magnitudes
# to ``power`` at every step: past 4 float32 overflows on real sound (power=100 made all-NaN
# sound), and no pipeline stores such a mel (2: power, 1: magnitude). A Hann window of 1 or 2
# samples has one non-zero sample: every frame's spectrum is flat and no sound matches a mel
# (win_length=2 made NaN).
MAX_SYNTHESIS_POWER = 4.0
MIN_SYNTHESIS_WINDOW = 3

# Peak bytes per element of the (batch, n_stft, time) output during a solve. Measured with
# tracemalloc (tests/test_audio.py::test_memory_estimate_covers_measured_peak): the random
# start builds uint64 draws and a float64 copy (~24-29 B/elem), the iterations hold x,
# gradient, momentum and a yielded copy in float32. A solver that needs otherwise declares
# its own ``SolverSpec.memory_estimate``.
BYTES_PER_ELEMENT = 40
# Griffin-Lim (invmel_core.dsp.phase.griffinlim). These constants were measured on librosa's
# Griffin-Lim, which it replaced: complex64 phase, rebuilt and previous spectrograms and the
# magnitude, per (n_freqs, frames) element (39-40 B with tracemalloc); the signal of
# ``hop x frames`` samples (plus n_fft of padding), its window envelope and the trimmed copy,
# per sample (9-11 B); STFT blocks and windows. They still cover the fast loop's peak:
# tests/test_hardening_memory.py checks the sum against tracemalloc and RSS. (mel_to_audio
# estimates the same loop from its STFTPlan, mel_audio.mel_to_audio_bytes: one model would do.)
GRIFFINLIM_BYTES_PER_ELEMENT = 48
GRIFFINLIM_BYTES_PER_SAMPLE = 20
GRIFFINLIM_FIXED_BYTES = 2**20
MIB = 2**20


def _importing() -> bool:
    """True while the ``invmel_core`` package itself is being imported: its presets build
    filterbanks then, fixed and small, whose memory is not the user's to cap. Reading the
    environment variables then made a bad (or merely small) ``INVMEL_MAX_SOLVE_MB`` crash the
    import with a traceback; they are read at the first check of a user's work instead."""
    package = sys.modules.get(__name__.partition(".")[0])
    return bool(getattr(getattr(package, "__spec__", None), "_initializing", False))


def _env_limit(variable: str, default: float) -> float:
    raw = os.environ.get(variable)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InputError(
            f"environment variable {variable}={raw!r} is not a number; set it to a positive "
            f"number or unset it for the default {default:g}"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise InputError(
            f"environment variable {variable}={raw!r} must be a positive finite number "
            f"(default {default:g})"
        )
    return value


def check_synthesis(n_fft: int, hop_length: int, win_length: int, power: float, progress=None) -> None:
    """:class:`InputError` unless sound can be made from a mel with these settings (the results of
    :func:`~invmel_core.validation.check_stft_params` and :func:`~invmel_core.validation.check_power`):
    ``power`` at most :data:`MAX_SYNTHESIS_POWER`, ``win_length`` at least :data:`MIN_SYNTHESIS_WINDOW`,
    ``progress`` None or callable. Checked before any work by ``mel_to_audio``, ``oracle_view`` and
    the command lines' options.

    >>> check_synthesis(512, 128, 2, 2.0)
    Traceback (most recent call last):
    ...
    invmel_core.errors.InputError: win_length=2 gives a Hann window with a single non-zero sample, ...
    """
    if power > MAX_SYNTHESIS_POWER:
        raise InputError(
            f"power must be at most {MAX_SYNTHESIS_POWER:g} to make sound from a mel, got {power:g}; power "
            "is the exponent the mel's magnitudes were raised to: 2 for a power mel, 1 for a magnitude one (higher "
            "powers overflow float32)")
    if win_length < MIN_SYNTHESIS_WINDOW:
        raise InputError(
            f"win_length={win_length} gives a Hann window with a single non-zero sample, so every frame's spectrum is "
            f"flat and no sound can match a mel; win_length must be at least {MIN_SYNTHESIS_WINDOW}: give the "
            f"window the mel was made with (usually n_fft={n_fft}, the default{'' if n_fft >= 3 else '; n_fft must be >= 3'})")
    if progress is not None and not callable(progress):
        raise InputError(f"progress must be None or a function called as progress(step, n_iter), got "
                         f"{str(progress)[:60]} ({type(progress).__name__})")


def max_duration_s() -> float:
    """The audio duration cap in seconds: ``$INVMEL_MAX_DURATION_S`` or 900 (15 minutes).

    Examples
    --------
    >>> import os
    >>> os.environ.pop("INVMEL_MAX_DURATION_S", None) and None
    >>> max_duration_s()
    900.0
    """
    return _env_limit(DURATION_ENV, DEFAULT_MAX_DURATION_S)


def max_solve_mb() -> float:
    """The memory cap in MiB: ``$INVMEL_MAX_SOLVE_MB`` or 2048."""
    return _env_limit(SOLVE_MB_ENV, DEFAULT_MAX_SOLVE_MB)


def check_duration(seconds: float, limit: float | None = None, *, what: str = "the audio") -> None:
    """Raise :class:`InputError` if ``seconds`` exceeds the duration cap.

    ``limit`` overrides the cap (seconds); None uses :func:`max_duration_s`.

    Examples
    --------
    >>> check_duration(60.0, limit=900)
    >>> check_duration(3 * 3600.0, limit=900)
    Traceback (most recent call last):
    ...
    invmel_core.errors.InputError: the audio lasts 3:00:00, longer than the limit of 15:00 ...
    """
    cap = max_duration_s() if limit is None else float(limit)
    if seconds > cap:
        raise InputError(
            f"{what} lasts {format_duration(seconds)}, longer than the limit of "
            f"{format_duration(cap)} (set by {DURATION_ENV}). Cut it to an excerpt first "
            f"(e.g. `sox in.wav out.wav trim 0 60`), or raise {DURATION_ENV}."
        )


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss`` (fractional seconds for anything under a minute).

    >>> format_duration(5.25), format_duration(125), format_duration(3 * 3600 + 61)
    ('5.25 s', '2:05', '3:01:01')
    """
    if seconds < 60:
        return f"{seconds:.3g} s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def check_memory(n_bytes: float, what: str, advice: str, limit_mb: float | None = None) -> None:
    """Raise :class:`InputError` if ``n_bytes`` exceeds the memory cap.

    ``what`` names the job ("solving a (1025, 40000) spectrogram"), ``advice`` says which
    parameter to change. ``limit_mb`` overrides the cap; None uses :func:`max_solve_mb`.
    """
    if limit_mb is None and _importing():
        return
    cap_mb = max_solve_mb() if limit_mb is None else float(limit_mb)
    if n_bytes > cap_mb * MIB:
        needed = n_bytes / MIB if n_bytes < 2**1000 else math.inf  # an int past float's range
        raise InputError(
            f"{what} would need about {needed:,.0f} MiB of memory, more than the limit of "
            f"{cap_mb:,.0f} MiB (set by {SOLVE_MB_ENV}). {advice}"
        )


def estimate_solve_bytes(batch: int, n_stft: int, n_mels: int, time: int, solver=None) -> int:
    """Estimated peak memory in bytes of solving a ``(batch, n_mels, time)`` mel spectrogram.

    Dominated by ``bytes_per_element x batch x n_stft x time``, plus the filterbank (dense and
    sparse, float64 at worst) and the mel input. ``solver`` is a ``SolverSpec`` or None; a
    spec with a ``memory_estimate`` uses that instead of the output's copies.

    Examples
    --------
    >>> round(estimate_solve_bytes(1, 1025, 128, 431) / 2**20, 1)  # MiB; 10 s at 22.05 kHz, hop 512
    21.5
    """
    filterbank = int(n_stft) * int(n_mels) * 8 * 4
    mel = int(batch) * int(n_mels) * int(time) * 4 * 3
    custom = getattr(solver, "memory_estimate", None)
    if callable(custom):
        return int(custom(batch, n_stft, n_mels, time)) + filterbank + mel
    return BYTES_PER_ELEMENT * int(batch) * int(n_stft) * int(time) + filterbank + mel


def _count(n: int) -> str:
    """An element count for a message: exact, or its order of magnitude past a trillion."""
    return str(n) if n < 10**12 else f"~10^{len(str(int(n))) - 1}"


def check_solve_memory(batch: int, n_stft: int, n_mels: int, time: int, solver=None,
                       limit_mb: float | None = None) -> None:
    """Raise :class:`InputError` before a solve whose :func:`estimate_solve_bytes` exceeds
    the cap, saying which parameter to change.

    Examples
    --------
    >>> check_solve_memory(1, 1025, 128, 431, limit_mb=2048)
    >>> check_solve_memory(1, 1025, 128, 10**6, limit_mb=2048)
    Traceback (most recent call last):
    ...
    invmel_core.errors.InputError: solving for a 1025 x 1000000 linear spectrogram would need ...
    """
    shape = " x ".join(_count(n) for n in ((n_stft, time) if batch == 1 else (batch, n_stft, time)))
    name = getattr(solver, "name", None)
    special = callable(getattr(solver, "memory_estimate", None))
    check_memory(
        estimate_solve_bytes(batch, n_stft, n_mels, time, solver),
        f"solving for a {shape} linear spectrogram" + (f" with solver {name!r}" if special else ""),
        ("This solver's memory grows with n_stft squared; a solver such as 'nnls' needs far "
         "less. Or use " if special else "Use ")
        + "fewer frames (a shorter excerpt, or a larger hop_length), fewer frequency bins "
        f"(a smaller n_fft, so n_stft = n_fft // 2 + 1 shrinks), or raise {SOLVE_MB_ENV}.",
        limit_mb,
    )


def check_filterbank_memory(n_stft: int, n_mels: int, limit_mb: float | None = None) -> None:
    """Raise :class:`InputError` before building a filterbank too large for the memory cap.

    Building one holds about six float64 ``(n_stft, n_mels)`` temporaries, and the checked
    float32 copy of the matrix its banded form starts from.

    >>> check_filterbank_memory(1025, 128)
    """
    check_memory(
        int(n_stft) * (int(n_mels) + 2) * 8 * 7,
        f"a mel filterbank of {_count(n_stft)} x {_count(n_mels)}",
        "Lower n_stft (a smaller n_fft) or n_mels.",
        limit_mb,
    )


def estimate_griffinlim_bytes(n_freqs: int, frames: int, natural: int, length: int = 0) -> int:
    """Estimated peak bytes of Griffin-Lim on an ``(n_freqs, frames)`` spectrogram whose
    inverse STFT has ``natural`` samples (``hop x (frames - 1)``), padded to ``length``.

    >>> round(estimate_griffinlim_bytes(1025, 431, 220160) / 2**20, 1)  # MiB; 10 s at 22.05 kHz
    25.5
    """
    n_fft, natural, length = 2 * (int(n_freqs) - 1), int(natural), int(length)
    return (GRIFFINLIM_BYTES_PER_ELEMENT * int(n_freqs) * int(frames)
            + GRIFFINLIM_BYTES_PER_SAMPLE * (natural + n_fft)
            + 8 * max(length - natural, 0)  # the zero-padded result
            + GRIFFINLIM_FIXED_BYTES)


def check_griffinlim_memory(n_freqs: int, frames: int, natural: int, length: int = 0,
                            limit_mb: float | None = None) -> None:
    """Raise :class:`InputError` before a Griffin-Lim whose output (or spectrogram) would not
    fit the memory cap: a short spectrogram with a huge hop is a long signal.

    >>> check_griffinlim_memory(1025, 431, 220160)
    >>> check_griffinlim_memory(2, 10, 10 * 2**30)
    Traceback (most recent call last):
    ...
    invmel_core.errors.InputError: Griffin-Lim making 10,737,418,240 samples from a 2 x 10 spectrogram ...
    """
    check_memory(
        estimate_griffinlim_bytes(n_freqs, frames, natural, length),
        f"Griffin-Lim making {max(int(natural), int(length)):,} samples from a {n_freqs} x {frames} spectrogram",
        "Use a smaller hop_length or length, a shorter excerpt (fewer frames), or raise "
        f"{SOLVE_MB_ENV}.",
        limit_mb,
    )
