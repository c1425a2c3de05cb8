"""A mel spectrogram's compression, read off its stored values and undone.

Pipelines store ``ln`` (HiFi-GAN, Tacotron 2, BigVGAN), ``log10`` (ESPnet), dB (librosa's
``power_to_db``), Whisper's scaled log10, or linear values, usually clamped at a floor.
:func:`detect_compression` recognises each from its hallmarks (floors, ranges, exact values)
and says why, or says it cannot tell; :func:`undo_compression` turns the values back into a
linear mel plus the mask of entries that were clamped (for those only "at most this value"
is known).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from invmel_core import limits
from invmel_core.errors import InputError
from invmel_core.formats.presets import FORMATS, KINDS, MelFormat
from invmel_core.validation import check_finite_array, check_flag, check_number, numeric_array, shown

_LN10 = math.log(10.0)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)
# The largest linear mel value a compressed one may undo to. A mel of sound stays far below
# (int16-scaled samples with n_fft = 2**18 give ~1e25); the solvers refuse solutions past
# 1e30 anyway (transform.MAX_SOLUTION), and float32 ends at 3.4e38. A stored value that undoes
# to more is not that compression of a mel (ln of 100, dB of +400): it is refused, naming it,
# rather than made into inf that later checks blame on the input.
MAX_UNDONE = 1e30
# Bytes per stored element while the values are read and undone: float64 values and linear
# mel, the float32 result, masks.
_UNDO_BYTES_PER_ELEMENT = 32
_CONFIDENCES = ("high", "medium", "low")

# How a compression is named as a setting (the command lines' --compression, the app's
# choice) -> (kind, dB factor). dB is named with its base: its values cannot tell it.
SETTING_NAMES = {"linear": ("linear", None), "ln": ("ln", None), "log10": ("log10", None),
                 "whisper": ("whisper", None), "db10": ("db", 10), "db20": ("db", 20)}
COMPRESSIONS = ("auto", *SETTING_NAMES)  # "auto": read it off the values

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

    See Also
    --------
    detect_compression : reads one off stored values
    undo_compression : uses one

    Examples
    --------
    >>> comp = Compression("db", db_factor=20)
    >>> comp.label, comp.setting
    ('20·log10 (dB)', 'db20')
    """

    kind: str
    floor: float | None = None
    db_factor: int | None = None
    confidence: str = "high"  # "high": a hallmark seen exactly; "medium"; "low": a guess
    exact: bool = False
    alternatives: tuple[str, ...] = ()
    floor_tolerance: float = 0.0
    why: str = ""

    def __post_init__(self):
        def set_(name, value):
            object.__setattr__(self, name, value)

        if not isinstance(self.kind, str) or self.kind not in KINDS:
            raise InputError(f"Compression kind must be one of {KINDS}, got {shown(self.kind)}; for a setting "
                             f"name such as 'db10' pass the string itself: undo_compression(mel, 'db10')")
        if self.db_factor is not None:
            if isinstance(self.db_factor, bool) or self.db_factor not in (10, 20):
                raise InputError(f"Compression db_factor must be 10, 20 or None, got {shown(self.db_factor)}")
            set_("db_factor", int(self.db_factor))
        if not isinstance(self.confidence, str) or self.confidence not in _CONFIDENCES:
            raise InputError(f"Compression confidence must be one of {_CONFIDENCES}, got {shown(self.confidence)}")
        set_("exact", check_flag("Compression exact", self.exact))
        if self.floor is not None:
            set_("floor", check_number("Compression floor", self.floor))
        set_("floor_tolerance", check_number("Compression floor_tolerance", self.floor_tolerance, minimum=0.0))
        alternatives = self.alternatives
        if isinstance(alternatives, str) or not isinstance(alternatives, (tuple, list)) or any(
                not isinstance(k, str) or k not in KINDS for k in alternatives):
            raise InputError(f"Compression alternatives must be a tuple of kinds from {KINDS}, got "
                             f"{shown(alternatives)}")
        set_("alternatives", tuple(alternatives))
        if not isinstance(self.why, str):
            raise InputError(f"Compression why must be a string, got {shown(self.why)}")

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

    @property
    def setting(self) -> str:
        """This concrete reading's name in :data:`COMPRESSIONS` (``"db10"``, ``"ln"``, …): a dB of
        unknown base has none until one of its :meth:`readings` is chosen."""
        return f"db{self.db_factor}" if self.kind == "db" else self.kind

    def readings(self) -> tuple["Compression", ...]:
        """Every concrete reading to try: this one and its alternatives, dB in both bases."""
        out = []
        for kind in (self.kind, *self.alternatives):
            factors = (self.db_factor,) if kind == "db" and self.db_factor else (10, 20) if kind == "db" else (None,)
            out += [replace(self, kind=kind, db_factor=f, alternatives=()) for f in factors]
        return tuple(out)

    def to_linear(self, values) -> np.ndarray:
        """Stored values -> linear mel, float64 (dB relative to its reference); values past
        float64's range come out inf (:func:`undo_compression` refuses them first)."""
        x = np.asarray(values, dtype=np.float64)
        with np.errstate(over="ignore"):
            return x.copy() if self.kind == "linear" else np.exp(self.slope * (x - (self.kind == "whisper")))

    @property
    def formula(self) -> str:
        """How a stored value ``x`` is undone, as a person would write it."""
        if self.kind == "db":
            return f"10 ** (x / {self.db_factor or 10})"
        return {"linear": "x", "ln": "exp(x)", "log10": "10 ** x", "whisper": "10 ** (4 x - 4)"}[self.kind]


