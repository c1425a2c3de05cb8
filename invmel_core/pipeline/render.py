"""A file to sound, as both command lines do it (``python -m invmel_core`` and its ``batch``).

:class:`RenderOptions` is every choice a command line takes, a model's mel format included
(``format="hifigan"`` fills in the STFT, the filterbank, the power and the compression; what
is given explicitly wins); :meth:`RenderOptions.checked` validates them all before any work.
:func:`load` reads a sound file or a stored mel spectrogram and undoes its compression;
:func:`solve` inverts the mel with a solver; :func:`synthesize` makes the sound, by the joint
method (:func:`invmel_core.mel_to_audio`) or by Griffin-Lim on the solver's spectrogram.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from invmel_core import limits
from invmel_core.io import loading
from invmel_core.dsp import metrics
from invmel_core.dsp import phase
from invmel_core.dsp import stft
from invmel_core.formats.compression import (COMPRESSIONS, Compression, resolve_compression, stored_values,
                                           undo_compression)
from invmel_core.errors import InputError
from invmel_core.dsp.filterbank import MelFilterbank
from invmel_core.formats.presets import FORMATS, SETTING_FIELDS, compress, format_spectrogram, get_format
from invmel_core.inverse.mel_audio import DEFAULT_ITERATIONS, METHODS, mel_to_audio
from invmel_core.dsp.phase import check_iterations
from invmel_core.inverse.solvers import SolverChoice, get_solver
from invmel_core.inverse.transform import InverseMelScale
from invmel_core.validation import (check_choice, check_mel_params, check_mel_type, check_norm, check_number,
                                  check_power, check_positive_seconds, check_sample_rate, check_seed,
                                  check_stft_params)

RENDER_VERSION = 2  # bump when the same options make other outputs (batch reruns redo them)
DEFAULT_MEL_SAMPLE_RATE = 22050
# What an option is when neither it nor a format sets it.
DEFAULTS = dict(n_fft=2048, power=2.0, f_min=0.0, norm="none", mel_type="htk")


@dataclass(frozen=True)
class RenderOptions(SolverChoice):
    """Everything that decides a file's outputs (the command lines' options; their hash,
    :meth:`digest`, is what a batch rerun compares).

    None means "the format's, else the default": ``n_fft`` 2048, ``hop_length`` ``n_fft // 4``,
    ``power`` 2, ``f_min`` 0, ``norm`` ``"none"``, ``mel_type`` ``"htk"``; ``sample_rate`` is
    the rate a mel was made at (22050) or a sound file is resampled to (its own);
    ``n_mels`` the mel file's (128 for sound); ``f_max`` Nyquist; ``n_iter`` the method's.
    ``compression="auto"`` reads it off the values (with a format: the format's, checked
    against the values).
    """

    format: str | None = None
    compression: str = "auto"
    method: str = "joint"
    n_iter: int | None = None
    sample_rate: int | None = None
    n_fft: int | None = None
    hop_length: int | None = None
    win_length: int | None = None
    power: float | None = None
    n_mels: int | None = None
    f_min: float | None = None
    f_max: float | None = None
    norm: str | None = None
    mel_type: str | None = None
    max_duration: float | None = None
    write_npy: bool = False

    def checked(self) -> "RenderOptions":
        """A validated copy with the format and the defaults filled in; :class:`InputError`
        names the first bad option. Nothing is read or computed.

        >>> RenderOptions(format="hifigan").checked().hop_length
        256
        >>> RenderOptions(format="hifigan", n_fft=2048).checked().n_fft  # explicit beats the format
        2048
        >>> RenderOptions(n_fft=0).checked()
        Traceback (most recent call last):
        ...
        invmel_core.errors.InputError: n_fft must be >= 2, got 0
        """
        values = asdict(self)
        if self.format is not None:
            fmt = get_format(self.format)
            for name in SETTING_FIELDS:
                if values[name] is None:
                    values[name] = getattr(fmt, name)
        for name, default in DEFAULTS.items():
            if values[name] is None:
                values[name] = default
        n_fft, hop, win = check_stft_params(values["n_fft"], values["hop_length"] if values["hop_length"] is not None
                                            else max(1, int(values["n_fft"]) // 4), values["win_length"])
        values.update(n_fft=n_fft, hop_length=hop, win_length=None if values["win_length"] is None else win)
        values["power"] = check_power(values["power"])
        limits.check_synthesis(n_fft, hop, win, values["power"])  # the sound is made with these: a flat window, power past 4
        values["norm"] = check_norm(values["norm"]) or "none"
        values["mel_type"] = check_mel_type(values["mel_type"])
        values["method"] = check_choice("method", self.method, METHODS)
        values["compression"] = check_choice("compression", self.compression, COMPRESSIONS)
        values["n_iter"] = DEFAULT_ITERATIONS[values["method"]] if self.n_iter is None else check_iterations(self.n_iter)
        if values["sample_rate"] is not None:
            values["sample_rate"] = check_sample_rate(values["sample_rate"])
        if values["n_mels"] is not None:
            values["n_mels"] = check_number("n_mels", values["n_mels"], integer=True, minimum=1, maximum=limits.MAX_MELS)
        if values["max_duration"] is not None:
            check_positive_seconds("max_duration", values["max_duration"])
        get_solver(self.solver)
        check_number("max_iter", values["max_iter"], integer=True, minimum=1)
        for name in ("tolerance_loss", "tolerance_change", "lr", "momentum"):
            check_number(name, values[name], minimum=0.0)
        check_seed(self.seed)
        if values["f_max"] is not None or values["sample_rate"] is not None:
            check_mel_params(n_fft // 2 + 1, values["f_min"], values["f_max"], 1,
                             values["sample_rate"] or DEFAULT_MEL_SAMPLE_RATE)
        else:  # a sound file's own rate decides f_max: checked per file
            check_number("f_min", values["f_min"], minimum=0.0)
        return RenderOptions(**values)

    @property
    def filterbank_norm(self) -> str | None:
        return None if self.norm == "none" else self.norm

    @property
    def framing(self) -> str:
        """Where frame ``t`` of the mel sits: ``"center"`` (at ``t * hop``) or ``"same"``
        (HiFi-GAN, BigVGAN: half a hop later)."""
        return get_format(self.format).framing if self.format else "center"

    def digest(self) -> str:
        """Hash of the options and :data:`RENDER_VERSION`: a change means every file is redone."""
        text = json.dumps({"render_version": RENDER_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def filterbank(self, n_mels: int, rate: int) -> MelFilterbank:
        """The filterbank of these options at ``rate``, on the solver's frequency grid."""
        return MelFilterbank(self.n_fft // 2 + 1, self.f_min, self.f_max, n_mels, rate, self.filterbank_norm,
                             self.mel_type, compat=get_solver(self.solver).compat)


