"""Run a solver a slice of time at a time, so a UI can draw between slices.

A solver is a generator of :class:`~invmel_core.inverse.solvers.Iterate`; :class:`LiveSolve` holds
one and advances it for a wall-time budget per call, keeping the loss history, the latest
iterate and the time spent inside the solver (so the app can show — and the benchmark can
check — that drawing does not starve the solver). Pausing is simply not calling
:meth:`LiveSolve.advance`; stopping closes the generator and keeps the latest iterate.

It is thread-safe: Streamlit starts a new script thread on a click while the old one may
still be inside a slice, so :meth:`pause` and :meth:`stop` first ask the running slice to
end (it checks between iterates) and then wait for it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from typing import Callable, Iterator

import numpy as np

from invmel_core.errors import InputError
from invmel_core.figures.freq_axis import downsample_max
from invmel_core.inverse.solvers import Iterate
from invmel_core.validation import check_number, check_positive_seconds

STOPPED = "stopped"  # the reason recorded when the user stops a solve

_ALL: "weakref.WeakSet[LiveSolve]" = weakref.WeakSet()  # every LiveSolve of this process


# At most CPUs - 1 solver slices at a time, process-wide (at least one). A Python server shares
# one interpreter lock between every user's script thread and the thread that answers the
# network: with a dozen threads all computing, that thread waits its turn behind each of them,
# and with every CPU busy the OS takes the CPU from a thread in the middle of its turn with the
# lock. Threads beyond the slots sleep on this semaphore instead; one CPU stays for the network
# thread and the figure/sound workers (invmel_core.app.offload).
CPU_SLOTS = max(1, (os.cpu_count() or 1) - 1)
_CPU_SLOTS = threading.BoundedSemaphore(CPU_SLOTS)


@contextlib.contextmanager
def cpu_slot():
    """Hold one of the process's CPU slots while doing heavy work (see ``_CPU_SLOTS``)."""
    with _CPU_SLOTS:
        yield


def active_solves(within: float = 1.0) -> int:
    """How many solves in this process ran a slice in the last ``within`` seconds.

    A server shares its CPUs between all its users' solves; the app lengthens each
    user's slices when many are active (:func:`slice_seconds`), so the number of redraws
    the server must send stays bounded while every solver keeps its share of the CPU.
    """
    now = time.perf_counter()
    return sum(1 for solve in list(_ALL) if not solve.done and now - solve.last_slice_end < within)


def slice_seconds(base: float, cpus: int | None = None) -> float:
    """``base`` while the active solves fit in the CPU slots, proportionally longer beyond.

    >>> slice_seconds(0.13, cpus=2) >= 0.13
    True
    """
    cpus = cpus or CPU_SLOTS
    return base * max(1.0, active_solves() / cpus)


