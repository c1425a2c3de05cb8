"""Safe reading of untrusted files: headers checked before data, never a pickle.

What the loaders (:mod:`invmel_core.io.loading`) need to refuse a file before decoding it:
the RIFF/WAVE chunk walk that catches truncated WAVs and names the codec of an unreadable
one, and a ``.npy``/``.npz`` reader that reads the header first (shape, dtype, size
against the file and the memory cap) and never unpickles (``allow_pickle=False``).
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

from invmel_core import limits
from invmel_core.errors import InputError

SUPPORTED_AUDIO = "WAV, FLAC, OGG (Vorbis/Opus), MP3 or AIFF"


# --------------------------------------------------------------------------- audio headers
#
# libsndfile quietly clamps a data chunk that claims more than the file holds (hiding a
# truncated file or a 4 GB streaming placeholder), turns an AIFF sample rate of NaN into
# 67 MHz and one below 1 Hz into 1 Hz. So the chunked containers it reads are walked here
# first: every chunk up to the end of the file (a real file has a handful; the walk
# refuses a list of more than MAX_CHUNKS rather than give up and let a lie through).

MAX_CHUNKS = 1024


@dataclass(frozen=True)
class _Layout:
    """How a chunked container lays out its chunks."""

    container: str  # what messages call it
    first: int  # offset of the first chunk
    id_len: int  # 4, or 16 for W64's GUIDs (whose first 4 bytes name them)
    size: struct.Struct  # the size field after the id
    counts_header: bool = False  # W64's sizes include the chunk's own header
    align: int = 2
    data_id: bytes = b"data"
    data_skip: int = 0  # bytes of the data chunk before the audio (AIFF's offset and block size)


_RIFF = _Layout("WAV", 12, 4, struct.Struct("<I"))
_LAYOUTS = {
    (b"RIFF", b"WAVE"): _RIFF, (b"RIFX", b"WAVE"): _Layout("WAV", 12, 4, struct.Struct(">I")),
    (b"RF64", b"WAVE"): _Layout("RF64 WAV", 12, 4, struct.Struct("<I")),
    (b"BW64", b"WAVE"): _Layout("BW64 WAV", 12, 4, struct.Struct("<I")),
    (b"FORM", b"AIFF"): _Layout("AIFF", 12, 4, struct.Struct(">I"), data_id=b"SSND", data_skip=8),
    (b"FORM", b"AIFC"): _Layout("AIFF", 12, 4, struct.Struct(">I"), data_id=b"SSND", data_skip=8),
    (b"riff", b"wave"): _Layout("W64", 40, 16, struct.Struct("<Q"), counts_header=True, align=8),
    (b"caff", None): _Layout("CAF", 8, 4, struct.Struct(">q"), align=1, data_skip=4),
}
_UNKNOWN_SIZE = {"RF64 WAV": 0xFFFFFFFF, "BW64 WAV": 0xFFFFFFFF, "CAF": -1}  # "see ds64" / "to the end"


@dataclass
class AudioHeader:
    """What the walk of a chunked audio file found (None where it found nothing)."""

    container: str
    format_tag: int | None = None  # WAV's codec
    declared: int | None = None  # audio bytes the data chunk claims
    present: int = 0  # audio bytes the file holds after the data chunk's header
    sample_rate: float | None = None  # AIFF's 80-bit rate, decoded here
    damaged: str | None = None  # why the chunk list cannot be right


def _layout(head: bytes) -> _Layout | None:
    if head[:4] == b"riff":  # W64: GUIDs, whose first four bytes read 'riff' and 'wave'
        return _LAYOUTS[(b"riff", b"wave")] if head[24:28] == b"wave" else None
    return _LAYOUTS.get((head[:4], head[8:12])) or _LAYOUTS.get((head[:4], None))


def _extended_float(raw: bytes) -> float:
    """An IEEE 754 80-bit extended float (AIFF's sample rate), NaN and inf included.

    >>> _extended_float(bytes.fromhex("400bfa00000000000000"))
    8000.0
    """
    sign_exponent, mantissa = struct.unpack(">HQ", raw)
    sign, exponent = (-1.0 if sign_exponent & 0x8000 else 1.0), sign_exponent & 0x7FFF
    if exponent == 0x7FFF:
        return math.nan if mantissa & ((1 << 63) - 1) else sign * math.inf
    try:
        return sign * math.ldexp(mantissa, exponent - 16383 - 63)
    except OverflowError:
        return sign * math.inf


def read_audio_header(fp, size: int) -> AudioHeader | None:
    """Walk the chunks of a WAV (RIFF, RIFX, RF64/BW64 with ds64), AIFF/AIFC, W64, CAF or AU
    file without reading its audio; None for other formats. ``fp`` is left where it was."""
    start = fp.tell()
    try:
        head = fp.read(40)
        if head[:4] == b".snd" and len(head) >= 24:  # AU: a fixed header, then the data
            offset, data_size = struct.unpack(">II", head[4:12])
            return AudioHeader("AU", declared=None if data_size == 0xFFFFFFFF else data_size,
                               present=max(0, size - offset))
        layout = _layout(head)
        return None if layout is None else _walk_chunks(fp, start, size, layout)
    finally:
        fp.seek(start)


def _walk_chunks(fp, start: int, size: int, layout: _Layout) -> AudioHeader:
    header = AudioHeader(layout.container)
    head_len = layout.id_len + layout.size.size
    ds64_data = None
    offset = layout.first
    for _ in range(MAX_CHUNKS):
        fp.seek(start + offset)
        raw = fp.read(head_len)
        if len(raw) < head_len:
            return header
        chunk_id, (chunk_size,) = raw[:4], layout.size.unpack(raw[layout.id_len:])
        body = chunk_size - head_len if layout.counts_header else chunk_size
        if chunk_id == layout.data_id and chunk_size == _UNKNOWN_SIZE.get(layout.container):
            body = ds64_data if layout.container != "CAF" else None  # CAF: audio to the end
            if body is None and layout.container != "CAF":
                header.damaged = "its data chunk's size is in a ds64 chunk, which is missing"
                return header
        elif body < 0:  # a chunk shorter than its own header: the walk would never advance
            header.damaged = f"a {chunk_id!r} chunk claims a size of {chunk_size}"
            return header
        payload = start + offset + head_len
        if chunk_id == b"ds64" and body >= 24:
            ds64_data = struct.unpack("<Q", fp.read(16)[8:16])[0]
        elif chunk_id == b"fmt " and 16 <= body <= 1024 and payload + body <= start + size:
            header.format_tag = struct.unpack(layout.size.format[0] + "H", fp.read(2))[0]
        elif chunk_id == b"COMM" and layout.container == "AIFF" and body >= 18:
            header.sample_rate = _extended_float(fp.read(18)[8:18])
        elif chunk_id == layout.data_id and header.declared is None:
            header.present = max(0, size - (offset + head_len + layout.data_skip))
            if body is None:
                return header
            header.declared = max(0, body - layout.data_skip)
        offset += head_len + body + (-body % layout.align)
        if offset >= size:
            return header
    header.damaged = f"it has more than {MAX_CHUNKS} chunks (a sound file has a handful)"
    return header


_WAV_CODECS = {1: "PCM", 3: "IEEE float", 6: "A-law", 7: "mu-law", 0xFFFE: "extensible"}


def check_audio_header(fp, name: str, size: int) -> None:
    """Fail fast on a chunked sound file whose header cannot be right: audio data it does not
    hold (truncated, or a placeholder length), a damaged chunk list, an AIFF sample rate that
    is not a rate. libsndfile would quietly clamp or round them."""
    header = read_audio_header(fp, size)
    if header is None:
        return
    what = f"{name} is a truncated or corrupt {header.container} file"
    if header.damaged:
        raise InputError(f"{what}: {header.damaged}. Re-export it from the program that made it (or "
                         "re-save it with an audio editor, which rewrites the header).")
    declared, present = header.declared, header.present
    if declared is not None and declared > present + 1:  # +1: an odd chunk's pad byte
        raise InputError(
            f"{what}: its header says the audio data is {format_bytes(declared)}, but the file holds "
            f"only {format_bytes(present)} after the header. Re-export the complete file (or re-save "
            "it with an audio editor, which rewrites the header)."
        )
    rate = header.sample_rate
    if rate is not None and not 1 <= rate <= limits.MAX_SAMPLE_RATE:
        raise InputError(
            f"{name} is an AIFF file whose header gives the sample rate as {rate:.6g} Hz (a rate is "
            f"1 to {limits.MAX_SAMPLE_RATE:,} Hz): the header is damaged. Re-export it, e.g. as WAV "
            "or FLAC."
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


_MAGIC_LEN = 4
_MAGIC = {b"fLaC": "FLAC", b"OggS": "OGG", b"ID3\x02": "MP3", b"ID3\x03": "MP3", b"ID3\x04": "MP3"}
_ARTICLE = {"AIFF": "an", "AU": "an", "RF64 WAV": "an", "OGG": "an", "MP3": "an"}


def decode_error(name: str, exc: Exception, fp) -> InputError:
    """The decoder's refusal in words a person can act on (the decoder's own words last)."""
    detail = (str(exc).split(": ", 1)[-1] if ": " in str(exc) else str(exc)).strip().rstrip(".")
    fp.seek(0)
    header = read_audio_header(fp, 1 << 62)
    fp.seek(0)
    container = header.container if header else _MAGIC.get(fp.read(4)[:_MAGIC_LEN])
    tag = header.format_tag if header else None
    if tag is not None and tag not in _WAV_CODECS:
        codec = _WAV_CODEC_NAMES.get(tag, "an unsupported codec")
        why = (f"it is a {header.container} file holding {codec} (format tag 0x{tag:04X}), which cannot "
               "be decoded here. Re-encode it as PCM WAV or FLAC (e.g. `ffmpeg -i in.wav -c:a pcm_s16le "
               "out.wav`)")
    elif container is not None:
        why = (f"it starts like {_ARTICLE.get(container, 'a')} {container} file, but its header is damaged. "
               "Re-export it from the program that made it, or re-save it with an audio editor")
    else:
        why = f"its contents are not in any supported audio format ({SUPPORTED_AUDIO})"
    if "does not exist" in detail:  # libsndfile's words for junk it half-took for MP3
        detail = "unrecognised or corrupt data"
    return InputError(f"could not read {name} as audio: {why}.{not_audio_hint(name)} (Decoder: {detail}.)")


# Files people hand over for a mel spectrogram that are not .npy/.npz, and how to make one.
_MEL_ELSEWHERE = {
    ("pt", "pth", "ckpt", "tar"): ("a PyTorch file",
                                   "np.save('mel.npy', torch.load('FILE', map_location='cpu').numpy())"),
    ("csv", "tsv", "txt"): ("a text table", "np.save('mel.npy', np.loadtxt('FILE', delimiter=','))"),
    ("pkl", "pickle", "joblib"): ("a Python pickle", "np.save('mel.npy', mel) from the code that made it"),
    ("h5", "hdf5", "mat"): ("an HDF5/MATLAB file", "np.save('mel.npy', mel) after reading it (h5py, scipy.io)"),
    ("json",): ("a JSON file", "np.save('mel.npy', np.asarray(json.load(open('FILE'))))"),
    ("safetensors", "bin"): ("a tensor file", "np.save('mel.npy', tensor.numpy())"),
}


def not_audio_hint(name: str) -> str:
    """For a file named like a tensor or a table (``.pt``, ``.csv``, …): that mel spectrograms
    are read from ``.npy``/``.npz`` and how to save one; else ''.

    >>> not_audio_hint("'mel.pt'")
    " 'mel.pt' looks like a PyTorch file: mel spectrograms are read from .npy or .npz; save it ..."
    """
    base = name.strip("'\"")
    extension = base.rsplit(".", 1)[-1].lower() if "." in base else ""
    for extensions, (what, how) in _MEL_ELSEWHERE.items():
        if extension in extensions:
            stem = base.rsplit("/", 1)[-1]
            return (f" {name} looks like {what}: mel spectrograms are read from .npy or .npz; save it as one, "
                    f"e.g. {how.replace('FILE', stem)}.")
    return ""

# --------------------------------------------------------------------------- npy / npz


_MEL_KEYS = ("mel", "melspec", "mel_spec", "mel_spectrogram", "melspectrogram", "mels", "S")
MAX_NPY_HEADER = 10_000  # numpy's own max_header_size: a real header is ~128 bytes
MAX_NPZ_MEMBERS = 4096  # an archive listing more (~50 bytes each) costs seconds to open
# Deflate packs a megabyte of real mel values (float noise in the mantissas) into ~0.9 MB,
# and even mostly-silent ones into a few times less; a large member that expands more is a
# zip bomb (an array of zeros), refused before seconds go into inflating it.
MAX_NPZ_EXPANSION = 100
_BOMB_MIN_BYTES = 16 * 2**20
_READ_ERRORS = (ValueError, TypeError, EOFError, OSError, zipfile.BadZipFile, RuntimeError,
                NotImplementedError, zlib.error, struct.error)  # what a corrupt file makes numpy/zipfile raise


def _read_npy_header(fp, name: str):
    """``(shape, fortran_order, dtype)`` from a .npy header, without reading the data. The
    header's length is checked before it is read: a zip member claiming a 4 GB header would
    otherwise be inflated whole. ``fp`` is left at the start of the data."""
    try:
        prefix = fp.read(8)
        if len(prefix) < 8 or prefix[:6] != b"\x93NUMPY" or prefix[6] not in (1, 2, 3) or prefix[7] != 0:
            raise ValueError(f"not a .npy header of format 1.0, 2.0 or 3.0: it starts with {prefix!r}")
        field = fp.read(2 if prefix[6] == 1 else 4)
        length = int.from_bytes(field, "little")
        if len(field) not in (2, 4) or length > MAX_NPY_HEADER:
            raise ValueError(f"its header claims {length:,} bytes; a .npy header is under {MAX_NPY_HEADER:,}")
        raw = io.BytesIO(prefix + field + fp.read(length))
        version = np.lib.format.read_magic(raw)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(raw)
        return np.lib.format.read_array_header_2_0(raw)
    except _READ_ERRORS + (SyntaxError,) as exc:
        raise InputError(f"{name} has a corrupt .npy header ({exc})") from None


def _check_npy_header(shape, dtype: np.dtype, name: str, data_bytes: int) -> None:
    if dtype.hasobject:
        raise InputError(
            f"{name} holds Python objects (a pickled array), which can run code when loaded, so "
            "it is refused. Save a numeric array: np.save(path, np.asarray(mel, dtype=np.float32))."
        )
    if dtype.names is not None or dtype.subdtype is not None:
        raise InputError(f"{name} holds a structured array ({dtype}); save a plain numeric array")
    if any(n < 0 for n in shape):
        raise InputError(f"{name} is corrupt: its header claims the shape {shape}, with negative dimensions")
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
    except _READ_ERRORS as exc:
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


def _zip_directory(fp, size: int) -> tuple[int, int] | None:
    """``(entries, bytes)`` of a zip archive's central directory, from its end record (zip64
    too), without parsing the directory; None if there is no end record."""
    tail_start = max(0, size - (22 + 65535))  # the end record, after a comment of up to 64 KiB
    fp.seek(tail_start)
    tail = fp.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return None
    entries, directory = struct.unpack("<HI", tail[at + 10:at + 16])
    locator = tail.rfind(b"PK\x06\x07", 0, at)  # zip64: the sizes are in another record
    if (entries == 0xFFFF or directory == 0xFFFFFFFF) and locator >= 0 and len(tail) >= locator + 16:
        fp.seek(struct.unpack("<Q", tail[locator + 8:locator + 16])[0])
        record = fp.read(48)
        if record[:4] == b"PK\x06\x06" and len(record) == 48:
            entries, directory = struct.unpack("<QQ", record[32:48])
    return entries, directory


def read_npz(fp, name: str) -> np.ndarray:
    """The mel array of a ``.npz`` archive (see :func:`read_npz_member`)."""
    return read_npz_member(fp, name)[0]


def read_npz_member(fp, name: str) -> tuple[np.ndarray, str]:
    """``(array, label)``: the array named like a mel (else the first) and what messages call
    it: the archive and the member, and when it was picked as the first of several, so."""
    try:
        start = fp.tell()
        directory = _zip_directory(fp, fp.seek(0, io.SEEK_END) - start)
        fp.seek(start)
        if directory is not None and (directory[0] > MAX_NPZ_MEMBERS or directory[1] > MAX_NPZ_MEMBERS * 512):
            raise InputError(f"{name} is a zip archive listing {directory[0]:,} entries in "
                             f"{format_bytes(directory[1])}; a mel spectrogram's .npz holds a few (at most "
                             f"{MAX_NPZ_MEMBERS:,} are read). Save the one array: np.save(path, mel)")
        with zipfile.ZipFile(fp) as archive:
            members = [i.filename for i in archive.infolist() if i.filename.endswith(".npy")]
            if not members:
                raise InputError(f"{name} is a zip archive with no .npy arrays in it.{not_audio_hint(name)}")
            member = _pick_npz_member(members)
            info = archive.getinfo(member)
            label = f"{name}[{member[:-4]!r}]"
            mel_named = any(member[:-4] == key or "mel" in member[:-4].lower() for key in _MEL_KEYS)
            if len(members) > 1 and not mel_named:
                label += (f" (the first of its {len(members)} arrays, none named 'mel': "
                          f"{', '.join(repr(m[:-4]) for m in members[:6])}{', ...' if len(members) > 6 else ''})")
            if info.file_size > max(_BOMB_MIN_BYTES, MAX_NPZ_EXPANSION * info.compress_size):
                raise InputError(
                    f"{label} would expand from {format_bytes(info.compress_size)} to "
                    f"{format_bytes(info.file_size)}, more than {MAX_NPZ_EXPANSION}-fold: no real mel "
                    "spectrogram compresses like that (a zip bomb, or an array of zeros). Save the mel "
                    "spectrogram itself with np.save(path, mel)."
                )
            with archive.open(member) as stream:
                shape, _fortran, dtype = _read_npy_header(stream, label)
                header_bytes = stream.tell()
            _check_npy_header(shape, dtype, label, info.file_size - header_bytes)
            with archive.open(member) as stream:
                return _read_array(stream, label), label
    except _READ_ERRORS as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{name} is not a readable .npz archive ({exc}).{not_audio_hint(name)}") from None
