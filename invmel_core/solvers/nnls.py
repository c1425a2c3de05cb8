"""The project's own solver: accelerated, diagonally scaled projected gradient for NNLS.

It solves ``min ||fb.T @ X - M||, X >= 0`` frame by frame (the frames of a mel
spectrogram are independent problems) and is built to be fast and scale-free:

- **Scaled per bin.** The step is ``X <- max(0, Y - D^-1 @ fb @ (fb.T @ Y - M))`` with
  ``D = diag(fb @ fb.T @ 1)``, which bounds the Hessian ``fb @ fb.T`` (non-negative) from
  above: the unit step is safe for every filterbank, the wide high filters no longer
  dominate the narrow low ones, and, the scaling being diagonal, the projection on
  ``X >= 0`` stays a clip and the objective stays the plain least squares. ``D^-1`` is
  folded into the sparse ``fb`` once (:class:`.MelSystem`), so it costs nothing per step.
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

from .base import CONVERGED, MAX_ITER, TOLERANCE_LOSS, Iterate, SolverOptions, SolverSpec, register, report_due
from .columns import CHUNK_COLUMNS, ChunkRunner, split_evenly
from .mel_system import MelSystem

STALL_WINDOW = 100
STALL_GAIN = 1e-4
# The floor, relative to a frame normalised to a peak mel value in [0.5, 1): far below
# anything float32 can resolve next to the frame's content, far above denormals (~1e-38).
_FLOOR = np.float32(2.0**-70)


class _Block:
    """A set of frames of one batch item, normalised, with the solver's state."""

    def __init__(self, item: int, frames, target: np.ndarray, scale: np.ndarray, system: MelSystem):
        self.item, self.frames = item, frames
        self.scale = scale  # float32 (n,) powers of two
        self.scale_sq = scale.astype(np.float64) ** 2
        self.target = target  # normalised (n_rows, n) float32
        x = system.spread @ target
        np.maximum(x, _FLOOR, out=x)
        self.x = x
        self.x_prev = x.copy()
        self.proj = system.project(x)
        self.proj_prev = self.proj.copy()

    def squared_residual(self) -> float:
        """``||fb.T @ X - M||^2`` of the current iterate, on the original scale."""
        diff = self.proj - self.target
        return float(np.einsum("ij,ij->j", diff, diff, dtype=np.float64) @ self.scale_sq)

    def step(self, beta: np.float32, system: MelSystem, floor: np.ndarray) -> float:
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
        proj_y -= self.target
        y -= system.descent @ proj_y
        np.maximum(y, floor, out=y)  # against an array: several times faster than a scalar
        self.x_prev, self.x = self.x, y
        self.proj_prev, self.proj = self.proj, system.project(y)
        return self.squared_residual()

    def write(self, out: np.ndarray) -> None:
        """Put the current iterate, on the original scale and without the floor, into ``out``
        (``(batch, n_freqs, time)``)."""
        values = self.x - _FLOOR
        values *= self.scale
        out[self.item][:, self.frames] = values


def _power_of_two_above(values: np.ndarray) -> np.ndarray:
    """The smallest power of two strictly above each positive value (exact scaling)."""
    _, exponent = np.frexp(values)
    return np.ldexp(np.float32(1.0), exponent).astype(np.float32)


def _make_blocks(melspec: np.ndarray, system: MelSystem, block_frames: int) -> list[_Block]:
    blocks = []
    for item, mel in enumerate(melspec):
        mel = mel[system.rows]
        peak = mel.max(axis=0)
        live = np.flatnonzero(peak > 0)  # silent frames stay 0 and are not solved
        for run in split_evenly(live.size, block_frames):
            frames = live[run]
            if frames[-1] - frames[0] + 1 == frames.size:  # a run: slicing is cheaper
                frames = slice(int(frames[0]), int(frames[-1]) + 1)
            scale = _power_of_two_above(peak[frames])
            target = np.ascontiguousarray(mel[:, frames] / scale)
            blocks.append(_Block(item, frames, target, scale, system))
    return blocks


def run(melspec: np.ndarray, fb, options: SolverOptions, every: int = 1, *,
        block_frames: int = CHUNK_COLUMNS):
    batch, _, time = melspec.shape
    melspec = np.asarray(melspec, dtype=np.float32)
    system = MelSystem(fb)
    target_sq = float(np.einsum("bmt,bmt->", melspec[:, system.rows], melspec[:, system.rows],
                                dtype=np.float64))
    blocks = _make_blocks(melspec, system, block_frames) if target_sq > 0 else []

    def snapshot(step, loss, reason):
        out = np.zeros((batch, fb.n_freqs, time), np.float32)
        for block in blocks:
            block.write(out)
        return Iterate(step, loss, out, reason is not None, reason)

    def relative_residual(squared):
        return float(np.sqrt(sum(squared) / target_sq)) if target_sq > 0 else 0.0

    floors = {}  # one floor array per block shape, shared read-only by the threads
    for block in blocks:
        floors.setdefault(block.x.shape, np.full(block.x.shape, _FLOOR, np.float32))
    squared = [block.squared_residual() for block in blocks]
    width = max((block.x.shape[1] for block in blocks), default=0)
    best = []  # best relative residual after each step, for the stall rule
    t, step = 1.0, 0
    with ChunkRunner(blocks, fb.n_freqs * width) as on_blocks:
        while True:
            loss = relative_residual(squared)
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
            # FISTA's momentum depends on the step number only, never on the data.
            t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
            beta = np.float32((t - 1.0) / t_next)
            t = t_next
            squared = on_blocks(lambda block: block.step(beta, system, floors[block.x.shape]))
            step += 1


SPEC = register(SolverSpec(
    name="nnls",
    run=run,
    compat="torchaudio",
    summary=("invmel's own non-negative least squares: diagonally scaled projected gradient with "
             "FISTA momentum. Fast, deterministic and scale-invariant; stops when the relative mel "
             "residual reaches tolerance_loss (or stops improving). sgdargs, tolerance_change and "
             "seed are not used."),
))