def check_reading(values: np.ndarray, comp: Compression, name: str = "melspec") -> None:
    """:func:`check_undone` for the largest of ``values`` and ``comp``'s floor (floored entries
    become the floor's linear value)."""
    check_undone(float(values.max()), comp, name)
    if comp.floor is not None and comp.floor > float(values.max()):
        check_undone(comp.floor, comp, f"{name}'s compression floor (not a value of it)")


def check_undone(hi: float, comp: Compression, name: str = "melspec") -> None:
    """:class:`InputError` unless the largest stored value ``hi`` undone by ``comp`` is a value
    a mel spectrogram can hold: at most :data:`MAX_UNDONE` for a compressed reading, float32's
    range for a linear one. Names the value, the compression and what to do.

    >>> check_undone(100.0, Compression("ln"))
    Traceback (most recent call last):
    ...
    invmel_core.errors.InputError: melspec's largest value, 100, read as natural log is exp(x) = 2.69e+43 in linear units, beyond float32's range ...
    """
    if comp.kind == "linear":
        if hi > _FLOAT32_MAX:
            raise InputError(f"{name} reaches {hi:.3g}, beyond float32's range (3.4e38); a linear mel spectrogram is "
                             "computed in float32: scale it down (and the sound back up after), or, if the values "
                             "are compressed, say how (compression 'ln', 'log10', 'db10', 'db20' or 'whisper')")
        return
    top = float(comp.to_linear(hi))
    if top < _FLOAT32_TINY and comp.floor is None:
        raise InputError(
            f"{name}'s largest value, {hi:.6g}, read as {comp.label} is {comp.formula} = {top:.3g} in linear units: "
            "every value is below float32's smallest (1.2e-38), so the mel would be silence. These values are not a "
            f"{comp.label} mel of sound: give the compression they were stored with (compression one of "
            f"{tuple(SETTING_NAMES)}, or the model's format), or undo any scaling first")
    if top <= MAX_UNDONE:
        return
    undone = f"{top:.3g}" if math.isfinite(top) else "inf"
    raise InputError(
        f"{name}'s largest value, {hi:.6g}, read as {comp.label} is {comp.formula} = {undone} in linear units, "
        + ("beyond float32's range (3.4e38)" if top > _FLOAT32_MAX else
           f"more than any mel spectrogram of sound holds (at most {MAX_UNDONE:.0e} here)")
        + f": these values are not a {comp.label} mel. Give the compression they were stored with (compression "
        f"one of {tuple(SETTING_NAMES)}, or the model's format), or undo any scaling or normalisation first "
        "(a standardised mel needs the dataset's mean and std)")


