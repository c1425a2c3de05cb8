"""Do these settings fit a mel spectrogram? A certified non-negative fit over all frames
(:mod:`invmel_core.formats.ranking` checks many settings with it).

A mel spectrogram made with settings ``S`` is ``fb_S.T @ X`` for some ``X >= 0``. So the
settings fit an array if a non-negative ``X`` reproduces it; :func:`check_fit` solves that
non-negative least squares over every frame (a frame subset hides misfits) with the
floored entries as one-sided constraints (``fb.T @ X <= floor``), and bounds the answer
from both sides: the residual it reached (an upper bound on the best) and a certified
lower bound from the dual problem (no ``X >= 0`` does better). "Ruled out" rests on that
lower bound, "fits" on the residual reached; in between it says "cannot tell".

The solver is projected gradient with FISTA momentum (restarted per frame where the
objective rises) and a per-bin diagonal step ``1 / (fb @ fb.T @ 1)``, which bounds the
Hessian of both the two-sided and the one-sided terms, on the banded (sparse) filterbank.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse

from invmel_core.errors import InputError
from invmel_core import limits
from invmel_core.formats.compression import (Compression, check_reading, resolve_compression, stored_values,
                                             undo_compression)
from invmel_core.dsp.filterbank import MelFilterbank
from invmel_core.validation import check_flag, check_number, numeric_array

# Exact pipeline output with the right settings: the solver gets below this within ~200 steps
# (measured 1e-6 .. 1e-8 on every preset; float32 arithmetic allows ~1e-7).
FIT_RESIDUAL = 1e-4
# Exact pipeline output: the right settings leave no residual above the storage rounding, so a
# certified residual above this (or twice the rounding bound) rules the settings out.
EXACT_RULED_OUT = 1e-3
# Values of unknown provenance (a model's prediction, processed data): the right settings left
# up to 0.15 under log-domain noise of 0.7 nats per entry (docs/formats.md); above this, out.
MODEL_RULED_OUT = 0.2
CHECK_EVERY = 20  # steps between residual/certificate evaluations
VERDICTS = ("fits", "cannot tell", "ruled out")  # best first
_SCALE_NAMES = {"htk": "HTK", "slaney": "Slaney"}


@dataclass(frozen=True)
class FitResult:
    """The answer of :func:`check_fit`.

    ``residual``: relative mel residual reached, root mean square over the frames with content
    of ``||fb.T @ X_t - M_t|| / ||M_t||``; ``residual_lower``: certified lower bound on the best
    possible; ``verdict``: "fits", "cannot tell" or "ruled out"; ``readings``: every
    compression reading tried, as ``(label, residual, residual_lower)``.
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

    @property
    def consistent(self) -> bool:
        return self.verdict == "fits"


def orient(melspec, n_mels: int | None = None) -> tuple[np.ndarray, bool]:
    """``(array as (..., n_mels, time), transposed)``: a ``(time, n_mels)`` array is recognised
    when ``n_mels`` is given and only the last axis matches it (raises :class:`InputError` if
    neither does). Without ``n_mels`` the array is taken as it is.

    >>> orient(np.zeros((862, 80)), 80)[0].shape, orient(np.zeros((862, 80)), 80)[1]
    ((80, 862), True)
    """
    arr = numeric_array(melspec, "melspec")
    if arr.ndim < 2:
        raise InputError(f"melspec must have at least 2 dimensions (..., n_mels, time), got shape {arr.shape}")
    if n_mels is not None:
        n_mels = check_number("n_mels", n_mels, integer=True, minimum=1, maximum=limits.MAX_MELS)
    if n_mels is None or arr.shape[-2] == n_mels:
        return arr, False
    if arr.shape[-1] == n_mels:
        return np.swapaxes(arr, -1, -2), True
    raise InputError(f"melspec has shape {arr.shape}, but neither of its last two axes has n_mels={n_mels} "
                     "entries; give the n_mels it was made with")


def check_fit(melspec, *, sample_rate, n_fft, f_min=0.0, f_max=None, mel_type="htk", norm=None,
              compat="torchaudio", n_mels=None, compression="auto", exact=None, max_iter=600) -> FitResult:
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
    max_iter : int
        Solver steps per reading at most (most stop far earlier).

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
    max_iter = check_number("max_iter", max_iter, integer=True, minimum=1)
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


