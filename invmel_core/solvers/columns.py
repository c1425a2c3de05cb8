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


def threads_for(n_chunks: int, elements_per_chunk: int) -> int:
    """How many threads a solve of ``n_chunks`` chunks of ``elements_per_chunk`` uses.

    Examples
    --------
    >>> threads_for(2, 1025 * 216)  # the 10 s benchmark: too little work to share
    1
    >>> threads_for(101, 1025 * 256) == min(2, available_cores())  # 10 minutes of audio
    True
    """
    total = elements_per_chunk * n_chunks
    return max(1, min(available_cores(), n_chunks, total // max(MIN_PARALLEL_ELEMENTS, 1)))


class ChunkRunner:
    """Apply a function to each chunk, on several threads when that pays.

    The calling thread takes its share too, so ``threads=2`` uses one helper thread. Threads
    are used only when each gets at least :data:`MIN_PARALLEL_ELEMENTS` elements.
    Results come back in chunk order. Use as a context manager (or call :meth:`close`)
    so the helper threads end with the solve.

    Examples
    --------
    >>> with ChunkRunner([1, 2, 3], elements_per_chunk=10**7, threads=2) as run:
    ...     run(lambda chunk: chunk * 10)
    [10, 20, 30]
    """

    def __init__(self, chunks: Sequence, elements_per_chunk: int, threads: int | None = None):
        self.chunks = list(chunks)
        threads = min(threads or available_cores(), threads_for(len(self.chunks), elements_per_chunk))
        # Each thread gets a fixed, contiguous group of chunks.
        per_thread = -(-len(self.chunks) // max(threads, 1))
        self._groups = [self.chunks[run] for run in split_evenly(len(self.chunks), per_thread)]
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
