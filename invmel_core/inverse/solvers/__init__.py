"""Solvers for ``fb.T @ X ~= M, X >= 0``, each a generator of :class:`Iterate`.

Importing this package registers every solver in :data:`SOLVERS`.
"""

from invmel_core.inverse.solvers.base import (SOLVERS, Iterate, SolverChoice, SolverOptions, SolverSpec,
                                            default_solver, get_solver, register)
# Registration order is the order of every solver menu: the frameworks first, then the project's own.
from invmel_core.inverse.solvers import torch_sgd, mindspore_gd, librosa_solver, lstsq, nnls  # noqa: F401,I001

__all__ = ["SOLVERS", "Iterate", "SolverChoice", "SolverOptions", "SolverSpec", "default_solver", "get_solver",
           "register"]