def fit_stored(values, rounding, comp: Compression, fb: MelFilterbank, exact: bool, transposed: bool, max_iter: int,
               start: float) -> FitResult:
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
    for reading in readings:
        linear, floored = undo_compression(values, reading)
        linear, floored = _columns(linear), _columns(floored)
        bound = _rounding_bound(_columns(values), linear, floored, reading, rounding)
        fit_at, out_at = max(FIT_RESIDUAL, bound), max(EXACT_RULED_OUT if exact else MODEL_RULED_OUT, 2 * bound)
        upper, lower, steps, n_frames = _solve(linear, floored, fb, fit_at, out_at, max_iter)
        verdict = "fits" if upper <= fit_at else "ruled out" if lower >= out_at else "cannot tell"
        tried.append(_Tried(reading, upper, lower, steps, verdict, bound, out_at, n_frames, float(floored.mean())))
    # The square root of a consistent mel usually stays consistent, its square does not: of
    # the readings that fit, the one with the largest exponent is the likely one.
    fitting = [t for t in tried if t.verdict == "fits"]
    best = max(fitting, key=lambda t: t.reading.slope) if fitting else min(tried, key=lambda t: t.upper)
    return FitResult(best.upper, best.lower, best.verdict, _explain(best, tried, fb, exact), best.reading,
                     tuple((t.reading.label, t.upper, t.lower) for t in tried), best.n_frames, best.floored_share,
                     best.bound, exact, transposed, sum(t.steps for t in tried), time.perf_counter() - start)


def _columns(arr: np.ndarray) -> np.ndarray:
    """``(..., n_mels, time)`` -> ``(n_mels, frames)``: every frame of every item a column."""
    return np.moveaxis(arr.reshape(-1, *arr.shape[-2:]), 1, 0).reshape(arr.shape[-2], -1)


def _rounding_bound(stored, linear, floored, reading, rounding) -> float:
    """How far the storage's rounding alone can move the mel, relative, RMS over frames: a
    bound on the residual of the right settings for exact data."""
    half_step = np.spacing(np.abs(stored).astype(rounding)).astype(np.float64) / 2
    rel = reading.slope * half_step if reading.kind != "linear" else half_step / np.maximum(np.abs(stored), 1e-300)
    moved = np.where(floored, 0.0, linear * (rel + 1e-6))  # + float32 arithmetic of the pipeline
    norms = np.einsum("ij,ij->j", linear, linear, dtype=np.float64)
    content = (norms > 0) & ~floored.all(axis=0)  # the frames the residual is averaged over
    if not content.any():
        return 0.0
    return float(np.sqrt(np.mean(np.einsum("ij,ij->j", moved, moved)[content] / norms[content])))


def _solve(linear, floored, fb: MelFilterbank, fit_at, out_at, max_iter):
    """Projected FISTA on ``min 1/2 sum_free (fb.T X - M)^2 + 1/2 sum_floored max(0, fb.T X - M)^2``,
    ``X >= 0``, every frame its own problem. Returns ``(residual, certified lower bound,
    steps, frames with content)``; both relative, RMS over frames."""
    dense = np.asarray(fb.dense, np.float64)
    dense = dense[dense.sum(axis=1) > 0]  # bins no filter sees play no part (above f_max, ...)
    project = scipy.sparse.csr_array(dense.T.astype(np.float32))
    adjoint = scipy.sparse.csr_array(dense.astype(np.float32))
    bin_weight = dense.sum(axis=1)  # fb @ 1: how much of each bin the filters see
    bin_bound = dense @ dense.sum(axis=0)  # fb @ fb.T @ 1 >= the Hessian's rows
    inverse = np.divide(1.0, bin_bound, out=np.zeros_like(bin_bound), where=bin_bound > 0)
    descent = scipy.sparse.csr_array((dense * inverse[:, None]).astype(np.float32))
    filter_weight = dense.T @ bin_weight  # (fb.T @ fb @ 1): spread each mel value over its filter
    spread = scipy.sparse.csr_array(
        np.divide(dense, filter_weight, out=np.zeros_like(dense), where=filter_weight > 0).astype(np.float32))
    certify = (1.0 / bin_weight).astype(np.float32)

    peak = linear.max(axis=0)
    content = np.flatnonzero((peak > 0) & ~floored.all(axis=0))  # others are fit by X = 0
    n_frames = content.size
    if n_frames == 0:
        return 0.0, 0.0, 0, 0
    target = np.ascontiguousarray(linear[:, content] / peak[content])  # scale-free, float32-safe
    # The residual is max(fb.T X - M, cap): cap = -inf where free, 0 where floored (only
    # exceeding the floor counts). One pass, no mask.
    cap = np.where(floored[:, content], np.float32(0), np.float32(-np.inf))
    norm_sq = np.einsum("ij,ij->j", target, target, dtype=np.float64)

    def residual(proj, target, cap):
        r = proj - target
        return np.maximum(r, cap, out=r)

    x = spread @ target
    x_prev, proj = x.copy(), project @ x
    proj_prev, r = proj.copy(), residual(proj, target, cap)
    obj = 0.5 * np.einsum("ij,ij->j", r, r)
    t = np.ones(n_frames, np.float32)
    settled_upper, settled_lower = 0.0, 0.0  # summed squared relatives of frames set aside
    active = np.arange(n_frames)
    for step in range(max_iter + 1):
        if step % CHECK_EVERY == 0 or step == max_iter:
            # Dual certificate: y = r + c >= 0 on floored rows and fb @ y >= 0 gives
            # min_X f(X) >= -y.M - |y|^2 / 2 for every frame (see docs/formats.md).
            shift = np.maximum(0.0, (-(adjoint @ r) * certify[:, None]).max(axis=0))
            y = r + shift
            dual = -np.einsum("ij,ij->j", y, target, dtype=np.float64) - 0.5 * np.einsum("ij,ij->j", y, y, dtype=np.float64)
            upper_sq = 2.0 * obj / norm_sq[active]
            lower_sq = np.maximum(dual, 0.0) * 2.0 / norm_sq[active]
            upper = np.sqrt((upper_sq.sum() + settled_upper) / n_frames)
            lower = min(upper, np.sqrt((lower_sq.sum() + settled_lower) / n_frames))
            # Ruled out once certified, but not before the two bounds are within a factor 2,
            # so that the residual reported says how far off the settings are.
            if (upper <= fit_at or (lower >= out_at and upper <= 2 * lower) or upper - lower <= 0.05 * upper
                    or step == max_iter):
                return float(upper), float(lower), step, n_frames
            keep = upper_sq > (0.1 * fit_at) ** 2  # frames far below the bar are done
            if keep.sum() < 0.75 * keep.size:
                settled_upper += float(upper_sq[~keep].sum())
                settled_lower += float(lower_sq[~keep].sum())
                active = active[keep]
                x, x_prev, proj, proj_prev, target, cap, t, obj, r = (
                    np.ascontiguousarray(a[..., keep]) for a in (x, x_prev, proj, proj_prev, target, cap, t, obj, r))
        t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        beta = ((t - 1.0) / t_next).astype(np.float32)
        np.subtract(x, x_prev, out=x_prev)  # x_prev becomes Y = X + beta (X - X_prev)
        x_prev *= beta
        x_prev += x
        np.subtract(proj, proj_prev, out=proj_prev)  # fb.T @ Y by linearity, no pass over Y
        proj_prev *= beta
        proj_prev += proj
        x_prev -= descent @ residual(proj_prev, target, cap)
        np.maximum(x_prev, 0.0, out=x_prev)
        x, x_prev = x_prev, x
        proj, proj_prev = project @ x, proj
        r = residual(proj, target, cap)
        obj_next = 0.5 * np.einsum("ij,ij->j", r, r)
        t = np.where(obj_next > obj, 1.0, t_next).astype(np.float32)  # restart where it rose
        obj = obj_next
    raise AssertionError("unreachable")  # the loop returns at step == max_iter


