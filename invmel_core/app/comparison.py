"""Several solvers on one input, one after another, each for a bounded time: the Compare
page's run (:class:`Comparison`) and one solver's timed run (:func:`run_solver`).

Each run records the relative mel residual at every iterate, the one measure comparable
across solvers (their own losses are defined differently), against solver time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from invmel_core.dsp import metrics
from invmel_core.errors import InputError
from invmel_core.dsp.filterbank import MelFilterbank
from invmel_core.app.live import STOPPED, LiveSolve, report_every
from invmel_core.app.workflow import Problem, Scores, first_item, score
from invmel_core.app.settings import Settings
from invmel_core.inverse.transform import InverseMelScale
from invmel_core.validation import check_positive_seconds


@dataclass
class SolverRun:
    """One solver's run in a comparison: its convergence curve and final scores."""

    solver: str
    seconds: float = 0.0                # solver time only (scoring excluded)
    steps: int = 0
    reason: str | None = None
    times: list[float] = field(default_factory=list)       # solver seconds at each iterate
    residuals: list[float] = field(default_factory=list)   # relative mel residual at each iterate
    estimate: np.ndarray | None = None
    scores: Scores | None = None


def _timed(iterates, run: SolverRun, mel: np.ndarray, fb, time_limit: float, clock):
    """``iterates``, recording solver time and the relative mel residual of each in ``run``,
    ending once ``time_limit`` seconds of solver time are spent (reason ``"time_limit"``)."""
    try:
        while True:
            started = clock()
            item = next(iterates, None)
            run.seconds += clock() - started
            if item is None:
                return
            run.steps, run.reason = item.step, item.reason
            run.times.append(run.seconds)
            run.residuals.append(metrics.mel_residual(first_item(item.spec), mel, fb))
            yield item
            if item.done:
                return
            if run.seconds >= time_limit:
                run.reason = "time_limit"
                return
    finally:
        iterates.close()


class Comparison:
    """Several solvers on one :class:`Problem`, one after another, each for at most
    ``time_limit`` seconds of solver time, advanced a slice of time at a time (so a page can
    draw its progress between slices) and stoppable at any point.

    Each run records the relative mel residual at every iterate (comparable across
    solvers, whose own losses are defined differently); time spent scoring is not counted.
    A solver that refuses the input (:class:`InputError`) is listed in ``failures``.
    :meth:`stop` ends the run under way (reason ``"stopped"``, its scores kept) and skips
    the rest. Thread-safe like :class:`~invmel_core.app.live.LiveSolve`: a page's callback may
    stop it while another thread is inside :meth:`advance`.

    Examples
    --------
    >>> s = Settings.checked(n_fft=64, n_mels=8, sample_rate=8000, max_iter=20)
    >>> mel = np.ones((8, 3), np.float32)
    >>> c = Comparison(Problem("ones", mel), s, ["sgd", "nnls"], time_limit=5.0)
    >>> c.run_to_end().done, [run.solver for run in c.runs]
    (True, ['sgd', 'nnls'])
    """

    def __init__(self, problem: Problem, settings: Settings, solvers, time_limit: float,
                 clock=time.perf_counter):
        self.time_limit = check_positive_seconds("time_limit", time_limit)
        self.problem, self.settings, self._clock = problem, settings, clock
        self.mel = first_item(problem.mel)
        self.pending = list(solvers)
        self.total = len(self.pending)
        self.runs: list[SolverRun] = []
        self.failures: list[tuple[str, InputError]] = []
        self.stopped = self.paused = False
        self._live: LiveSolve | None = None
        self._current: tuple[SolverRun, MelFilterbank] | None = None
        self._lock = threading.Lock()

    @property
    def done(self) -> bool:
        return self._current is None and (self.stopped or not self.pending)

    @property
    def current(self) -> str | None:
        """The solver running now (None between solvers and at the end)."""
        return self._current[0].solver if self._current else None

    def advance(self, budget: float) -> None:
        """Run solvers for about ``budget`` seconds (starting the next one when one ends)."""
        deadline = time.perf_counter() + budget
        while not self.done and not self.paused and time.perf_counter() < deadline:
            live = self._live or self._start_next()
            if live is None:
                continue
            live.advance(max(deadline - time.perf_counter(), 1e-3))
            if live.done:
                self._end_current(live)

    def _start_next(self) -> LiveSolve | None:
        with self._lock:
            if self.stopped or not self.pending:
                return None
            name = self.pending.pop(0)
            settings = self.settings.replace(solver=name)
            try:
                transform = InverseMelScale(**settings.transform_kwargs())
                iterates = transform.iterate(self.mel, every=report_every(settings.max_iter))
            except InputError as exc:
                self.failures.append((name, exc))
                return None
            run = SolverRun(name)
            self._current = (run, transform.fb)
            self._live = LiveSolve(_timed(iterates, run, self.mel, transform.fb, self.time_limit, self._clock))
            return self._live

    def _end_current(self, live: LiveSolve) -> None:
        with self._lock:
            if self._live is not live or self._current is None:
                return
            run, fb = self._current
            if live.latest is not None:
                run.estimate = first_item(live.latest.spec)
                run.scores = score(run.estimate, self.mel, fb, self.problem.spec, power=self.settings.power)
            if live.reason == STOPPED:
                run.reason = STOPPED
            if run.steps or live.latest is not None:
                self.runs.append(run)
            self._live = self._current = None

    def stop(self) -> None:
        """End the run under way (keeping what it reached) and skip the others."""
        self.stopped = True
        live = self._live
        if live is not None:
            live.stop()
            self._end_current(live)

    def run_to_end(self) -> "Comparison":
        """Advance until every solver has run (for scripts and tests)."""
        while not self.done:
            self.advance(1.0)
        return self


def run_solver(mel, settings: Settings, time_limit: float, original: np.ndarray | None = None,
               clock=time.perf_counter) -> SolverRun:
    """Run ``settings.solver`` on ``mel`` for at most ``time_limit`` seconds of solver time
    (a :class:`Comparison` of one solver).

    Raises :class:`InputError` for bad settings, input or ``time_limit``.
    """
    comparison = Comparison(Problem(settings.solver, mel, spec=original), settings, [settings.solver],
                            time_limit, clock=clock).run_to_end()
    if comparison.failures:
        raise comparison.failures[0][1]
    return comparison.runs[0] if comparison.runs else SolverRun(settings.solver)
