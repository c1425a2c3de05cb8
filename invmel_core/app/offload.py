"""Run work that holds the interpreter lock (figures, Griffin-Lim) in worker processes, started
on demand and stopped when idle, and give memory back to the OS.

A Streamlit server runs every user's script in a thread of one Python process, and the thread
that answers the network (``/_stcore/health``, the websockets) needs the same interpreter lock.
Matplotlib's renderer holds it for up to ~100 ms at a time, and a joint sound for seconds. With
a class of users finishing their solves together, the server stopped answering for over a
second. In worker processes that work holds the workers' own locks; the server's threads only
wait on a pipe.

The app's pages call :func:`call`; the CLI and the Python API compute in their own thread.
``INVMEL_WORKERS`` sets the number of worker processes (default: the number of CPUs, at most
2); ``0`` makes :func:`call` compute in the calling thread too.

Memory (one small server for a whole class, see docs/app-benchmarks.md):

* no worker exists until a page asks for one; the pool starts one worker per call that finds
  none idle, up to ``INVMEL_WORKERS``;
* workers are "spawn"ed: each imports what figures and sound need (~90 MiB), never librosa and
  numba (~150 MiB more, which the fork server used to preload in itself and every worker);
* a worker gives its freed heap back (``malloc_trim``) after every call, and is replaced
  after a call that left it over ``INVMEL_WORKER_MAX_MB`` (400) resident;
* the pool is stopped after ``INVMEL_WORKER_IDLE_S`` (60) seconds without a call, and the
  server's own freed heap is given back every ``TRIM_EVERY_S`` (:func:`housekeeping`: a daemon
  thread, started with the first pool or cache that needs it).

Examples
--------
>>> from invmel_core.app import offload
>>> offload.call(divmod, 7, 2)
(3, 1)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, TypeVar

T = TypeVar("T")
ENV_WORKERS = "INVMEL_WORKERS"
ENV_IDLE = "INVMEL_WORKER_IDLE_S"
ENV_MAX_MB = "INVMEL_WORKER_MAX_MB"
IDLE_S = 60.0          # stop the workers after this long without a call
WORKER_MAX_MB = 400    # a worker left this large by a call is replaced
TRIM_EVERY_S = 10.0    # the server gives its freed heap back this often (and sweeps its caches)
WORKER_NICE = 10  # added to the workers' niceness (lower CPU priority than the server)

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_busy = 0                   # calls in flight
_last_call = 0.0            # time.monotonic() when the last call ended (or began)
_housekeeper: threading.Thread | None = None
# Calls made in a worker, calls made here because a worker died, pools stopped for being idle,
# workers replaced for their size, heap trims (for tests and logs).
stats = {"in_workers": 0, "inline_fallbacks": 0, "idle_stops": 0, "recycled": 0, "trims": 0}
LOG = logging.getLogger("invmel.offload")


def worker_count() -> int:
    """Worker processes to use: ``$INVMEL_WORKERS``, else ``min(2, CPUs)``.

    A value that is not a whole number >= 0 is reported in the log, naming the variable,
    and the default is used: a typo in the server's environment must not take the app down.
    """
    default = min(2, os.cpu_count() or 1)
    return _env_number(ENV_WORKERS, default, "(0: no worker processes)")


def _env_number(name: str, default, what: str = ""):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        LOG.warning("%s must be a whole number >= 0 %s, got %r; using %s", name, what, raw, default)
        return default
    return int(raw)


# --------------------------------------------------------------------------- memory given back

def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018  (glibc only)
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


def trim() -> bool:
    """Give this process's freed heap back to the OS (glibc's ``malloc_trim(0)``: free pages
    in every arena, not only at the top). numpy's temporaries under glibc's mmap threshold
    (which grows to 32 MiB once a large block is freed) otherwise stay resident after a big
    job. Runs without the interpreter lock (ctypes releases it). False where there is no glibc."""
    if _LIBC is None:
        return False
    _LIBC.malloc_trim(0)
    with _lock:
        stats["trims"] += 1
    return True


def resident_mb(pid: int | None = None) -> float:
    """Resident memory (VmRSS) of a process, MiB (0 if unknown)."""
    try:
        with open(f"/proc/{pid or 'self'}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# --------------------------------------------------------------------------- the workers

def _warm_up() -> None:
    """Worker initializer: step back in CPU priority, import what figures and sound need and
    pay for matplotlib's font loading now, not in the first user's request.

    Lower priority, because on a busy machine the OS would otherwise take the CPU from a
    server thread in the middle of its turn with the interpreter lock, and every other
    thread of the server (the one answering the network included) waits until it is back.
    A result drawn a little later is the better trade.
    """
    os.nice(WORKER_NICE)
    import numpy as np

    from invmel_core.app import workflow  # noqa: F401  (what most calls need)
    from invmel_core.dsp import phase
    from invmel_core.figures import plots

    tiny = np.ones((33, 16), np.float32)
    phase.griffinlim(tiny, 64, 16, n_iter=1)
    plots.figure_png(plots.loss_figure([1, 2], [1.0, 0.5]))
    trim()


def _checked(fn, args, kwargs):
    """Runs in a worker: ``(fn(*args, **kwargs), oversized)``, with the freed heap given back
    to the OS first; ``oversized``: the worker is still over ``INVMEL_WORKER_MAX_MB`` resident
    (the caller then replaces the pool's workers)."""
    try:
        value = fn(*args, **kwargs)
    finally:
        trim()
    return value, resident_mb() > _env_number(ENV_MAX_MB, WORKER_MAX_MB)


def _executor_locked() -> ProcessPoolExecutor:
    """The pool (started if there is none); the caller holds ``_lock``."""
    global _pool
    if _pool is None:
        # Not "fork": forking a process with live threads (the server's) can copy a lock
        # another thread holds. "spawn": a fresh interpreter that imports only what the
        # workers need (a fork server would stay resident beside them for good).
        context = multiprocessing.get_context("spawn")
        _pool = ProcessPoolExecutor(worker_count(), mp_context=context, initializer=_warm_up)
    return _pool


def _discard(pool: ProcessPoolExecutor, cancel: bool = False) -> None:
    """Stop ``pool``'s workers once the calls given to it are done (``cancel``: drop those not
    yet started: the pool is broken); the next call starts a new pool."""
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=cancel)