@dataclass(frozen=True)
class Loaded:
    """An input ready to invert: the linear mel ``(..., n_mels, time)`` of ``power``, its
    rate, and for a sound file the samples and the true spectrogram."""

    mel: np.ndarray
    rate: int
    samples: np.ndarray | None = None
    spec: np.ndarray | None = None
    stored: np.ndarray | None = None          # a mel file's values as stored (compressed)
    compression: Compression | None = None
    notes: tuple[str, ...] = ()


def is_mel_file(path) -> bool:
    """A ``.npy``/``.npz`` name (a file named just ``.npy`` too), or a file that starts like a
    ``.npy`` whatever its name."""
    name = Path(path).name.lower()
    return name.endswith(tuple(f".{ext}" for ext in loading.MELSPEC_EXTENSIONS)) or loading.looks_like_numpy(path)


# Mel band counts models use; an axis of one of these is likelier the mel axis than the other.
COMMON_N_MELS = frozenset({fmt.n_mels for fmt in FORMATS.values()} | {40, 64, 80, 128})


def _orient_stored(stored: np.ndarray, notes: list) -> np.ndarray:
    """Without ``n_mels``: a 2-D array whose last axis alone has a common mel count is taken as
    ``(time, n_mels)`` and transposed; a square one, or one where both axes could be the mel
    axis, is read as ``(n_mels, time)`` with a note saying so."""
    if stored.ndim != 2:
        return stored
    rows, cols = stored.shape
    if rows == cols:
        notes.append(f"warning: the array is square ({rows} x {cols}), so which axis holds the mels cannot be told; "
                     f"read as (n_mels, time). If it holds (time, n_mels), save its transpose (np.save(path, mel.T))")
    elif cols in COMMON_N_MELS and rows not in COMMON_N_MELS:
        notes.append(f"the file holds {rows} x {cols}: read as (time, n_mels) = {rows} frames of {cols} mels and "
                     f"transposed ({cols} is a usual mel count, {rows} is not); give --n-mels {rows} if it is "
                     "(n_mels, time)")
        return np.ascontiguousarray(stored.T)
    elif cols in COMMON_N_MELS:
        notes.append(f"read as (n_mels, time) = {rows} mels x {cols} frames; both axes could be the mel axis: give "
                     f"--n-mels {cols} if it holds (time, n_mels)")
    return stored


