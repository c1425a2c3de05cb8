"""Which settings fit a mel spectrogram: the presets and their common variants, each checked
with :func:`invmel_core.formats.fit.fit_stored` (settings that share a filterbank share one solve),
ranked, and summed up in a few sentences.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from invmel_core.formats.compression import Compression, resolve_compression, stored_values
from invmel_core.errors import InputError
from invmel_core.formats.fit import VERDICTS, FitResult, check_exact, fit_stored, orient
from invmel_core.formats.presets import FORMATS, MelFormat
from invmel_core.validation import check_number, numeric_array, shown


@dataclass(frozen=True)
class Candidate:
    """One row of :func:`rank_settings`: a named format, its fit, the duration its frames stand
    for, and a note when the detected compression is not the one the format stores."""

    name: str
    format: MelFormat
    result: FitResult
    duration: float
    note: str = ""

    @property
    def verdict(self) -> str:
        return self.result.verdict


def candidate_formats(n_mels: int, formats: dict[str, MelFormat] | None = None) -> dict[str, MelFormat]:
    """The formats with ``n_mels`` bands and their common variants: n_fft halved and doubled,
    the other mel scale, the other norm, the other power, f_max at Nyquist (or 8 kHz), f_min 0.

    >>> sorted(candidate_formats(100))[:3]
    ['bigvgan-24k', 'bigvgan-24k, f_max 8000', 'bigvgan-24k, htk mels']
    """
    out = {}
    for name, fmt in (FORMATS if formats is None else formats).items():
        if fmt.n_mels != n_mels:
            continue
        out[name] = fmt
        other_scale = "htk" if fmt.mel_type == "slaney" else "slaney"
        other_power = 2.0 if fmt.power == 1 else 1.0
        half_window = None if fmt.win_length is None else min(fmt.win_length, fmt.n_fft // 2)
        variants = {f"n_fft {fmt.n_fft // 2}": dict(n_fft=fmt.n_fft // 2, win_length=half_window),
                    f"n_fft {fmt.n_fft * 2}": dict(n_fft=fmt.n_fft * 2),
                    f"{other_scale} mels": dict(mel_type=other_scale),
                    f"norm {'slaney' if fmt.norm is None else None}": dict(norm="slaney" if fmt.norm is None else None),
                    f"{'power' if other_power == 2 else 'magnitude'}": dict(power=other_power)}
        if fmt.f_max is not None:
            variants["f_max Nyquist"] = dict(f_max=None)
        elif fmt.sample_rate / 2 > 8000:
            variants["f_max 8000"] = dict(f_max=8000.0)
        if fmt.f_min > 0:
            variants["f_min 0"] = dict(f_min=0.0)
        for label, change in variants.items():
            try:
                out[f"{name}, {label}"] = fmt.replace(**change)
            except InputError:  # a variant these numbers do not allow
                pass
    return out


def rank_settings(melspec, candidates: dict[str, MelFormat] | None = None, *, compression="auto", exact=None,
                  max_iter=None) -> list[Candidate]:
    """Check many settings against one mel spectrogram: "fits" first, then "cannot tell", then
    "ruled out"; within each, matching compression first, presets before variants, then by residual.

    ``candidates`` defaults to :func:`candidate_formats` for the array's mel axis; a
    ``(time, n_mels)`` array is recognised per candidate (``result.transposed``). Candidates
    with the same filterbank share one solve (they differ only in framing, hop or power,
    which the values cannot show). See :func:`check_fit` for ``compression`` and ``exact``.

    See Also
    --------
    check_fit : one setting
    FORMATS : the presets it tries

    Examples
    --------
    >>> from invmel_core.formats.presets import mel_from_audio
    >>> t = np.arange(22050) / 22050
    >>> mel = mel_from_audio(0.5 * np.sin(2 * np.pi * 440 * t * (1 + t)), "hifigan")
    >>> rows = rank_settings(mel.T, {"hifigan": FORMATS["hifigan"], "whisper": FORMATS["whisper"]})
    >>> [(row.name, row.verdict, row.result.transposed) for row in rows]
    [('hifigan', 'fits', True), ('whisper', 'ruled out', True)]
    """
    max_iter = None if max_iter is None else check_number("max_iter", max_iter, integer=True, minimum=1)
    arr = numeric_array(melspec, "melspec")
    if arr.ndim < 2:
        raise InputError(f"melspec must have at least 2 dimensions (..., n_mels, time), got shape {arr.shape}")
    candidates = _check_candidates(candidates)
    values, rounding = stored_values(arr)
    comp = resolve_compression(values, rounding, compression)
    exact = check_exact(exact, comp)
    if candidates is None:
        candidates = {**candidate_formats(arr.shape[-2]), **candidate_formats(arr.shape[-1])}
        if not candidates:
            raise InputError(f"no preset has {arr.shape[-2]} or {arr.shape[-1]} mel bands (shape {arr.shape}); "
                             "pass candidates={name: MelFormat(...)} with the settings to compare")
    solved, rows = {}, []
    for name, fmt in candidates.items():
        if not isinstance(fmt, MelFormat):
            raise InputError(f"candidates[{name!r}] must be a MelFormat, got {type(fmt).__name__}")
        try:
            oriented, transposed = orient(values, fmt.n_mels)
        except InputError as exc:
            raise InputError(f"candidates[{name!r}]: {exc}") from None
        key = (fmt.filterbank, transposed)
        if key not in solved:
            solved[key] = fit_stored(oriented, rounding, comp, fmt.filterbank, exact, transposed, max_iter, time.perf_counter())
        result = solved[key]
        note = _compression_note(comp, result, fmt) or clamp_note(result.compression, fmt, float(values.min()),
                                                                  name.split(",")[0])
        rows.append(Candidate(name, fmt, result, fmt.duration(oriented.shape[-1]), note))
    # Within "fits" residuals say nothing (each solve stops once below the bar): the
    # candidates whose compression matches the values come first, presets before variants.
    rows.sort(key=lambda row: (VERDICTS.index(row.verdict), bool(row.note), "," in row.name, row.result.residual))
    return rows


def _check_candidates(candidates) -> dict[str, MelFormat] | None:
    """None, a dict of name -> MelFormat, or format names (a list like ``["hifigan", "tacotron2"]``)
    as that dict; :class:`InputError` for anything else."""
    if candidates is None or isinstance(candidates, dict):
        return candidates
    if isinstance(candidates, str):
        candidates = [candidates]
    if isinstance(candidates, (list, tuple, set, frozenset)):
        unknown = [shown(name) for name in candidates if not (isinstance(name, str) and name.lower() in FORMATS)]
        if unknown:
            raise InputError(f"candidates names unknown formats {', '.join(unknown)}; known: {sorted(FORMATS)} "
                             "(or pass candidates={name: MelFormat(...)})")
        return {name: FORMATS[name.lower()] for name in candidates}
    raise InputError(f"candidates must be None, a dict {{name: MelFormat(...)}} or a list of format names, got "
                     f"{shown(candidates)} ({type(candidates).__name__})")


def _compression_note(detected: Compression, result: FitResult, fmt: MelFormat) -> str:
    read = result.compression
    if read.kind == fmt.compression and (read.kind != "db" or read.db_factor in (None, fmt.db_factor)):
        return ""
    sure = "" if detected.confidence == "high" else f" (detection confidence {detected.confidence})"
    return f"the values read as {read.label}{sure}, but this format stores {fmt.compression}"


def clamp_note(read: Compression, fmt: MelFormat, lowest: float, name: str = "this format") -> str:
    """"" or why the values cannot be ``fmt``'s output as stored: read as ``fmt``'s log (ln or
    log10), their floor (read off them) is not the clamp ``fmt`` applies, or they go below it.
    ``lowest``: the smallest stored value; ``name``: the format's, for the sentence.

    >>> from invmel_core.formats.compression import Compression
    >>> print(clamp_note(Compression("ln", floor=np.log(1e-5)), FORMATS["vocos"], np.log(1e-5), "vocos"))
    the values are floored at 1e-05 (read off them), but vocos clamps at 1e-07: not its output as stored (another clamp, or another model's mel)
    """
    if read.kind != fmt.compression or read.kind not in ("ln", "log10") or not fmt.clamp:
        return ""
    log = np.log if read.kind == "ln" else np.log10
    floor = float(log(fmt.clamp))
    tolerance = max(read.floor_tolerance, 1e-3)
    if read.floor is not None and abs(read.floor - floor) > tolerance:
        return (f"the values are floored at {float(read.to_linear(read.floor)):.3g} (read off them), but {name} clamps "
                f"at {fmt.clamp:g}: not its output as stored (another clamp, or another model's mel)")
    if lowest < floor - tolerance:
        return (f"the values go down to {float(read.to_linear(lowest)):.3g}, below the clamp {name} applies "
                f"({fmt.clamp:g}): not its output as stored")
    return ""


def ranking_summary(rows: list[Candidate]) -> str:
    """A few sentences on a ranking: what fits, what is ruled out, what cannot be told apart."""
    groups = {verdict: [row for row in rows if row.verdict == verdict] for verdict in VERDICTS}
    parts = []
    fits = groups["fits"]
    if len(fits) > 1:
        durations = sorted({round(row.duration, 2) for row in fits})
        spread = (f" They imply durations from {durations[0]:g} s to {durations[-1]:g} s." if len(durations) > 1 else "")
        parts.append(f"{len(fits)} settings fit and the values cannot tell them apart: {_names(fits)}. The model's "
                     f"or dataset's configuration has to decide (docs/formats.md, identifiability).{spread}")
    elif fits:
        parts.append(f"Only {fits[0].name} fits.")
    else:
        parts.append("Nothing fits exactly: the values are not exactly a filterbank's image with any of these "
                     "settings (a model's prediction, lossy storage, or settings not among the candidates).")
    if groups["cannot tell"]:
        parts.append(f"Cannot tell: {_names(groups['cannot tell'])}.")
    if groups["ruled out"]:
        parts.append(f"Ruled out: {_names(groups['ruled out'])}.")
    noted = [row for row in rows if row.note and row.verdict != "ruled out"]
    if noted:
        parts.append(f"Compression or clamp differs from the format's for {_names(noted)}.")
    return " ".join(parts)


def _names(rows: list[Candidate], limit: int = 8) -> str:
    names = [f"{row.name} ({row.result.residual:.2g})" for row in rows[:limit]]
    return ", ".join(names) + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


@dataclass(frozen=True)
class FormatChoice:
    """What :func:`choose_format` found: the preset ``name``, the ``duration`` its frames give,
    the ``others`` that fit as well (same duration), whether it ``fits`` (else it only cannot be
    ruled out) and whether the array holds ``(time, n_mels)`` (``transposed``)."""

    name: str
    duration: float
    others: tuple[str, ...]
    fits: bool
    transposed: bool

    @property
    def note(self) -> str:
        """The command lines' line about it."""
        how = "fit" if self.fits else "cannot rule out"
        return (f"no settings given: using format {self.name!r}, {self.duration:.2f} s (the values {how} it"
                + (f", and {', '.join(self.others)}, with the same duration" if self.others else "")
                + "). Pass --format to choose")


def choose_format(melspec, compression: Compression | str = "auto") -> FormatChoice:
    """The preset a stored mel was made with, when no settings were given.

    Among the presets (not their variants) whose compression is the values' (``compression``,
    as read), those the values fit are the answer if they all imply the same duration (the
    values cannot show the hop or the sample rate, only the presets' pairs of them); the
    best-ranked is taken and the note names the others. Where none fits, those that cannot be
    ruled out (a model's prediction is never exact) are used the same way. Raises
    :class:`InputError` saying what to pass when they disagree on the duration or no preset can
    have made the values: a command that writes a WAV must not guess a hop.

    >>> from invmel_core.formats.presets import mel_from_audio
    >>> t = np.arange(22050) / 22050
    >>> choice = choose_format(mel_from_audio(0.5 * np.sin(2 * np.pi * 440 * t * (1 + t)), "hifigan").T)
    >>> choice.name, choice.fits, choice.transposed
    ('hifigan', True, True)
    """
    rows = [row for row in rank_settings(melspec, compression=compression) if row.name in FORMATS and not row.note]
    fitting = [row for row in rows if row.verdict == "fits"]
    possible = fitting or [row for row in rows if row.verdict == "cannot tell"]
    if not possible:
        raise InputError(f"no preset can have made these values ({ranking_summary(rows) if rows else 'none stores them so'}): "
                         f"give the settings the mel of shape {np.shape(melspec)} was made with (--sample-rate, "
                         "--n-fft, --hop-length, --n-mels, --f-min/--f-max, --norm, --mel-type, --power) or its --format")
    if len({round(row.duration, 2) for row in possible}) > 1:
        listed = ", ".join(f"{row.name} ({row.duration:.2f} s)" for row in possible[:8])
        why = "fit" if fitting else "cannot rule out (none fits exactly: a model's prediction?)"
        raise InputError(f"the values {why} several formats that give different durations: {listed}. Pass the one "
                         "it was made with, --format NAME (or all its settings: --sample-rate, --n-fft, --hop-length, …)")
    best = possible[0]
    return FormatChoice(best.name, best.duration, tuple(row.name for row in possible[1:]), bool(fitting),
                        best.result.transposed)
