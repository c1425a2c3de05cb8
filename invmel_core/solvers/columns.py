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

# Columns per chunk: a (1025, 256) float32 array is 1 MB, so a chunk's few arrays stay
# in the L2/L3 cache while one step makes its passes over them.
CHUNK_COLUMNS = 256
# Below this many matrix elements a chunk is too small to be worth a thread hand-off.
MIN_PARALLEL_ELEMENTS = 50_000


def split_evenly(n: int, max_size: int = CHUNK_COLUMNS) -> list[slice]:
    """Cut ``range(n)`` into the fewest runs of at most ``max_size``, of near-equal length.

    Examples
    --------
    >>> split_evenly(431)
    [slice(0, 216, None), slice(216, 431, None)]
    >>> split_evenly(3)
    [slice(0, 3, None)]
    """
    if n <= 0:
        return []
    count = -(-n // max_size)
    bounds = [round(i * n / count) for i in range(count + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def available_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class ChunkRunner:
    """Apply a function to each chunk, on several threads when that pays.

    The calling thread takes its share too, so ``threads=2`` uses one helper thread.
    Results come back in chunk order. Use as a context manager (or call :meth:`close`)
    so the helper threads end with the solve.

    Examples
    --------
    >>> with ChunkRunner([1, 2, 3], elements_per_chunk=10**6, threads=2) as run:
    ...     run(lambda chunk: chunk * 10)
    [10, 20, 30]
    """

    def __init__(self, chunks: Sequence, elements_per_chunk: int, threads: int | None = None):
        self.chunks = list(chunks)
        threads = min(available_cores() if threads is None else threads, len(self.chunks))
        if elements_per_chunk < MIN_PARALLEL_ELEMENTS:
            threads = 1
        # Each thread gets a fixed, contiguous group of chunks.
        self._groups = [self.chunks[s] for s in split_evenly(len(self.chunks), -(-len(self.chunks) // max(threads, 1)))]
        self._pool = ThreadPoolExecutor(len(self._groups) - 1) if len(self._groups) > 1 else None

    @property
    def threads(self) -> int:
        return len(self._groups)

    def __call__(self, fn: Callable) -> list:
        if self._pool is None:
            return [fn(chunk) for chunk in self.chunks]
        futures = [self._pool.submit(lambda g=group: [fn(c) for c in g]) for group in self._groups[1:]]
        results = [fn(chunk) for chunk in self._groups[0]]
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
