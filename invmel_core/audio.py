"""The audio path: load sound or a mel spectrogram, STFT, mel projection, Griffin-Lim, WAV bytes.

Every loader takes a path, ``bytes`` or a binary file object (such as Streamlit's
``UploadedFile``) and raises :class:`~invmel_core.InputError` for anything it cannot use:
it never unpickles, checks sizes from headers before reading data, and stops at the limits
of :mod:`invmel_core.limits`.
"""

from __future__ import annotations

import io
import math
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import scipy.fft
import soundfile

from . import limits
from .errors import InputError
from .filterbank import _check_number
from .validation import check_melspec

AUDIO_EXTENSIONS = ("wav", "flac", "ogg", "oga", "opus", "mp3", "aif", "aiff")
MELSPEC_EXTENSIONS = ("npy", "npz")
SUPPORTED_AUDIO = "WAV, FLAC, OGG (Vorbis/Opus), MP3 or AIFF"
MAX_SAMPLE_RATE = 768_000
_BLOCK_FRAMES = 1 << 16  # decode in blocks so a multichannel file never sits in memory whole
_STFT_CHUNK_FRAMES = 512  # frames per FFT batch: bounds the complex temporaries


# --------------------------------------------------------------------------- sources


def _open_source(source, kind: str, label: str | None = None) -> tuple[io.IOBase, str, int]:
    """``(binary file object at its start, display name, size in bytes)`` for a path, bytes
    or file object. Raises :class:`InputError` for anything else, a missing file or 0 bytes.
    ``label`` (e.g. an upload's file name) replaces the display name in messages."""
    if label is not None and not isinstance(label, str):
        raise InputError(f"name must be a string, got {type(label).__name__}")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = str(path)
        if not path.exists():
            raise InputError(f"{kind} file {name!r} does not exist")
        if not path.is_file():
            raise InputError(f"{kind} source {name!r} is not a regular file")
        try:
            fp = open(path, "rb")
        except OSError as exc:
            raise InputError(f"cannot open {kind} file {name!r}: {exc.strerror or exc}") from None
        size = path.stat().st_size
    elif isinstance(source, (bytes, bytearray, memoryview)):
        fp, name = io.BytesIO(bytes(source)), "the uploaded file"
        size = len(fp.getbuffer())
    elif hasattr(source, "read"):
        name = str(getattr(source, "name", "") or "the uploaded file")
        try:
            seekable = bool(getattr(source, "seekable", lambda: False)())
            if not isinstance(source.read(0), (bytes, bytearray)):
                raise InputError(f"{name} must be opened in binary mode ('rb'), not as text")
            if seekable:  # read from the start: Streamlit re-runs reuse the same UploadedFile
                source.seek(0)
                fp = source
                size = source.seek(0, io.SEEK_END)
                source.seek(0)
            else:
                data = source.read()
                fp, size = io.BytesIO(bytes(data)), len(data)
        except (OSError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"cannot read {name}: {exc}") from None
    else:
        raise InputError(
            f"{kind} source must be a path, bytes or a binary file object, got {type(source).__name__}"
        )
    if label:
        name = repr(label)
    if size == 0:
        raise InputError(f"{name} is empty (0 bytes)")
    return fp, name, size


def _close_if_ours(fp, source) -> None:
    if fp is not source:
        fp.close()


# --------------------------------------------------------------------------- load_audio


def _riff_wave_claim(fp, size: int):
    """For a RIFF/WAVE file: ``(format tag, declared data bytes, bytes actually present)``,
    or None for other formats. Walks the chunk list without reading the audio."""
    start = fp.tell()
    try:
        head = fp.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        tag = None
        offset = 12
        for _ in range(256):  # a real file has a handful of chunks; a corrupt one must not loop
            fp.seek(start + offset)
            chunk = fp.read(8)
            if len(chunk) < 8:
                return tag, None, 0
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            # A real fmt chunk is 16, 18 or 40 bytes; a size beyond reason means it is garbage
            # and its first two bytes are no format tag.
            if chunk_id == b"fmt " and 16 <= chunk_size <= 1024 and offset + 8 + chunk_size <= size:
                raw = fp.read(2)
                tag = struct.unpack("<H", raw)[0] if len(raw) == 2 else None
            if chunk_id == b"data":
                return tag, chunk_size, max(0, size - (offset + 8))
            offset += 8 + chunk_size + (chunk_size & 1)
            if offset >= size:
                return tag, None, 0
        return tag, None, 0
    finally:
        fp.seek(start)


