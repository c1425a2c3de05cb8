"""Do these settings fit a mel spectrogram? A certified non-negative fit over all frames
(:mod:`invmel_core.formats.ranking` checks many settings with it).

A mel spectrogram made with settings ``S`` is ``fb_S.T @ X`` for some ``X >= 0``. So the
settings fit an array if a non-negative ``X`` reproduces it; :func:`check_fit` solves that
non-negative least squares over every frame (a frame subset hides misfits) with the
floored entries as one-sided constraints (``fb.T @ X <= floor``), and bounds the answer
from both sides: the residual it reached (an upper bound on the best) and a certified
lower bound from the dual problem (no ``X >= 0`` does better). "Ruled out" rests on that
lower bound, "fits" on the residual reached; in between it says "cannot tell".

Both numbers are the app's and the command line's **mel residual**
(:func:`invmel_core.dsp.metrics.mel_residual`): ``||fb.T @ X - M|| / ||M||``, Frobenius over
every frame, over the filters that are not empty; a floored entry counts only where
``fb.T @ X`` exceeds its floor (with nothing floored it is exactly ``mel_residual``, and it is
never above it). So the lower bound is at most the mel residual of any solver's ``X`` on the
same linear mel. Energy in empty filters, which no ``X`` can change, is reported apart
(``empty_share``) and rules settings out on its own.

The solver is projected gradient with FISTA momentum (restarted per frame where the
objective rises) and a per-bin diagonal step ``1 / (fb @ fb.T @ 1)``, which bounds the
Hessian of both the two-sided and the one-sided terms, on the banded (sparse) filterbank.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from invmel_core.errors import InputError
from invmel_core import limits
from invmel_core.formats.compression import (Compression, check_reading, resolve_compression, stored_values,
                                             undo_compression)
from invmel_core.formats.reader import orient_mel
from invmel_core.dsp.empty_filters import explain_empty
from invmel_core.dsp.filterbank import MelFilterbank
from invmel_core.validation import check_flag, check_number, numeric_array
from invmel_core.formats.fit_solve import solve_one_sided

# Exact pipeline output with the right settings: the solver gets below this within ~200 steps
# (measured 1e-6 .. 1e-8 on every preset; float32 arithmetic allows ~1e-7).
FIT_RESIDUAL = 1e-4
# Exact pipeline output: the right settings leave no residual above the storage rounding, so a
# certified residual above this (or twice the rounding bound) rules the settings out.
EXACT_RULED_OUT = 1e-3
# Values of unknown provenance (a model's prediction, processed data): the right settings left
# up to 0.15 under log-domain noise of 0.7 nats per entry (docs/formats.md); above this, out.
MODEL_RULED_OUT = 0.2
VERDICTS = ("fits", "cannot tell", "ruled out")  # best first
_SCALE_NAMES = {"htk": "HTK", "slaney": "Slaney"}


@dataclass(frozen=True)
class FitResult:
    """The answer of :func:`check_fit`.

    ``residual``: the mel residual reached (see the module's docstring: relative, Frobenius
    over all frames, empty filters left out, floored entries one-sided); ``residual_lower``:
    certified lower bound on the best possible, so at most the mel residual of any ``X >= 0``;
    ``empty_share``: how much of the mel (relative, Frobenius) sits above the floor in empty
    filters, which no ``X`` can reach; ``verdict``: "fits", "cannot tell" or "ruled out";
    ``readings``: every compression reading tried, as ``(label, residual, residual_lower)``;
    ``ran_out``: the solve stopped at its iteration limit or time budget while still
    improving, before it could decide (a "cannot tell" that more steps may settle);
    ``frame_residual`` and ``frame_residual_lower``: what the verdict rests on, the root mean
    square over the frames with content of each frame's own relative residual (reached and
    certified), so that a misfit in a few quiet frames is not drowned by the loud ones. It is
    not the mel residual and is never shown under that name.

    See Also
    --------
    check_fit : makes one
    rank_settings : many, ranked

    Examples
    --------
    >>> import numpy as np
    >>> from invmel_core import MelFilterbank
    >>> fb = MelFilterbank(257, 0.0, None, 40, 16000)
    >>> mel = fb.banded.project(np.random.default_rng(0).random((257, 20), dtype=np.float32))
    >>> check_fit(mel, sample_rate=16000, n_fft=512).verdict
    'fits'
    """

    residual: float
    residual_lower: float
    verdict: str
    why: str
    compression: Compression
    readings: tuple[tuple[str, float, float], ...]
    n_frames: int
    floored_fraction: float
    rounding_bound: float
    exact: bool
    transposed: bool
    iterations: int
    seconds: float
    empty_share: float = 0.0
    ran_out: bool = False
    frame_residual: float = 0.0
    frame_residual_lower: float = 0.0

    @property
    def consistent(self) -> bool:
        return self.verdict == "fits"


def orient(melspec, n_mels: int | None = None) -> tuple[np.ndarray, bool]:
    """``(array as (..., n_mels, time), transposed)``: a ``(time, n_mels)`` array is recognised
    when ``n_mels`` is given (:func:`invmel_core.formats.reader.orient_mel`'s rule); without
    ``n_mels`` the array is taken as it is.

    >>> orient(np.zeros((862, 80)), 80)[0].shape, orient(np.zeros((862, 80)), 80)[1]
    ((80, 862), True)
    """
    arr = numeric_array(melspec, "melspec")   # ragged lists, tensors: InputError, before np.shape
    if n_mels is not None:
        n_mels = check_number("n_mels", n_mels, integer=True, minimum=1, maximum=limits.MAX_MELS)
    arr, transposed, _ = orient_mel(arr, n_mels, "stored" if n_mels is None else "auto")
    return arr, transposed


def check_fit(melspec, *, sample_rate, n_fft, f_min=0.0, f_max=None, mel_type="htk", norm=None,
              compat="torchaudio", n_mels=None, compression="auto", exact=None, max_iter=None) -> FitResult:
    """Do these settings fit this mel spectrogram? Certified, over all frames.

    Parameters
    ----------
    melspec : array_like
        The mel spectrogram as stored, ``(..., n_mels, time)``: compressed or not.
    sample_rate, n_fft, f_min, f_max, mel_type, norm, compat
        The settings to check (as :class:`~invmel_core.MelFilterbank` takes them).
    n_mels : int or None
        If given, a ``(time, n_mels)`` array is recognised and transposed.
    compression : "auto", Compression, MelFormat or kind
        How to undo the storage (see :func:`~invmel_core.formats.compression.undo_compression`). With
        "auto" every plausible reading is tried (both dB bases, ln and log10 without a
        floor) and the best one reported.
    exact : bool or None
        Whether the values came straight from a pipeline (only storage rounding): then a
        residual above :data:`EXACT_RULED_OUT` rules the settings out. False (a model's
        prediction) raises that bar to :data:`MODEL_RULED_OUT`. None: exact when the values
        sit exactly on a pipeline's clamp floor, else unknown (treated as False).
    max_iter : int or None
        Solver steps per reading at most (most stop far earlier). None (default): at least
        :data:`~invmel_core.formats.fit_solve.MIN_STEPS`, then on while the residual still falls, within
        :data:`~invmel_core.formats.fit_solve.TIME_BUDGET_S` seconds per reading. Stopped undecided while still improving,
        the result says so (``ran_out``), not that the values cannot tell.

    See Also
    --------
    rank_settings : many settings at once
    FitResult

    Examples
    --------
    >>> from invmel_core.formats.presets import mel_from_audio
    >>> t = np.arange(22050) / 22050
    >>> mel = mel_from_audio(0.5 * np.sin(2 * np.pi * 440 * t * (1 + t)), "hifigan")
    >>> check_fit(mel, sample_rate=22050, n_fft=1024, f_max=8000, mel_type="slaney", norm="slaney").verdict
    'fits'
    >>> check_fit(mel, sample_rate=22050, n_fft=512, f_max=8000, mel_type="slaney", norm="slaney").verdict
    'ruled out'
    """
    start = time.perf_counter()
    max_iter = None if max_iter is None else check_number("max_iter", max_iter, integer=True, minimum=1)
    arr, transposed = orient(melspec, n_mels)
    n_fft = check_number("n_fft", n_fft, integer=True, minimum=2)
    fb = MelFilterbank(n_fft // 2 + 1, f_min, f_max, arr.shape[-2], sample_rate, norm, mel_type, compat)
    values, rounding = stored_values(arr)
    comp = resolve_compression(values, rounding, compression)
    exact = check_exact(exact, comp)
    return fit_stored(values, rounding, comp, fb, exact, transposed, max_iter, start)


def check_exact(exact, comp: Compression) -> bool:
    """``exact`` as :func:`check_fit` takes it: None (the compression's ``exact``), True or False
    (not a string: ``"False"`` is true)."""
    return comp.exact if exact is None else check_flag("exact", exact)


# Bytes per (bin seen, frame) element of the solve: the iterate, its previous value and the
# descent step in float32, with room for the sparse products' temporaries.
_SOLVE_BYTES_PER_ELEMENT = 24
_SOLVE_BYTES_PER_MEL_ELEMENT = 48  # the target, the cap, two projections, the residual (float32)


def _check_fit_memory(values: np.ndarray, fb: MelFilterbank) -> None:
    frames = values.size // values.shape[-2]
    limits.check_memory(frames * (fb.n_freqs * _SOLVE_BYTES_PER_ELEMENT + fb.n_mels * _SOLVE_BYTES_PER_MEL_ELEMENT),
                        f"checking the fit of {frames:,} frames against {fb.n_freqs} bins",
                        "Check an excerpt (fewer frames): the verdict rarely needs more than a few seconds.")


class _Tried(NamedTuple):
    """One compression reading's solve."""

    reading: Compression
    upper: float
    lower: float
    steps: int
    verdict: str
    bound: float  # the storage's rounding bound
    out_at: float  # the bar for "ruled out"
    n_frames: int
    floored_share: float
    empty_share: float
    ran_out: bool
    frame_upper: float
    frame_lower: float


def fit_stored(values, rounding, comp: Compression, fb: MelFilterbank, exact: bool, transposed: bool,
               max_iter: int | None, start: float) -> FitResult:
    """:func:`check_fit` on values already read (:func:`~invmel_core.formats.compression.stored_values`) with
    their compression resolved; ``start`` is when the check began (for ``seconds``)."""
    _check_fit_memory(values, fb)
    readings, refused = [], None
    for reading in comp.readings():  # a reading the values overflow (log10 of 40, dB10 of 400) is not tried
        try:
            check_reading(values, reading)
            readings.append(reading)
        except InputError as exc:
            refused = refused or exc
    if not readings:
        raise refused
    tried = []
    matchable = fb.banded.matchable
    for reading in readings:
        linear, floored = undo_compression(values, reading)
        linear, floored = _columns(linear), _columns(floored)
        bound = _rounding_bound(_columns(values)[matchable], linear[matchable], floored[matchable], reading, rounding)
        fit_at, out_at = max(FIT_RESIDUAL, bound), max(EXACT_RULED_OUT if exact else MODEL_RULED_OUT, 2 * bound)
        empty_share = _empty_share(linear, floored, matchable)
        got, steps, n_frames, ran_out = solve_one_sided(linear[matchable], floored[matchable], fb, fit_at, out_at, max_iter)
        if got.frame_upper <= fit_at and empty_share <= fit_at:
            verdict = "fits"
        elif got.frame_lower >= out_at or empty_share >= out_at:
            verdict = "ruled out"
        else:
            verdict = "cannot tell"
        tried.append(_Tried(reading, got.upper, got.lower, steps, verdict, bound, out_at, n_frames,
                            float(floored.mean()), empty_share, ran_out and verdict == "cannot tell",
                            got.frame_upper, got.frame_lower))
    # The square root of a consistent mel usually stays consistent, its square does not: of
    # the readings that fit, the one with the largest exponent is the likely one.
    fitting = [t for t in tried if t.verdict == "fits"]
    best = max(fitting, key=lambda t: t.reading.slope) if fitting else min(tried, key=lambda t: t.upper)
    return FitResult(best.upper, best.lower, best.verdict, _explain(best, tried, fb, exact), best.reading,
                     tuple((t.reading.label, t.upper, t.lower) for t in tried), best.n_frames, best.floored_share,
                     best.bound, exact, transposed, sum(t.steps for t in tried), time.perf_counter() - start,
                     best.empty_share, best.ran_out, best.frame_upper, best.frame_lower)


def _columns(arr: np.ndarray) -> np.ndarray:
    """``(..., n_mels, time)`` -> ``(n_mels, frames)``: every frame of every item a column."""
    return np.moveaxis(arr.reshape(-1, *arr.shape[-2:]), 1, 0).reshape(arr.shape[-2], -1)


def _rounding_bound(stored, linear, floored, reading, rounding) -> float:
    """How far the storage's rounding alone can move the mel (the matchable filters' rows),
    relative, RMS over frames as the verdict's statistic is: a bound on that statistic for
    the right settings and exact data."""
    half_step = np.spacing(np.abs(stored).astype(rounding)).astype(np.float64) / 2
    rel = reading.slope * half_step if reading.kind != "linear" else half_step / np.maximum(np.abs(stored), 1e-300)
    moved = np.where(floored, 0.0, linear * (rel + 1e-6))  # + float32 arithmetic of the pipeline
    norms = np.einsum("ij,ij->j", linear, linear, dtype=np.float64)
    content = (norms > 0) & ~floored.all(axis=0)  # the frames the statistic is averaged over
    if not content.any():
        return 0.0
    return float(np.sqrt(np.mean(np.einsum("ij,ij->j", moved, moved)[content] / norms[content])))


def _empty_share(linear, floored, matchable) -> float:
    """``||M over empty filters, above the floor|| / ||M||`` (all filters): what no ``X`` reaches.
    Floored entries there are what an empty filter gives (0, clamped), so they do not count."""
    if matchable.all():
        return 0.0
    lost = np.where(floored[~matchable], 0.0, linear[~matchable].astype(np.float64))
    total = float(np.sum(np.square(linear, dtype=np.float64)))
    return float(np.sqrt(np.sum(np.square(lost)) / total)) if total > 0 else 0.0


def _describe(fb: MelFilterbank) -> str:
    return (f"{fb.n_freqs} bins at {fb.sample_rate:g} Hz, {fb.n_mels} {_SCALE_NAMES[fb.mel_type]} mels "
            f"{fb.f_min:g}-{fb.f_max:g} Hz, norm {fb.norm}")


def _explain(best: _Tried, tried: list[_Tried], fb: MelFilterbank, exact: bool) -> str:
    where = f"with {_describe(fb)}, over all {best.n_frames} frames with content ({best.reading.label} undone"
    where += (f", {best.floored_share:.1%} of entries floored and fitted as at most the floor)"
              if best.floored_share else ")")
    others = [f"{t.reading.label} {t.verdict} ({t.upper:.2g})" for t in tried if t is not best]
    also = f"; other readings: {', '.join(others)}" if others else ""
    frames = ("frame by frame (each frame's own relative residual, root mean square over the frames: a misfit in a "
              "few quiet frames counts here, while the mel residual, over all frames at once, is ruled by the loud "
              "ones)")
    if best.verdict == "fits":
        text = (f"fits: a non-negative spectrum reproduces it to a mel residual of {best.upper:.2g} (every frame "
                f"within {best.frame_upper:.2g}, RMS over the frames) {where}{also}.")
        if any(t.verdict == "fits" for t in tried if t is not best):
            text += (f" Several readings fit; {best.reading.label} is the likelier (a square root of a consistent "
                     "mel usually stays consistent).")
        return text
    empty = ""
    if fb.empty.size:
        empty = (f" {fb.empty.size} of the {fb.n_mels} filters are empty with these settings and are left out of "
                 f"the residuals; {explain_empty(fb)}")
        if best.empty_share > 0:
            empty += (f" {best.empty_share:.3g} of the mel (relative) sits above the floor in them, where no "
                      "spectrum can put anything" + (": that alone rules these settings out."
                                                     if best.empty_share >= best.out_at else "."))
    if best.verdict == "ruled out":
        right = ("exact pipeline output with the right settings stays below" if exact else
                 "a model's mel with the right settings stayed below it with errors up to 0.7 nats an entry:")
        if best.frame_lower < best.out_at:  # ruled out by the empty filters alone
            return (f"ruled out: no non-negative spectrum leaves a mel residual below {best.lower:.3g} (certified; "
                    f"best found {best.upper:.3g}) {where}.{empty}{also}")
        return (f"ruled out: no non-negative spectrum leaves a mel residual below {best.lower:.3g} (certified; best "
                f"found {best.upper:.3g}) {where}; {frames} it is at least {best.frame_lower:.3g} (best found "
                f"{best.frame_upper:.3g}), and {right} {best.out_at:.2g}.{empty}{also}")
    if best.ran_out:
        return (f"cannot tell yet: the check ran out of iterations ({best.steps} steps) while the residual was "
                f"still falling: mel residual {best.upper:.3g} (at least {best.lower:.3g}), {frames} "
                f"{best.frame_upper:.3g}, {where}. The values may well fit (below {max(FIT_RESIDUAL, best.bound):.2g} "
                f"frame by frame); check again with more iterations (max_iter).{empty}{also}")
    provenance = ("" if exact else " The values are not known to come straight from a pipeline: a model's mel "
                  "never fits exactly, so this may be its error; pass exact=True if it is a pipeline's output.")
    return (f"cannot tell: the best mel residual is {best.upper:.3g} (at least {best.lower:.3g}) {where}; {frames} "
            f"{best.frame_upper:.3g} (at least {best.frame_lower:.3g}): above what the right settings give exact data "
            f"({max(FIT_RESIDUAL, best.bound):.2g}) but below the bar for ruling out ({best.out_at:.2g})."
            f"{provenance}{empty}{also}")
