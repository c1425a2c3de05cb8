"""The one table of settings: every option a door takes, with its type, the values it may have,
its default and its help. The app's settings (:mod:`invmel_core.app.settings`), the command
lines' options (:mod:`invmel_core.cli.invert`, :mod:`invmel_core.cli.batch`) and
:class:`~invmel_core.pipeline.render.RenderOptions` are made from it, so a value is valid
through one door exactly when it is through the others (the app may narrow a slider, never
validity), and one concept has one name (``n_iter``, ``norm=None``, the hop's default).

Examples
--------
>>> OPTIONS["n_mels"].check("80")
80
>>> OPTIONS["norm"].check("none") is None
True
>>> check_option("n_fft", 1)
Traceback (most recent call last):
...
invmel_core.errors.InputError: n_fft must be >= 2, got 1
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from invmel_core import limits
from invmel_core.errors import InputError
from invmel_core.formats.compression import COMPRESSIONS
from invmel_core.formats.presets import FORMATS
from invmel_core.inverse.mel_audio import DEFAULT_ITERATIONS, METHODS
from invmel_core.inverse.mel_fidelity import FIDELITIES
from invmel_core.inverse.solvers import SOLVERS, SolverChoice
from invmel_core.pipeline.sound import check_loudness
from invmel_core.validation import (MAX_SEED, check_choice, check_mel_type, check_norm, check_number,
                                    check_sample_rate, shown)

_SOLVER = SolverChoice()
MAX_HOP = 1 << 24   # a hop beyond n_fft leaves gaps but is valid; memory checks bound the rest


@dataclass(frozen=True)
class Option:
    """One setting: ``kind`` (``int``, ``float`` or ``str``), ``default`` (None: see ``help``),
    the inclusive ``low``/``high`` of a number or the ``choices`` of a name, whether None is a
    value (``optional``), and a one-line ``help``."""

    name: str
    kind: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    optional: bool = False
    strict_low: bool = False   # low itself excluded (power > 0)
    check_name: Callable | None = None   # a name's own check (norm's spellings, mel_type's case)

    def check(self, value):
        """``value`` (or its text, as a link or a command line gives it) as this option's
        type, or :class:`InputError` naming the option."""
        if isinstance(value, str):
            value = self._from_text(value)
        if value is None:
            if self.optional:
                return None
            raise InputError(f"{self.name} needs a value")
        if self.check_name is not None:
            return self.check_name(value)
        if self.choices is not None:
            return check_choice(self.name, value, self.choices)
        return check_number(self.name, value, integer=self.kind is int, minimum=self.low, maximum=self.high,
                            strict=self.strict_low)

    def _from_text(self, text: str):
        text = text.strip()
        if self.optional and text.lower() in ("", "none", "null") and self.name != "norm":
            return None
        if self.kind is str:
            return text
        if self.kind is int and re.fullmatch(r"[+-]?\d+", text):
            return int(text)   # exactly: float() would turn 23 digits into another number
        try:
            number = float(text)
        except ValueError:
            raise InputError(f"{self.name} must be a number, got {shown(text)}") from None
        if self.kind is int:
            if not math.isfinite(number) or not number.is_integer():
                raise InputError(f"{self.name} must be an integer, got {shown(text)}")
            return int(number)
        return number


def _options(*items: Option) -> dict[str, Option]:
    return {item.name: item for item in items}


OPTIONS = _options(
    # the model's format and how its values are stored
    Option("format", str, None, "a model's mel format: sets the STFT, the filterbank, the power and the "
           "compression (what is given explicitly wins)", choices=tuple(FORMATS), optional=True),
    Option("compression", str, "auto", "how a mel file's values are stored (auto: read off the values)",
           choices=COMPRESSIONS),
    # the STFT
    Option("sample_rate", int, None, "Hz: the rate the mel was made at (audio: resampled to it; default: the "
           "format's, a sound file's own, else 22050)", 1, limits.MAX_SAMPLE_RATE, optional=True,
           check_name=check_sample_rate),
    Option("n_fft", int, 2048, "FFT size; n_stft = n_fft // 2 + 1 bins", 2, limits.MAX_N_FFT),
    Option("hop_length", int, None, "samples between frames (default: n_fft // 4)", 1, MAX_HOP, optional=True),
    Option("win_length", int, None, "window length, at most n_fft (default: n_fft)", 1, limits.MAX_N_FFT,
           optional=True),
    Option("power", float, 2.0, "exponent of the spectrogram: 2 power, 1 magnitude (HiFi-GAN's mels)", 0.0, 4.0,
           strict_low=True),
    # the filterbank
    Option("n_mels", int, 128, "mel bands", 1, limits.MAX_MELS),
    Option("f_min", float, 0.0, "Hz: the lowest filter's lower edge", 0.0, 1e6),
    Option("f_max", float, None, "Hz: the highest filter's upper edge (default: Nyquist, sample_rate / 2)", 0.0,
           1e6, optional=True),
    Option("norm", str, None, "filter area: None (peak 1, torchaudio's default) or 'slaney' (equal area)",
           optional=True, check_name=check_norm),
    Option("mel_type", str, "htk", "mel scale: 'htk' or 'slaney' (torchaudio's mel_scale)",
           check_name=check_mel_type),
    # the sound
    Option("method", str, "joint", "mel to sound: joint (magnitude and phase together) or cascade (the "
           "solver's spectrogram, then Griffin-Lim)", choices=METHODS),
    Option("fidelity", str, "exact", "how closely the joint method holds the mel: exact, or soft for a model's "
           "prediction (half-strength projection, log-mel polish)", choices=FIDELITIES),
    Option("loudness", str, "natural", "natural: the level the mel implies, lowered only where it would clip; "
           "reference: the input sound's; or an RMS level in dBFS, e.g. -20", check_name=check_loudness),
    Option("n_iter", int, None, "iterations of the sound's method (default: "
           + ", ".join(f"{m} {n}" for m, n in DEFAULT_ITERATIONS.items()) + ")", 1, limits.MAX_GRIFFINLIM_ITERS,
           optional=True),
    # the solver
    Option("solver", str, _SOLVER.solver, "the inverse mel solver", choices=tuple(SOLVERS)),
    Option("max_iter", int, _SOLVER.max_iter, "the solver's step budget", 1, 10_000_000),
    Option("tolerance_loss", float, _SOLVER.tolerance_loss, "stop when the loss is below this", 0.0),
    Option("tolerance_change", float, _SOLVER.tolerance_change, "stop when the loss changes less", 0.0),
    Option("lr", float, _SOLVER.lr, "sgd/mindspore learning rate", 0.0),
    Option("momentum", float, _SOLVER.momentum, "sgd momentum", 0.0),
    Option("seed", int, _SOLVER.seed, "random start of sgd/mindspore and of the sound's phase", 0, MAX_SEED),
)

# Names an older link or script may still use -> the one name.
ALIASES = {"phase_iter": "n_iter", "griffinlim_iters": "n_iter", "mel_scale": "mel_type"}


def check_option(name: str, value):
    """One setting checked alone by the table (an alias of :data:`ALIASES` is accepted)."""
    name = ALIASES.get(name, name)
    if name not in OPTIONS:
        raise InputError(f"unknown setting {shown(name)}; known: {', '.join(OPTIONS)}")
    return OPTIONS[name].check(value)


def default_hop(n_fft: int) -> int:
    """The hop when none is given, the same in every door: ``n_fft // 4`` (librosa's; the
    low-level :func:`invmel_core.spectrogram` keeps torchaudio's ``win_length // 2``)."""
    return max(1, int(n_fft) // 4)
