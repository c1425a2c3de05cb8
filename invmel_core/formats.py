"""How popular pipelines make their mel spectrograms, as data; their compressions, detected and undone.

A :class:`MelFormat` holds everything a pipeline fixes: the STFT (framing, padding, window,
magnitude or power), the filterbank and the compression of the stored values (``ln``,
``log10``, dB, Whisper's scaled log10, or none). :data:`FORMATS` names the presets, each
verified in its project's source (``source``; docs/formats.md cites the files).
:func:`mel_from_audio` makes a mel spectrogram exactly as a format's pipeline does;
:func:`detect_compression` reads the compression off an array as stored, and
:func:`undo_compression` turns it back into a linear mel plus the mask of entries that were
clamped (for those only "at most this value" is known).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import scipy.fft

from .audio import stft_window
from .errors import InputError
from .filterbank import MelFilterbank, _check_number, check_compat, check_norm
from .scales import check_mel_type

KINDS = ("linear", "db", "ln", "log10", "whisper")
FRAMINGS = ("center", "same")
PAD_MODES = ("reflect", "constant")
_LN10 = math.log(10.0)
_FRAMES_PER_FFT = 512  # frames per FFT batch: bounds the complex temporaries


@dataclass(frozen=True)
class MelFormat:
    """One pipeline's mel spectrogram: STFT, filterbank and compression. Frozen and hashable.

    ``framing="center"`` pads ``n_fft // 2`` samples on both sides (frame ``t`` centred on
    sample ``t * hop_length``, ``1 + n // hop_length`` frames: invmel's own STFT, torchaudio's
    and librosa's); ``"same"`` pads ``(n_fft - hop_length) // 2`` and frames without centring
    (HiFi-GAN, BigVGAN: ``n // hop_length`` frames, each centred half a hop later). The
    spectrum is ``max(|X|^2 + power_offset, power_floor) ** (power / 2)`` with a periodic Hann
    window. ``compression`` turns the linear mel into the stored values: ``"ln"`` and
    ``"log10"`` of ``max(mel, clamp)``; ``"db"`` is ``db_factor * log10(max(mel, clamp) / ref)``
    floored at ``max - top_db`` (``db_ref="max"``: librosa's ``ref=np.max``); ``"whisper"`` is
    ``log10(max(mel, clamp))`` floored at ``max - top_db / 10``, then ``(x + 4) / 4``.

    Examples
    --------
    >>> fmt = FORMATS["hifigan"]
    >>> fmt.n_freqs, fmt.n_frames(220500), round(fmt.duration(861), 3)
    (513, 861, 9.996)
    >>> fmt.replace(n_fft=512).n_freqs
    257
    """

    sample_rate: int
    n_fft: int
    hop_length: int
    n_mels: int
    win_length: int | None = None  # None: n_fft
    f_min: float = 0.0
    f_max: float | None = None  # None: Nyquist
    mel_type: str = "htk"
    norm: str | None = None
    power: float = 2.0  # 1: magnitude, 2: power
    compression: str = "linear"
    clamp: float | None = None  # lower clamp on the linear mel before the log (dB: amin)
    top_db: float | None = None  # floor relative to the maximum, in dB
    db_factor: int | None = None  # "db": 10 (power_to_db) or 20 (amplitude_to_db)
    db_ref: float | str = 1.0  # "db": reference value, or "max"
    framing: str = "center"
    pad_mode: str = "reflect"
    drop_last_frame: bool = False  # Whisper drops the STFT's last frame
    power_offset: float = 0.0  # added to |X|^2 (HiFi-GAN: 1e-9 inside the square root)
    power_floor: float = 0.0  # |X|^2 clamped below (ESPnet: 1e-10)
    compat: str = "torchaudio"  # filterbank bin frequencies ("librosa": sample_rate / 2)
    source: str = ""
    description: str = ""

    def __post_init__(self):
        n_fft = _check_number("n_fft", self.n_fft, integer=True, minimum=2)
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        set_("n_fft", n_fft)
        if self.win_length is not None:  # None stays None: n_fft, also after replace(n_fft=...)
            set_("win_length", _check_number("win_length", self.win_length, integer=True, minimum=1))
            if self.win_length > n_fft:
                raise InputError(f"win_length must be at most n_fft={n_fft}, got {self.win_length}")
        set_("sample_rate", _check_number("sample_rate", self.sample_rate, integer=True, minimum=1))
        set_("hop_length", _check_number("hop_length", self.hop_length, integer=True, minimum=1))
        set_("power", _check_number("power", self.power, minimum=0, strict=True))
        set_("mel_type", check_mel_type(self.mel_type))
        set_("norm", check_norm(self.norm))
        set_("compat", check_compat(self.compat))
        for name, allowed in (("compression", KINDS), ("framing", FRAMINGS), ("pad_mode", PAD_MODES)):
            if getattr(self, name) not in allowed:
                raise InputError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.compression == "db" and self.db_factor not in (10, 20):
            raise InputError(f"db_factor must be 10 or 20 for compression 'db', got {self.db_factor!r}")
        if self.compression in ("ln", "log10", "whisper") and not (self.clamp and self.clamp > 0):
            raise InputError(f"compression {self.compression!r} needs clamp > 0 (the log's floor), got {self.clamp!r}")
        self.filterbank  # validates n_mels, f_min, f_max against the sample rate

    @cached_property
    def filterbank(self) -> MelFilterbank:
        return MelFilterbank(self.n_freqs, self.f_min, self.f_max, self.n_mels, self.sample_rate,
                             self.norm, self.mel_type, self.compat)

    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def padding(self) -> int:
        """Samples padded on each side before framing."""
        return self.n_fft // 2 if self.framing == "center" else (self.n_fft - self.hop_length) // 2

    def n_frames(self, n_samples: int) -> int:
        """Frames this format makes from ``n_samples`` samples."""
        frames = 1 + (n_samples + 2 * self.padding - self.n_fft) // self.hop_length
        return frames - 1 if self.drop_last_frame else frames

    def duration(self, n_frames: int) -> float:
        """Seconds of sound ``n_frames`` frames stand for: ``n_frames * hop_length / sample_rate``."""
        return n_frames * self.hop_length / self.sample_rate

    def replace(self, **changes) -> "MelFormat":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


_LIBROSA_MEL = dict(mel_type="slaney", norm="slaney", compat="librosa")  # librosa.filters.mel defaults
_HIFIGAN = dict(framing="same", power=1.0, power_offset=1e-9, compression="ln", clamp=1e-5, **_LIBROSA_MEL)
_WHISPER = dict(sample_rate=16000, n_fft=400, hop_length=160, compression="whisper", clamp=1e-10,
                top_db=80.0, drop_last_frame=True, **_LIBROSA_MEL)

FORMATS: dict[str, MelFormat] = {
    "hifigan": MelFormat(
        sample_rate=22050, n_fft=1024, hop_length=256, n_mels=80, f_max=8000.0, **_HIFIGAN,
        source="jik876/hifi-gan meldataset.py, config_v1.json",
        description="HiFi-GAN V1: ln of a magnitude mel clamped at 1e-5, frames padded (n_fft-hop)/2 "
                    "with reflection, not centred"),
    "tacotron2": MelFormat(
        sample_rate=22050, n_fft=1024, hop_length=256, n_mels=80, f_max=8000.0, power=1.0,
        compression="ln", clamp=1e-5, **_LIBROSA_MEL,
        source="NVIDIA/tacotron2 layers.py, stft.py, audio_processing.py, hparams.py",
        description="NVIDIA Tacotron 2 / WaveGlow: HiFi-GAN's mel, but centred frames (reflect n_fft/2)"),
    "bigvgan-24k": MelFormat(
        sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100, **_HIFIGAN,
        source="NVIDIA/BigVGAN meldataset.py, configs/bigvgan_v2_24khz_100band_256x.json",
        description="BigVGAN v2 24 kHz 100-band: HiFi-GAN's recipe, 0 Hz to Nyquist"),
    "bigvgan-44k": MelFormat(
        sample_rate=44100, n_fft=2048, hop_length=512, n_mels=128, **_HIFIGAN,
        source="NVIDIA/BigVGAN meldataset.py, configs/bigvgan_v2_44khz_128band_512x.json",
        description="BigVGAN v2 44 kHz 128-band, 512x: HiFi-GAN's recipe, 0 Hz to Nyquist"),
    "vocos": MelFormat(
        sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100, power=1.0, compression="ln", clamp=1e-7,
        source="gemelo-ai/vocos vocos/feature_extractors.py, vocos/modules.py, configs/vocos.yaml",
        description="Vocos mel 24 kHz: torchaudio MelSpectrogram (HTK, no norm) of magnitudes, ln clamped at 1e-7"),
    "whisper": MelFormat(
        n_mels=80, **_WHISPER, source="openai/whisper whisper/audio.py",
        description="Whisper log-mel (80 bands): log10 of a power mel, floored 8 decades below the peak, (x+4)/4"),
    "whisper-128": MelFormat(
        n_mels=128, **_WHISPER, source="openai/whisper whisper/audio.py",
        description="Whisper large-v3 log-mel (128 bands)"),
    "espnet": MelFormat(
        sample_rate=22050, n_fft=1024, hop_length=256, n_mels=80, f_min=80.0, f_max=7600.0, power=1.0,
        power_floor=1e-10, compression="log10", clamp=1e-10, **_LIBROSA_MEL,
        source="espnet/espnet espnet2/tts/feats_extract/log_mel_fbank.py, espnet2/layers/log_mel.py, "
               "egs2/ljspeech/tts1/run.sh",
        description="ESPnet2 TTS fbank (LJSpeech recipe): log10 of a magnitude mel, 80-7600 Hz "
                    "(before global_mvn normalisation)"),
    "torchaudio": MelFormat(
        sample_rate=16000, n_fft=400, hop_length=200, n_mels=128,
        source="pytorch/audio src/torchaudio/transforms/_transforms.py (MelSpectrogram defaults)",
        description="torchaudio.transforms.MelSpectrogram(): HTK, no norm, power, linear"),
    "librosa": MelFormat(
        sample_rate=22050, n_fft=2048, hop_length=512, n_mels=128, pad_mode="constant", **_LIBROSA_MEL,
        source="librosa feature.melspectrogram defaults (librosa 0.11)",
        description="librosa.feature.melspectrogram(y=y): Slaney, power, linear, zero-padded centred frames"),
    "librosa-db": MelFormat(
        sample_rate=22050, n_fft=2048, hop_length=512, n_mels=128, pad_mode="constant", compression="db",
        db_factor=10, clamp=1e-10, top_db=80.0, db_ref="max", **_LIBROSA_MEL,
        source="librosa feature.melspectrogram and power_to_db defaults (librosa 0.11)",
        description="librosa.power_to_db(melspectrogram(y=y), ref=np.max): dB, 0 at the peak, floored at -80"),
}


# --------------------------------------------------------------------------- audio -> mel


def format_spectrogram(samples, fmt: MelFormat) -> np.ndarray:
    """The linear-frequency spectrogram ``fmt``'s pipeline projects onto its mels.

    Framing, padding, window, offset/floor and exponent as the format says (see
    :class:`MelFormat`); float32 ``(n_fft // 2 + 1, fmt.n_frames(len(samples)))``. For a
    format with ``framing="center"``, ``pad_mode="reflect"`` and nothing added this is
    :func:`invmel_core.audio.spectrogram`.

    Examples
    --------
    >>> spec = format_spectrogram(np.ones(22050), FORMATS["hifigan"])
    >>> spec.shape
    (513, 86)
    """
    y, _ = _stored_values(samples, "samples")
    if y.ndim != 1:
        raise InputError(f"samples must be mono, 1-D (n,), got shape {y.shape}; average the channels first")
    pad = fmt.padding
    if fmt.pad_mode == "reflect" and y.size <= pad:
        raise InputError(f"samples: {y.size} samples is too short for reflect padding by {pad}; "
                         f"give at least {pad + 1}")
    if y.size + 2 * pad < fmt.n_fft:
        raise InputError(f"samples: {y.size} samples make no frame of n_fft={fmt.n_fft}")
    padded = np.pad(y, pad, mode=fmt.pad_mode)
    frames = np.lib.stride_tricks.sliding_window_view(padded, fmt.n_fft)[::fmt.hop_length]
    frames = frames[:fmt.n_frames(y.size)]
    window = stft_window(fmt.n_fft, fmt.win_length).astype(np.float64)
    out = np.empty((fmt.n_freqs, frames.shape[0]), np.float32)
    for start in range(0, frames.shape[0], _FRAMES_PER_FFT):
        block = frames[start:start + _FRAMES_PER_FFT] * window
        power = np.abs(scipy.fft.rfft(block, axis=-1)) ** 2 + fmt.power_offset
        np.maximum(power, fmt.power_floor, out=power)
        out[:, start:start + block.shape[0]] = (power if fmt.power == 2 else power ** (fmt.power / 2)).T
    return out


def compress(mel, fmt: MelFormat) -> np.ndarray:
    """Apply ``fmt``'s compression to a linear mel ``(..., n_mels, time)``; float32.

    Relative floors (``top_db``, Whisper's 8 decades) use the maximum of the whole array,
    as the pipelines do for one utterance.

    Examples
    --------
    >>> compress(np.array([[1.0, 1e-9]]), FORMATS["hifigan"]).round(4)
    array([[  0.    , -11.5129]], dtype=float32)
    >>> compress(np.array([[1.0, 1e-12]]), FORMATS["whisper"])
    array([[ 1., -1.]], dtype=float32)
    """
    mel = np.asarray(mel, dtype=np.float64)
    kind = fmt.compression
    if kind == "linear":
        return mel.astype(np.float32)
    if kind == "ln":
        return np.log(np.maximum(mel, fmt.clamp)).astype(np.float32)
    logs = np.log10(np.maximum(mel, fmt.clamp))
    if kind == "log10":
        return logs.astype(np.float32)
    if kind == "whisper":
        logs = np.maximum(logs, logs.max() - fmt.top_db / 10.0)
        return ((logs + 4.0) / 4.0).astype(np.float32)
    ref = mel.max() if fmt.db_ref == "max" else float(fmt.db_ref)
    db = fmt.db_factor * (logs - np.log10(max(fmt.clamp, ref)))
    if fmt.top_db is not None:
        db = np.maximum(db, db.max() - fmt.top_db)
    return db.astype(np.float32)


def mel_from_audio(samples, fmt: MelFormat | str) -> np.ndarray:
    """The mel spectrogram ``fmt``'s pipeline makes from ``samples``, compressed as it stores it.

    Parameters
    ----------
    samples : array_like
        Mono samples ``(n,)`` at ``fmt.sample_rate``, in [-1, 1].
    fmt : MelFormat or str
        A format, or the name of one in :data:`FORMATS`.

    Returns
    -------
    np.ndarray
        float32 ``(n_mels, fmt.n_frames(n))``.

    Examples
    --------
    >>> t = np.arange(22050) / 22050
    >>> mel = mel_from_audio(0.5 * np.sin(2 * np.pi * 440 * t), "hifigan")
    >>> mel.shape, detect_compression(mel).kind
    ((80, 86), 'ln')
    """
    fmt = get_format(fmt)
    spec = format_spectrogram(samples, fmt)
    return compress(fmt.filterbank.banded.project(spec), fmt)


def get_format(fmt: MelFormat | str) -> MelFormat:
    """``fmt`` itself, or the preset of that name (InputError naming the choices)."""
    if isinstance(fmt, MelFormat):
        return fmt
    if isinstance(fmt, str) and fmt in FORMATS:
        return FORMATS[fmt]
    raise InputError(f"format must be a MelFormat or one of {sorted(FORMATS)}, got {fmt!r}")



# --------------------------------------------------------------------------- compression

# Clamps pipelines put under their logs, as the floors they leave in the stored values. Only
# these three are also looked for approximately (a model's prediction of a floored mel).
_APPROX_FLOORS = (("ln", math.log(1e-5), 0.25), ("ln", math.log(1e-7), 0.25), ("log10", -10.0, 0.1))
_LN_FLOORS = tuple((math.log(10.0 ** -k), f"1e-{k}") for k in range(4, 13))


@dataclass(frozen=True)
class Compression:
    """What :func:`detect_compression` read off an array, or a compression to undo.

    ``kind`` is one of :data:`KINDS`. ``floor`` (stored units) or None: entries at or below
    ``floor + floor_tolerance`` were clamped, so only "at most this" is known of them.
    ``db_factor`` is 10, 20 or None (cannot tell). ``exact``: the floor sits exactly at a
    pipeline's clamp, so the values came straight from a pipeline (not a model).
    ``alternatives``: other kinds the values could also be (:func:`check_fit` tries them).
    """

    kind: str
    floor: float | None = None
    db_factor: int | None = None
    confidence: str = "high"  # "high": a hallmark seen exactly; "medium"; "low": a guess
    exact: bool = False
    alternatives: tuple[str, ...] = ()
    floor_tolerance: float = 0.0
    why: str = ""

    @property
    def label(self) -> str:
        if self.kind == "db":
            return f"{self.db_factor}·log10 (dB)" if self.db_factor else "dB (10·log10 or 20·log10)"
        return {"ln": "natural log", "log10": "log10", "whisper": "Whisper's (log10 + 4) / 4"}.get(self.kind, self.kind)

    @property
    def slope(self) -> float:
        """d ln(linear) / d stored value (0 for linear)."""
        return {"linear": 0.0, "ln": 1.0, "log10": _LN10, "whisper": 4 * _LN10}.get(
            self.kind, _LN10 / (self.db_factor or 10))

    def readings(self) -> tuple["Compression", ...]:
        """Every concrete reading to try: this one and its alternatives, dB in both bases."""
        out = []
        for kind in (self.kind, *self.alternatives):
            factors = (self.db_factor,) if kind == "db" and self.db_factor else (10, 20) if kind == "db" else (None,)
            out += [replace(self, kind=kind, db_factor=f, alternatives=()) for f in factors]
        return tuple(out)

    def to_linear(self, values) -> np.ndarray:
        """Stored values -> linear mel, float64 (dB relative to its reference)."""
        x = np.asarray(values, dtype=np.float64)
        return x.copy() if self.kind == "linear" else np.exp(self.slope * (x - (self.kind == "whisper")))


def _stored_values(melspec, name="melspec") -> tuple[np.ndarray, type]:
    """float64 values and the float type whose rounding they carry (float16 or float32)."""
    try:
        arr = np.asarray(melspec)
    except Exception as exc:  # ragged lists, exotic objects
        raise InputError(f"{name} must be a numeric array, could not convert it: {exc}") from None
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InputError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.size == 0:
        raise InputError(f"{name} is empty (shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or infinite values; replace them (np.nan_to_num) or recompute it")
    return arr.astype(np.float64), (np.float16 if arr.dtype == np.float16 else np.float32)


def _tolerance(rounding: type, *values: float) -> float:
    """Four units of the stored type's rounding at these values: what "exactly equal" allows."""
    return 4.0 * float(np.spacing(rounding(max(1.0, *(abs(v) for v in values)))))


def detect_compression(melspec) -> Compression:
    """Read how a mel spectrogram was compressed from its values as stored.

    Hallmarks, looked for exactly (to four units of the storage's rounding) first:
    Whisper's floor exactly 2 below the maximum; ``ln`` of a clamp ``1e-4``...``1e-12``
    (``ln(1e-5) = -11.5129``: HiFi-GAN, Tacotron 2, BigVGAN); ``log10`` clamps (integers
    -4...-12, the minimum being reached more than once); dB (more than 40 between minimum
    and maximum, a range of exactly ``top_db``, a maximum of exactly 0 from ``ref=np.max``,
    or the ``amin`` floors -100 / -200). Then a model's approximate ``ln(1e-5)``,
    ``ln(1e-7)`` or ``log10(1e-10)`` floor. Without a hallmark the answer has
    ``confidence="low"`` and lists ``alternatives``; non-negative values that look
    compressed (too even for a linear mel) are called linear with low confidence and a
    reason, never confidently.

    Examples
    --------
    >>> mel = np.log(np.clip(np.array([[2.0, 1e-7, 0.5], [1e-9, 0.1, 1.0]]), 1e-5, None))
    >>> c = detect_compression(mel)
    >>> c.kind, round(c.floor, 4), c.exact
    ('ln', -11.5129, True)
    >>> detect_compression(np.array([[0.0, -80.0], [-80.0, -20.0]])).kind
    'db'
    """
    return _detect(*_stored_values(melspec))


def _detect(values: np.ndarray, rounding: type) -> Compression:
    lo, hi = float(values.min()), float(values.max())
    tol = _tolerance(rounding, lo, hi)
    n_low = int(np.count_nonzero(values <= lo + tol))
    if lo >= 0:
        return _detect_linear(values, lo, hi, n_low)
    span, seen = hi - lo, f"values from {lo:.6g} to {hi:.6g}"
    if n_low >= 2 and abs(span - 2.0) <= tol:
        return Compression("whisper", lo, exact=True, floor_tolerance=tol, why=(
            f"{seen}: {n_low} entries sit at the minimum, exactly 2 below the maximum — Whisper's log10 "
            "mel floored 8 decades below its peak, then (x + 4) / 4"))
    for value, clamp in _LN_FLOORS:
        if abs(lo - value) <= tol:
            return Compression("ln", lo, exact=True, floor_tolerance=tol, confidence="high" if n_low > 1 else "medium",
                               why=f"{seen}; {n_low} entries at the minimum, which is ln({clamp}) = {value:.4f}: "
                                   f"a natural-log mel clamped at {clamp}")
    if span < 20 and n_low >= 2 and abs(lo - round(lo)) <= tol and -12 <= round(lo) <= -4:
        return Compression("log10", lo, exact=True, floor_tolerance=tol, why=(
            f"{seen}; {n_low} entries at the minimum {lo:.6g} = log10(1e{round(lo)}): a log10 mel clamped at 1e{round(lo)}"))
    if span >= 20:
        db = _detect_db(lo, hi, n_low, tol, seen)
        if db is not None:
            return db
    for kind, value, width in _APPROX_FLOORS:
        near = float(np.mean(np.abs(values - value) <= width))
        if value - 6 * width <= lo <= value + width and near >= 0.005:
            base = "ln" if kind == "ln" else "log10"
            return Compression(kind, value, confidence="medium", floor_tolerance=width, why=(
                f"{seen}; {near:.1%} of the entries lie within {width} of {base}({math.exp(value) if kind == 'ln' else 10 ** value:.0e})"
                f" = {value:.4f} but none exactly at it: a {base} mel floored there, as a model predicts one"))
    return _guess_log(values, lo, hi, span, seen)


def _detect_db(lo, hi, n_low, tol, seen) -> Compression | None:
    notes, factor = [], None
    if n_low >= 2 and abs(hi - lo - round(hi - lo)) <= tol and round(hi - lo) % 10 == 0:
        notes.append(f"the range is exactly {round(hi - lo)} dB (a top_db floor, {n_low} entries on it)")
    if abs(hi) <= tol:
        notes.append("the maximum is exactly 0 (ref = the maximum: the absolute level is lost)")
    if n_low >= 2 and abs(lo + 200) <= tol:
        factor = 20
        notes.append("the floor -200 is 20·log10 of amin 1e-10 (torchaudio AmplitudeToDB of magnitudes)")
    elif n_low >= 2 and abs(lo + 100) <= tol:
        notes.append("the floor -100 is 10·log10 of amin 1e-10 or 20·log10 of amin 1e-5")
    if not notes and hi - lo <= 40:
        return None
    base = ("20·log10 (magnitude)" if factor else
            "10·log10 (power) and 20·log10 (magnitude) cannot be told apart from the values (check_fit tries both)")
    reason = "; ".join(notes) if notes else f"{hi - lo:.4g} apart, wider than a natural or base-10 log of a mel spans"
    return Compression("db", lo if n_low >= 2 else None, factor, "high" if notes else "medium", exact=bool(notes) and n_low >= 2,
                       floor_tolerance=tol, why=f"{seen}; {reason}: decibels; {base}")


def _guess_log(values, lo, hi, span, seen) -> Compression:
    mean, std = float(values.mean()), float(values.std())
    if abs(mean) < 0.3 * std and -8 < lo and hi < 8:
        return Compression("ln", None, confidence="low", alternatives=("log10",), why=(
            f"{seen}, mean {mean:.3g}, standard deviation {std:.3g}: this looks standardised (mean 0, std 1 per "
            "dataset or channel), which cannot be undone from the values — apply the dataset's mean and std first"))
    # No dB reading below a 40 span: a dB mel of real sound spans more, and a reading that
    # compressive makes almost any values look consistent (wrong settings would "fit").
    return Compression("ln", None, confidence="low", alternatives=("log10",), why=(
        f"{seen} ({span:.4g} apart) with no clamp floor: a log of a mel, but of which base cannot be read "
        "from the values; check_fit tries ln and log10"))


def _detect_linear(values, lo, hi, n_low) -> Compression:
    if hi == 0:
        return Compression("linear", confidence="low", why="every value is 0: silence, or nothing to read")
    p5 = float(np.percentile(values[values > 0], 5))
    seen = f"values from {lo:.4g} to {hi:.4g}, {10 * math.log10(hi / p5):.0f} dB between the 5th percentile of the positive ones and the peak"
    suspect = None
    if lo == 0 and hi == 1 and n_low >= 2:
        suspect = "exactly 0 to 1 with repeated zeros: a normalised array (e.g. min-max scaled dB)?"
    elif lo == 0 and n_low >= 2 and float(hi).is_integer() and hi % 10 == 0:
        suspect = f"exactly 0 to {hi:g} with repeated zeros: a dB mel shifted up by top_db ({hi:g})?"
    elif p5 > 1e-3 * hi or np.mean(values > 0.1 * hi) > 0.2:
        suspect = (f"{np.mean(values > 0.1 * hi):.0%} of the entries above a tenth of the peak: too even for a "
                   "linear mel of real sound (under 8 % in speech, chords, sweeps): a shifted or normalised dB "
                   "mel, log1p, or stationary noise?")
    if suspect:
        return Compression("linear", confidence="low", why=(
            f"non-negative, {seen}; {suspect} Undo any such scaling first, or the fit and the sound will be wrong"))
    return Compression("linear", why=(
        f"non-negative, {seen}, as a linear (power or magnitude) mel of real sound; power vs magnitude "
        "cannot be seen from the values"))


def undo_compression(melspec, compression: Compression | MelFormat | str | None = "auto"):
    """Undo a mel spectrogram's compression: ``(linear mel, floored mask)``.

    Parameters
    ----------
    melspec : array_like
        The values as stored, ``(..., n_mels, time)``.
    compression : "auto", Compression, MelFormat, format name or kind
        ``"auto"`` (or None) detects it (:func:`detect_compression`); a :class:`MelFormat` (or
        a name in :data:`FORMATS`) uses the format's compression and constants; a kind
        (``"ln"``, ``"log10"``, ``"whisper"``, ``"linear"``, ``"db10"``, ``"db20"``) takes the
        floor to be the minimum when it is reached more than once.

    Returns
    -------
    (np.ndarray, np.ndarray)
        float32 linear mel (power or magnitude as the pipeline made it; dB relative to its
        reference) and a boolean mask of the floored entries, where the linear value is an
        upper bound (the clamp), not a measurement.

    Examples
    --------
    >>> linear, floored = undo_compression(np.log(np.array([[1e-5, 2.0]], np.float32)))
    >>> linear.round(5), floored
    (array([[1.e-05, 2.e+00]], dtype=float32), array([[ True, False]]))
    """
    values, rounding = _stored_values(melspec)
    comp = _resolve(values, rounding, compression)
    linear = comp.to_linear(values)
    if comp.floor is None:
        return linear.astype(np.float32), np.zeros(values.shape, bool)
    floored = values <= comp.floor + comp.floor_tolerance
    bound = float(comp.to_linear(comp.floor))
    np.maximum(linear, bound, out=linear, where=floored)  # a model may undershoot its floor
    return linear.astype(np.float32), floored


def _resolve(values, rounding, compression) -> Compression:
    if compression is None or compression == "auto":
        return _detect(values, rounding)
    if isinstance(compression, Compression):
        return compression
    if isinstance(compression, str) and compression in FORMATS:
        compression = FORMATS[compression]
    lo, hi = float(values.min()), float(values.max())
    tol = _tolerance(rounding, lo, hi)
    if isinstance(compression, MelFormat):
        return _format_compression(compression, hi, tol)
    kinds = {"linear": ("linear", None), "ln": ("ln", None), "log10": ("log10", None),
             "whisper": ("whisper", None), "db10": ("db", 10), "db20": ("db", 20)}
    if compression not in kinds:
        raise InputError(f"compression must be 'auto', a Compression, a MelFormat, one of {sorted(FORMATS)} "
                         f"or one of {sorted(kinds)}, got {compression!r}")
    kind, factor = kinds[compression]
    repeated = np.count_nonzero(values <= lo + tol) >= 2 and kind != "linear"
    return Compression(kind, lo if repeated else None, factor, floor_tolerance=tol, why=f"given: {compression}")


def _format_compression(fmt: MelFormat, hi: float, tol: float) -> Compression:
    """The floor ``fmt``'s compression leaves in values whose maximum is ``hi``."""
    kind, floor = fmt.compression, None
    if kind in ("ln", "log10"):
        floor = math.log(fmt.clamp) if kind == "ln" else math.log10(fmt.clamp)
    elif kind == "whisper":
        floor = max(hi - fmt.top_db / 40.0, (math.log10(fmt.clamp) + 4.0) / 4.0)
    elif kind == "db":
        floors = [hi - fmt.top_db] if fmt.top_db is not None else []
        if fmt.db_ref != "max":
            floors.append(fmt.db_factor * math.log10(fmt.clamp / max(fmt.clamp, float(fmt.db_ref))))
        floor = max(floors) if floors else None
    return Compression(kind, floor, fmt.db_factor, exact=True, floor_tolerance=tol,
                       why=f"given by the format: {fmt.description or kind}")
