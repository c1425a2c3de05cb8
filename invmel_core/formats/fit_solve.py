"""The solve behind :func:`invmel_core.check_fit`: projected FISTA on the one-sided mel problem
(floored entries are upper bounds), with the certificate that bounds every ``X >= 0`` from below
and a stopping rule that goes on while it still improves."""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import scipy.sparse

from invmel_core.dsp.filterbank import MelFilterbank

CHECK_EVERY = 20  # steps between residual/certificate evaluations
# With max_iter=None (the default) the solve takes at least MIN_STEPS, then goes on while it
# still improves (the residual reached fell by IMPROVING over the last STALL_WINDOW steps),
# for at most TIME_BUDGET_S seconds per reading and MAX_STEPS steps. Measured: an exact
# 16 kHz, n_fft 512, 64-mel power mel of a plucked sound is at 2.5e-4 after 600 steps and
# fits (9.9e-5) by ~1250.
MIN_STEPS = 600
MAX_STEPS = 20000
STALL_WINDOW = 100
IMPROVING = 0.05
TIME_BUDGET_S = 8.0


class _Bounds(NamedTuple):
    """A solve's two statistics, each reached (upper) and certified (lower): the mel residual
    (Frobenius over all frames) and the frames' RMS of their own relative residuals."""

    upper: float
    lower: float
    frame_upper: float
    frame_lower: float


def solve_one_sided(linear, floored, fb: MelFilterbank, fit_at, out_at, max_iter):
    """Projected FISTA on ``min 1/2 sum_free (fb.T X - M)^2 + 1/2 sum_floored max(0, fb.T X - M)^2``,
    ``X >= 0``, every frame its own problem; ``linear`` and ``floored`` hold the rows of the
    filters that are not empty. Returns ``(_Bounds, steps, frames with content, ran out)``.
    The residuals come twice: the mel residual (relative to ``||M||``, Frobenius over all
    frames) and, what the verdict and the stopping rule use, the root mean square over the
    frames with content of each frame's own relative residual (a misfit in a few quiet frames
    shows there). "Ran out": stopped by ``max_iter`` or the time budget while still improving."""
    dense = np.asarray(fb.dense, np.float64)[:, fb.banded.matchable]
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

    total = float(np.sum(np.square(linear, dtype=np.float64)))  # ||M||^2, every frame, floored entries too
    peak = linear.max(axis=0) if linear.size else np.zeros(linear.shape[1])
    content = np.flatnonzero((peak > 0) & ~floored.all(axis=0))  # others are fit by X = 0
    n_frames = content.size
    if n_frames == 0 or total <= 0:
        return _Bounds(0.0, 0.0, 0.0, 0.0), 0, n_frames, False
    target = np.ascontiguousarray(linear[:, content] / peak[content])  # scale-free, float32-safe
    # Each frame's squared residual in M's units is peak^2 times the scaled one: its weight in
    # the Frobenius total, relative to ||M||^2.
    weight = peak[content].astype(np.float64) ** 2 / total
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
    settled = np.zeros(4)  # frames set aside: their summed squared residuals (weighted; per frame)
    active = np.arange(n_frames)
    adaptive = max_iter is None
    last = MAX_STEPS if adaptive else max_iter
    deadline = time.perf_counter() + TIME_BUDGET_S
    history = []  # the residual reached at each check
    step = 0
    while True:
        if step % CHECK_EVERY == 0 or step == last:
            # Dual certificate: y = r + c >= 0 on floored rows and fb @ y >= 0 gives
            # min_X f(X) >= -y.M - |y|^2 / 2 for every frame (see docs/formats.md).
            shift = np.maximum(0.0, (-(adjoint @ r) * certify[:, None]).max(axis=0))
            y = r + shift
            dual = -np.einsum("ij,ij->j", y, target, dtype=np.float64) - 0.5 * np.einsum("ij,ij->j", y, y, dtype=np.float64)
            frame_upper = 2.0 * obj  # squared residuals, each relative to its frame's peak
            frame_lower = np.maximum(dual, 0.0) * 2.0
            sums = settled + (weight[active] @ frame_upper, weight[active] @ frame_lower,
                              (frame_upper / norm_sq[active]).sum(), (frame_lower / norm_sq[active]).sum())
            mel_upper, mel_lower = np.sqrt(sums[0]), min(np.sqrt(sums[0]), np.sqrt(sums[1]))
            upper = np.sqrt(sums[2] / n_frames)
            lower = min(upper, np.sqrt(sums[3] / n_frames))
            bounds = _Bounds(float(mel_upper), float(mel_lower), float(upper), float(lower))
            history.append(upper)
            # Ruled out once certified, but not before the two bounds are within a factor 2,
            # so that the residual reported says how far off the settings are.
            if upper <= fit_at or (lower >= out_at and upper <= 2 * lower) or upper - lower <= 0.05 * upper:
                return bounds, step, n_frames, False
            window = STALL_WINDOW // CHECK_EVERY
            # Still improving: the best of the last STALL_WINDOW steps beats the best before them.
            improving = len(history) <= window or min(history[-window:]) < (1 - IMPROVING) * min(history[:-window])
            if step >= last or (adaptive and step >= MIN_STEPS and (not improving or time.perf_counter() > deadline)):
                return bounds, step, n_frames, improving
            keep = frame_upper > (0.1 * fit_at) ** 2 * norm_sq[active]  # frames far below the bar are done
            if keep.sum() < 0.75 * keep.size:
                gone = ~keep
                settled += (weight[active][gone] @ frame_upper[gone], weight[active][gone] @ frame_lower[gone],
                            (frame_upper[gone] / norm_sq[active][gone]).sum(),
                            (frame_lower[gone] / norm_sq[active][gone]).sum())
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
        step += 1
