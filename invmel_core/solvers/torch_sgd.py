"""torchaudio <= 2.0's ``InverseMelScale`` solver: momentum SGD on a random start.

Semantics reproduced exactly (see tests/test_parity.py):
- start: ``torch.rand`` after ``torch.manual_seed(seed)``;
- loss: squared error summed over mels, averaged over batch x time (the batch is one problem);
- ``torch.optim.SGD(lr, momentum)``: the momentum buffer starts as the first gradient;
- the iterate is clamped at 0 after every step;
- stop when the loss computed *before* the step (which is kept) is below ``tolerance_loss``
  or changed by less than ``tolerance_change``.

Speed: the filterbank products use its banded form, O(n_stft x time) per step.
"""

from __future__ import annotations

import numpy as np

from .base import (MAX_ITER, TOLERANCE_CHANGE, TOLERANCE_LOSS, Iterate, SolverOptions,
                   SolverSpec, register, report_due)
from .random_starts import torch_rand


def as_columns(batch3d: np.ndarray) -> np.ndarray:
    """``(batch, rows, time)`` -> ``(rows, batch * time)``: a batch as one wide problem."""
    b, r, t = batch3d.shape
    return np.ascontiguousarray(batch3d.transpose(1, 0, 2).reshape(r, b * t))


def from_columns(columns: np.ndarray, batch: int) -> np.ndarray:
    """Inverse of :func:`as_columns`, always a fresh array."""
    r, bt = columns.shape
    return columns.reshape(r, batch, bt // batch).transpose(1, 0, 2).copy()


def stop_reason(loss: float, previous: float, options: SolverOptions) -> str | None:
    """torchaudio's (and MindSpore's) stopping rule."""
    if loss < options.tolerance_loss:
        return TOLERANCE_LOSS
    if abs(previous - loss) < options.tolerance_change:
        return TOLERANCE_CHANGE
    return None


def run(melspec: np.ndarray, fb, options: SolverOptions, every: int = 1):
    batch, _, time = melspec.shape
    band = fb.banded
    target = as_columns(melspec.astype(np.float32, copy=False))
    x = as_columns(torch_rand(options.seed, batch, fb.n_freqs, time))
    n_cols = x.shape[1]
    lr = np.float32(options.lr)
    momentum = np.float32(options.momentum)
    grad_scale = np.float32(-2.0 / n_cols)
    buf = None
    previous = float("inf")
    for step in range(1, options.max_iter + 1):
        diff = target - band.project(x)
        loss = float(np.einsum("ij,ij->", diff, diff, dtype=np.float64)) / n_cols
        grad = band.adjoint(diff)
        grad *= grad_scale
        if buf is None:
            buf = grad
        else:
            buf *= momentum
            buf += grad
        x -= lr * buf
        np.maximum(x, 0.0, out=x)
        reason = stop_reason(loss, previous, options)
        if reason is None and step == options.max_iter:
            reason = MAX_ITER
        if reason is not None or report_due(step, every):
            yield Iterate(step, loss, from_columns(x, batch), reason is not None, reason)
        if reason is not None:
            return
        previous = loss


SPEC = register(SolverSpec(
    name="sgd",
    run=run,
    compat="torchaudio",
    summary="torchaudio <= 2.0: momentum SGD from a random start (exact reproduction).",
    random_start=True,
))