_WAV_CODECS = {1: "PCM", 3: "IEEE float", 6: "A-law", 7: "mu-law", 0xFFFE: "extensible"}


def _check_wav_header(fp, name: str, size: int) -> None:
    """Fail fast on a WAV whose header promises more audio than the file holds: libsndfile
    would quietly clamp it, hiding a truncated file or a 4 GB placeholder length."""
    claim = _riff_wave_claim(fp, size)
    if claim is None:
        return
    _tag, declared, present = claim
    if declared is not None and declared > present + 1:  # +1: an odd chunk's pad byte
        raise InputError(
            f"{name} is a truncated or corrupt WAV: its header says the audio data is "
            f"{_format_bytes(declared)}, but the file holds only {_format_bytes(present)} after the "
            "header. Re-export the complete file (or re-save it with an audio editor, which "
            "rewrites the header)."
        )


def _format_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} GiB"  # pragma: no cover


# WAV format tags people meet in the wild, for saying what a refused WAV holds.
_WAV_CODEC_NAMES = {0x0002: "MS ADPCM", 0x0011: "IMA ADPCM", 0x0050: "MPEG audio", 0x0055: "MP3",
                    0x00FF: "AAC", 0x0161: "WMA", 0x2000: "AC-3"}


def _decode_error(name: str, exc: Exception, fp) -> InputError:
    """The decoder's refusal in words a person can act on (the decoder's own words last)."""
    detail = (str(exc).split(": ", 1)[-1] if ": " in str(exc) else str(exc)).strip().rstrip(".")
    fp.seek(0)
    claim = _riff_wave_claim(fp, 1 << 62)
    if claim and claim[0] is not None and claim[0] not in _WAV_CODECS:
        codec = _WAV_CODEC_NAMES.get(claim[0], "an unsupported codec")
        why = (f"it is a WAV file holding {codec} (format tag 0x{claim[0]:04X}), which cannot be decoded "
               "here. Re-encode it as PCM WAV or FLAC (e.g. `ffmpeg -i in.wav -c:a pcm_s16le out.wav`)")
    elif claim is not None:
        why = ("it starts like a WAV file, but its header is damaged. Re-export it from the program "
               "that made it, or re-save it with an audio editor")
    else:
        why = f"its contents are not in any supported audio format ({SUPPORTED_AUDIO})"
    if "does not exist" in detail:  # libsndfile's words for junk it half-took for MP3
        detail = "unrecognised or corrupt data"
    return InputError(f"could not read {name} as audio: {why}. (Decoder: {detail}.)")