def call(fn: Callable[..., T], /, *args, **kwargs) -> T:
    """``fn(*args, **kwargs)``, computed in a worker process; blocks until it is done.

    ``fn`` must be a module-level function and its arguments and result picklable (they
    are copied between processes). Exceptions raised by ``fn`` are raised here. If a worker
    dies (say, killed for memory) the call is made in this process instead and the pool is
    started afresh next time, so a result is never lost to the pool.
    """
    if worker_count() == 0:
        return fn(*args, **kwargs)
    global _busy, _last_call
    with _lock:     # one step with the count of calls in flight: the housekeeping never stops it
        pool = _executor_locked()
        _busy += 1
    _ensure_housekeeper()
    try:
        result, oversized = pool.submit(_checked, fn, args, kwargs).result()
    except BrokenProcessPool as exc:
        _discard(pool, cancel=True)
        _count("inline_fallbacks")
        LOG.warning("a worker process died (%s); running %s here instead", exc, getattr(fn, "__name__", fn))
        return fn(*args, **kwargs)
    finally:
        with _lock:
            _busy -= 1
            _last_call = time.monotonic()
    _count("in_workers")
    if oversized:
        # A big job (a long input's sound) left a worker large: new workers, started on demand,
        # instead of keeping it. Calls already given to the old pool finish there first.
        _count("recycled")
        _discard(pool)
    return result


def _count(what: str) -> None:
    with _lock:
        stats[what] += 1


def every_while(fn: Callable[[], object]) -> None:
    """Have :func:`housekeeping` call ``fn()`` on each round (a cache's sweep of entries
    nobody used for a while); started now if it is not running. ``fn`` must be quick."""
    with _lock:
        if fn not in _chores:
            _chores.append(fn)
    _ensure_housekeeper()


_chores: list[Callable[[], object]] = []


def _ensure_housekeeper() -> None:
    global _housekeeper
    with _lock:
        if _housekeeper is None or not _housekeeper.is_alive():
            _housekeeper = threading.Thread(target=housekeeping, name="invmel-housekeeping", daemon=True)
            _housekeeper.start()


def housekeeping(period: float = TRIM_EVERY_S, once: bool = False) -> None:
    """The server's daemon thread, every ``period`` s: stops the workers once no call came for
    ``INVMEL_WORKER_IDLE_S`` seconds, runs the chores (:func:`every_while`: caches drop what
    nobody used lately), then gives the server's freed heap back (:func:`trim`). Sessions end,
    caches and results are dropped at any time, so it runs for as long as the server does."""
    global _pool
    while True:
        if not once:
            time.sleep(period)
        idle_s = _env_number(ENV_IDLE, IDLE_S)
        with _lock:
            chores, pool = list(_chores), _pool
            idle = pool is not None and not _busy and _last_call and time.monotonic() - _last_call >= idle_s
            if idle:    # under the lock: no call can take this pool now
                _pool = None
                stats["idle_stops"] += 1
        if idle:
            pool.shutdown(wait=False)
        for chore in chores:
            try:
                chore()
            except Exception:  # noqa: BLE001  (a chore's bug must not end the housekeeping)
                LOG.exception("housekeeping chore %r failed", chore)
        # Only once the server is quiet: malloc_trim holds each arena's lock while it walks it,
        # and a thread that holds the interpreter lock and allocates meanwhile stalls every
        # other (the one answering /_stcore/health too).
        with _lock:
            quiet = not _busy and time.monotonic() - _last_call >= period
        if quiet or once:
            trim()
        if once:
            return


def start(count: int | None = None) -> list[Future]:
    """Start ``count`` workers (default: all) now, each warming up as it starts, in the
    background; returns at once. Does nothing while a pool runs. The app starts none ahead:
    a worker starts when a page first asks for one (a first page sooner, an idle server
    small); Home starts one while it solves its demo, whose figure and sound need it."""
    global _last_call
    n = worker_count() if count is None else min(count, worker_count())
    if n <= 0 or _pool is not None:
        return []
    with _lock:
        pool = _executor_locked()
        _last_call = time.monotonic()
    _ensure_housekeeper()
    # A pool that is not forking starts one worker per task that finds none idle.
    return [pool.submit(int) for _ in range(n)]


def workers() -> list[int]:
    """Process ids of the pool's live workers (none while no pool runs)."""
    with _lock:
        pool = _pool
    procs = getattr(pool, "_processes", None) or {}
    return [pid for pid, proc in list(procs.items()) if proc.is_alive()]


def shutdown() -> None:
    """Stop the workers (tests; a server's workers end with it)."""
    with _lock:
        pool = _pool
    if pool is not None:
        _discard(pool)
