"""Where a batch's tasks run: this process, local worker processes, or a Dask cluster.

Every pool has ``imap_unordered(tasks, options) -> Iterator[Record]`` (records as they
finish) and is a context manager; each runs :func:`~invmel_core.batch.one_file.render_one`,
so the outputs are the same on all of them. :func:`open_pool` picks one.

- :class:`InlinePool` (``workers=0``): in the calling process, one file after another.
- :class:`LocalPool`: worker processes, one file each at a time, fed over pipes. A worker
  that dies (killed, out of memory) costs only its current file, which is recorded as
  failed; a new worker takes its place. Dask is not imported.
- :class:`DaskPool`: the same tasks on ``dask.distributed`` (imported only here), at most
  two per worker thread in flight, so a million-file batch does not sit in the scheduler.
  Its address is checked and probed first (:mod:`invmel_core.batch.scheduler`).

:func:`open_pool` starts at most :data:`MAX_WORKERS_PER_CPU` local processes per CPU.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from itertools import islice
from multiprocessing.connection import wait
from typing import Iterator

from invmel_core.batch.one_file import Record, RenderOptions, Task, failed_record, render_one
from invmel_core.batch.scheduler import PROBE_TIMEOUT_S, parse_scheduler, probe_scheduler  # noqa: F401
from invmel_core.errors import InputError
from invmel_core.inverse.solvers.columns import available_cores

# Imported once by the fork server, so every worker starts with them loaded (the rendering
# path: STFT, phase, mel_to_audio; librosa is only needed to resample a sound file, on demand).
PRELOAD = ["invmel_core.batch.one_file"]
CONNECT_TIMEOUT_S = 10  # for the Dask client, once the address answered like a scheduler
# More local processes than this per CPU only share the same CPUs and multiply the memory.
MAX_WORKERS_PER_CPU = 4
# Dask's nannies set it for their workers; it fixes glibc's mmap threshold, so numpy's large
# temporaries are mapped and faulted in afresh each time (docs/batch.md has the measurement).
MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"
STOP_TIMEOUT_S = 5


def open_pool(workers: int | None = None, scheduler: str | None = None):
    """The pool for ``scheduler`` (a Dask address) if given, else ``workers`` processes
    (None: one per CPU; 0: this process; at most :data:`MAX_WORKERS_PER_CPU` per CPU, with a
    note in ``pool.notes`` when capped). Raises :class:`InputError` for a bad count or an
    unreachable scheduler, before any file is rendered."""
    if scheduler is not None:
        if workers is not None:
            raise InputError("--workers and --scheduler exclude each other: the Dask cluster's "
                             "workers do the work; start as many as you want with `dask worker`")
        return DaskPool(scheduler)
    if workers is None:
        workers = available_cores()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise InputError(f"--workers must be a whole number >= 0 (0: no worker processes), got {workers!r}")
    if workers == 0:
        return InlinePool()
    cores = available_cores()
    cap = MAX_WORKERS_PER_CPU * cores
    if workers <= cap:
        return LocalPool(workers)
    pool = LocalPool(cap)
    pool.notes = (f"--workers {workers} is more than {MAX_WORKERS_PER_CPU} per CPU ({cores} CPUs here): "
                  f"using {cap} worker processes; more would only share the same CPUs and multiply the memory",)
    return pool


class _Pool:
    notes: tuple = ()  # remarks for the user about where the work runs

    def check_access(self, tasks: list[Task]) -> None:
        """Raise :class:`InputError` if the workers cannot read the inputs or write OUTDIR."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        pass


class InlinePool(_Pool):
    """Render in the calling process (for debugging, tests and tiny batches)."""

    def imap_unordered(self, tasks: list[Task], options: RenderOptions) -> Iterator[Record]:
        return (render_one(task, options) for task in tasks)


def _serve(conn) -> None:
    """A worker process: render each task received until the pipe closes or ``None`` comes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if message is None:
            return
        record = render_one(*message)
        try:
            conn.send(record)
        except OSError:  # the parent is gone
            return


def death_message(exitcode: int | None) -> str:
    """Why a worker's file failed when the worker died.

    >>> death_message(-9)[:62]
    'the worker process died while rendering this file (killed by S'
    """
    if exitcode is not None and exitcode < 0:
        how = f"killed by {signal.Signals(-exitcode).name}"
    else:
        how = f"exit status {exitcode}"
    return (f"the worker process died while rendering this file ({how}). If the machine ran out "
            "of memory, the kernel kills the largest process: run fewer --workers, or lower "
            "INVMEL_MAX_SOLVE_MB so that files too large are refused instead")


class LocalPool(_Pool):
    """``workers`` processes (started by a fork server), each given one task at a time."""

    def __init__(self, workers: int):
        self.workers = workers
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        self._idle: list = []  # (connection, process)
        self._busy: dict = {}  # connection -> (process, task)

    def _start(self):
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=_serve, args=(theirs,), daemon=True, name="invmel-batch")
        process.start()
        theirs.close()
        return ours, process

    def imap_unordered(self, tasks: list[Task], options: RenderOptions) -> Iterator[Record]:
        queue = deque(tasks)
        self._idle = [self._start() for _ in range(min(self.workers, len(queue)))]
        try:
            self._hand_out(queue, options)
            while self._busy:
                ready = set(wait(list(self._busy) + [p.sentinel for p, _ in self._busy.values()]))
                finished = []
                for conn, (process, task) in list(self._busy.items()):
                    if conn not in ready and process.sentinel not in ready:
                        continue
                    del self._busy[conn]
                    record = self._receive(conn)
                    if record is not None:
                        self._idle.append((conn, process))
                    else:
                        conn.close()
                        process.join(STOP_TIMEOUT_S)
                        record = failed_record(task, options, death_message(process.exitcode))
                        if queue:
                            self._idle.append(self._start())
                    finished.append(record)
                self._hand_out(queue, options)  # before reporting, so that no worker waits
                yield from finished
        finally:
            self.close()

    def _hand_out(self, queue: deque, options: RenderOptions) -> None:
        """Give each idle worker the next task."""
        while self._idle and queue:
            conn, process = self._idle.pop()
            try:
                conn.send((queue[0], options))
            except OSError:  # it died while idle: a new worker takes the task
                conn.close()
                process.join(STOP_TIMEOUT_S)
                self._idle.append(self._start())
                continue
            self._busy[conn] = (process, queue.popleft())

    @staticmethod
    def _receive(conn) -> Record | None:
        """The worker's record, or None if it died without sending one."""
        try:
            if conn.poll():
                return conn.recv()
        except (EOFError, OSError):
            pass
        return None

    def close(self) -> None:
        """Stop the workers: idle ones are told to finish, busy ones (interrupted) are ended."""
        for conn, process in self._idle:
            try:
                conn.send(None)
            except OSError:
                pass
        for conn, (process, _task) in self._busy.items():
            process.terminate()  # its temporary file is removed by the next run
        for conn, process in self._idle + [(c, p) for c, (p, _t) in self._busy.items()]:
            process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()
        self._idle, self._busy = [], {}


