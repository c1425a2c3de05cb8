"""The straightforward dense formulation of torchaudio <= 2.0's SGD, as a yardstick.

numpy, float32, the full ``(n_freqs, n_mels)`` filterbank in both products, one
expression per line of torchaudio's loop. ``solver="sgd"`` must give the same iterates
(within 1e-4 relative) several times faster; the benchmark and tests/test_solver_sgd_fast.py
compare the two. Not a registered solver.
"""

from __future__ import annotations

import numpy as np

from invmel_core.inverse.solvers.random_starts import torch_rand
from invmel_core.inverse.solvers.columns import as_columns, from_columns


def dense_sgd(melspec: np.ndarray, fb, steps: int, *, lr: float = 0.1, momentum: float = 0.9,
              seed: int = 0):
    """Run ``steps`` SGD steps (no stopping rule) and return ``(spec, losses)``.

    ``melspec`` is ``(batch, n_mels, time)``, ``fb`` a MelFilterbank; ``spec`` is
    ``(batch, n_stft, time)``.

    Examples
    --------
    >>> from invmel_core import MelFilterbank
    >>> fb = MelFilterbank(201, 0.0, None, 40, 16000)
    >>> spec, losses = dense_sgd(np.ones((1, 40, 3), np.float32), fb, steps=5)
    >>> spec.shape, len(losses)
    ((1, 201, 3), 5)
    """
    batch, _, time = melspec.shape
    weights = np.asarray(fb.dense, np.float32)
    target = as_columns(np.asarray(melspec, np.float32))
    x = as_columns(torch_rand(seed, batch, fb.n_freqs, time))
    n_cols = x.shape[1]
    lr, momentum = np.float32(lr), np.float32(momentum)
    buf = None
    losses = []
    for _ in range(steps):
        diff = target - weights.T @ x
        losses.append(float((diff**2).sum(axis=0).mean()))
        grad = np.float32(-2.0 / n_cols) * (weights @ diff)
        buf = grad if buf is None else momentum * buf + grad
        x = x - lr * buf
        x = np.maximum(x, 0.0)
    return from_columns(x, batch), losses


def main(argv=None) -> None:
    """``python -m bench.reference --steps N``: time ``N`` dense steps on the benchmark's
    workload and print ``{"per_step_ms": ...}`` (used to time it with one BLAS thread)."""
    import argparse
    import json
    import time

    from invmel_core import MelFilterbank

    from invmel_core.inverse.solvers import workload

    parser = argparse.ArgumentParser(description="Time the dense SGD reference on the workload.")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args(argv)
    _, melspec, rate = workload()
    fb = MelFilterbank(1025, 0.0, None, melspec.shape[0], rate)
    start = time.perf_counter()
    dense_sgd(melspec[None], fb, args.steps, seed=0)
    print(json.dumps({"per_step_ms": 1e3 * (time.perf_counter() - start) / args.steps}))


if __name__ == "__main__":
    main()
