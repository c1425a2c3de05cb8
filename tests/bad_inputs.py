"""A corpus of bad and odd inputs, written at test time into a directory (a pytest tmp dir).

``make_corpus(directory)`` writes every file and returns :class:`Case` records saying how
each must be loaded and what must happen: ``error`` cases raise ``InputError`` whose
message matches ``match``; ``ok`` cases load, and ``expected`` says what they must hold.
Everything is made with numpy/soundfile/zipfile: no ffmpeg or sox at test time.
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

RATE = 8000
LONG_RATE = 1000  # a 16-minute file at 1 kHz, 8-bit, is under 1 MB


@dataclass
class Case:
    name: str
    path: Path
    loader: str  # "audio" or "melspec"
    outcome: str  # "error" or "ok"
    match: str = ""  # regex the InputError message must match (what to do / what is wrong)
    kwargs: dict = field(default_factory=dict)
    expected: np.ndarray | None = None  # ok cases: samples or mel the loader must return
    rate: int | None = None  # ok audio cases: the sample rate it must report
    atol: float = 0.0


class Payload:
    """Unpickling this creates ``marker``: proof that a loader ran code from a file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def tone(n: int, rate: int = RATE, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)


def wav_bytes(samples, rate=RATE, subtype="PCM_16", fmt="WAV") -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, samples, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def _put(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


def _npy_bytes(arr, **kwargs) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, **kwargs)
    return buf.getvalue()


def _npy_header(dtype, shape) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _with_data_size(wav: bytes, data_size: int, riff_size: int | None = None) -> bytes:
    """Rewrite the 'data' chunk's declared length (and the RIFF length) of a WAV."""
    out = bytearray(wav)
    at = out.index(b"data")
    out[at + 4:at + 8] = struct.pack("<I", data_size)
    out[4:8] = struct.pack("<I", riff_size if riff_size is not None else min(len(out) - 8 + data_size, 2**32 - 1))
    return bytes(out)


def _with_codec(wav: bytes, tag: int) -> bytes:
    out = bytearray(wav)
    at = out.index(b"fmt ")
    out[at + 8:at + 10] = struct.pack("<H", tag)
    return bytes(out)


