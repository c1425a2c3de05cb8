"""Safe reading of untrusted files: headers checked before data, never a pickle.

What the loaders (:mod:`invmel_core.loading`) need to refuse a file before decoding it:
the RIFF/WAVE chunk walk that catches truncated WAVs and names the codec of an unreadable
one, and a ``.npy``/``.npz`` reader that reads the header first (shape, dtype, size
against the file and the memory cap) and never unpickles (``allow_pickle=False``).
"""

from __future__ import annotations

import math
import struct
import zipfile

import numpy as np

from . import limits
from .errors import InputError

SUPPORTED_AUDIO = "WAV, FLAC, OGG (Vorbis/Opus), MP3 or AIFF"


# --------------------------------------------------------------------------- WAV headers

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


def check_wav_header(fp, name: str, size: int) -> None:
    """Fail fast on a WAV whose header promises more audio than the file holds: libsndfile
    would quietly clamp it, hiding a truncated file or a 4 GB placeholder length."""
    claim = _riff_wave_claim(fp, size)
    if claim is None:
        return
    _tag, declared, present = claim
    if declared is not None and declared > present + 1:  # +1: an odd chunk's pad byte
        raise InputError(
            f"{name} is a truncated or corrupt WAV: its header says the audio data is "
            f"{format_bytes(declared)}, but the file holds only {format_bytes(present)} after the "
            "header. Re-export the complete file (or re-save it with an audio editor, which "
            "rewrites the header)."
        )


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} GiB"  # pragma: no cover


# WAV format tags people meet in the wild, for saying what a refused WAV holds.
_WAV_CODEC_NAMES = {0x0002: "MS ADPCM", 0x0011: "IMA ADPCM", 0x0050: "MPEG audio", 0x0055: "MP3",
                    0x00FF: "AAC", 0x0161: "WMA", 0x2000: "AC-3"}


def decode_error(name: str, exc: Exception, fp) -> InputError:
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



# --------------------------------------------------------------------------- npy / npz

_MEL_KEYS = ("mel", "melspec", "mel_spec", "mel_spectrogram", "melspectrogram", "mels", "S")


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
            f"({format_bytes(claimed)}) but the file holds only {format_bytes(data_bytes)} of data"
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


def read_npy(fp, name: str, size: int) -> np.ndarray:
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


def read_npz(fp, name: str) -> np.ndarray:
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