def load_audio(source, sample_rate: int | None = None, *, max_duration: float | None = None,
               name: str | None = None):
    """Load a sound file as mono float32 samples, optionally resampled.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        A WAV, FLAC, OGG (Vorbis/Opus), MP3 or AIFF file. A file object is read from its
        start (Streamlit's ``UploadedFile`` works as is).
    sample_rate : int or None
        Resample to this rate (librosa's soxr resampler); None keeps the file's rate.
    max_duration : float or None
        Longest accepted duration in seconds, checked from the header before decoding;
        None uses :func:`invmel_core.limits.max_duration_s` (``$INVMEL_MAX_DURATION_S``).
    name : str or None
        What error messages call the source (e.g. an upload's file name); by default its
        path, its ``name`` attribute, or "the uploaded file".

    Returns
    -------
    samples : np.ndarray
        float32 ``(n,)``; channels are averaged. Values are as decoded (integer formats map
        to [-1, 1)), never normalised.
    sample_rate : int

    Raises
    ------
    InputError
        Missing, empty, truncated, unreadable or too long files; no samples; NaN or
        infinite samples; a decode that would exceed ``$INVMEL_MAX_SOLVE_MB``.

    Examples
    --------
    >>> import io, numpy as np, soundfile
    >>> buf = io.BytesIO()
    >>> soundfile.write(buf, np.full((8000, 2), 0.25), 8000, format="WAV")
    >>> y, sr = load_audio(buf.getvalue(), sample_rate=16000)
    >>> y.dtype, y.shape, sr
    (dtype('float32'), (16000,), 16000)
    """
    if sample_rate is not None:
        sample_rate = _check_number("sample_rate", sample_rate, integer=True, minimum=1)
        if sample_rate > MAX_SAMPLE_RATE:
            raise InputError(f"sample_rate must be at most {MAX_SAMPLE_RATE} Hz, got {sample_rate}")
    cap = limits.max_duration_s() if max_duration is None else _check_number(
        "max_duration", max_duration, minimum=0, strict=True)
    fp, name, size = _open_source(source, "audio", name)
    try:
        _check_wav_header(fp, name, size)
        try:
            sound = soundfile.SoundFile(fp)
        except (RuntimeError, ValueError, TypeError, OSError, EOFError) as exc:
            raise _decode_error(name, exc, fp) from None
        with sound:
            samples, file_rate = _read_mono(sound, name, cap)
    finally:
        _close_if_ours(fp, source)
    if sample_rate is not None and sample_rate != file_rate:
        limits.check_memory(
            samples.size * 4 * (1 + sample_rate / file_rate) * 2,
            f"resampling {name} from {file_rate} Hz to {sample_rate} Hz",
            "Choose a lower sample_rate or a shorter excerpt.",
        )
        import librosa  # heavy import, only when resampling

        samples = librosa.resample(samples, orig_sr=file_rate, target_sr=sample_rate)
        return samples.astype(np.float32, copy=False), sample_rate
    return samples, file_rate


def _read_mono(sound: soundfile.SoundFile, name: str, cap: float) -> tuple[np.ndarray, int]:
    """Decode block by block, averaging channels; enforce the duration and memory caps."""
    rate, channels, frames = int(sound.samplerate), int(sound.channels), int(sound.frames)
    if rate <= 0 or channels <= 0:
        raise InputError(f"{name} has an invalid header ({rate} Hz, {channels} channels)")
    limits.check_duration(frames / rate, cap, what=name)
    limits.check_memory(
        frames * 4 * 2 + _BLOCK_FRAMES * channels * 8,
        f"decoding {name} ({frames:,} samples)",
        "Use a shorter excerpt or a lower sample rate.",
    )
    most = int(math.floor(cap * rate)) + 1  # the header may understate (MP3 estimates)
    blocks, total = [], 0
    while True:
        try:
            block = sound.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
        except (RuntimeError, ValueError, OSError, EOFError) as exc:
            raise InputError(f"{name} is corrupt: decoding failed after {total:,} samples ({exc})") from None
        if block.shape[0] == 0:
            break
        mono = block.mean(axis=1, dtype=np.float32) if channels > 1 else block[:, 0].copy()
        if not np.isfinite(mono).all():
            bad = int(mono.size - np.isfinite(mono).sum())
            raise InputError(
                f"{name} contains NaN or infinite samples ({bad} in the block starting at sample "
                f"{total:,}); a float WAV must hold finite values. Re-export it as 16-bit PCM."
            )
        blocks.append(mono)
        total += mono.size
        if total > most:
            limits.check_duration(total / rate, cap, what=name)
    if total == 0:
        raise InputError(f"{name} contains no audio samples")
    return (np.concatenate(blocks) if len(blocks) > 1 else blocks[0]), rate


# --------------------------------------------------------------------------- load_melspec

_MEL_KEYS = ("mel", "melspec", "mel_spec", "mel_spectrogram", "melspectrogram", "mels", "S")


