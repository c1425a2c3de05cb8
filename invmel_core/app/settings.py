"""The settings a view of the app is made of, validated, with URL and JSON round trips.

One :class:`Settings` object describes an inversion completely: the STFT (sample rate,
n_fft, hop), the mel filterbank, the solver, how a mel file's values are read (their power
and compression) and how an estimate becomes sound (method and iterations). The app keeps
one per session, puts the non-default fields in the URL so a link reproduces a view, exports it as ``.json`` and
turns it into code (:mod:`invmel_core.app.codegen`). Values that come from outside (a URL, a
file) go through :meth:`Settings.from_mapping`, which never raises: a bad value falls back
to its default and a plain-language notice says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields

from invmel_core.errors import InputError
from invmel_core.io.samples import ASSETS, SAMPLES, sample_path  # noqa: F401  (the app's sample picker)
from invmel_core.dsp.filterbank import MelFilterbank
from invmel_core.formats.presets import FORMATS, SETTING_FIELDS, MelFormat, get_format
from invmel_core.inverse.mel_audio import DEFAULT_ITERATIONS, METHODS
from invmel_core.formats.compression import COMPRESSIONS
from invmel_core.inverse.solvers import SOLVERS, SolverChoice
from invmel_core.pipeline.options import ALIASES, OPTIONS
from invmel_core.validation import check_mel_params, check_number

@dataclass(frozen=True)
class Settings(SolverChoice):
    """Everything that decides an inversion (frozen and hashable, so it can key caches).

    ``hop_length=None`` means ``n_fft // 4``; ``f_max=None`` means Nyquist
    (``sample_rate // 2``, as torchaudio and MindSpore); ``seed`` is the random start of
    the solvers that have one. ``power`` is the exponent of the spectrograms (2: power, 1:
    magnitude, as HiFi-GAN's mels; :data:`POWERS`); ``compression`` how a mel file's values
    were stored (``"auto"``: read off the values; :data:`invmel_core.formats.compression.COMPRESSIONS`).
    ``method`` and ``n_iter`` make an estimate into sound
    (:func:`invmel_core.app.workflow.to_audio`): ``"joint"`` finds magnitude and phase together
    from the mel, ``"cascade"`` runs Griffin-Lim on the solver's estimate; ``n_iter`` is
    their iterations, None: the method's default (:attr:`sound_iterations`).
    Construct with :meth:`checked` to validate.
    """

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int | None = None
    n_mels: int = 128
    f_min: float = 0.0
    f_max: float | None = None
    norm: str | None = None
    mel_type: str = "htk"
    sample: str = "speech_short"
    n_iter: int | None = None
    method: str = "joint"
    power: float = 2.0
    compression: str = "auto"
    fidelity: str = "exact"

    def __post_init__(self):
        # Fields that are fine alone may not fit together (f_min >= f_max).
        check_mel_params(self.n_stft, self.f_min, self.f_max, self.n_mels, self.sample_rate,
                         n_freqs_name="n_stft")

    @classmethod
    def checked(cls, **values) -> "Settings":
        """Build and validate; raises :class:`InputError` naming the first bad field."""
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise InputError(f"unknown settings {unknown}; allowed: {[f.name for f in fields(cls)]}")
        merged = {**asdict(cls()), **values}
        return cls(**{name: _FIELD_CHECKS[name](value, merged) for name, value in merged.items()})

    @property
    def n_stft(self) -> int:
        """STFT bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    @property
    def hop(self) -> int:
        """The hop length in samples (``hop_length`` or ``n_fft // 4``)."""
        return self.hop_length if self.hop_length is not None else max(1, self.n_fft // 4)

    @property
    def sound_iterations(self) -> int:
        """``n_iter``, or the method's default (joint 150, cascade 32) when it is None.

        >>> Settings.checked().sound_iterations, Settings.checked(method="cascade").sound_iterations
        (150, 32)
        """
        return self.n_iter if self.n_iter is not None else DEFAULT_ITERATIONS[self.method]

    def duration(self, n_frames: int) -> float:
        """Seconds of sound ``n_frames`` frames stand for: ``n_frames * hop / sample_rate``
        (a mel file's implied duration; a wrong hop or sample rate shows here first).

        >>> Settings.checked(sample_rate=22050, n_fft=1024, hop_length=256).duration(861)
        9.996...
        """
        return int(n_frames) * self.hop / self.sample_rate

    @property
    def nyquist(self) -> float:
        """``f_max`` as the frameworks resolve ``None``: ``sample_rate // 2``."""
        return float(self.f_max) if self.f_max is not None else float(self.sample_rate // 2)

    def filterbank(self, compat: str | None = None) -> MelFilterbank:
        """The mel filterbank, on the grid of ``compat`` (default: the solver's own)."""
        compat = compat or SOLVERS[self.solver].compat
        return MelFilterbank(self.n_stft, self.f_min, self.f_max, self.n_mels, self.sample_rate,
                             self.norm, self.mel_type, compat)

    def transform_kwargs(self) -> dict:
        """Keyword arguments of :class:`~invmel_core.InverseMelScale` for these settings."""
        return dict(n_stft=self.n_stft, n_mels=self.n_mels, sample_rate=self.sample_rate, f_min=self.f_min,
                    f_max=self.f_max, norm=self.norm, mel_type=self.mel_type, **self.solver_kwargs())

    def to_query(self) -> dict[str, str]:
        """The fields that differ from the defaults, as URL query strings."""
        default = Settings.checked()
        return {name: _to_text(getattr(self, name)) for name in READING_ORDER
                if getattr(self, name) != getattr(default, name)}

    def to_json(self) -> str:
        """All fields (and the derived n_stft and hop) as indented JSON."""
        values = {name: getattr(self, name) for name in READING_ORDER}
        return json.dumps({**values, "n_stft": self.n_stft, "hop": self.hop,
                           "sound_iterations": self.sound_iterations}, indent=2)

    @classmethod
    def from_mapping(cls, values, base: "Settings | None" = None) -> tuple["Settings", list[str]]:
        """Settings from untrusted strings or values (URL query, JSON), never raising.

        Unknown keys are ignored. A value that does not parse or is out of range keeps
        ``base``'s value (default: the defaults) and adds a notice naming it; so does a
        combination that does not fit together (e.g. ``f_min >= f_max``).

        Returns
        -------
        (Settings, list of str)
            The settings and the notices, in field order.
        """
        current = asdict(base or cls.checked())
        notices = []
        values = {ALIASES.get(key, key) if ALIASES.get(key) in READING_ORDER and ALIASES.get(key) not in values
                  else key: value for key, value in values.items()}   # older links' names
        for name in READING_ORDER:
            if name not in values:
                continue
            raw = values[name]
            if isinstance(raw, (list, tuple)):  # repeated URL keys: the last one wins
                raw = raw[-1] if raw else ""
            try:
                current[name] = _FIELD_CHECKS[name](raw, current)
            except (InputError, ValueError, TypeError, OverflowError) as exc:
                shown = _shortened(raw)
                # The value as given, shortened, wherever the reason repeats it.
                reason = _reason(exc).replace(repr(raw), shown)
                if isinstance(raw, str) and raw.strip() and shown != repr(raw):
                    reason = reason.replace(raw.strip(), shown)
                notices.append(f"Ignored {name}={shown} from the link: {reason}. "
                               f"Using {_to_text(current[name]) or 'the default'}.")
        try:
            return cls.checked(**current), notices
        except InputError as exc:  # fields valid alone but not together
            fallback = base or cls.checked()
            notices.append(f"Ignored the mel range from the link: {exc}. Using f_min="
                           f"{fallback.f_min:g}, f_max={_to_text(fallback.f_max) or 'Nyquist'}.")
            current.update(f_min=fallback.f_min, f_max=fallback.f_max)
            try:
                return cls.checked(**current), notices
            except InputError as exc2:
                notices.append(f"Ignored the settings from the link ({exc2}); using the defaults.")
                return cls.checked(), notices

    def replace(self, **changes) -> "Settings":
        """A validated copy with some fields changed."""
        return Settings.checked(**{**asdict(self), **changes})


# The fields as a reader meets them: the STFT, the mel and the sound, then the solver (dataclass
# order puts the inherited solver fields first). Links, JSON exports and notices list them so.
_SOLVER_FIELDS = {f.name for f in fields(SolverChoice)}
READING_ORDER = (tuple(f.name for f in fields(Settings) if f.name not in _SOLVER_FIELDS)
                 + tuple(f.name for f in fields(Settings) if f.name in _SOLVER_FIELDS))


def check_value(name: str, value):
    """One setting (a :class:`Settings` field or another number in :data:`RANGES`) checked
    alone: the value, of the field's type, or :class:`InputError` naming it.

    >>> check_value("n_mels", 80.0), check_value("f_min", 0)
    (80, 0.0)
    >>> check_value("n_mels", 20000)
    Traceback (most recent call last):
    ...
    invmel_core.errors.InputError: n_mels must be at most 16384, got 20000
    """
    if name not in _FIELD_CHECKS:
        raise InputError(f"unknown setting {name!r}; known: {sorted(_FIELD_CHECKS)}")
    return _FIELD_CHECKS[name](value, {})


def _shortened(raw, limit: int = 40) -> str:
    """``repr(raw)``, cut to ``limit`` characters (a link can carry megabytes)."""
    text = repr(raw)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text[0].lower() + text[1:] if text else type(exc).__name__


def _to_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else str(value)
    return str(value)


# The settings the app shares with the command lines: their checks, ranges and choices are the
# one table's (invmel_core.pipeline.options.OPTIONS), so a value is valid here exactly when it
# is there. The app's own numbers follow.
SHARED_FIELDS = ("sample_rate", "n_fft", "hop_length", "n_mels", "f_min", "f_max", "norm", "mel_type", "power",
                 "compression", "method", "n_iter", "fidelity", "solver", "max_iter", "tolerance_loss", "tolerance_change",
                 "lr", "momentum", "seed")
_OPTIONAL_FIELDS = ("hop_length", "f_max", "norm", "n_iter")  # None has a meaning (see Settings)
_APP_NUMBERS = {
    "compare_time_limit": (0.1, 600.0),   # seconds per solver on the Compare page
    "readout_hz": (0.0, 1e6),             # the Mel scales page's Hz -> mel readout
}

# The allowed range of every number the app takes: the one source of truth for links and files
# (Settings.from_mapping) and for the app's widgets (pages/_widgets.py reads its min/max from
# here), so no value that passes a check can be one a widget refuses (Streamlit raises for a
# value outside a widget's range). A slider may show a narrower span (SLIDER_SPANS) beside a
# number box that takes the whole range.
RANGES = {**{name: (OPTIONS[name].low, OPTIONS[name].high) for name in SHARED_FIELDS
             if OPTIONS[name].kind is not str},
          **_APP_NUMBERS}
SLIDER_SPANS = {"n_mels": (1, 1024)}

# The usual values of the settings that are a choice (the widgets' options; a link may hold
# another valid value, which the widget then offers too).
POWERS = (2.0, 1.0)   # power spectrogram, magnitude spectrogram
CHOICES = {"power": POWERS, "method": METHODS, "compression": COMPRESSIONS, "fidelity": OPTIONS["fidelity"].choices}


def _shared(name):
    def check(value, _all):
        checked = OPTIONS[name].check(value)
        if checked is None and name not in _OPTIONAL_FIELDS:
            raise InputError(f"{name} needs a value")
        return float(checked) if name == "power" else checked
    return check


def _app_number(name):
    low, high = _APP_NUMBERS[name]

    def check(value, _all):
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise InputError(f"{name} must be a number, got {value!r}") from None
        return check_number(name, value, minimum=low, maximum=high)
    return check


def _check_sample(value, _all):
    sample_path(value)
    return value


_FIELD_CHECKS = {
    **{name: _shared(name) for name in SHARED_FIELDS},
    **{name: _app_number(name) for name in _APP_NUMBERS},
    "sample": _check_sample,
}


# --------------------------------------------------------------------------- mel formats

# The settings a mel format fixes (Settings has no win_length: the app's window is n_fft long).
FORMAT_FIELDS = tuple(name for name in SETTING_FIELDS if name != "win_length")


def format_values(fmt: MelFormat | str) -> dict:
    """The :class:`Settings` fields a mel format sets (a name in :data:`~invmel_core.FORMATS`
    or a :class:`~invmel_core.MelFormat`).

    >>> values = format_values("hifigan")
    >>> values["n_fft"], values["hop_length"], values["power"], values["mel_type"]
    (1024, 256, 1.0, 'slaney')
    """
    fmt = get_format(fmt)
    values = {name: getattr(fmt, name) for name in FORMAT_FIELDS}
    values.update(f_min=float(fmt.f_min), power=float(fmt.power),
                  f_max=None if fmt.f_max is None else float(fmt.f_max))
    return values


def matching_formats(settings: Settings) -> list[str]:
    """The presets whose STFT, filterbank and power are exactly ``settings``' (several can:
    HiFi-GAN and Tacotron 2 differ only in framing, librosa and librosa-db in storage).

    >>> matching_formats(Settings.checked(**format_values("hifigan")))
    ['hifigan', 'tacotron2']
    >>> matching_formats(Settings.checked())
    []
    """
    def resolved(values: dict) -> tuple:
        nyquist = values["sample_rate"] / 2
        return (values["sample_rate"], values["n_fft"], values["hop_length"] or max(1, values["n_fft"] // 4),
                values["n_mels"], values["f_min"], min(values["f_max"] or nyquist, nyquist), values["mel_type"],
                values["norm"], values["power"])

    mine = resolved({name: getattr(settings, name) for name in FORMAT_FIELDS})
    return [name for name in FORMATS if resolved(format_values(name)) == mine]
