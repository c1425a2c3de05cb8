"""The solver protocol: every solver is a generator of :class:`Iterate` records.

A solver is a function ``run(melspec, fb, options, every) -> Iterator[Iterate]`` where
``melspec`` is float32 ``(batch, n_mels, time)`` (validated by the caller), ``fb`` a
:class:`~invmel_core.dsp.filterbank.MelFilterbank` on the solver's own frequency grid, and
every yielded ``spec`` is a fresh float32 ``(batch, n_stft, time)`` array the caller may
keep. A closed-form solver yields once. Closing the generator stops the solve.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Callable, Iterator

import numpy as np

# Why a solve ended. Iterative solvers use the first three (torchaudio's stopping rule);
# others say what they did.
TOLERANCE_LOSS = "tolerance_loss"
TOLERANCE_CHANGE = "tolerance_change"
MAX_ITER = "max_iter"
CLOSED_FORM = "closed_form"
CONVERGED = "converged"
DIVERGED = "diverged"  # the loss overflowed: the step size is too large for this input


@dataclass(frozen=True)
class Iterate:
    """One snapshot of a solve.

    Attributes
    ----------
    step : int
        Optimiser steps applied to ``spec`` so far.
    loss : float
        The solver's own loss (its definition differs between solvers; compare solvers
        with :func:`invmel_core.dsp.metrics.mel_residual` instead).
    spec : np.ndarray
        The current linear spectrogram estimate, ``(..., n_stft, time)``.
    done : bool
        True for the last record.
    reason : str or None
        Why the solve stopped (``"tolerance_loss"``, ``"tolerance_change"``, ``"max_iter"``,
        ``"closed_form"``, ``"converged"``, ``"diverged"``); None while running.

    See Also
    --------
    InverseMelScale.iterate : the stream of them

    Examples
    --------
    >>> import numpy as np
    >>> from invmel_core import InverseMelScale
    >>> last = list(InverseMelScale(201, 40, solver="nnls").iterate(np.ones((40, 3), np.float32)))[-1]
    >>> last.done, last.spec.shape
    (True, (201, 3))
    """

    step: int
    loss: float
    spec: np.ndarray
    done: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class SolverOptions:
    """The knobs shared by the iterative solvers (torchaudio's names and defaults).

    See Also
    --------
    InverseMelScale : builds them from torchaudio's arguments
    get_solver

    Examples
    --------
    >>> SolverOptions(max_iter=50).lr
    0.1
    """

    max_iter: int = 100000
    tolerance_loss: float = 1e-5
    tolerance_change: float = 1e-8
    lr: float = 0.1
    momentum: float = 0.9
    seed: int | None = None


OPTION_NAMES = frozenset(f.name for f in fields(SolverOptions))

SolverFn = Callable[[np.ndarray, "object", SolverOptions, int], Iterator[Iterate]]


@dataclass(frozen=True)
class SolverSpec:
    """A registered solver: its function and what the UI and transform need to know."""

    name: str
    run: SolverFn
    compat: str  # the frequency grid its filterbank uses ("torchaudio", "mindspore", "librosa")
    summary: str
    iterative: bool = True
    random_start: bool = False
    # The SolverOptions fields the solver reads; the app disables the others' widgets.
    uses: frozenset[str] = OPTION_NAMES
    # Peak bytes of a solve, ``(batch, n_stft, n_mels, time) -> bytes``; None: the usual
    # few float32 copies of the output (invmel_core.limits.BYTES_PER_ELEMENT per element).
    memory_estimate: Callable[[int, int, int, int], int] | None = None
    # Rough seconds of a whole solve, ``(batch, n_stft, n_mels, time) -> seconds``, said before
    # it starts; None: an iterative solver runs to its budget (max_iter or the tolerances).
    seconds_estimate: Callable[[int, int, int, int], float] | None = None

    def __post_init__(self):
        unknown = set(self.uses) - OPTION_NAMES
        if unknown:
            raise ValueError(f"solver {self.name!r} declares unknown options {sorted(unknown)}")


SOLVERS: dict[str, SolverSpec] = {}
# The solver to offer when none is chosen, best first: the first one registered wins.
PREFERRED_SOLVERS = ("nnls", "lstsq", "sgd")


def register(spec: SolverSpec) -> SolverSpec:
    SOLVERS[spec.name] = spec
    return spec


def get_solver(name: str) -> SolverSpec:
    """The registered solver called ``name``, or :class:`InputError` listing the names.

    See Also
    --------
    SOLVERS : every registered solver
    InverseMelScale : takes a solver by name

    Examples
    --------
    >>> get_solver("nnls").iterative, get_solver("lstsq").iterative
    (True, False)
    """
    from invmel_core.errors import InputError

    if not isinstance(name, str) or name not in SOLVERS:
        raise InputError(f"solver must be one of {sorted(SOLVERS)}, got {name!r}")
    return SOLVERS[name]


def default_solver() -> str:
    """The recommended solver: the project's NNLS once registered.

    >>> default_solver()
    'nnls'
    """
    return next((name for name in PREFERRED_SOLVERS if name in SOLVERS), next(iter(SOLVERS)))


@dataclass(frozen=True)
class SolverChoice:
    """A solver and its options as the app (:class:`~invmel_core.app.settings.Settings`) and the
    command lines (:class:`~invmel_core.pipeline.render.RenderOptions`) take them: both inherit these
    fields, so their names and defaults have one home. The defaults differ from
    :class:`SolverOptions` (torchaudio's) on purpose: a thousand steps and a fixed seed, so a
    first run ends in seconds and is repeatable.
    """

    solver: str = field(default_factory=default_solver)
    max_iter: int = 1000
    tolerance_loss: float = 1e-5
    tolerance_change: float = 1e-8
    lr: float = 0.1
    momentum: float = 0.9
    seed: int = 0

    def solver_kwargs(self) -> dict:
        """The solver's keyword arguments of :class:`~invmel_core.InverseMelScale`."""
        return dict(max_iter=self.max_iter, tolerance_loss=self.tolerance_loss,
                    tolerance_change=self.tolerance_change, sgdargs={"lr": self.lr, "momentum": self.momentum},
                    solver=self.solver, seed=self.seed)


def stop_reason(loss: float, previous: float, options: SolverOptions) -> str | None:
    """torchaudio's (and MindSpore's) stopping rule on the loss before a step and the one before."""
    if loss < options.tolerance_loss:
        return TOLERANCE_LOSS
    if abs(previous - loss) < options.tolerance_change:
        return TOLERANCE_CHANGE
    return None


def report_due(step: int, every: int) -> bool:
    """Whether an iterate at ``step`` should be yielded with reporting period ``every``."""
    return step % every == 0