def load(source, options: RenderOptions) -> Loaded:
    """Read ``source`` (a sound or a ``.npy``/``.npz`` mel file) for ``options`` (checked).

    A mel file is read as stored, turned to ``(..., n_mels, time)`` if it holds the
    transpose, and its compression undone (floored entries become the floor's value). A
    sound file is analysed as the format's pipeline does (or with invmel's STFT); its solve's
    memory is checked before the STFT runs.
    """
    if is_mel_file(source):
        return _load_mel(source, options)
    samples, rate = loading.load_audio(source, options.sample_rate, max_duration=options.max_duration)
    n_mels = options.n_mels or 128
    frames = stft.stft_frames(samples.size, options.n_fft, options.hop_length)
    limits.check_solve_memory(1, options.n_fft // 2 + 1, n_mels, frames, get_solver(options.solver))
    if options.format is not None:
        chosen = {name: getattr(options, name) for name in SETTING_FIELDS}
        chosen.update(norm=options.filterbank_norm, sample_rate=rate, n_mels=n_mels)
        fmt = replace(get_format(options.format), **chosen)
        spec = format_spectrogram(samples, fmt)
        stored = compress(fmt.filterbank.banded.project(spec), fmt)  # mel_from_audio, keeping the spectrogram
        mel, _ = undo_compression(stored, fmt)
        return Loaded(mel, rate, samples, spec, stored)
    spec = stft.spectrogram(samples, options.n_fft, options.hop_length, options.win_length, options.power)
    return Loaded(stft.mel_spectrogram(spec, options.filterbank(n_mels, rate)), rate, samples, spec)


def _load_mel(source, options: RenderOptions) -> Loaded:
    stored = loading.load_melspec(source, compressed=True)
    notes = []
    if options.n_mels is None:
        stored = _orient_stored(stored, notes)
    if options.n_mels is not None and stored.shape[-2] != options.n_mels and stored.shape[-1] == options.n_mels:
        stored = np.ascontiguousarray(np.swapaxes(stored, -1, -2))
        notes.append(f"the file holds (time, n_mels) = {stored.shape[-1]} x {stored.shape[-2]}: used its transpose")
    if options.n_mels is not None and stored.shape[-2] != options.n_mels:
        raise InputError(f"the mel spectrogram has {stored.shape[-2]} mel bands (shape {stored.shape}) but "
                         f"n_mels is {options.n_mels}; set n_mels (or the format) it was made with")
    # Resolved once to a Compression: the sound and the settings check read the values alike.
    values, rounding = stored_values(stored)
    detected = None if options.compression != "auto" else resolve_compression(values, rounding, "auto")
    if detected is None:
        compression = resolve_compression(values, rounding, options.compression)
    elif options.format is not None:
        fmt = get_format(options.format)
        compression = resolve_compression(values, rounding, fmt)
        if detected.kind != fmt.compression and detected.confidence == "high":
            notes.append(f"the values look {detected.kind}, not {fmt.compression} as format "
                         f"{options.format!r} stores them: {detected.why}")
    elif detected.kind != "linear" and detected.confidence == "low":
        raise InputError(f"cannot tell how this mel spectrogram's values were compressed: {detected.why}. "
                         f"Say it: compression one of {COMPRESSIONS[1:]} (--compression), or the model's "
                         f"format, one of {sorted(FORMATS)} (--format)")
    else:
        compression = detected
        if detected.kind == "linear" and detected.confidence == "low" and float(values.max()) > 0:
            notes.append(f"warning: compression: linear (low confidence): {detected.why}. The values look like a "
                         "shifted or normalised log/dB mel, not a linear one, and are rendered as linear: if they are "
                         "dB shifted up by top_db, subtract it first (mel - top_db) and give --compression db10 (or "
                         "the model's --format)")
        else:
            notes.append(f"compression: {detected.kind} ({detected.confidence} confidence): {detected.why}")
    mel, _floored = undo_compression(stored, compression)
    rate = options.sample_rate
    if rate is None:
        rate = DEFAULT_MEL_SAMPLE_RATE
        notes.append(f"assuming the mel spectrogram was made at {rate} Hz (set --sample-rate or --format)")
    return Loaded(mel, rate, stored=stored, compression=compression, notes=tuple(notes))


def transform(options: RenderOptions, n_mels: int, rate: int) -> InverseMelScale:
    """The :class:`InverseMelScale` of ``options`` for a mel of ``n_mels`` bands at ``rate``."""
    return InverseMelScale(options.n_fft // 2 + 1, n_mels, rate, options.f_min, options.f_max,
                           norm=options.filterbank_norm, mel_type=options.mel_type, **options.solver_kwargs())


def synthesize(loaded: Loaded, options: RenderOptions, *, spec: np.ndarray | None = None,
               progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The sound of the first item of ``loaded.mel``, as long as the original if there is one.

    ``method="joint"``: :func:`invmel_core.mel_to_audio` finds magnitude and phase together;
    ``"cascade"``: Griffin-Lim on ``spec``, the solver's spectrogram (required). A mel made
    with ``"same"`` framing (HiFi-GAN) sits half a hop later than invmel's centred frames:
    the sound is shifted back by that much.
    """
    mel = loaded.mel.reshape(-1, *loaded.mel.shape[-2:])[0]
    length = None if loaded.samples is None else loaded.samples.size
    if options.method == "joint":
        samples = mel_to_audio(mel, sample_rate=loaded.rate, n_fft=options.n_fft, hop_length=options.hop_length,
                               win_length=options.win_length, power=options.power, f_min=options.f_min,
                               f_max=options.f_max, mel_type=options.mel_type, norm=options.filterbank_norm,
                               n_iter=options.n_iter, length=length, seed=options.seed, progress=progress)
    else:
        if spec is None:
            raise InputError("the cascade method needs the solver's spectrogram")
        first = spec.reshape(-1, *spec.shape[-2:])[0]
        samples = phase.griffinlim(first, options.n_fft, options.hop_length, options.power, options.n_iter,
                                   options.seed, length, options.win_length)
    if options.framing == "same":
        shift = options.hop_length // 2
        samples = np.concatenate([np.zeros(shift, np.float32), samples[:samples.size - shift]])
    return samples


def remel_residual(samples: np.ndarray, loaded: Loaded, options: RenderOptions) -> float:
    """How far the sound's mel spectrogram (invmel's STFT) is from the input's, relative
    (:func:`invmel_core.dsp.metrics.mel_residual` over the frames both have)."""
    mel = loaded.mel.reshape(-1, *loaded.mel.shape[-2:])[0]
    if options.framing == "same":  # undo synthesize's alignment: frame t at t * hop again
        samples = samples[options.hop_length // 2:]
    spec = stft.spectrogram(samples, options.n_fft, options.hop_length, options.win_length, options.power)
    frames = min(spec.shape[-1], mel.shape[-1])  # a sound file's last partial frame; "same" framing
    return metrics.mel_residual(spec[:, :frames], mel[:, :frames], options.filterbank(mel.shape[-2], loaded.rate))
