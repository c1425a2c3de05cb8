"""How popular pipelines make their mel spectrograms, as data.

A :class:`MelFormat` holds everything a pipeline fixes: the STFT (framing, padding, window,
magnitude or power), the filterbank and the compression of the stored values (``ln``,
``log10``, dB, Whisper's scaled log10, or none). :data:`FORMATS` names the presets, each
verified in its project's source (``source``; docs/formats.md cites the files).
:func:`mel_from_audio` makes a mel spectrogram exactly as a format's pipeline does. Reading
a compression off stored values and undoing it is :mod:`invmel_core.formats.compression`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import scipy.fft

from invmel_core.dsp.stft_plan import stft_window
from invmel_core.errors import InputError
from invmel_core.dsp.filterbank import MelFilterbank
from invmel_core.validation import (check_compat, check_finite_array, check_mel_type, check_norm, check_number,
                                  check_power, check_sample_rate, check_stft_params)

KINDS = ("linear", "db", "ln", "log10", "whisper")
# The fields of a MelFormat that are options elsewhere (the STFT, the filterbank, the power):
# what a format fills in for the command lines and the app; the rest (framing, padding, the
# compression's constants) only changes how the format's own pipeline runs.
SETTING_FIELDS = ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels", "f_min", "f_max", "mel_type",
                  "norm", "power")
FRAMINGS = ("center", "same")
PAD_MODES = ("reflect", "constant")
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

    See Also
    --------
    FORMATS : the presets
    mel_from_audio : a format's mel of samples
    check_fit : does a format fit a mel

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
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        # hop_length has no default here (check_stft_params would fill one in).
        hop_length = check_number("hop_length", self.hop_length, integer=True, minimum=1)
        n_fft, hop_length, win_length = check_stft_params(self.n_fft, hop_length, self.win_length)
        set_("n_fft", n_fft)
        set_("hop_length", hop_length)
        if self.win_length is not None:  # None stays None: n_fft, also after replace(n_fft=...)
            set_("win_length", win_length)
        set_("sample_rate", check_sample_rate(self.sample_rate))
        set_("power", check_power(self.power))
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
    :func:`invmel_core.dsp.stft.spectrogram`.

    Examples
    --------
    >>> spec = format_spectrogram(np.ones(22050), FORMATS["hifigan"])
    >>> spec.shape
    (513, 86)
    """
    y = check_finite_array(samples, "samples", what="audio").astype(np.float64)
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

    See Also
    --------
    MelFormat
    mel_to_audio : the way back to sound

    Examples
    --------
    >>> t = np.arange(22050) / 22050
    >>> mel = mel_from_audio(0.5 * np.sin(2 * np.pi * 440 * t), "hifigan")
    >>> mel.shape, round(float(mel.min()), 4)  # ln(clamp(x, 1e-5)): the floor is ln(1e-5)
    ((80, 86), -11.5129)
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