def report_every(max_iter: int) -> int:
    """How many solver steps between two yielded iterates in the app.

    Each yielded iterate copies the whole spectrogram, which costs about half an SGD
    step: every 50th step keeps that overhead near 1 %. A run reports about 50 times
    (a 1000-step run every 20 steps), so short runs still draw a curve with points.
    """
    max_iter = check_number("max_iter", max_iter, integer=True, minimum=1)
    return max(1, min(50, max_iter // 50))


class LiveSolve:
    """A solve in progress, advanced in time slices.

    Parameters
    ----------
    iterates : iterator of Iterate
        E.g. ``InverseMelScale(...).iterate(mel, every=report_every(max_iter))``.
    clock : callable, optional
        Returns seconds; injectable for tests.
    max_snapshots : int
        How many spectrograms to keep for a replay (:attr:`snapshots`): log-spaced over the
        steps, the first and the latest always kept.

    Attributes
    ----------
    latest : Iterate or None
        The most recent iterate (None before the first slice).
    steps, losses : list
        Step and loss of every iterate seen, for the loss curve.
    reason : str or None
        Why the solve ended (the solver's reason, or ``"stopped"``); None while running.
    solver_seconds : float
        Wall time spent inside the solver.
    slices : int
        How many times :meth:`advance` ran the solver.
    snapshots : list of (int, ndarray)
        ``(step, spectrogram)`` of some iterates for a replay: every one while there are at most
        ``max_snapshots``, then thinned to stay log-spaced in the step (the early steps, where
        most happens, keep their detail). Each is the first item's spectrogram, max-pooled to at
        most ``SNAPSHOT_SHAPE`` (screen resolution), stored as float16 log10 values
        (:meth:`snapshot_spec` gives it back), and all of them together stay under
        ``SNAPSHOT_BYTES``: memory is bounded whatever the input.
    """

    def __init__(self, iterates: Iterator[Iterate], *, clock: Callable[[], float] = time.perf_counter,
                 max_snapshots: int = 48):
        self._iterates = iterates
        self._clock = clock
        self.latest: Iterate | None = None
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.reason: str | None = None
        self.solver_seconds = 0.0
        self.slices = 0
        self.paused = False
        self._started = clock()
        self._paused_seconds = 0.0
        self._paused_at: float | None = None
        self._ended_at: float | None = None
        self._lock = threading.Lock()      # held while the generator runs
        self._interrupt = False            # asks a running slice to end early
        self.last_slice_end = float("-inf")  # perf_counter() at the end of the last slice
        self._iterate_seconds = 0.0          # smoothed time between two iterates
        self.snapshots: list[tuple[int, np.ndarray]] = []
        self.max_snapshots = max(2, int(max_snapshots))
        _ALL.add(self)

    @contextlib.contextmanager
    def _exclusive(self):
        """Hold the solver: ask a slice running in another thread to end, then wait for it."""
        self._interrupt = True
        with self._lock:
            self._interrupt = False
            yield

    @property
    def done(self) -> bool:
        """True once the solver finished or was stopped."""
        return self.reason is not None

    @property
    def running(self) -> bool:
        """Neither finished nor paused: the UI should keep advancing it."""
        return not self.done and not self.paused

    def pause(self) -> None:
        """Stop advancing until :meth:`resume`; the solver keeps its state. When this
        returns, no slice is running and none will start while paused."""
        with self._exclusive():
            if self.running:
                self.paused = True
                self._paused_at = self._clock()

    def resume(self) -> None:
        """Continue after :meth:`pause`."""
        with self._lock:
            self._unpause()

    def _unpause(self) -> None:
        if self.paused:
            self._paused_seconds += self._clock() - self._paused_at
            self.paused = False
            self._paused_at = None

    def wall_seconds(self) -> float:
        """Time since the start, not counting pauses, up to the end of the solve."""
        end = self._ended_at if self._ended_at is not None else (
            self._paused_at if self._paused_at is not None else self._clock())
        return max(end - self._started - self._paused_seconds, 0.0)

    def refresh_hz(self) -> float:
        """Slices (one redraw each) per second of wall time so far."""
        wall = self.wall_seconds()
        return self.slices / wall if wall > 0 else 0.0

    def busy_fraction(self) -> float:
        """Share of the wall time spent inside the solver (1.0 = drawing cost nothing)."""
        wall = self.wall_seconds()
        return min(self.solver_seconds / wall, 1.0) if wall > 0 else 0.0

    def advance(self, budget: float) -> bool:
        """Run the solver until ``budget`` seconds have passed or it finishes.

        Always takes at least one iterate (a solver that yields rarely may overshoot the
        budget by one reporting period) unless paused or finished, and ends early when
        another thread pauses or stops. Returns True if a new iterate arrived.

        Raises
        ------
        InputError
            If ``budget`` is not a positive number.
        """
        budget = check_positive_seconds("budget", budget)
        with self._lock:
            if not self.running:
                return False
            with cpu_slot():       # waiting for a slot is not solver time: it starts after
                return self._advance(budget)

    def _advance(self, budget: float) -> bool:
        start = self._clock()
        deadline = start + budget
        arrived = False
        try:
            while True:
                before = self._clock()
                item = next(self._iterates, None)
                self._note_iterate_time(self._clock() - before)
                if item is None:  # a solver that ends without a done record
                    self.reason = self.reason or (self.latest.reason if self.latest else None) or "finished"
                    break
                self._record(item)
                arrived = True
                if item.done:
                    self.reason = item.reason or "finished"
                    # Close the solver now: a generator that has yielded its last iterate still
                    # holds its working arrays (6 copies of the estimate's size for NNLS, 150 MB
                    # for a 4-minute input) for as long as the page keeps this LiveSolve.
                    close = getattr(self._iterates, "close", None)
                    if close is not None:
                        close()
                    break
                # Stop when the next iterate would more likely end past the deadline than
                # before it, so slices average the budget instead of overshooting it.
                if self._clock() + self._iterate_seconds / 2 >= deadline or self._interrupt:
                    break
        finally:
            now = self._clock()
            self.solver_seconds += now - start
            self.slices += 1
            self.last_slice_end = time.perf_counter()
            if self.done:
                self._ended_at = now
        return arrived

    def _note_iterate_time(self, seconds: float) -> None:
        self._iterate_seconds += 0.3 * (seconds - self._iterate_seconds)

    def _record(self, item: Iterate) -> None:
        self.latest = item
        self.steps.append(int(item.step))
        self.losses.append(float(item.loss))
        self._snapshot(item)

    def _snapshot(self, item: Iterate) -> None:
        """Keep ``item``'s spectrogram for a replay (see :attr:`snapshots`)."""
        spec = np.asarray(item.spec)
        while spec.ndim > 2:
            spec = spec[0]
        if spec.ndim != 2:
            return
        small = downsample_max(np.asarray(spec, dtype=np.float32), *SNAPSHOT_SHAPE)
        # log10 in float16: half the memory of float32 and still within 0.05 dB of the value.
        small = np.log10(np.maximum(small, SNAPSHOT_FLOOR)).astype(np.float16)
        if self.snapshots and self.snapshots[-1][0] == int(item.step):
            self.snapshots[-1] = (int(item.step), small)
            return
        self.snapshots.append((int(item.step), small))
        while len(self.snapshots) > 2 and (len(self.snapshots) > self.max_snapshots
                                           or self.snapshot_bytes() > SNAPSHOT_BYTES):
            del self.snapshots[thinnest(np.array([s for s, _ in self.snapshots]))]

    def snapshot_spec(self, index: int) -> np.ndarray:
        """The spectrogram of snapshot ``index`` (pooled, float32, as the solver's values)."""
        return np.power(10.0, self.snapshots[index][1].astype(np.float32))

    def snapshot_bytes(self) -> int:
        """Memory the replay's spectrograms take."""
        return sum(spec.nbytes for _, spec in self.snapshots)

    def stop(self) -> None:
        """Close the solver; the latest iterate stays as the result."""
        with self._exclusive():
            if not self.done:
                close = getattr(self._iterates, "close", None)
                if close is not None:
                    close()
                self._unpause()
                self.reason = STOPPED
                self._ended_at = self._clock()

    def loss_curve(self, max_points: int = 400) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, losses)``, thinned to at most ``max_points`` (first and last kept)."""
        steps = np.asarray(self.steps, dtype=np.int64)
        losses = np.asarray(self.losses, dtype=np.float64)
        if steps.size > max_points:
            keep = np.unique(np.linspace(0, steps.size - 1, max_points).round().astype(int))
            steps, losses = steps[keep], losses[keep]
        return steps, losses

    def steps_per_second(self) -> float:
        """Steps per second of wall time (pauses excluded): the speed the user sees,
        drawing included. Compare with the headless speed to see what the UI costs."""
        wall = self.wall_seconds()
        return self.steps[-1] / wall if self.steps and wall > 0 else 0.0


SNAPSHOT_SHAPE = (256, 960)   # rows, columns: what the live view draws (plots.spectrogram_rgb) at most
SNAPSHOT_BYTES = 12 * 2**20   # the most one solve's replay holds (fewer snapshots for a long input)
SNAPSHOT_FLOOR = 1e-30        # power below this is kept as this (log10 of 0 is -inf)


def thinnest(steps: np.ndarray) -> int:
    """Index of the snapshot to drop so the rest stay closest to log-spaced: the inner one
    whose neighbours are closest together in log(step + 1) (never the first or the last).

    >>> thinnest(np.array([0, 1, 2, 3, 50, 100]))
    2
    """
    logs = np.log1p(np.maximum(np.asarray(steps, dtype=np.float64), 0.0))
    return 1 + int(np.argmin(logs[2:] - logs[:-2]))


class FramePacer:
    """Chooses each slice so that slice + redraw takes ``frame`` seconds.

    The redraw's cost varies (a busy server takes longer to draw); keeping the frame
    period fixed keeps the view refreshing ``1 / frame`` times a second, and the solver
    gets whatever the drawing leaves. The redraw time is smoothed over recent frames.

    Examples
    --------
    >>> pacer = FramePacer(frame=0.18, min_slice=0.05)
    >>> pacer.drawn(0.03)
    >>> round(pacer.slice(), 3)
    0.15
    """

    def __init__(self, frame: float = 0.18, min_slice: float = 0.05, smoothing: float = 0.3):
        if not 0 < min_slice <= frame:
            raise InputError(f"need 0 < min_slice <= frame, got min_slice={min_slice}, frame={frame}")
        self.frame, self.min_slice, self.smoothing = frame, min_slice, smoothing
        self.draw_seconds: float | None = None

    def drawn(self, seconds: float) -> None:
        """Record how long the last redraw took."""
        if self.draw_seconds is None:
            self.draw_seconds = seconds
        else:
            self.draw_seconds += self.smoothing * (seconds - self.draw_seconds)

    def slice(self) -> float:
        """Solver seconds for the next slice."""
        return max(self.min_slice, self.frame - (self.draw_seconds or 0.0))