def _can_access(source: str, outdir: str) -> bool:
    return os.path.isfile(source) and os.access(source, os.R_OK) and os.access(outdir, os.W_OK)


def _warm_up() -> None:
    """Run on each Dask worker at connection: pay for the imports now, not in the first file."""
    import importlib

    for module in PRELOAD:
        importlib.import_module(module)


def _connect(address: str):
    """A ``distributed.Client`` for ``address``; one that fails to connect is closed at once,
    quietly (left to the garbage collector, its ``__del__`` blocks 20 s and prints a traceback)."""
    from distributed import Client

    client = Client.__new__(Client)
    try:
        client.__init__(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except BaseException:
        _close_quietly(client)
        raise
    return client


def _close_quietly(client) -> None:
    try:
        client.close(timeout=2)
    except BaseException:
        pass
    try:  # nothing left for __del__ to do
        client._Client__loop = None
    except AttributeError:
        pass


class DaskPool(_Pool):
    """The tasks on the ``dask.distributed`` cluster whose scheduler is at ``address``.

    Workers need invmel installed and must read the inputs and write OUTDIR at the same
    paths (shared storage). A task whose workers keep dying is recorded as failed with
    Dask's error (after its ``allowed-failures`` retries). An address that is not
    ``tcp://`` or ``tls://``, or where no scheduler answers, is refused within about
    :data:`PROBE_TIMEOUT_S` seconds (:func:`probe_scheduler`).
    """

    def __init__(self, address: str):
        target = probe_scheduler(address)  # before importing Dask: a refusal comes at once
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise InputError("--scheduler needs dask.distributed, which is not installed: "
                             "pip install 'invmel[cluster]' (or 'dask[distributed]')") from None
        try:
            self.client = _connect(target)
        except Exception as exc:  # OSError, TimeoutError; TypeError for tls:// without Dask's TLS settings
            raise InputError(
                f"cannot connect to the Dask scheduler at {address!r} ({type(exc).__name__}: {exc}). Start one with "
                f"`dask scheduler` and workers with `dask worker {target}`, or leave out "
                "--scheduler to use local processes") from None
        try:
            self.client.run(_warm_up)
        except Exception as exc:  # most often: invmel is not installed on the workers
            _close_quietly(self.client)
            raise InputError(
                f"the Dask workers at {address!r} cannot load invmel ({type(exc).__name__}: {exc}); "
                "install it on every worker (pip install invmel, or the project's folder on their "
                "PYTHONPATH)") from None

        trims = {value for value in self.client.run(os.environ.get, MALLOC_TRIM).values() if value}
        if trims:
            self.notes = (
                f"the Dask workers run with {MALLOC_TRIM}={', '.join(sorted(trims))} (Dask's default), which "
                "cost ~1.7x the CPU time per file in docs/batch.md's benchmark; it says how to start workers without it",)

    def check_access(self, tasks: list[Task]) -> None:
        if not tasks:
            return
        source, outdir = tasks[0].source, tasks[0].outdir
        seen = self.client.run(_can_access, source, outdir)
        blind = sorted(worker for worker, ok in seen.items() if not ok)
        if blind:
            raise InputError(
                f"Dask workers {', '.join(blind)} cannot read {source!r} or write to {outdir!r}: the "
                "workers need the inputs and OUTDIR at the same paths (shared storage, e.g. NFS "
                "mounted alike on every machine)")

    def imap_unordered(self, tasks: list[Task], options: RenderOptions) -> Iterator[Record]:
        from distributed import as_completed

        pending = iter(tasks)
        running = {}

        def top_up() -> list:
            """Keep two tasks per worker thread in flight (the cluster may grow or shrink)."""
            wanted = 2 * max(1, sum(self.client.nthreads().values())) - len(running)
            futures = []
            for task in islice(pending, max(0, wanted)):
                future = self.client.submit(render_one, task, options, pure=False)
                running[future] = task
                futures.append(future)
            return futures

        done = as_completed(top_up(), loop=self.client.loop)
        try:
            for future in done:
                task = running.pop(future)
                try:
                    record = future.result()
                except Exception as exc:  # KilledWorker, a lost connection: infrastructure
                    record = failed_record(task, options, f"the Dask cluster could not render it: "
                                                          f"{type(exc).__name__}: {exc}")
                future.release()
                done.update(top_up())
                yield record
        finally:
            if running:
                self.client.cancel(list(running))

    def close(self) -> None:
        self.client.close()