def load_melspec(source, *, n_mels: int | None = None, name: str | None = None) -> np.ndarray:
    """Load a mel spectrogram from ``.npy`` or ``.npz``, never unpickling anything.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        A ``.npy`` file, or a ``.npz`` archive: its array named like ``mel``/``melspec``
        (any key containing "mel"), else its first array.
    n_mels : int or None
        If given, the number of mel bins the array must have (axis -2).
    name : str or None
        What error messages call the source, as for :func:`load_audio`.

    Returns
    -------
    np.ndarray
        float32 ``(..., n_mels, time)``, finite and non-negative.

    Raises
    ------
    InputError
        Not a NumPy file; pickled objects (refused, never loaded); a header claiming more
        data than the file holds or more memory than ``$INVMEL_MAX_SOLVE_MB``; fewer than
        2 dimensions; no frames; NaN/inf; negative values (a log or dB mel spectrogram).

    Examples
    --------
    >>> import io, numpy as np
    >>> buf = io.BytesIO()
    >>> np.save(buf, np.ones((40, 7)))
    >>> load_melspec(buf.getvalue()).shape
    (40, 7)
    """
    if n_mels is not None:
        n_mels = _check_number("n_mels", n_mels, integer=True, minimum=1)
    fp, name, size = _open_source(source, "mel spectrogram", name)
    try:
        magic = fp.read(6)
        fp.seek(0)
        if magic == b"\x93NUMPY":
            arr = _read_npy(fp, name, size)
        elif magic[:2] == b"PK":
            arr = _read_npz(fp, name)
        elif magic[:1] == b"\x80":
            raise InputError(
                f"{name} is a Python pickle, not a .npy file. Pickles can run code, so they are "
                "never loaded; save the array with np.save(path, mel) instead."
            )
        else:
            raise InputError(
                f"{name} is not a .npy or .npz file (it starts with {magic!r}); save the mel "
                "spectrogram with np.save(path, mel) or np.savez(path, mel=mel)"
            )
    finally:
        _close_if_ours(fp, source)
    return _check_loaded_melspec(arr, name, n_mels)


def _read_npy_header(fp, name: str):
    """``(shape, fortran_order, dtype)`` from a .npy header, without reading the data."""
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(fp)
        return np.lib.format.read_array_header_2_0(fp)
    except (ValueError, TypeError, SyntaxError, EOFError, OSError, struct.error) as exc:
        raise InputError(f"{name} has a corrupt .npy header ({exc})") from None


def _check_npy_header(shape, dtype: np.dtype, name: str, data_bytes: int) -> None:
    if dtype.hasobject:
        raise InputError(
            f"{name} holds Python objects (a pickled array), which can run code when loaded, so "
            "it is refused. Save a numeric array: np.save(path, np.asarray(mel, dtype=np.float32))."
        )
    if dtype.names is not None or dtype.subdtype is not None:
        raise InputError(f"{name} holds a structured array ({dtype}); save a plain numeric array")
    claimed = math.prod(shape) * dtype.itemsize
    if claimed > data_bytes:
        raise InputError(
            f"{name} is truncated or corrupt: its header claims an array of shape {shape} "
            f"({_format_bytes(claimed)}) but the file holds only {_format_bytes(data_bytes)} of data"
        )
    limits.check_memory(
        claimed + math.prod(shape) * 4 * 2,
        f"loading {name} (shape {shape})",
        "Use a shorter mel spectrogram (fewer frames).",
    )


def _read_array(fp, name: str) -> np.ndarray:
    try:
        return np.lib.format.read_array(fp, allow_pickle=False)
    except (ValueError, TypeError, EOFError, OSError, zipfile.BadZipFile, RuntimeError) as exc:
        raise InputError(f"could not read the array in {name} ({exc})") from None


def _read_npy(fp, name: str, size: int) -> np.ndarray:
    shape, _fortran, dtype = _read_npy_header(fp, name)
    _check_npy_header(shape, dtype, name, size - fp.tell())
    fp.seek(0)
    return _read_array(fp, name)


def _pick_npz_member(names: list[str]) -> str:
    keys = {n[:-4]: n for n in names}
    for key in _MEL_KEYS:
        if key in keys:
            return keys[key]
    for key, member in keys.items():
        if "mel" in key.lower():
            return member
    return names[0]


