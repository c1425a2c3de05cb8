"""The project's own solver: accelerated, diagonally scaled projected gradient for NNLS.

It solves ``min ||fb.T @ X - M||, X >= 0`` frame by frame (the frames of a mel
spectrogram are independent problems) and is built to be fast and scale-free:

- **Scaled per bin.** The step is ``X <- max(0, Y - D^-1 @ fb @ (fb.T @ Y - M))`` with
  ``D = diag(fb @ fb.T @ 1)``, which bounds the Hessian ``fb @ fb.T`` (non-negative) from
  above: the unit step is safe for every filterbank, the wide high filters no longer
  dominate the narrow low ones, and, the scaling being diagonal, the projection on
  ``X >= 0`` stays a clip and the objective stays the plain least squares. ``D^-1`` is
  folded into the sparse ``fb`` once (``BandedFilterbank.descent``), so it costs nothing per step.
- **Accelerated** with Nesterov/FISTA momentum. The momentum coefficients depend only on the
  step number, never on the data, so every frame follows its own trajectory whatever the
  other frames hold.
- **Started** from each mel value spread over its filter in proportion to the weights
  (``fb @ diag(1 / (fb.T @ fb @ 1)) @ M``: non-negative, and close to matching ``M``).
- **Scale-invariant.** Each frame is divided by a power of two near its largest mel value
  before solving (exact in floating point) and multiplied back on output, so multiplying
  the input by ``c`` multiplies the output by ``c`` with the same steps, and no frame is
  so quiet that float32 arithmetic degrades. Values are floored at a tiny positive number
  (relative to the frame) instead of 0 while solving, which keeps float32 denormals (slow
  on most CPUs) out of the loop; the floor is removed on output.
- **Banded.** Only the sparse forms of ``fb`` are used: a step costs O(n_stft x time).
  The frames are processed in blocks small enough to stay in the CPU cache, on all cores
  (see :mod:`.columns`); the blocks depend only on the input, so results do not depend
  on the machine.

Stopping (all relative, so scale-free):

- ``"tolerance_loss"``: the relative mel residual ``||fb.T @ X - M|| / ||M||`` (the
  iterate's ``loss``) is at most ``options.tolerance_loss``;
- ``"converged"``: the best residual did not improve by :data:`STALL_GAIN` within
  :data:`STALL_WINDOW` steps (the input has no exact non-negative solution, or float32
  precision is reached);
- ``"max_iter"``: ``options.max_iter`` steps.

``options.tolerance_change``, ``lr``, ``momentum`` and ``seed`` are not used.

Empty filters (all-zero columns of ``fb``) cannot be matched by any ``X``: they are left
out of the system and of the residual. Frames with no energy in the remaining filters
(silence) give zeros without being solved.
"""

from __future__ import annotations

import numpy as np

from invmel_core.dsp.filterbank import BandedFilterbank
from invmel_core.inverse.solvers.base import (CONVERGED, MAX_ITER, TOLERANCE_LOSS, Iterate, SolverOptions,
                                            SolverSpec, register, report_due)
from invmel_core.inverse.solvers.columns import CHUNK_COLUMNS, ChunkRunner, split_evenly, threads_for
from invmel_core.inverse.solvers.sparse_ops import add_product

STALL_WINDOW = 100
STALL_GAIN = 1e-4
# Every SETTLE_EVERY steps, frames whose own relative residual is below SETTLE_RATIO x
# tolerance_loss are set aside: most frames get there long before the slowest ones, and
# then they cost nothing. They keep less than SETTLE_RATIO**2 = 1 % of the tolerance's
# squared residual budget, so the stopping rule is not affected.
SETTLE_EVERY = 10
SETTLE_RATIO = 0.1
SETTLE_MIN_FRACTION = 0.25  # a block sheds its settled frames once they are this share of it
# The floor, relative to a frame normalised to a peak mel value in [0.5, 1): far below
# anything float32 can resolve next to the frame's content, far above denormals (~1e-38).
_FLOOR = np.float32(2.0**-70)


