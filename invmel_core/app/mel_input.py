"""A model's mel spectrogram as the app reads it: the compression undone (read off the values,
chosen by the user, or the format's), whether the settings fit the values, and which common
settings do, in rows a page can show and adopt.

The numerics are :mod:`invmel_core.formats.compression` and :mod:`invmel_core.formats.fit`'s; this module
decides which of their answers to use for a :class:`~invmel_core.app.settings.Settings`, and
says so (the command line's equivalent is :func:`invmel_core.pipeline.render.load`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from invmel_core.formats.compression import (Compression, detect_compression)
from invmel_core.errors import InputError
from invmel_core.formats import reader
from invmel_core.formats.reader import MelReading
from invmel_core.formats.fit import VERDICTS, FitResult, check_fit
from invmel_core.formats.ranking import candidate_formats, clamp_note, rank_settings, ranking_summary
from invmel_core.formats.presets import FORMATS, MelFormat
from invmel_core.app.settings import Settings, format_values, matching_formats
from invmel_core.inverse.solvers import SOLVERS

# The name the ranking gives the settings on screen (and, with ", …", their variants).
YOURS = "your settings"


def read_mel(stored, settings: Settings) -> MelReading:
    """Undo the compression of ``stored`` (``(n_mels, time)``, oriented by the page) for ``settings``.

    :func:`invmel_core.formats.reader.read_mel` in the app's policy (``strict=False``: the
    reading is on screen beside a choice): ``settings.compression`` ``"auto"`` reads it off the
    values, or takes the preset's when the settings are one
    (:func:`~invmel_core.app.settings.matching_formats`); any other value is the user's choice.

    Examples
    --------
    >>> stored = np.log(np.maximum(np.array([[2.0, 1e-7], [0.5, 1.0]], np.float32), 1e-5))
    >>> reading = read_mel(stored, Settings.checked())
    >>> reading.compression.kind, reading.source, reading.floored_fraction
    ('ln', 'detected', 0.25)
    >>> read_mel(stored, Settings.checked(compression="linear"))
    Traceback (most recent call last):
    ...
    invmel_core.errors.InputError: read as linear, the values go down to -11.5: ...
    """
    matching = matching_formats(settings) if settings.compression == "auto" else []
    return reader.read_mel(stored, compression=settings.compression, format=matching[0] if matching else None,
                           orientation="stored", strict=False)


def settings_fit(stored, settings: Settings, compression: Compression | str = "auto") -> FitResult:
    """Do ``settings`` fit these stored values (read as ``compression``)? Certified over all
    frames (:func:`invmel_core.check_fit`), on the settings' solver's frequency grid.

    A :class:`Compression` (what :func:`read_mel` undid for the solve) is checked as that one
    reading only (its first: what :func:`~invmel_core.formats.compression.undo_compression`
    applies), not its alternatives: the fit's mel residual and its lower bound are then of the
    very linear mel the solver inverted, so the bound is at most the solver's mel residual
    ("Which settings fit?" tries the other readings)."""
    if isinstance(compression, Compression):
        compression = compression.readings()[0]
    return check_fit(stored, sample_rate=settings.sample_rate, n_fft=settings.n_fft, f_min=settings.f_min,
                     f_max=settings.f_max, mel_type=settings.mel_type, norm=settings.norm,
                     compat=SOLVERS[settings.solver].compat, n_mels=settings.n_mels, compression=compression)


def format_clamp_note(fit: FitResult, stored, settings: Settings) -> str:
    """"" or why the values, read as ``fit`` read them, are not the output as stored of the
    preset the settings are (:func:`~invmel_core.formats.ranking.clamp_note`: its clamp is not
    the floor read off the values, or the values go below it). Settings that fit say nothing
    of the clamp, so a fitting preset whose clamp contradicts the values needs saying."""
    lowest = float(np.min(stored))
    for name in matching_formats(settings):
        note = clamp_note(fit.compression, FORMATS[name], lowest, name)
        if note:
            return note
    return ""


@dataclass(frozen=True)
class FitRow:
    """One candidate of :func:`rank_fits`, light enough to keep in a session: its verdict and
    residuals, the duration it implies, whether the array is its transpose, how the values
    were read, the ``settings`` (Settings fields) and ``compression`` (the Settings value)
    adopting it sets, and a note when the values' compression is not the format's."""

    name: str
    verdict: str
    residual: float
    residual_lower: float
    duration: float
    transposed: bool
    reading: str
    compression: str
    note: str
    settings: dict


@dataclass(frozen=True)
class FitRanking:
    rows: tuple[FitRow, ...]
    summary: str
    seconds: float


def rank_fits(stored, settings: Settings) -> FitRanking:
    """Which settings fit ``stored``: the presets with as many bands as either axis, the
    current ``settings`` (named :data:`YOURS`) and the common variants of each
    (:func:`invmel_core.formats.ranking.rank_settings`), read with ``settings.compression``.

    Where the values leave the compression open (dB of power or of magnitude, a log without
    a floor), each row's ``compression`` is the reading that fits it, so adopting the row
    settles it; otherwise it stays ``"auto"``. Single-threaded, ~0.5-2 s for 10 s of audio:
    the app runs it in a worker process.
    """
    start = time.perf_counter()
    arr = np.asarray(stored)
    if arr.ndim != 2:
        raise InputError(f"the mel spectrogram must be 2-D (n_mels, time), got shape {arr.shape}")
    candidates = {**candidate_formats(arr.shape[0]), **candidate_formats(arr.shape[1])}
    if settings.n_mels in arr.shape:
        candidates.update(candidate_formats(settings.n_mels, {YOURS: as_format(settings)}))
    if not candidates:
        raise InputError(f"no preset has {arr.shape[0]} or {arr.shape[1]} mel bands, nor does n_mels "
                         f"({settings.n_mels}): set n_mels to the file's number of bands to check your settings")
    # The settings on screen are linear as a MelFormat: their compression is the values' own,
    # whatever it is, so no row of theirs gets a note (and the order puts them with the presets).
    rows = [replace(row, note="") if row.name.startswith(YOURS) else row
            for row in rank_settings(arr, candidates, compression=settings.compression)]
    rows.sort(key=lambda row: (VERDICTS.index(row.verdict), bool(row.note), "," in row.name, row.result.residual))
    detected = detect_compression(arr)
    open_reading = settings.compression == "auto" and bool(
        detected.alternatives or (detected.kind == "db" and detected.db_factor is None))
    out = tuple(FitRow(row.name, row.verdict, row.result.residual, row.result.residual_lower, row.duration,
                       row.result.transposed, row.result.compression.label,
                       row.result.compression.setting if open_reading else settings.compression,
                       row.note, format_values(row.format))
                for row in rows)
    return FitRanking(out, ranking_summary(rows), time.perf_counter() - start)


def as_format(settings: Settings) -> MelFormat:
    """The settings as a (linear) :class:`~invmel_core.MelFormat`, on their solver's grid."""
    return MelFormat(settings.sample_rate, settings.n_fft, settings.hop, settings.n_mels, f_min=settings.f_min,
                     f_max=settings.f_max, mel_type=settings.mel_type, norm=settings.norm, power=settings.power,
                     compat=SOLVERS[settings.solver].compat, description="the app's settings")
