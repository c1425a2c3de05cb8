"""Run work that holds the interpreter lock (figures, Griffin-Lim) in worker processes.

A Streamlit server runs every user's script in a thread of one Python process, and the thread
that answers the network (``/_stcore/health``, the websockets) needs the same interpreter lock.
Matplotlib's renderer holds it for up to ~100 ms at a time, and librosa's Griffin-Lim for
seconds on its first call (lazy imports and numba compilation). With a class of users finishing
their solves together, the server stopped answering for over a second. In worker processes
that work holds the workers' own locks; the server's threads only wait on a pipe.

The app's pages call :func:`call`; the CLI and the Python API compute in their own thread.
``INVMEL_WORKERS`` sets the number of worker processes (default: the number of CPUs, at most
2); ``0`` makes :func:`call` compute in the calling thread too.

Examples
--------
>>> from invmel_core.app import offload
>>> offload.call(divmod, 7, 2)
(3, 1)
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, TypeVar

T = TypeVar("T")
ENV_WORKERS = "INVMEL_WORKERS"
WORKER_NICE = 10  # added to the workers' niceness (lower CPU priority than the server)
# Modules the fork server imports once, so every worker starts with them loaded.
PRELOAD = ["invmel_core.figures.plots", "invmel_core.app.workflow", "librosa"]

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
# Calls made in a worker, and calls made here because a worker died (for tests and logs).
stats = {"in_workers": 0, "inline_fallbacks": 0}
LOG = logging.getLogger("invmel.offload")


def worker_count() -> int:
    """Worker processes to use: ``$INVMEL_WORKERS``, else ``min(2, CPUs)``.

    A value that is not a whole number >= 0 is reported in the log, naming the variable,
    and the default is used: a typo in the server's environment must not take the app down.
    """
    default = min(2, os.cpu_count() or 1)
    raw = os.environ.get(ENV_WORKERS, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        LOG.warning("%s must be a whole number >= 0 (0: no worker processes), got %r; using %d",
                    ENV_WORKERS, raw, default)
        return default
    return int(raw)


def _warm_up() -> None:
    """Worker initializer: step back in CPU priority, and pay for librosa's lazy imports
    and numba compilation and for matplotlib's font loading now, not in the first user's
    request.

    Lower priority, because on a busy machine the OS would otherwise take the CPU from a
    server thread in the middle of its turn with the interpreter lock, and every other
    thread of the server (the one answering the network included) waits until it is back.
    A result drawn a little later is the better trade.
    """
    os.nice(WORKER_NICE)
    import numpy as np

    from invmel_core.dsp import phase
    from invmel_core.figures import plots

    tiny = np.ones((33, 16), np.float32)
    phase.griffinlim(tiny, 64, 16, n_iter=1)
    plots.figure_png(plots.loss_figure([1, 2], [1.0, 0.5]))


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            # Not "fork": forking a process with live threads (the server's) can copy a lock
            # another thread holds. The fork server is a fresh interpreter; workers fork from it.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            _pool = ProcessPoolExecutor(worker_count(), mp_context=context, initializer=_warm_up)
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def call(fn: Callable[..., T], /, *args, **kwargs) -> T:
    """``fn(*args, **kwargs)``, computed in a worker process; blocks until it is done.

    ``fn`` must be a module-level function and its arguments and result picklable (they
    are copied between processes). Exceptions raised by ``fn`` are raised here. If a worker
    dies (say, killed for memory) the call is made in this process instead and the pool is
    started afresh next time, so a result is never lost to the pool.
    """
    if worker_count() == 0:
        return fn(*args, **kwargs)
    pool = _executor()
    try:
        result = pool.submit(fn, *args, **kwargs).result()
    except BrokenProcessPool as exc:
        _discard(pool)
        _count("inline_fallbacks")
        LOG.warning("a worker process died (%s); running %s here instead", exc, getattr(fn, "__name__", fn))
        return fn(*args, **kwargs)
    _count("in_workers")
    return result


def _count(what: str) -> None:
    with _lock:
        stats[what] += 1


def start() -> list[Future]:
    """Start the workers (each warms up as it starts) in the background; returns at once.
    Calling it again while they run does nothing."""
    n = worker_count()
    if n == 0 or _pool is not None:
        return []
    pool = _executor()
    # A pool that is not forking starts one worker per task that finds none idle.
    return [pool.submit(int) for _ in range(n)]


def shutdown() -> None:
    """Stop the workers (tests; a server's workers end with it)."""
    with _lock:
        pool = _pool
    if pool is not None:
        _discard(pool)