def _read_npz(fp, name: str) -> np.ndarray:
    try:
        with zipfile.ZipFile(fp) as archive:
            members = [i.filename for i in archive.infolist() if i.filename.endswith(".npy")]
            if not members:
                raise InputError(f"{name} is a zip archive with no .npy arrays in it")
            member = _pick_npz_member(members)
            info = archive.getinfo(member)
            label = f"{name}[{member[:-4]!r}]"
            with archive.open(member) as stream:
                shape, _fortran, dtype = _read_npy_header(stream, label)
                header_bytes = stream.tell()
            _check_npy_header(shape, dtype, label, info.file_size - header_bytes)
            with archive.open(member) as stream:
                return _read_array(stream, label)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, NotImplementedError,
            EOFError, OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{name} is not a readable .npz archive ({exc})") from None


def _check_loaded_melspec(arr: np.ndarray, name: str, n_mels: int | None) -> np.ndarray:
    if arr.ndim < 2:
        raise InputError(
            f"{name} has shape {arr.shape}, but a mel spectrogram needs 2 or more dimensions "
            "(..., n_mels, time)"
        )
    if arr.shape[-2] == 0:
        raise InputError(f"{name} has 0 mel bins (shape {arr.shape})")
    return check_melspec(arr, arr.shape[-2] if n_mels is None else n_mels, name=name)


# --------------------------------------------------------------------------- STFT and mel


def _check_samples(samples, name: str = "samples") -> np.ndarray:
    try:
        arr = np.asarray(samples)
    except Exception as exc:  # ragged lists, exotic objects
        raise InputError(f"{name} must be a numeric array, could not convert it: {exc}") from None
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InputError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise InputError(
            f"{name} must be mono, 1-D (n,), got shape {arr.shape}; average the channels first "
            "(load_audio does)"
        )
    if arr.size == 0:
        raise InputError(f"{name} is empty; it needs at least one sample")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or infinite values")
    return arr


def _stft_params(n_fft, hop_length, win_length) -> tuple[int, int, int]:
    n_fft = _check_number("n_fft", n_fft, integer=True, minimum=2)
    if n_fft > 1 << 18:
        raise InputError(f"n_fft must be at most {1 << 18}, got {n_fft}")
    win_length = n_fft if win_length is None else _check_number(
        "win_length", win_length, integer=True, minimum=1)
    if win_length > n_fft:
        raise InputError(f"win_length must be at most n_fft={n_fft}, got {win_length}")
    hop_length = max(win_length // 2, 1) if hop_length is None else _check_number(
        "hop_length", hop_length, integer=True, minimum=1)
    return n_fft, hop_length, win_length