def bad_audio(d: Path) -> list[Case]:
    rng = np.random.default_rng(1)
    x = tone(RATE // 2)
    pcm16 = wav_bytes(x)
    nan = x.copy()
    nan[100] = np.nan
    inf = x.astype(np.float64)
    inf[-1] = np.inf
    long_8bit = np.zeros(16 * 60 * LONG_RATE, np.float32)  # 16 minutes > the 15-minute default cap
    e = "error"
    return [
        Case("empty file", _put(d, "empty.wav", b""), "audio", e, r"empty \(0 bytes\)"),
        Case("random bytes .wav", _put(d, "random.wav", rng.bytes(50_000)), "audio", e,
             r"could not read .*not in any supported audio format \(WAV, FLAC"),
        Case("random bytes .mp3", _put(d, "random.mp3", rng.bytes(50_000)), "audio", e,
             r"could not read .*supported audio format"),
        Case("text named .wav", _put(d, "notes.wav", b"hello, this is not audio\n" * 20), "audio", e,
             r"could not read"),
        Case("truncated WAV", _put(d, "truncated.wav", pcm16[:len(pcm16) // 3]), "audio", e,
             r"truncated or corrupt WAV.*Re-export"),
        Case("WAV header claiming 4 GB", _put(d, "claims_4gb.wav", _with_data_size(pcm16, 0xFFFFFF00)),
             "audio", e, r"header says the audio data is 4\.0 GiB"),
        Case("unknown WAV codec", _put(d, "unknown_codec.wav", _with_codec(pcm16, 0x1234)), "audio", e,
             r"format tag 0x1234\).*Re-encode it as PCM WAV"),
        Case("MP4 container", _put(d, "song.m4a", b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" + rng.bytes(4000)),
             "audio", e, r"supported audio format"),
        Case("zero samples", _put(d, "zero_samples.wav", wav_bytes(np.zeros(0, np.float32))), "audio", e,
             r"no audio samples"),
        Case("NaN in float32 WAV", _put(d, "nan.wav", wav_bytes(nan, subtype="FLOAT")), "audio", e,
             r"NaN or infinite samples.*Re-export"),
        Case("inf in float64 WAV", _put(d, "inf.wav", wav_bytes(inf, subtype="DOUBLE")), "audio", e,
             r"NaN or infinite samples"),
        Case("16-minute WAV", _put(d, "long.wav", wav_bytes(long_8bit, LONG_RATE, "PCM_U8")), "audio", e,
             r"lasts 16:00, longer than the limit of 15:00.*INVMEL_MAX_DURATION_S"),
        Case("16-minute FLAC", _put(d, "long.flac", wav_bytes(long_8bit, LONG_RATE, "PCM_16", "FLAC")),
             "audio", e, r"lasts 16:00"),
        Case("duration cap given", _put(d, "two_seconds.wav", wav_bytes(tone(2 * RATE))), "audio", e,
             r"lasts 2 s, longer than the limit of 1 s", kwargs={"max_duration": 1.0}),
        Case("sample_rate 0", _put(d, "ok_for_bad_rate.wav", pcm16), "audio", e,
             r"sample_rate must be >= 1", kwargs={"sample_rate": 0}),
        Case("sample_rate not a number", d / "ok_for_bad_rate.wav", "audio", e,
             r"sample_rate must be an integer", kwargs={"sample_rate": "fast"}),
        Case("missing file", d / "does_not_exist.wav", "audio", e, r"does not exist"),
        Case("a directory", d, "audio", e, r"not a regular file"),
    ]


def odd_audio(d: Path) -> list[Case]:
    """Valid but unusual files: each must load to the expected mono float32 samples."""
    x = tone(RATE // 2)
    quiet = tone(RATE // 2, amp=0.25)
    stereo = np.stack([x, quiet], axis=1)
    six = np.stack([x * (k + 1) / 6 for k in range(6)], axis=1)
    ok = "ok"
    cases = [
        Case("one sample", _put(d, "one_sample.wav", wav_bytes(np.array([0.5], np.float32))), "audio", ok,
             expected=np.array([0.5], np.float32), rate=RATE, atol=1e-4),
        Case("silence", _put(d, "silence.wav", wav_bytes(np.zeros(RATE, np.float32))), "audio", ok,
             expected=np.zeros(RATE, np.float32), rate=RATE),
        Case("8-bit unsigned", _put(d, "pcm_u8.wav", wav_bytes(x, subtype="PCM_U8")), "audio", ok,
             expected=x, rate=RATE, atol=1 / 64),
        Case("16-bit", _put(d, "pcm_16.wav", wav_bytes(x, subtype="PCM_16")), "audio", ok,
             expected=x, rate=RATE, atol=1e-4),
        Case("24-bit", _put(d, "pcm_24.wav", wav_bytes(x, subtype="PCM_24")), "audio", ok,
             expected=x, rate=RATE, atol=1e-6),
        Case("32-bit int", _put(d, "pcm_32.wav", wav_bytes(x, subtype="PCM_32")), "audio", ok,
             expected=x, rate=RATE, atol=1e-7),
        Case("float32", _put(d, "float32.wav", wav_bytes(x, subtype="FLOAT")), "audio", ok,
             expected=x, rate=RATE),
        Case("float64", _put(d, "float64.wav", wav_bytes(x.astype(np.float64), subtype="DOUBLE")), "audio", ok,
             expected=x, rate=RATE, atol=1e-7),
        Case("stereo", _put(d, "stereo.wav", wav_bytes(stereo)), "audio", ok,
             expected=stereo.mean(axis=1), rate=RATE, atol=1e-4),
        Case("6 channels", _put(d, "six_channels.wav", wav_bytes(six)), "audio", ok,
             expected=six.mean(axis=1), rate=RATE, atol=1e-4),
        Case("8 kHz", _put(d, "rate_8k.wav", wav_bytes(x, 8000)), "audio", ok,
             expected=x, rate=8000, atol=1e-4),
        Case("192 kHz", _put(d, "rate_192k.wav", wav_bytes(tone(19200, 192000), 192000)), "audio", ok,
             expected=tone(19200, 192000), rate=192000, atol=1e-4),
        Case("FLAC", _put(d, "tone.flac", wav_bytes(x, fmt="FLAC")), "audio", ok,
             expected=x, rate=RATE, atol=1e-4),
        Case("WAV at exactly the cap", _put(d, "at_cap.wav", wav_bytes(tone(RATE))), "audio", ok,
             kwargs={"max_duration": 1.0}, expected=tone(RATE), rate=RATE, atol=1e-4),
    ]
    # Lossy codecs: no sample-exact expectation, only the length and the tone's level.
    for name, fmt, subtype in [("mp3", "MP3", "MPEG_LAYER_III"), ("ogg", "OGG", "VORBIS")]:
        path = _put(d, f"tone.{name}", wav_bytes(tone(RATE), fmt=fmt, subtype=subtype))
        cases.append(Case(f"{fmt} file", path, "audio", ok, rate=RATE))
    return cases


def bad_melspec(d: Path, marker: Path) -> list[Case]:
    rng = np.random.default_rng(2)
    mel = rng.random((80, 12)).astype(np.float32)
    nan = mel.copy()
    nan[3, 4] = np.nan
    inf = mel.astype(np.float64)
    inf[0, 0] = -np.inf
    db = 10 * np.log10(mel + 1e-10)
    huge = _npy_header(np.float32, (80, 10**13)) + mel.tobytes()  # claims 3.2 PB, holds 4 KB
    truncated = _npy_bytes(rng.random((80, 1000)).astype(np.float32))[:2000]
    pickled_npz = io.BytesIO()
    np.savez(pickled_npz, mel=np.array([Payload(marker)], dtype=object))
    plain_pickle = __import__("pickle").dumps(Payload(marker))
    empty_zip = io.BytesIO()
    zipfile.ZipFile(empty_zip, "w").close()
    e = "error"
    return [
        Case("empty .npy", _put(d, "empty.npy", b""), "melspec", e, r"empty \(0 bytes\)"),
        Case("random bytes .npy", _put(d, "random.npy", rng.bytes(5000)), "melspec", e,
             r"not a \.npy or \.npz file"),
        Case("pickled object array", _put(d, "pickled.npy", _npy_bytes(np.array([Payload(marker)], dtype=object),
                                                                        allow_pickle=True)),
             "melspec", e, r"Python objects.*refused"),
        Case("pickled object in .npz", _put(d, "pickled.npz", pickled_npz.getvalue()), "melspec", e,
             r"Python objects.*refused"),
        Case("plain pickle named .npy", _put(d, "plain_pickle.npy", plain_pickle), "melspec", e,
             r"Python pickle.*never loaded"),
        Case("NaN", _put(d, "nan.npy", _npy_bytes(nan)), "melspec", e, r"NaN or infinite.*nan_to_num"),
        Case("-inf", _put(d, "inf.npy", _npy_bytes(inf)), "melspec", e, r"NaN or infinite"),
        Case("dB mel (negative)", _put(d, "db.npy", _npy_bytes(db)), "melspec", e,
             r"negative values.*log or dB.*db_to_power"),
        Case("1-D array", _put(d, "one_d.npy", _npy_bytes(mel[0])), "melspec", e, r"needs 2 or more dimensions"),
        Case("0-D array", _put(d, "zero_d.npy", _npy_bytes(np.float32(1))), "melspec", e,
             r"needs 2 or more dimensions"),
        Case("wrong n_mels", _put(d, "mel80.npy", _npy_bytes(mel)), "melspec", e,
             r"Expected an input with 128 mel bins\. Found: 80", kwargs={"n_mels": 128}),
        Case("transposed (time, n_mels)", _put(d, "mel_t.npy", _npy_bytes(mel.T.copy())), "melspec", e,
             r"transposed", kwargs={"n_mels": 80}),
        Case("zero frames", _put(d, "zero_frames.npy", _npy_bytes(np.zeros((80, 0), np.float32))), "melspec", e,
             r"zero frames"),
        Case("zero mel bins", _put(d, "zero_mels.npy", _npy_bytes(np.zeros((0, 5), np.float32))), "melspec", e,
             r"0 mel bins"),
        Case("header claims a huge shape", _put(d, "huge.npy", huge), "melspec", e,
             r"header claims an array of shape \(80, 10000000000000\).*holds only"),
        Case("truncated .npy", _put(d, "truncated.npy", truncated), "melspec", e, r"truncated"),
        Case("corrupt header", _put(d, "bad_header.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': <<<}  \n"),
             "melspec", e, r"corrupt \.npy header"),
        Case("complex", _put(d, "complex.npy", _npy_bytes(mel.astype(np.complex64))), "melspec", e,
             r"complex.*np\.abs"),
        Case("structured dtype", _put(d, "structured.npy", _npy_bytes(np.zeros((80, 3), [("a", "f4"), ("b", "i4")]))),
             "melspec", e, r"structured array"),
        Case("zip without arrays", _put(d, "empty_archive.npz", empty_zip.getvalue()), "melspec", e,
             r"no \.npy arrays"),
        Case("corrupt zip", _put(d, "corrupt.npz", b"PK\x03\x04" + rng.bytes(300)), "melspec", e,
             r"not a readable \.npz archive"),
        Case("WAV given as mel", _put(d, "sound.npy", wav_bytes(tone(100))), "melspec", e,
             r"not a \.npy or \.npz file"),
    ]


def odd_melspec(d: Path) -> list[Case]:
    rng = np.random.default_rng(3)
    mel = rng.random((40, 9)).astype(np.float32)
    batch = rng.random((2, 40, 9))
    archive = io.BytesIO()
    np.savez_compressed(archive, f0=np.ones(9), mel=mel, audio=np.zeros(100))
    first = io.BytesIO()
    np.savez(first, mel.astype(np.float64), np.zeros(3))
    ok = "ok"
    return [
        Case("float32", _put(d, "mel.npy", _npy_bytes(mel)), "melspec", ok, expected=mel),
        Case("float64 batch", _put(d, "batch.npy", _npy_bytes(batch)), "melspec", ok,
             expected=batch.astype(np.float32)),
        Case("Fortran order", _put(d, "fortran.npy", _npy_bytes(np.asfortranarray(mel))), "melspec", ok, expected=mel),
        Case("integers", _put(d, "ints.npy", _npy_bytes(np.arange(40 * 3, dtype=np.int16).reshape(40, 3))),
             "melspec", ok, expected=np.arange(40 * 3, dtype=np.float32).reshape(40, 3)),
        Case("npz with a mel key", _put(d, "tts.npz", archive.getvalue()), "melspec", ok, expected=mel),
        Case("npz, first array", _put(d, "first.npz", first.getvalue()), "melspec", ok, expected=mel),
        Case("all zeros", _put(d, "zeros.npy", _npy_bytes(np.zeros((40, 4)))), "melspec", ok,
             expected=np.zeros((40, 4), np.float32)),
        Case("n_mels given and right", d / "mel.npy", "melspec", ok, kwargs={"n_mels": 40}, expected=mel),
    ]


def make_corpus(directory: Path, marker: Path) -> list[Case]:
    """Write every case into ``directory``; ``marker`` is the file a pickle payload would create."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return bad_audio(directory) + odd_audio(directory) + bad_melspec(directory, marker) + odd_melspec(directory)