def stored_values(melspec, name="melspec") -> tuple[np.ndarray, type]:
    """float64 values and the float type whose rounding they carry (float16 or float32)."""
    arr = numeric_array(melspec, name)
    limits.check_memory(arr.size * _UNDO_BYTES_PER_ELEMENT, f"reading the values of {name} (shape {arr.shape})",
                        "Use a shorter mel spectrogram (fewer frames).")
    arr = check_finite_array(arr, name, what="a mel spectrogram")
    if arr.size == 0:
        raise InputError(f"{name} is empty (shape {arr.shape})")
    # float16 in either byte order (a '>f2' array is float16 too)
    half = arr.dtype.kind == "f" and arr.dtype.itemsize == 2
    with np.errstate(over="ignore"):
        values = arr.astype(np.float64)
    if not np.isfinite(values).all():  # a long double past float64's range
        raise InputError(f"{name} reaches {float(np.abs(arr).max()):.3g}, beyond float64's range (1.8e308), let "
                         "alone float32's (3.4e38) in which a mel spectrogram is computed: scale it down")
    return values, (np.float16 if half else np.float32)


def _tolerance(rounding: type, *values: float) -> float:
    """Four units of the stored type's rounding at these values: what "exactly equal" allows."""
    # float32(1e39) is inf, and so is the spacing at float32's top: stay below it
    largest = min(max(1.0, *(abs(v) for v in values)), float(np.finfo(rounding).max) / 2)
    return 4.0 * float(np.spacing(rounding(largest)))


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

    See Also
    --------
    undo_compression : undoes what this reads
    Compression

    Examples
    --------
    >>> mel = np.log(np.clip(np.array([[2.0, 1e-7, 0.5], [1e-9, 0.1, 1.0]]), 1e-5, None))
    >>> c = detect_compression(mel)
    >>> c.kind, round(c.floor, 4), c.exact
    ('ln', -11.5129, True)
    >>> detect_compression(np.array([[0.0, -80.0], [-80.0, -20.0]])).kind
    'db'
    """
    return _detect(*stored_values(melspec))


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

    See Also
    --------
    detect_compression : what ``'auto'`` reads
    Compression

    Examples
    --------
    >>> linear, floored = undo_compression(np.log(np.array([[1e-5, 2.0]], np.float32)))
    >>> linear.round(5), floored
    (array([[1.e-05, 2.e+00]], dtype=float32), array([[ True, False]]))
    """
    values, rounding = stored_values(melspec)
    comp = resolve_compression(values, rounding, compression)
    check_reading(values, comp)
    linear = comp.to_linear(values)
    if comp.floor is None:
        return linear.astype(np.float32), np.zeros(values.shape, bool)
    floored = values <= comp.floor + comp.floor_tolerance
    bound = float(comp.to_linear(comp.floor))
    np.maximum(linear, bound, out=linear, where=floored)  # a model may undershoot its floor
    return linear.astype(np.float32), floored


def resolve_compression(values, rounding, compression) -> Compression:
    """The :class:`Compression` that ``compression`` (as :func:`undo_compression` takes it)
    means for these stored values (from :func:`stored_values`)."""
    if compression is None or (isinstance(compression, str) and compression.lower() == "auto"):
        return _detect(values, rounding)
    if isinstance(compression, Compression):
        return compression
    if not isinstance(compression, (str, MelFormat)):  # a list, an array: unhashable, or elementwise `in`
        raise InputError(f"compression must be 'auto', a Compression, a MelFormat, one of {sorted(FORMATS)} "
                         f"or one of {sorted(SETTING_NAMES)} (one string), got {shown(compression)} "
                         f"({type(compression).__name__})")
    if isinstance(compression, str):
        compression = compression.lower()
    if isinstance(compression, str) and compression in FORMATS:
        compression = FORMATS[compression]
    lo, hi = float(values.min()), float(values.max())
    tol = _tolerance(rounding, lo, hi)
    if isinstance(compression, MelFormat):
        return _format_compression(compression, hi, tol)
    if compression not in SETTING_NAMES:
        raise InputError(f"compression must be 'auto', a Compression, a MelFormat, one of {sorted(FORMATS)} "
                         f"or one of {sorted(SETTING_NAMES)}, got {compression!r}")
    kind, factor = SETTING_NAMES[compression]
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