class _Block:
    """A set of frames of one batch item, normalised, with the solver's state."""

    def __init__(self, item: int, frames, target: np.ndarray, scale: np.ndarray, band: BandedFilterbank):
        self.item, self.frames = item, frames
        self.scale = scale  # float32 (n,) powers of two
        self.scale_sq = scale.astype(np.float64) ** 2
        self.target = target  # normalised (n_rows, n) float32
        self.target_sq = np.einsum("ij,ij->j", target, target, dtype=np.float64)
        x = band.spread @ target
        np.maximum(x, _FLOOR, out=x)
        self.x = x
        self.x_prev = x.copy()
        self.proj = band.project(x)
        self.proj_prev = self.proj.copy()
        self.column_sq = None

    @property
    def width(self) -> int:
        return self.x.shape[1]

    def squared_residual(self) -> float:
        """``||fb.T @ X - M||^2`` of the current iterate, on the original scale (and, per
        column and normalised, in ``column_sq``)."""
        diff = self.proj - self.target
        self.column_sq = np.einsum("ij,ij->j", diff, diff, dtype=np.float64)
        return float(self.column_sq @ self.scale_sq)

    def settled(self, ratio: float) -> np.ndarray:
        """Columns whose own relative residual is below ``ratio``."""
        return self.column_sq < ratio * ratio * self.target_sq

    def keep(self, columns: np.ndarray) -> None:
        """Drop every column but ``columns`` (a boolean mask) from the solve."""
        if isinstance(self.frames, slice):
            self.frames = np.arange(self.frames.start, self.frames.stop)
        self.frames = self.frames[columns]
        for name in ("scale", "scale_sq", "target_sq", "column_sq"):
            setattr(self, name, getattr(self, name)[columns])
        for name in ("target", "x", "x_prev", "proj", "proj_prev"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name)[:, columns]))

    def step(self, beta: np.float32, band: BandedFilterbank, floor: np.ndarray) -> float:
        """One FISTA step: extrapolate, take the scaled gradient step, clip.
        ``floor`` is an array like ``self.x`` filled with the floor value. Returns the new
        iterate's :meth:`squared_residual`."""
        y = self.x_prev  # reused as the buffer for Y, then for the new iterate
        np.subtract(self.x, y, out=y)
        y *= beta
        y += self.x
        # fb.T @ Y by linearity from the stored projections: no pass over the large array.
        proj_y = self.proj_prev
        np.subtract(self.proj, proj_y, out=proj_y)
        proj_y *= beta
        proj_y += self.proj
        np.subtract(self.target, proj_y, out=proj_y)  # minus the residual at Y
        add_product(band.descent, proj_y, y)  # y -= D^-1 fb (fb.T Y - M), no temporary
        np.maximum(y, floor, out=y)  # against an array: several times faster than a scalar
        self.x_prev, self.x = self.x, y
        self.proj_prev, self.proj = self.proj, band.project(y)
        return self.squared_residual()

    def write(self, out: np.ndarray, columns: np.ndarray | None = None) -> None:
        """Put the current iterate (or the ``columns`` of it, a boolean mask), on the original
        scale and without the floor, into ``out`` (``(batch, n_freqs, time)``)."""
        x, scale, frames = self.x, self.scale, self.frames
        if columns is not None:
            if isinstance(frames, slice):
                frames = np.arange(frames.start, frames.stop)
            x, scale, frames = x[:, columns], scale[columns], frames[columns]
        values = x - _FLOOR
        values *= scale
        out[self.item][:, frames] = values


def _power_of_two_above(values: np.ndarray) -> np.ndarray:
    """The smallest power of two strictly above each positive value (exact scaling), at most
    2**127 (float32's largest power of two).

    Examples
    --------
    >>> _power_of_two_above(np.array([1.0, 3.0, 1e-30, 3e38], np.float32))
    array([2.0000000e+00, 4.0000000e+00, 1.5777218e-30, 1.7014118e+38], dtype=float32)
    """
    _, exponent = np.frexp(values)
    return np.ldexp(np.float32(1.0), np.minimum(exponent, 127)).astype(np.float32)


