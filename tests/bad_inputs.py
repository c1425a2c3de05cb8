"""A corpus of bad and odd inputs, written at test time into a directory (a pytest tmp dir).

``make_corpus(directory)`` writes every file and returns :class:`Case` records saying how
each must be loaded and what must happen: ``error`` cases raise ``InputError`` whose
message matches ``match``; ``ok`` cases load, and ``expected`` says what they must hold.
Everything is made with numpy/soundfile/zipfile: no ffmpeg or sox at test time.
"""

from __future__ import annotations

import functools
import io
import math
import struct
import tempfile
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


def _patched(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new):]


def extended80(value: float) -> bytes:
    """An IEEE 754 80-bit extended float, as AIFF stores its sample rate."""
    mantissa, exponent = math.frexp(abs(value))
    sign = 0x8000 if value < 0 else 0
    return struct.pack(">HQ", sign | (exponent - 1 + 16383), int(mantissa * 2**64)) if value else bytes(10)


AIFF_RATES = {  # 80-bit sample rates no AIFF can have, and what the message must call them
    "NaN": (struct.pack(">HQ", 0x7FFF, 0xC000000000000000), "nan Hz"),
    "inf": (struct.pack(">HQ", 0x7FFF, 0x8000000000000000), "inf Hz"),
    "-inf": (struct.pack(">HQ", 0xFFFF, 0x8000000000000000), "-inf Hz"),
    "1e30": (extended80(1e30), "1e\\+30 Hz"),
    "10 MHz": (extended80(1e7), "1e\\+07 Hz"),
    "denormal": (struct.pack(">HQ", 0, 1), "[0-9.e-]+ Hz"),
    "zero": (bytes(10), "0 Hz"),
    "0.5 Hz": (extended80(0.5), "0.5 Hz"),
    "negative": (extended80(-16000.0), "-16000 Hz"),
}


def with_aiff_rate(aiff: bytes, raw: bytes) -> bytes:
    return _patched(aiff, aiff.index(b"COMM") + 16, raw)


def with_chunks_before_data(wav: bytes, count: int, body: bytes = b"") -> bytes:
    """``count`` 'junk' chunks inserted before the data chunk (and the RIFF size fixed)."""
    at = wav.index(b"data")
    junk = (b"junk" + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)) * count
    out = wav[:at] + junk + wav[at:]
    return out[:4] + struct.pack("<I", len(out) - 8) + out[8:]


def with_flac_total(flac: bytes, total: int) -> bytes:
    """Rewrite the 36-bit total-samples field of a FLAC's STREAMINFO."""
    at = flac.index(b"fLaC") + 8 + 10  # STREAMINFO's body, after block and frame sizes
    field = int.from_bytes(flac[at:at + 8], "big")
    field = (field & ~((1 << 36) - 1)) | total
    return _patched(flac, at, field.to_bytes(8, "big"))


def with_flac_rate(flac: bytes, rate: int) -> bytes:
    """Rewrite the 20-bit sample rate of a FLAC's STREAMINFO."""
    at = flac.index(b"fLaC") + 8 + 10
    field = int.from_bytes(flac[at:at + 8], "big")
    field = (field & ~(((1 << 20) - 1) << 44)) | (rate << 44)
    return _patched(flac, at, field.to_bytes(8, "big"))


def with_sample_rate(wav: bytes, rate: int) -> bytes:
    at = wav.index(b"fmt ") + 12
    return _patched(wav, at, struct.pack("<I", rate))


def with_last_granule(ogg: bytes, granule: int) -> bytes:
    at = ogg.rfind(b"OggS")
    return _patched(ogg, at + 6, struct.pack("<q", granule))


