"""torchaudio <= 2.0's ``InverseMelScale`` solver: momentum SGD on a random start.

Semantics reproduced exactly (see tests/test_parity_sgd.py):
- start: ``torch.rand`` after ``torch.manual_seed(seed)``;
- loss: squared error summed over mels, averaged over batch x time (the batch is one problem);
- ``torch.optim.SGD(lr, momentum)``: the momentum buffer starts as the first gradient;
- the iterate is clamped at 0 after every step;
- stop when the loss computed *before* the step (which is kept) is below ``tolerance_loss``
  or changed by less than ``tolerance_change``.

One deliberate difference, as in :mod:`.mindspore_gd`: where torch's iterate blows up (too
large an ``lr``, or a momentum of 1 or more) and it goes on to return NaN, or a spectrogram of
1e24s held at zero by the clamp, this stops with reason ``"diverged"`` and returns a sane
iterate: one whose loss was finite and below :data:`DIVERGENCE_GROWTH` times the larger of
the first loss and the silent spectrogram's (a stable step never comes near that; an
unstable one passes it within a few steps). Each chunk of columns keeps a copy of its
latest iterate whose loss did not fall (the start, or the iterate before a rise: a loss
blows up only after rising; a stable run rises a few times in a thousand steps, so copies
are rare) and returns it, with its loss, when the solve diverges. Columns are independent,
so the chunks' copies together are a valid state.

Speed (measured by ``python -m bench`` against the dense formulation in
``bench/reference.py``): the filterbank products use its banded form, O(n_stft x time)
instead of O(n_stft x n_mels x time); the learning rate and the gradient's scale are
folded into the small mel-sized residual, the momentum buffer is kept pre-multiplied
by the learning rate and the gradient is accumulated straight into it
(:func:`.sparse_ops.add_product`), so a step makes three elementwise passes over the
spectrogram besides the two sparse products, all in place, with no temporaries. Long inputs
are cut into cache-sized chunks of frames that run on several cores when each core gets
enough work (:mod:`.columns`; every frame's update is independent of the others, only the
loss is shared, so the result does not depend on the chunking).
"""

from __future__ import annotations

import math

import numpy as np

from invmel_core.inverse.solvers.base import (DIVERGED, MAX_ITER, Iterate, SolverOptions, SolverSpec, register,
                                            report_due, stop_reason)
from invmel_core.inverse.solvers.columns import (CHUNK_COLUMNS, ChunkRunner, as_columns, split_evenly,
                                               threads_for, write_columns)
from invmel_core.inverse.solvers.random_starts import torch_rand
from invmel_core.inverse.solvers.sparse_ops import add_product

# A loss this many times the larger of the first one and the all-zero spectrogram's means the
# iterate has blown up. Measured over lr 0.1..1e5 x momentum 0..0.999 on random and speech
# mels: every run that ended below 1 % of that reference never rose above it; every run that
# passed 10x it ended at the clamp's trap (zeros wherever a filter sees) or at NaN.
DIVERGENCE_GROWTH = 1e4


_ZERO = np.float32(0)  # numpy 2: np.maximum against it beats a zeros array (300 vs 390 us, 1025 x 512)


class _Chunk:
    """The SGD state of a run of columns."""

    def __init__(self, columns: slice, target: np.ndarray, start: np.ndarray):
        self.columns = columns
        self.target = np.ascontiguousarray(target[:, columns])
        self.x = np.ascontiguousarray(start[:, columns])
        self.descent = None  # -lr x torch's momentum buffer: x += descent
        self.squared = None  # the last squared residual
        self.saved = None  # a copy of a recent sane iterate (see the module's docstring), its residual
        self.saved_squared = None
        # The scale a sane residual stays within: the silent spectrogram's, or the first one.
        self.reference = float(np.einsum("ij,ij->", self.target, self.target, dtype=np.float64))

    def step(self, band, adjoint, residual_scale: np.float32, momentum: np.float32) -> float:
        """One SGD step; returns the squared residual (before the step) of these columns.
        ``adjoint`` is ``fb`` as a CSR matrix. If the residual has blown up, returns inf
        and does not step."""
        diff = self.target - band.project(self.x)
        # Squares summed per mel in float32 (431 terms), then over mels in float64: 1e-7 accurate.
        squared = float(np.einsum("ij,ij->i", diff, diff).sum(dtype=np.float64))
        if not math.isfinite(squared):  # float32 squares overflow above ~1.8e19: sum in float64
            squared = float(np.einsum("ij,ij->", diff, diff, dtype=np.float64))
        if self.saved is None:
            self.reference = max(self.reference, squared)
        if not squared <= DIVERGENCE_GROWTH * self.reference:  # NaN too
            return math.inf
        if self.saved is None or squared >= self.squared:  # the start, or a rise: keep this iterate
            if self.saved is None:
                self.saved = np.empty_like(self.x)
            np.copyto(self.saved, self.x)
            self.saved_squared = squared
        self.squared = squared
        diff *= residual_scale  # scale the small mel-sized array, not the big one
        if self.descent is None:  # torch: the momentum buffer starts as the first gradient
            self.descent = np.zeros_like(self.x)
        else:
            self.descent *= momentum
        add_product(adjoint, diff, self.descent)  # descent += -lr x gradient, no temporary
        self.x += self.descent
        np.maximum(self.x, _ZERO, out=self.x)
        return squared


def run(melspec: np.ndarray, fb, options: SolverOptions, every: int = 1):
    batch, _, time = melspec.shape
    band = fb.banded
    target = as_columns(melspec.astype(np.float32, copy=False))
    start = as_columns(torch_rand(options.seed, batch, fb.n_freqs, time))
    n_cols = target.shape[1]
    chunks = [_Chunk(columns, target, start) for columns in split_evenly(n_cols, CHUNK_COLUMNS)]
    del start
    adjoint = band.fb
    momentum = np.float32(options.momentum)
    # torch: grad = -2 / n_cols * fb @ diff; x -= lr * buf.
    residual_scale = np.float32(options.lr * 2.0 / n_cols)

    def snapshot(step, loss, reason, states=None):
        out = np.empty((batch, fb.n_freqs, time), np.float32)
        for chunk, x in zip(chunks, states or [c.x for c in chunks]):
            write_columns(out, chunk.columns, x)
        return Iterate(step, loss, out, reason is not None, reason)

    previous = float("inf")
    with ChunkRunner(threads_for(len(chunks), fb.n_freqs * chunks[0].x.shape[1])) as on_chunks:
        for step in range(1, options.max_iter + 1):
            loss = sum(on_chunks(lambda c: c.step(band, adjoint, residual_scale, momentum), chunks)) / n_cols
            if not math.isfinite(loss):  # never at the first step: the reference includes it
                yield snapshot(step - 1, sum(c.saved_squared for c in chunks) / n_cols, DIVERGED,
                               [c.saved for c in chunks])
                return
            reason = stop_reason(loss, previous, options)
            if reason is None and step == options.max_iter:
                reason = MAX_ITER
            if reason is not None or report_due(step, every):
                yield snapshot(step, loss, reason)
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
