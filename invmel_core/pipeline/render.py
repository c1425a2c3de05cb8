"""A file to sound, as both command lines do it (``python -m invmel_core`` and its ``batch``).

:class:`RenderOptions` is every choice a command line takes, a model's mel format included
(``format="hifigan"`` fills in the STFT, the filterbank, the power and the compression; what
is given explicitly wins); :meth:`RenderOptions.checked` validates them all before any work.
:func:`settle` picks a format for a mel file given with no settings; :func:`load` reads a sound
file or a stored mel spectrogram (through :func:`invmel_core.formats.reader.read_mel`);
:func:`transform` is the solver's :class:`~invmel_core.InverseMelScale`; :func:`synthesize` makes
the sound (:func:`invmel_core.pipeline.sound.make_sound`).
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
from invmel_core.dsp import stft
from invmel_core.formats.compression import (Compression, undo_compression)
from invmel_core.errors import InputError
from invmel_core.formats.ranking import choose_format
from invmel_core.formats.reader import read_mel
from invmel_core.pipeline.options import OPTIONS, check_option, default_hop
from invmel_core.pipeline.sound import make_sound
from invmel_core.dsp.filterbank import MelFilterbank
from invmel_core.formats.presets import MelFormat, SETTING_FIELDS, compress, format_spectrogram, get_format
from invmel_core.inverse.mel_audio import DEFAULT_ITERATIONS
from invmel_core.inverse.solvers import SolverChoice, get_solver
from invmel_core.inverse.transform import InverseMelScale
from invmel_core.validation import (check_mel_params, check_positive_seconds, check_stft_params)

RENDER_VERSION = 3  # bump when the same options make other outputs (batch reruns redo them)
DEFAULT_MEL_SAMPLE_RATE = 22050
# Set by a format when it has one; otherwise the table's default (n_mels: the file's, 128 for sound).
_FORMAT_FILLED = ("n_fft", "power", "f_min", "norm", "mel_type")


@dataclass(frozen=True)
class RenderOptions(SolverChoice):
    """Everything that decides a file's outputs (the command lines' options, made from the one
    table :data:`invmel_core.pipeline.options.OPTIONS`; their hash, :meth:`digest`, is what a
    batch rerun compares).

    None means "the format's, else the table's default": ``n_fft`` 2048, ``hop_length``
    ``n_fft // 4``, ``power`` 2, ``f_min`` 0, ``norm`` None, ``mel_type`` ``"htk"``;
    ``sample_rate`` is the rate a mel was made at (22050) or a sound file is resampled to
    (its own); ``n_mels`` the mel file's (128 for sound); ``f_max`` Nyquist; ``n_iter`` the
    method's. ``compression="auto"`` reads it off the values (with a format: the format's,
    checked against the values).
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
    loudness: str | float = "natural"
    fidelity: str = "exact"
    settings_given: bool | None = None   # set by checked(): a format or any signal option was given

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
        given = {name for name, value in values.items() if value is not None}
        if values["settings_given"] is None:
            values["settings_given"] = bool(given & {"format", *SETTING_FIELDS})
        for name, value in values.items():
            if name in OPTIONS and value is not None:
                values[name] = check_option(name, value)
        if values["format"] is not None:
            fmt = get_format(values["format"])
            for name in SETTING_FIELDS:
                if name not in given:
                    values[name] = getattr(fmt, name)
        for name in _FORMAT_FILLED:
            if name not in given and (values["format"] is None):
                values[name] = OPTIONS[name].default
        n_fft, hop, win = check_stft_params(values["n_fft"], values["hop_length"] if values["hop_length"] is not None
                                            else default_hop(values["n_fft"]), values["win_length"])
        values.update(n_fft=n_fft, hop_length=hop, win_length=None if values["win_length"] is None else win)
        limits.check_synthesis(n_fft, hop, win, values["power"])  # the sound is made with these: a flat window
        if values["n_iter"] is None:
            values["n_iter"] = DEFAULT_ITERATIONS[values["method"]]
        if values["max_duration"] is not None:
            check_positive_seconds("max_duration", values["max_duration"])
        if values["f_max"] is not None or values["sample_rate"] is not None:
            check_mel_params(n_fft // 2 + 1, values["f_min"], values["f_max"], 1,
                             values["sample_rate"] or DEFAULT_MEL_SAMPLE_RATE)
        return RenderOptions(**values)

    def mel_format(self, n_mels: int, rate: int) -> MelFormat:
        """These options as the :class:`~invmel_core.MelFormat` of a mel of ``n_mels`` bands at
        ``rate``: the format's framing, padding and compression with the options' numbers (a
        linear mel on torch's centred frames without a format)."""
        chosen = {name: getattr(self, name) for name in SETTING_FIELDS}
        chosen.update(sample_rate=rate, n_mels=n_mels)
        if self.format is None:
            return MelFormat(**chosen, compat=get_solver(self.solver).compat)
        return replace(get_format(self.format), **chosen)

    def digest(self) -> str:
        """Hash of the options and :data:`RENDER_VERSION`: a change means every file is redone."""
        text = json.dumps({"render_version": RENDER_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def filterbank(self, n_mels: int, rate: int) -> MelFilterbank:
        """The filterbank of these options at ``rate``, on the solver's frequency grid."""
        return MelFilterbank(self.n_fft // 2 + 1, self.f_min, self.f_max, n_mels, rate, self.norm,
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


def settle(source, options: RenderOptions) -> tuple[RenderOptions, list[str]]:
    """The options ``source`` is rendered with, and notes on how they were chosen: a mel file
    given with no format and no signal options is first read (its compression must be clear,
    as always on the command lines), then takes the preset its values fit
    (:func:`invmel_core.formats.ranking.choose_format`, which raises :class:`InputError` saying
    what to pass when the values leave it open). Everything else is rendered as given."""
    if options.settings_given or not is_mel_file(source):
        return options, []
    stored = loading.load_melspec(source, compressed=True)
    reading = read_mel(stored, compression=options.compression, strict=True)
    warnings = [note for note in reading.notes if note.startswith("warning:")]
    try:
        choice = choose_format(stored, reading.compression)
    except InputError as exc:
        raise InputError(" ".join([str(exc), *warnings])) from None
    unset = dict.fromkeys(SETTING_FIELDS)   # none was given (settings_given): the format fills them all
    return replace(options, **unset, format=choice.name, settings_given=True).checked(), [*warnings, choice.note]


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
        fmt = options.mel_format(n_mels, rate)
        spec = format_spectrogram(samples, fmt)
        stored = compress(fmt.filterbank.banded.project(spec), fmt)  # mel_from_audio, keeping the spectrogram
        mel, _ = undo_compression(stored, fmt)
        return Loaded(mel, rate, samples, spec, stored)
    spec = stft.spectrogram(samples, options.n_fft, options.hop_length, options.win_length, options.power)
    return Loaded(stft.mel_spectrogram(spec, options.filterbank(n_mels, rate)), rate, samples, spec)


def _load_mel(source, options: RenderOptions) -> Loaded:
    stored = loading.load_melspec(source, compressed=True)
    reading = read_mel(stored, n_mels=options.n_mels, compression=options.compression, format=options.format,
                       strict=True)
    notes = list(reading.notes)
    rate = options.sample_rate
    if rate is None:
        rate = DEFAULT_MEL_SAMPLE_RATE
        notes.append(f"assuming the mel spectrogram was made at {rate} Hz (set --sample-rate or --format)")
    return Loaded(reading.mel, rate, stored=reading.stored, compression=reading.compression, notes=tuple(notes))


def transform(options: RenderOptions, n_mels: int, rate: int) -> InverseMelScale:
    """The :class:`InverseMelScale` of ``options`` for a mel of ``n_mels`` bands at ``rate``."""
    return InverseMelScale(options.n_fft // 2 + 1, n_mels, rate, options.f_min, options.f_max,
                           norm=options.norm, mel_type=options.mel_type, **options.solver_kwargs())


def synthesize(loaded: Loaded, options: RenderOptions, *, spec: np.ndarray | None = None,
               progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The sound of the first item of ``loaded.mel``, as long as the original if there is one:
    :func:`invmel_core.pipeline.sound.make_sound` with these options and the mel's geometry
    (``spec``, the solver's spectrogram, is what the cascade method hears)."""
    fmt = options.mel_format(loaded.mel.shape[-2], loaded.rate)
    return make_sound(loaded.mel, sample_rate=loaded.rate, n_fft=options.n_fft, hop_length=options.hop_length,
                      win_length=options.win_length, power=options.power, f_min=options.f_min, f_max=options.f_max,
                      mel_type=options.mel_type, norm=options.norm, method=options.method,
                      n_iter=options.n_iter, fidelity=options.fidelity, seed=options.seed, framing=fmt.framing,
                      pad_mode=fmt.pad_mode,
                      drop_last_frame=fmt.drop_last_frame, loudness=options.loudness, reference=loaded.samples,
                      estimate=spec, progress=progress)


def remel_residual(samples: np.ndarray, loaded: Loaded, options: RenderOptions) -> float:
    """How far the sound's mel spectrogram is from the input's, relative
    (:func:`invmel_core.dsp.metrics.mel_residual` over the frames both have): the sound
    analysed as the input's mel was made (the format's framing and padding)."""
    mel = loaded.mel.reshape(-1, *loaded.mel.shape[-2:])[0]
    fb = options.filterbank(mel.shape[-2], loaded.rate)
    if options.format is not None:
        spec = format_spectrogram(samples, options.mel_format(mel.shape[-2], loaded.rate))
    else:
        spec = stft.spectrogram(samples, options.n_fft, options.hop_length, options.win_length, options.power)
    frames = min(spec.shape[-1], mel.shape[-1])  # a sound file's last partial frame
    return metrics.mel_residual(spec[:, :frames], mel[:, :frames], fb)