def lying_headers(d: Path) -> list[Case]:
    """Sound files whose headers cannot be right, in every container
    libsndfile reads. Each is refused as damaged (not "too long", not loaded at 67 MHz)."""
    x = tone(RATE // 2)
    wav, rf64, w64 = wav_bytes(x), wav_bytes(x, fmt="RF64"), wav_bytes(x, fmt="W64")
    aiff, caf, au = wav_bytes(x, fmt="AIFF"), wav_bytes(x, fmt="CAF"), wav_bytes(x, fmt="AU")
    rifx = _big_endian_wav(x)
    aifc = wav_bytes(x, fmt="AIFF", subtype="FLOAT")
    flac = wav_bytes(x, fmt="FLAC")
    half = lambda data: data[:len(data) // 2]  # noqa: E731
    trunc = r"truncated or corrupt {}.*header says the audio data is .* holds only .*Re-export"
    e = "error"
    cases = [
        Case("RF64 truncated", _put(d, "rf64_truncated.wav", half(rf64)), "audio", e, trunc.format("RF64 WAV")),
        Case("RF64 ds64 claims 1 TiB", _put(d, "rf64_ds64.wav", _patched(rf64, 28, struct.pack("<Q", 2**40))),
             "audio", e, r"RF64 WAV.*header says the audio data is 1,024\.0 GiB"),
        Case("RF64 without ds64", _put(d, "rf64_no_ds64.wav", _patched(rf64, 12, b"junk")), "audio", e,
             r"ds64 chunk, which is missing"),
        Case("RIFX truncated", _put(d, "rifx_truncated.wav", half(rifx)), "audio", e, trunc.format("WAV")),
        Case("300 chunks, then truncated data", _put(d, "many_chunks_truncated.wav",
                                                     with_chunks_before_data(wav, 300, b"x" * 30)[:-3000]),
             "audio", e, trunc.format("WAV")),
        Case("5000 empty chunks", _put(d, "chunk_flood.wav", with_chunks_before_data(wav, 5000)), "audio", e,
             r"more than 1024 chunks"),
        Case("W64 chunk of size 0 (a loop)", _put(d, "w64_loop.w64", _patched(w64, 40 + 16, bytes(8))),
             "audio", e, r"W64 file: a .* chunk claims a size of 0"),
        Case("W64 truncated", _put(d, "w64_truncated.w64", half(w64)), "audio", e, trunc.format("W64")),
        Case("CAF truncated", _put(d, "caf_truncated.caf", caf[:len(caf) - 4000]), "audio", e, trunc.format("CAF")),
        Case("AU truncated", _put(d, "au_truncated.au", half(au)), "audio", e, trunc.format("AU")),
        Case("AIFF truncated", _put(d, "aiff_truncated.aiff", half(aiff)), "audio", e, trunc.format("AIFF")),
        Case("AIFF SSND claims 4 GiB", _put(d, "aiff_ssnd_4g.aiff", _patched(aiff, aiff.index(b"SSND") + 4,
                                                                           struct.pack(">I", 2**32 - 1))),
             "audio", e, r"AIFF file.*audio data is 4\.0 GiB"),
        Case("FLAC claiming 2**36 - 1 samples", _put(d, "flac_2e36.flac", with_flac_total(flac, 2**36 - 1)),
             "audio", e, r"corrupt: its header claims 68,719,476,735 samples .*far more than a file of"),
        Case("FLAC claiming a billion samples", _put(d, "flac_1e9.flac", with_flac_total(flac, 10**9)),
             "audio", e, r"corrupt: its header claims 1,000,000,000 samples"),
        Case("WAV at 10 MHz", _put(d, "wav_10mhz.wav", with_sample_rate(wav, 10**7)), "audio", e,
             r"sample rate of 10,000,000 Hz, above the 768,000 Hz.*resample it first.*damaged"),
        Case("WAV at 2**31 - 1 Hz", _put(d, "wav_2e31.wav", with_sample_rate(wav, 2**31 - 1)), "audio", e,
             r"sample rate of 2,147,483,647 Hz"),
        Case("AU at 1 GHz", _put(d, "au_1ghz.au", _patched(au, 16, struct.pack(">I", 10**9))), "audio", e,
             r"sample rate of 1,000,000,000 Hz"),
        Case("WAV with 65535 channels", _put(d, "wav_65535ch.wav", _patched(wav, 22, struct.pack("<H", 65535))),
             "audio", e, r"starts like a WAV file, but its header is damaged"),
        Case("FLAC with a sample rate of 0", _put(d, "flac_rate0.flac", with_flac_rate(flac, 0)), "audio", e,
             r"starts like a FLAC file, but its header is damaged"),
        Case("FLAC magic, then garbage", _put(d, "flac_garbage.flac", b"fLaC" + bytes(500)), "audio", e,
             r"starts like a FLAC file, but its header is damaged"),
        Case("OGG magic, then garbage", _put(d, "ogg_garbage.ogg", b"OggS" + bytes(500)), "audio", e,
             r"starts like an OGG file"),
        Case("ID3 tag, then garbage", _put(d, "id3_garbage.mp3", b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + bytes(500)),
             "audio", e, r"starts like an MP3 file"),
        Case("AIFF with 0 channels", _put(d, "aiff_0ch.aiff", _patched(aiff, aiff.index(b"COMM") + 8, bytes(2))),
             "audio", e, r"starts like an AIFF file, but its header is damaged"),
        Case("OGG whose last page lies", _put(d, "ogg_granule.ogg", with_last_granule(
            wav_bytes(tone(RATE), fmt="OGG", subtype="VORBIS"), 2**60)), "audio", e,
            r"no audio samples \(if it should, its header is damaged"),
    ]
    for label, (raw, shown) in AIFF_RATES.items():
        cases.append(Case(f"AIFF rate {label}", _put(d, f"aiff_rate_{label.replace(' ', '_')}.aiff",
                                                     with_aiff_rate(aiff, raw)),
                          "audio", e, rf"AIFF file whose header gives the sample rate as {shown}.*damaged"))
    cases.append(Case("AIFC rate NaN", _put(d, "aifc_rate_nan.aifc", with_aiff_rate(aifc, AIFF_RATES["NaN"][0])),
                      "audio", e, r"AIFF file whose header gives the sample rate as nan Hz"))
    return cases


def _big_endian_wav(samples) -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, samples, RATE, format="WAV", subtype="PCM_16", endian="BIG")
    return buf.getvalue()


def odd_containers(d: Path) -> list[Case]:
    """Valid files in the other containers the header walk reads: each loads exactly."""
    x = tone(RATE // 2)
    ok = "ok"
    wide = np.stack([x[:200] * (k % 7) / 7 for k in range(1000)], axis=1)  # 1000 channels
    cases = [Case(f"{name} file", _put(d, f"tone.{ext}", data), "audio", ok, expected=x, rate=RATE, atol=1e-4)
             for name, ext, data in [
                 ("RF64", "rf64.wav", wav_bytes(x, fmt="RF64")), ("RIFX", "rifx.wav", _big_endian_wav(x)),
                 ("W64", "w64", wav_bytes(x, fmt="W64")), ("CAF", "caf", wav_bytes(x, fmt="CAF")),
                 ("AU", "au", wav_bytes(x, fmt="AU")), ("AIFF", "aiff", wav_bytes(x, fmt="AIFF")),
                 ("AIFC float", "aifc", wav_bytes(x, fmt="AIFF", subtype="FLOAT")),
                 ("WAV with 200 chunks before its data", "chunky.wav",
                  with_chunks_before_data(wav_bytes(x), 200, b"abc")),
             ]]
    cases.append(Case("1000 channels", _put(d, "thousand_channels.wav", wav_bytes(wide, subtype="FLOAT")), "audio",
                      ok, expected=wide.mean(axis=1), rate=RATE, atol=1e-6))
    cases.append(Case("FLAC at 655,350 Hz (FLAC's highest)", _put(d, "flac_655k.flac",
                                                                    wav_bytes(tone(6553, 655350), 655350, fmt="FLAC")),
                      "audio", ok, expected=tone(6553, 655350), rate=655350, atol=1e-4))
    return cases


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


def npz_bytes(members, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip archive of ``(name, bytes)`` members, as np.savez would write (or not)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buf.getvalue()


def _npy_header_v2(length: int) -> bytes:
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", length)


def _corrupt_deflate(archive: bytes, member: str, skip: int) -> bytes:
    """Flip bytes of ``member``'s compressed stream, ``skip`` bytes into it."""
    at = archive.index(member.encode()) + len(member) + skip
    return archive[:at] + bytes(b ^ 0xFF for b in archive[at:at + 40]) + archive[at + 40:]


def bad_archives(d: Path) -> list[Case]:
    """.npy/.npz files built to exhaust memory or time, or to make the
    decompressor raise its own exceptions."""
    rng = np.random.default_rng(4)
    mel = rng.random((40, 2000)).astype(np.float32)
    good = npz_bytes([("mel.npy", _npy_bytes(mel))])
    zeros = _npy_header(np.float32, (40, 160_000)) + bytes(40 * 160_000 * 4)  # 24 MiB of zeros
    claims_4g_header = _npy_header_v2(2**32 - 1) + b"{'descr': '<f4'" + bytes(2**20)
    e = "error"
    return [
        Case("npz, corrupt deflate in the header", _put(d, "deflate_header.npz", _corrupt_deflate(good, "mel.npy", 2)),
             "melspec", e, r"corrupt|not a readable \.npz"),
        Case("npz, corrupt deflate in the data", _put(d, "deflate_data.npz", _corrupt_deflate(good, "mel.npy", 3000)),
             "melspec", e, r"could not read the array .*(decompress|CRC)|not a readable \.npz"),
        Case("npz with 5000 members", _put(d, "many_members.npz",
                                           npz_bytes([(f"a{k}.npy", b"") for k in range(5000)], zipfile.ZIP_STORED)),
             "melspec", e, r"listing 5,000 entries.*np\.save"),
        Case("npz bomb (24 MiB of zeros)", _put(d, "bomb.npz", npz_bytes([("mel.npy", zeros)])), "melspec", e,
             r"would expand from .* to 24\.4 MiB, more than 100-fold.*zip bomb"),
        Case("npz member claiming a 4 GiB header", _put(d, "header_4g.npz", npz_bytes([("mel.npy", claims_4g_header)])),
             "melspec", e, r"corrupt \.npy header \(its header claims 4,294,967,295 bytes"),
        Case("npy header of 100 KB", _put(d, "header_100k.npy", _npy_header_v2(100_000) + b"{" + b" " * 99_999),
             "melspec", e, r"its header claims 100,000 bytes; a \.npy header is under 10,000"),
        Case("npy format version 9", _put(d, "version9.npy", b"\x93NUMPY\x09\x00" + _npy_bytes(mel)[8:]),
             "melspec", e, r"not a \.npy header of format 1\.0, 2\.0 or 3\.0"),
        Case("npy negative dimension", _put(d, "negative_dim.npy",
                                            _npy_header(np.float32, (40, -10)) + mel.tobytes()),
             "melspec", e, r"corrupt: its header claims the shape \(40, -10\), with negative dimensions"),
        Case("npy claiming 2**62 x 2**62", _put(d, "shape_2e62.npy", _npy_header(np.float32, (2**62, 2**62))),
             "melspec", e, r"header claims an array of shape \(4611686018427387904, 4611686018427387904\)"),
        Case("timedelta mel", _put(d, "timedelta.npy", _npy_bytes(np.zeros((40, 3), "m8[s]"))), "melspec", e,
             r"numeric array \(float or integer\), got dtype timedelta64"),
        Case("datetime mel", _put(d, "datetime.npy", _npy_bytes(np.zeros((40, 3), "M8[s]"))), "melspec", e,
             r"got dtype datetime64"),
        Case("raw bytes dtype (V4)", _put(d, "void.npy", _npy_bytes(np.zeros((40, 3), "V4"))), "melspec", e,
             r"got dtype \|V4"),
        Case("unicode mel", _put(d, "unicode.npy", _npy_bytes(np.full((40, 3), "1.0"))), "melspec", e,
             r"got dtype <U3"),
        Case("float64 above float32's range", _put(d, "huge_f64.npy", _npy_bytes(np.full((40, 3), 1e300))),
             "melspec", e, r"reaches 1e\+300, beyond float32's range \(3\.4e38\).*scale it down"),
        Case("longdouble above float32's range", _put(d, "huge_f128.npy",
                                                      _npy_bytes(np.full((40, 3), 1e39, np.longdouble))),
             "melspec", e, r"beyond float32's range"),
    ]


def odd_arrays(d: Path) -> list[Case]:
    """Unusual but valid .npy/.npz: each loads to the float32 values it holds."""
    rng = np.random.default_rng(5)
    mel = rng.random((40, 9)).astype(np.float32)
    ok = "ok"
    big = np.full((40, 3), 2**62, np.int64)
    cases = [
        ("float16", mel.astype(np.float16), mel.astype(np.float16).astype(np.float32)),
        ("big-endian float64", mel.astype(">f8"), mel),
        ("big-endian Fortran order", np.asfortranarray(mel.astype(">f4")), mel),
        ("booleans", mel > 0.5, (mel > 0.5).astype(np.float32)),
        ("int64 near 2**62", big, big.astype(np.float32)),
        ("uint64 maximum", np.full((40, 2), 2**64 - 1, np.uint64), np.full((40, 2), 2.0**64, np.float32)),
        ("longdouble", mel.astype(np.longdouble), mel),
        ("4-D batch", np.stack([mel[None]] * 2), np.stack([mel[None]] * 2)),
    ]
    out = [Case(f"npy {name}", _put(d, f"odd_{name.replace(' ', '_')}.npy", _npy_bytes(arr)), "melspec", ok,
                expected=expected) for name, arr, expected in cases]
    v2 = io.BytesIO()
    np.lib.format.write_array(v2, mel, version=(2, 0))
    out += [
        Case("npy format 2.0", _put(d, "v2.npy", v2.getvalue()), "melspec", ok, expected=mel),
        Case("npz, nested member name", _put(d, "nested.npz", npz_bytes([("a/b/../mel.npy", _npy_bytes(mel))])),
             "melspec", ok, expected=mel),
        Case("npz, LZMA", _put(d, "lzma.npz", npz_bytes([("mel.npy", _npy_bytes(mel))], zipfile.ZIP_LZMA)),
             "melspec", ok, expected=mel),
        Case("npz, bzip2", _put(d, "bz2.npz", npz_bytes([("mel.npy", _npy_bytes(mel))], zipfile.ZIP_BZIP2)),
             "melspec", ok, expected=mel),
        Case("npz, 4096 members", _put(d, "members_4096.npz", npz_bytes(
            [("mel.npy", _npy_bytes(mel))] + [(f"x{k}.npy", b"") for k in range(4095)], zipfile.ZIP_STORED)),
             "melspec", ok, expected=mel),
    ]
    return out


def make_corpus(directory: Path, marker: Path) -> list[Case]:
    """Write every case into ``directory``; ``marker`` is the file a pickle payload would create."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return (bad_audio(directory) + odd_audio(directory) + lying_headers(directory) + odd_containers(directory)
            + bad_melspec(directory, marker) + odd_melspec(directory) + bad_archives(directory)
            + odd_arrays(directory))


@functools.cache
def case_names() -> tuple[tuple[str, str, bool], ...]:
    """``(name, outcome, has kwargs)`` of every case, for test ids at collection: the corpus
    is written once per process for them (into a directory removed at once), not once per
    test module."""
    with tempfile.TemporaryDirectory() as d:
        return tuple((c.name, c.outcome, bool(c.kwargs)) for c in make_corpus(Path(d) / "corpus", Path(d) / "marker"))