def _check_power(power) -> float:
    return _check_number("power", power, minimum=0, strict=True)


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
    y = _check_samples(samples)
    n_fft, hop_length, win_length = _stft_params(n_fft, hop_length, win_length)
    power = _check_power(power)
    pad = n_fft // 2
    if y.size <= pad:
        y = np.pad(y, (0, pad + 1 - y.size))
    n_frames = 1 + (y.size + 2 * pad - n_fft) // hop_length
    n_freqs = n_fft // 2 + 1
    limits.check_memory(
        n_freqs * n_frames * 4 + y.size * 4,
        f"an STFT of {n_frames:,} frames x {n_freqs} bins",
        "Use a larger hop_length, a smaller n_fft or a shorter excerpt.",
    )
    padded = np.pad(y, pad, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    window = stft_window(n_fft, win_length)
    out = np.empty((n_freqs, n_frames), np.float32)
    for start in range(0, n_frames, _STFT_CHUNK_FRAMES):
        block = frames[start:start + _STFT_CHUNK_FRAMES] * window
        magnitude = np.abs(scipy.fft.rfft(block, axis=-1))
        with np.errstate(over="ignore"):  # reported below as an InputError
            out[:, start:start + block.shape[0]] = (magnitude if power == 1 else magnitude**power).T
    if not np.isfinite(out).all():
        raise InputError(
            f"the spectrogram overflows float32: the samples reach {np.abs(y).max():.3g}, but audio "
            "should lie in [-1, 1]; scale it down (e.g. samples / np.abs(samples).max())"
        )
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
    dense = fb.dense if hasattr(fb, "dense") else np.asarray(fb, dtype=np.float32)
    if dense.ndim != 2:
        raise InputError(f"fb must be a MelFilterbank or a 2-D (n_freqs, n_mels) array, got shape {dense.shape}")
    n_freqs, n_mels = dense.shape
    arr = np.asarray(spec, dtype=np.float32)
    if arr.ndim < 2 or arr.shape[-2] != n_freqs:
        raise InputError(
            f"spec must have shape (..., {n_freqs}, time) to match the filterbank's {n_freqs} "
            f"frequency bins, got {arr.shape}; n_freqs = n_fft // 2 + 1"
        )
    lead, time = arr.shape[:-2], arr.shape[-1]
    columns = np.moveaxis(arr.reshape(-1, n_freqs, time), 1, 0).reshape(n_freqs, -1)
    if hasattr(fb, "banded"):
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
        Griffin-Lim iterations (librosa's fast variant, momentum 0.99).
    seed : int or None
        Seed of the random initial phase; the same seed gives the same sound.
    length : int or None
        Trim or pad the output to this many samples (e.g. the original's).

    Returns
    -------
    np.ndarray
        float32 samples.

    Examples
    --------
    >>> y = np.sin(np.arange(4000) * 0.3).astype(np.float32)
    >>> out = griffinlim(spectrogram(y, n_fft=256), n_fft=256, n_iter=8, length=y.size)
    >>> out.shape, out.dtype
    ((4000,), dtype('float32'))
    """
    n_fft, hop_length, win_length = _stft_params(n_fft, hop_length, win_length)
    power = _check_power(power)
    n_iter = _check_number("n_iter", n_iter, integer=True, minimum=1)
    if seed is not None:
        seed = _check_number("seed", seed, integer=True, minimum=0)
    if length is not None:
        length = _check_number("length", length, integer=True, minimum=1)
    arr = np.asarray(spec, dtype=np.float32)
    n_freqs = n_fft // 2 + 1
    if arr.ndim != 2 or arr.shape[0] != n_freqs or arr.shape[1] == 0:
        raise InputError(
            f"spec must have shape ({n_freqs}, frames) for n_fft={n_fft} (n_fft // 2 + 1 bins), "
            f"got {arr.shape}"
        )
    if not np.isfinite(arr).all() or arr.min() < 0:
        raise InputError("spec must be finite and non-negative (a power or magnitude spectrogram)")
    limits.check_memory(
        arr.size * 8 * 6, f"Griffin-Lim on a {arr.shape[0]} x {arr.shape[1]} spectrogram",
        "Use a larger hop_length or a shorter excerpt.",
    )
    import librosa  # heavy import, only when sound is wanted

    magnitude = arr if power == 1 else arr ** np.float32(1.0 / power)
    out = librosa.griffinlim(
        magnitude, n_iter=n_iter, hop_length=hop_length, win_length=win_length, n_fft=n_fft,
        window="hann", center=True, dtype=np.float32, length=length, pad_mode="reflect",
        random_state=seed,
    )
    return np.asarray(out, dtype=np.float32)


def to_wav_bytes(samples, sample_rate: int) -> bytes:
    """16-bit PCM WAV file contents. Samples are clipped to [-1, 1], never normalised.

    Examples
    --------
    >>> data = to_wav_bytes(np.array([0.0, 0.5, 2.0]), 8000)
    >>> data[:4], len(data)
    (b'RIFF', 50)
    """
    y = _check_samples(samples)
    sample_rate = _check_number("sample_rate", sample_rate, integer=True, minimum=1)
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
    y = _check_samples(samples)
    target = rms(_check_samples(reference, "reference"))
    current = rms(y)
    if current == 0.0:
        return y
    return (y * np.float32(target / current)).astype(np.float32)