def _make_blocks(melspec: np.ndarray, band: BandedFilterbank, block_frames: int) -> list[_Block]:
    blocks = []
    for item, mel in enumerate(melspec):
        mel = np.where(band.matchable[:, None], mel, np.float32(0))  # empty filters: nothing to match
        peak = mel.max(axis=0)
        live = np.flatnonzero(peak > 0)  # silent frames stay 0 and are not solved
        for run in split_evenly(live.size, block_frames):
            frames = live[run]
            if frames[-1] - frames[0] + 1 == frames.size:  # a run: slicing is cheaper
                frames = slice(int(frames[0]), int(frames[-1]) + 1)
            scale = _power_of_two_above(peak[frames])
            target = np.ascontiguousarray(mel[:, frames] / scale)
            blocks.append(_Block(item, frames, target, scale, band))
    return blocks


def run(melspec: np.ndarray, fb, options: SolverOptions, every: int = 1, *,
        block_frames: int = CHUNK_COLUMNS):
    batch, _, time = melspec.shape
    melspec = np.asarray(melspec, dtype=np.float32)
    band = fb.banded
    matchable = melspec[:, band.matchable]
    target_sq = float(np.einsum("bmt,bmt->", matchable, matchable, dtype=np.float64))
    del matchable
    blocks = _make_blocks(melspec, band, block_frames) if target_sq > 0 else []

    settled = None  # frames done early, on the original scale (allocated when first needed)
    settled_sq = 0.0  # their squared residual

    def snapshot(step, loss, reason):
        out = settled.copy() if settled is not None else np.zeros((batch, fb.n_freqs, time), np.float32)
        for block in blocks:
            block.write(out)
        return Iterate(step, loss, out, reason is not None, reason)

    squared = [block.squared_residual() for block in blocks]
    floors = {}  # one array filled with the floor per block shape
    best = []  # best relative residual after each step, for the stall rule
    t, step = 1.0, 0
    threads = threads_for(len(blocks), fb.n_freqs * max((b.width for b in blocks), default=0))
    with ChunkRunner(threads) as on_blocks:
        while True:
            loss = float(np.sqrt((sum(squared) + settled_sq) / target_sq)) if target_sq > 0 else 0.0
            best.append(min(loss, best[-1]) if best else loss)
            reason = None
            if loss <= options.tolerance_loss:
                reason = TOLERANCE_LOSS
            elif step >= STALL_WINDOW and best[-1] > (1.0 - STALL_GAIN) * best[-1 - STALL_WINDOW]:
                reason = CONVERGED
            elif step >= options.max_iter:
                reason = MAX_ITER
            if reason is not None or (step > 0 and report_due(step, every)):
                yield snapshot(step, loss, reason)
            if reason is not None:
                return
            if step % SETTLE_EVERY == 0 and options.tolerance_loss > 0:
                # Frames far below the tolerance stop being updated (they are done; every
                # frame is its own problem). Their residual stays in the loss.
                kept = []
                for block in blocks:
                    done = block.settled(SETTLE_RATIO * options.tolerance_loss)
                    count = int(done.sum())
                    if count >= SETTLE_MIN_FRACTION * block.width:  # else not worth a copy yet
                        if settled is None:
                            settled = np.zeros((batch, fb.n_freqs, time), np.float32)
                        block.write(settled, done)
                        settled_sq += float(block.column_sq[done] @ block.scale_sq[done])
                        if count == block.width:
                            continue
                        block.keep(~done)
                    kept.append(block)
                blocks = kept
                floors = {shape: floor for shape, floor in floors.items()
                          if any(block.x.shape == shape for block in blocks)}
            for block in blocks:  # made here, read-only in the threads
                if block.x.shape not in floors:
                    floors[block.x.shape] = np.full(block.x.shape, _FLOOR, np.float32)
            # FISTA's momentum depends on the step number only, never on the data.
            t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
            beta = np.float32((t - 1.0) / t_next)
            t = t_next
            squared = on_blocks(lambda block: block.step(beta, band, floors[block.x.shape]), blocks)
            step += 1


SPEC = register(SolverSpec(
    name="nnls",
    run=run,
    compat="torchaudio",
    summary=("invmel's own non-negative least squares: diagonally scaled projected gradient with "
             "FISTA momentum. Fast, deterministic and scale-invariant; stops when the relative mel "
             "residual reaches tolerance_loss (or stops improving). sgdargs, tolerance_change and "
             "seed are not used."),
    uses=frozenset({"max_iter", "tolerance_loss"}),
))
