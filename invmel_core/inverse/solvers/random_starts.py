"""The frameworks' random initial guesses, reproduced bit for bit with numpy.

Both frameworks draw from MT19937 seeded like ``std::mt19937(seed)``, which is numpy's
legacy ``RandomState(seed)`` seeding; they differ in how a 32-bit draw becomes a float
and in which order the array is filled.
"""

from __future__ import annotations

import secrets

import numpy as np


def _mt19937_draws(seed: int | None, count: int) -> np.ndarray:
    """``count`` raw 32-bit outputs of ``std::mt19937(seed)`` (a fresh seed if None)."""
    if seed is None:
        seed = secrets.randbits(32)
    bitgen = np.random.MT19937(0)
    bitgen.state = np.random.RandomState(int(seed) % 2**32).get_state(legacy=False)
    return bitgen.random_raw(count).astype(np.uint64)


def torch_rand(seed: int | None, batch: int, n_stft: int, time: int) -> np.ndarray:
    """What ``torch.manual_seed(seed); torch.rand(batch, time, n_stft)`` gives on CPU,
    returned as ``(batch, n_stft, time)`` float32.

    torch keeps the low 24 bits of each draw: ``(draw & 0xFFFFFF) / 2**24``.
    """
    draws = _mt19937_draws(seed, batch * time * n_stft)
    values = ((draws & 0xFFFFFF).astype(np.float64) / 2**24).astype(np.float32)
    return np.ascontiguousarray(values.reshape(batch, time, n_stft).transpose(0, 2, 1))


def mindspore_rand(seed: int | None, batch: int, n_stft: int, time: int) -> np.ndarray:
    """MindSpore's initial guess after ``ds.config.set_seed(seed)``: ``draw / 2**32``,
    filled in (batch, freq, time) order, float32 ``(batch, n_stft, time)``."""
    draws = _mt19937_draws(seed, batch * n_stft * time)
    return (draws.astype(np.float64) / 2**32).astype(np.float32).reshape(batch, n_stft, time)
