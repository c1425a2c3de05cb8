"""Solvers for ``fb.T @ X ~= M, X >= 0``, each a generator of :class:`Iterate`.

Importing this package registers every solver in :data:`SOLVERS`.
"""

from invmel_core.inverse.solvers.base import (SOLVERS, Iterate, SolverChoice, SolverOptions, SolverSpec,
                                            default_solver, get_solver, register)
from invmel_core.inverse.solvers import librosa_solver, lstsq, mindspore_gd, nnls, torch_sgd  # noqa: F401  (registration)

__all__ = ["SOLVERS", "Iterate", "SolverChoice", "SolverOptions", "SolverSpec", "default_solver", "get_solver",
           "register"]
