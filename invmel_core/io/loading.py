"""Load what users bring: a sound file or a mel spectrogram, from a path, bytes or an upload.

Every loader takes a path, ``bytes`` or a binary file object (such as Streamlit's
``UploadedFile``) and raises :class:`~invmel_core.InputError` for anything it cannot use:
it never unpickles, checks sizes from headers before reading data (:mod:`.safe_files`), and
stops at the limits of :mod:`invmel_core.limits`.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import soundfile

from invmel_core import limits
from invmel_core.errors import InputError
from invmel_core.io.safe_files import (SUPPORTED_AUDIO, check_audio_header, decode_error, not_audio_hint, read_npy,
                                       read_npz_member)
from invmel_core.validation import check_flag, check_melspec, check_number, check_sample_rate, check_stored_melspec

AUDIO_EXTENSIONS = ("wav", "flac", "ogg", "oga", "opus", "mp3", "aif", "aiff")
MELSPEC_EXTENSIONS = ("npy", "npz")
MAX_SAMPLE_RATE = limits.MAX_SAMPLE_RATE
# Decode in blocks of at most this many frames and samples, so a file with many channels
# never sits in memory whole.
_BLOCK_FRAMES = 1 << 16
_BLOCK_SAMPLES = 1 << 22
_DECODER_BYTES = 1 << 18  # the decoder's own buffers
# No codec packs more frames into a byte: FLAC's best case (a 65536-frame block of digital
# silence, ~13 bytes per channel) is ~5,000, Vorbis/Opus ~2,000, MP3 ~50, PCM at most 1. A
# header claiming more (a 5 KB FLAC "holding" 2**36 samples) is corrupt, not long.
MAX_FRAMES_PER_BYTE = 1 << 14

__all__ = ["AUDIO_EXTENSIONS", "MELSPEC_EXTENSIONS", "MAX_SAMPLE_RATE", "SUPPORTED_AUDIO", "load_audio",
           "load_melspec"]


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
        nothing = (f"{name} gave no data (its read() returned None: a non-blocking stream with nothing ready?); "
                   "pass the bytes, a path, or a file opened with open(path, 'rb')")
        try:
            seekable = bool(getattr(source, "seekable", lambda: False)())
            probe = source.read(0)
            if probe is None:
                raise InputError(nothing)
            if not isinstance(probe, (bytes, bytearray)):
                raise InputError(f"{name} must be opened in binary mode ('rb'), not as text")
            if seekable:  # read from the start: Streamlit re-runs reuse the same UploadedFile
                source.seek(0)
                fp = source
                size = source.seek(0, io.SEEK_END)
                source.seek(0)
            else:
                data = source.read()
                if data is None:
                    raise InputError(nothing)
                if not isinstance(data, (bytes, bytearray, memoryview)):
                    raise InputError(f"{name}'s read() returned {type(data).__name__}, not bytes; open it in binary "
                                     "mode ('rb')")
                fp, size = io.BytesIO(bytes(data)), len(data)
        except (OSError, ValueError, TypeError) as exc:
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


def looks_like_numpy(source) -> bool:
    """Whether a path's contents start like a ``.npy`` file, whatever its name (a mel saved
    as ``x.wav``, or a file named just ``.npy``). False for anything that is not a readable path."""
    if not isinstance(source, (str, os.PathLike)):
        return False
    try:
        with open(source, "rb") as fp:
            return fp.read(6) == b"\x93NUMPY"
    except OSError:
        return False


def _close_if_ours(fp, source) -> None:
    if fp is not source:
        fp.close()


# --------------------------------------------------------------------------- load_audio

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

    See Also
    --------
    load_melspec : a stored mel spectrogram instead
    spectrogram : the next step

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
        sample_rate = check_sample_rate(sample_rate)
    cap = limits.max_duration_s() if max_duration is None else check_number(
        "max_duration", max_duration, minimum=0, strict=True)
    fp, name, size = _open_source(source, "audio", name)
    try:
        check_audio_header(fp, name, size)
        try:
            sound = soundfile.SoundFile(fp)
        except (RuntimeError, ValueError, TypeError, OSError, EOFError) as exc:
            raise decode_error(name, exc, fp) from None
        with sound:
            samples, file_rate = _read_mono(sound, name, cap, size)
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


def _read_mono(sound: soundfile.SoundFile, name: str, cap: float, size: int) -> tuple[np.ndarray, int]:
    """Decode block by block, averaging channels; enforce the duration and memory caps."""
    rate, channels, frames = int(sound.samplerate), int(sound.channels), int(sound.frames)
    _check_header(name, rate, channels, frames, size)
    limits.check_duration(frames / rate, cap, what=name)
    block_frames = max(1, min(_BLOCK_FRAMES, _BLOCK_SAMPLES // channels))
    limits.check_memory(  # the mono blocks and their concatenation; a block, its mean and copies
        frames * 4 * 2 + min(block_frames, max(frames, 1)) * (channels + 1) * 8 + _DECODER_BYTES,
        f"decoding {name} ({frames:,} samples)",
        "Use a shorter excerpt or a lower sample rate.",
    )
    blocks, total = [], 0
    while True:
        try:
            block = sound.read(block_frames, dtype="float32", always_2d=True)
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
        if total > frames:  # the header understated (MP3 estimates): the caps still hold
            limits.check_duration(total / rate, cap, what=name)
            limits.check_memory(total * 4 * 2, f"decoding {name} ({total:,} samples so far)",
                                "Use a shorter excerpt or a lower sample rate.")
    if total == 0:
        raise InputError(f"{name} contains no audio samples (if it should, its header is damaged: "
                         "re-export it)")
    return (np.concatenate(blocks) if len(blocks) > 1 else blocks[0]), rate


def _check_header(name: str, rate: int, channels: int, frames: int, size: int) -> None:
    """What the decoder read from the header, against what any sound file can be."""
    if rate <= 0 or channels <= 0:
        raise InputError(f"{name} has an invalid header ({rate} Hz, {channels} channels)")
    if rate > MAX_SAMPLE_RATE:
        raise InputError(
            f"{name}'s header gives a sample rate of {rate:,} Hz, above the {MAX_SAMPLE_RATE:,} Hz "
            "read here. If that is its real rate, resample it first (e.g. `sox in.wav -r 192000 "
            "out.wav`); if not, the header is damaged: re-export it."
        )
    if frames > size * MAX_FRAMES_PER_BYTE:
        raise InputError(
            f"{name} is corrupt: its header claims {frames:,} samples "
            f"({limits.format_duration(frames / rate)}), far more than a file of {size:,} bytes can "
            "hold. Re-export it."
        )


# --------------------------------------------------------------------------- load_melspec

def load_melspec(source, *, n_mels: int | None = None, name: str | None = None,
                 compressed: bool = False) -> np.ndarray:
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
    compressed : bool
        True: the values may be as a model stores them (ln, log10, dB): only the layout and
        finiteness are checked; undo the compression with
        :func:`~invmel_core.formats.compression.undo_compression`. False: a linear mel is required.

    Returns
    -------
    np.ndarray
        float32 ``(..., n_mels, time)``, finite (and non-negative unless ``compressed``).

    Raises
    ------
    InputError
        Not a NumPy file; pickled objects (refused, never loaded); a header claiming more
        data than the file holds or more memory than ``$INVMEL_MAX_SOLVE_MB``; fewer than
        2 dimensions; no frames; NaN/inf; negative values (a log or dB mel spectrogram).

    See Also
    --------
    load_audio : a sound file instead
    detect_compression : how the stored values were made

    Examples
    --------
    >>> import io, numpy as np
    >>> buf = io.BytesIO()
    >>> np.save(buf, np.ones((40, 7)))
    >>> load_melspec(buf.getvalue()).shape
    (40, 7)
    """
    if n_mels is not None:
        n_mels = check_number("n_mels", n_mels, integer=True, minimum=1, maximum=limits.MAX_MELS)
    compressed = check_flag("compressed", compressed)  # "False" is true
    fp, name, size = _open_source(source, "mel spectrogram", name)
    try:
        magic = fp.read(6)
        fp.seek(0)
        if magic == b"\x93NUMPY":
            arr = read_npy(fp, name, size)
        elif magic[:2] == b"PK":
            arr, name = read_npz_member(fp, name)  # later messages name the member read
        elif magic[:1] == b"\x80":
            raise InputError(
                f"{name} is a Python pickle, not a .npy file. Pickles can run code, so they are "
                "never loaded; save the array with np.save(path, mel) instead."
            )
        else:
            raise InputError(
                f"{name} is not a .npy or .npz file (it starts with {magic!r}); save the mel "
                f"spectrogram with np.save(path, mel) or np.savez(path, mel=mel).{not_audio_hint(name)}"
            )
    finally:
        _close_if_ours(fp, source)
    return _check_loaded_melspec(arr, name, n_mels, compressed)


def _check_loaded_melspec(arr: np.ndarray, name: str, n_mels: int | None, compressed: bool) -> np.ndarray:
    if arr.ndim < 2:
        raise InputError(
            f"{name} has shape {arr.shape}, but a mel spectrogram needs 2 or more dimensions "
            "(..., n_mels, time)"
        )
    if arr.shape[-2] == 0:
        raise InputError(f"{name} has 0 mel bins (shape {arr.shape})")
    check = check_stored_melspec if compressed else check_melspec
    return check(arr, arr.shape[-2] if n_mels is None else n_mels, name=name)