def _describe(fb: MelFilterbank) -> str:
    return (f"{fb.n_freqs} bins at {fb.sample_rate:g} Hz, {fb.n_mels} {_SCALE_NAMES[fb.mel_type]} mels "
            f"{fb.f_min:g}-{fb.f_max:g} Hz, norm {fb.norm}")


def _explain(best: _Tried, tried: list[_Tried], fb: MelFilterbank, exact: bool) -> str:
    where = f"with {_describe(fb)}, over all {best.n_frames} frames with content ({best.reading.label} undone"
    where += (f", {best.floored_share:.1%} of entries floored and fitted as at most the floor)"
              if best.floored_share else ")")
    others = [f"{t.reading.label} {t.verdict} ({t.upper:.2g})" for t in tried if t is not best]
    also = f"; other readings: {', '.join(others)}" if others else ""
    if best.verdict == "fits":
        text = f"fits: a non-negative spectrum reproduces it to {best.upper:.2g} {where}{also}."
        if any(t.verdict == "fits" for t in tried if t is not best):
            text += (f" Several readings fit; {best.reading.label} is the likelier (a square root of a consistent "
                     "mel usually stays consistent).")
        return text
    empty = f" {fb.empty.size} of the {fb.n_mels} filters are empty with these settings." if fb.empty.size else ""
    if best.verdict == "ruled out":
        right = ("exact pipeline output with the right settings stays below" if exact else
                 "a model's mel with the right settings stayed below it with errors up to 0.7 nats an entry:")
        return (f"ruled out: no non-negative spectrum comes closer than {best.lower:.3g} (certified; best found "
                f"{best.upper:.3g}) {where}; {right} {best.out_at:.2g}.{empty}{also}")
    provenance = ("" if exact else " The values are not known to come straight from a pipeline: a model's mel "
                  "never fits exactly, so this may be its error; pass exact=True if it is a pipeline's output.")
    return (f"cannot tell: the best residual is {best.upper:.3g} (at least {best.lower:.3g}) {where}: above what "
            f"the right settings give exact data ({FIT_RESIDUAL:g}) but below the bar for ruling out "
            f"({best.out_at:.2g}).{provenance}{empty}{also}")
