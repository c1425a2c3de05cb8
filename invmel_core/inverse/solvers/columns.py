"""Frames as columns: split a solve into column chunks and run the chunks on several cores.

The solvers here update every frame (column) of the spectrogram independently of the
others; only scalars such as the loss are shared. So a solve can be cut into chunks of
columns that are small enough to stay in the CPU cache and can run on different cores
(numpy and scipy.sparse release the GIL in their loops). The chunking depends only on
the problem's shape, never on the machine, so results are the same everywhere.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np

# Columns per chunk: a (1025, 512) float32 array is 2 MB, so a chunk's few arrays stay
# in the L3 cache while one step makes its passes over them (measured on 2 minutes of
# speech: 512 beat 256 and 1024 by 10-20 %; the 10 s benchmark is one chunk).
CHUNK_COLUMNS = 512
# Elements of the spectrogram per thread below which threads do not pay. Handing a step to
# another thread costs a wake-up; when other processes keep the cores busy that wake-up can
# take milliseconds (measured: 0.5 ms/step on one thread vs 1.8 on two for the 1025 x 431
# benchmark under a load of 8 on 2 cores; 0.42 vs 0.33 on a quiet machine). So threads are
# used only when each one gets several milliseconds of work per step.
MIN_PARALLEL_ELEMENTS = 2_000_000


def split_evenly(n: int, max_size: int = CHUNK_COLUMNS) -> list[slice]:
    """Cut ``range(n)`` into the fewest runs of at most ``max_size``, of near-equal length.

    Examples
    --------
    >>> split_evenly(431, 256)
    [slice(0, 216, None), slice(216, 431, None)]
    >>> split_evenly(3)
    [slice(0, 3, None)]
    """
    if n <= 0:
        return []
    count = -(-n // max_size)
    bounds = [round(i * n / count) for i in range(count + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def as_columns(batch3d: np.ndarray) -> np.ndarray:
    """``(batch, rows, time)`` -> ``(rows, batch * time)``: a batch as one wide problem.

    >>> as_columns(np.arange(8).reshape(2, 2, 2))
    array([[0, 1, 4, 5],
           [2, 3, 6, 7]])
    """
    b, r, t = batch3d.shape
    return np.ascontiguousarray(batch3d.transpose(1, 0, 2).reshape(r, b * t))


def from_columns(columns: np.ndarray, batch: int) -> np.ndarray:
    """Inverse of :func:`as_columns`, always a fresh array."""
    r, bt = columns.shape
    return columns.reshape(r, batch, bt // batch).transpose(1, 0, 2).copy()


def write_columns(out: np.ndarray, columns: slice, values: np.ndarray) -> None:
    """Store ``values`` (``(rows, n)``), the columns ``columns`` of the :func:`as_columns`
    layout, into ``out`` (``(batch, rows, time)``)."""
    time = out.shape[2]
    start, stop = columns.start, columns.stop
    while start < stop:
        item, t0 = divmod(start, time)
        t1 = min(time, t0 + stop - start)
        out[item, :, t0:t1] = values[:, start - columns.start:start - columns.start + t1 - t0]
        start += t1 - t0


def available_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_for(n_chunks: int, elements_per_chunk: int) -> int:
    """How many threads a solve of ``n_chunks`` chunks of ``elements_per_chunk`` uses.

    Examples
    --------
    >>> threads_for(1, 1025 * 431)  # the 10 s benchmark: too little work to share
    1
    >>> threads_for(51, 1025 * 512) == min(2, available_cores())  # 10 minutes of audio
    True
    """
    total = elements_per_chunk * n_chunks
    return max(1, min(available_cores(), n_chunks, total // max(MIN_PARALLEL_ELEMENTS, 1)))


class ChunkRunner:
    """Apply a function to each chunk of a list, on ``threads`` threads.

    The calling thread takes its share too, so ``threads=2`` uses one helper thread; each
    thread gets a contiguous group of chunks. Results come back in chunk order. Use as a
    context manager (or call :meth:`close`) so the helper threads end with the solve. Pick
    ``threads`` with :func:`threads_for`.

    Examples
    --------
    >>> with ChunkRunner(threads=2) as run:
    ...     run(lambda chunk: chunk * 10, [1, 2, 3])
    [10, 20, 30]
    """

    def __init__(self, threads: int = 1):
        self.threads = max(1, int(threads))
        self._pool = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None

    def __call__(self, fn: Callable, chunks: Sequence) -> list:
        if self._pool is None or len(chunks) < 2:
            return [fn(chunk) for chunk in chunks]
        per_thread = -(-len(chunks) // self.threads)
        groups = [chunks[run] for run in split_evenly(len(chunks), per_thread)]
        futures = [self._pool.submit(lambda g=group: [fn(c) for c in g]) for group in groups[1:]]
        results = [fn(chunk) for chunk in groups[0]]
        for future in futures:
            results.extend(future.result())
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
