"""MindSpore 2.10's ``InverseMelScale`` solver: plain gradient descent on a random start.

Differences from torchaudio, all reproduced (see tests/test_parity_sgd.py):
- start: ``draw / 2**32`` of ``std::mt19937(seed)``, filled in (freq, time) order;
- bins on MindSpore's grid (``sample_rate / 2``);
- loss: mean squared error over mels x time; gradient ``-(1/time) * fb @ diff``;
- momentum has no effect (its buffer is re-zeroed each step), so the step is ``lr * grad``;
- no clamping between steps; the step of the iteration whose loss stops the loop is
  discarded; the result is clamped at 0 once at the end;
- each batch item is solved on its own, one after the other.

One deliberate difference: where MindSpore's iterate blows up (too large an ``lr`` for the
input's level) and it goes on to return NaN, this stops with reason ``"diverged"`` and
returns the last iterate whose loss was sane, with that loss: the rule of :mod:`.torch_sgd`
(finite, and below ``DIVERGENCE_GROWTH`` times the larger of the first loss and the silent
spectrogram's). A batch item that diverges
stops alone; the others are solved, and the last record's reason is ``"diverged"``.
"""

from __future__ import annotations

import numpy as np

from invmel_core.inverse.solvers.base import (DIVERGED, MAX_ITER, Iterate, SolverOptions, SolverSpec, register,
                                            report_due, stop_reason)
from invmel_core.inverse.solvers.random_starts import mindspore_rand
from invmel_core.inverse.solvers.torch_sgd import DIVERGENCE_GROWTH


def run(melspec: np.ndarray, fb, options: SolverOptions, every: int = 1):
    batch, n_mels, time = melspec.shape
    band = fb.banded
    start = mindspore_rand(options.seed, batch, fb.n_freqs, time)
    lr = np.float32(options.lr)
    grad_scale = np.float32(-1.0 / time)
    out = np.maximum(start, 0.0)
    total = 0  # steps over all batch items, for the Iterate records
    diverged = False
    for b in range(batch):
        target = melspec[b].astype(np.float32, copy=False)
        x = start[b]
        x_finite = x  # the last iterate with a finite loss (no copy: steps make new arrays)
        previous = float("inf")
        step = 0
        reference = float(np.einsum("ij,ij->", target, target, dtype=np.float64)) / (n_mels * time)
        while True:
            diff = target - band.project(x)
            loss = float(np.einsum("ij,ij->", diff, diff, dtype=np.float64)) / (n_mels * time)
            reason = stop_reason(loss, previous, options)
            if step == 0:
                reference = max(reference, loss)
            if not loss <= DIVERGENCE_GROWTH * reference:  # never at step 0: x_finite, previous are set
                reason, x, loss = DIVERGED, x_finite, previous
                diverged = True
            if reason is None and step == options.max_iter:
                reason = MAX_ITER
            if reason is None:
                grad = band.adjoint(diff)
                grad *= grad_scale
                x_finite = x
                x = x - lr * grad
                step += 1
                total += 1
                previous = loss
            last = reason is not None and b == batch - 1
            if last or (reason is None and report_due(total, every)):
                out[b] = np.maximum(x, 0.0)
                final = DIVERGED if last and diverged else reason  # an earlier item's divergence too
                yield Iterate(total, loss, out.copy(), last, final if last else None)
            if reason is not None:
                out[b] = np.maximum(x, 0.0)
                break


SPEC = register(SolverSpec(
    name="mindspore",
    run=run,
    compat="mindspore",
    summary="MindSpore 2.10: plain gradient descent from a random start (exact reproduction).",
    random_start=True,
    uses=frozenset({"max_iter", "tolerance_loss", "tolerance_change", "lr", "seed"}),  # momentum: no effect
))
